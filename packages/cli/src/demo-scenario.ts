import { randomBytes } from "node:crypto";
import type { NatsConnection } from "@nats-io/transport-node";
import type { AttachmentMeta, InboundMessage, Receipt } from "@interlink/client";
import type { AttachmentPointer } from "@interlink/wire";
import { ProviderApp } from "@interlink/client";
import type { DeviceId, ProviderId, UserId } from "@interlink/subjects";
import * as E from "fp-ts/lib/Either.js";
import { gradientPng } from "./image.js";

/** What the demo sends, in this order: one message of each kind. */
export const DEMO_KINDS = ["text", "image", "voice", "video", "file"] as const;
export type DemoKind = (typeof DEMO_KINDS)[number];
type AttachmentDemoKind = Exclude<DemoKind, "text">;

interface DemoAttachment {
  readonly bytes: Uint8Array;
  readonly meta: AttachmentMeta;
  readonly caption: string;
}

/** Made-up content of a realistic size for each attachment kind (random bytes stand in for codecs). */
const demoAttachments = (tag: string): Record<AttachmentDemoKind, DemoAttachment> => ({
  image: { bytes: gradientPng(64, 48), meta: { mime: "image/png", fileName: "gradient.png", width: 64, height: 48 }, caption: "an image" },
  voice: {
    bytes: randomBytes(48_000),
    meta: { mime: "audio/ogg; codecs=opus", durationMs: 4_200, waveform: randomBytes(64) },
    caption: "a voice message",
  },
  video: {
    bytes: randomBytes(3 * 1024 * 1024 + 123),
    meta: { mime: "video/mp4", fileName: `clip-${tag}.mp4`, width: 640, height: 360, durationMs: 12_000, thumbnail: gradientPng(64, 36) },
    caption: "a video",
  },
  file: { bytes: randomBytes(200_000), meta: { mime: "application/pdf", fileName: `minutes-${tag}.pdf` }, caption: "a file" },
});

const hex = (v: unknown): unknown => (v instanceof Uint8Array ? Buffer.from(v).toString("hex") : v);

/** The metadata the recipient decrypted is the metadata the sender attached. */
const sameMeta = (got: AttachmentPointer, want: AttachmentMeta): boolean =>
  Object.entries(want).every(([k, v]) => hex((got as unknown as Record<string, unknown>)[k]) === hex(v));

export interface DemoMessage {
  readonly kind: DemoKind;
  readonly id: string | null;
  readonly delivered: boolean;
  readonly decrypted: boolean;
  readonly receipt: "delivered" | null;
  readonly bytes?: number;
  readonly error?: string;
}

export interface DemoResult {
  readonly ok: boolean;
  readonly messages: DemoMessage[];
  readonly transcript: string[];
  /** What must never be seen on the hub; for tests that tap it. Never printed. */
  readonly secrets: { readonly image: Uint8Array; readonly attachmentKeys: Uint8Array[]; readonly users: string[] };
}

export interface DemoOptions {
  readonly text: string;
  readonly timeoutMs?: number;
  /** Both apps' connections: in a real deployment each provider has its own NATS (leaf). */
  readonly alpha: NatsConnection;
  readonly beta: NatsConnection;
  /** Defaults to all five, in DEMO_KINDS order. */
  readonly kinds?: readonly DemoKind[];
}

const ALPHA = "alpha" as ProviderId;
const BETA = "beta" as ProviderId;

const waitFor = async <T>(get: () => T | undefined, timeoutMs: number): Promise<T | undefined> => {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = get();
    if (v !== undefined || Date.now() > until) return v;
    await new Promise((r) => setTimeout(r, 25));
  }
};

/**
 * Plays both providers' apps: alpha's user sends beta's user a text, an image, a voice message,
 * a video and a file through their providers' session-ratchets and the hub; beta's app checks
 * what it decrypted (bytes and metadata); alpha's app waits for the delivered receipts.
 */
export const runDemo = async (o: DemoOptions): Promise<DemoResult> => {
  const timeoutMs = o.timeoutMs ?? 20_000; // per step
  const transcript: string[] = [];
  const say = (s: string) => transcript.push(s);
  // Fresh users per run, so repeated demos against one `interlink up` do not see each other.
  const tag = randomBytes(4).toString("hex");
  const alice = { provider: ALPHA, user: `alice-${tag}` as UserId, device: 1 };
  const bob = { provider: BETA, user: `bob-${tag}` as UserId, device: 1 };
  const alpha = new ProviderApp(o.alpha, ALPHA);
  const beta = new ProviderApp(o.beta, BETA);

  const inbox = new Map<string, InboundMessage>();
  const receipts = new Map<string, Receipt>();
  beta.onMessage((m) => {
    if (m.to.user === bob.user) inbox.set(m.content.id, m);
  });
  alpha.onReceipts((r) => {
    if (r.user === alice.user) for (const x of r.receipts) receipts.set(x.id, x);
  });
  await o.alpha.flush();
  await o.beta.flush();

  const messages: DemoMessage[] = [];
  const attachmentKeys: Uint8Array[] = [];
  const kinds = o.kinds ?? DEMO_KINDS;
  const attachments = demoAttachments(tag);
  try {
    for (const [c, who] of [[alpha, alice], [beta, bob]] as const) {
      const r = await c.register(who.user, who.device as DeviceId);
      if (E.isLeft(r)) throw new Error(`register ${who.provider}: ${r.left.code} ${r.left.message}`);
      say(`${who.provider}: registered a device (keys generated at the edge, public parts uploaded to key-directory)`);
    }
    const from = { user: alice.user, device: 1 as DeviceId };
    const to = { provider: BETA, user: bob.user };

    for (const kind of kinds) {
      if (kind === "text") {
        const text = await alpha.sendText(from, to, o.text);
        if (E.isLeft(text)) {
          messages.push({ kind, id: null, delivered: false, decrypted: false, receipt: null, error: text.left.code });
          continue;
        }
        say(`alpha -> beta: text encrypted for ${text.right.devices} device(s) and accepted by delivery`);
        const got = await waitFor(() => inbox.get(text.right.id), timeoutMs);
        const decrypted = got?.content.body.t === "text" && got.content.body.text === o.text;
        if (got) say(`beta: decrypted the text: ${JSON.stringify(got.content.body.t === "text" ? got.content.body.text : "")}`);
        const rc = await waitFor(() => receipts.get(text.right.id), timeoutMs);
        if (rc) say(`alpha: delivered receipt from ${rc.by.provider} device ${rc.by.device}`);
        messages.push({ kind, id: text.right.id, delivered: got !== undefined, decrypted, receipt: rc ? "delivered" : null });
        continue;
      }
      // Attachments: encrypted at alpha's edge, ciphertext to media-store, pointer inside the message.
      const a = attachments[kind];
      const sent = await alpha.sendAttachment(from, to, kind, a.bytes, a.meta, { caption: a.caption });
      if (E.isLeft(sent)) {
        messages.push({ kind, id: null, delivered: false, decrypted: false, receipt: null, error: sent.left.code });
        continue;
      }
      attachmentKeys.push(sent.right.media.key);
      say(`alpha: encrypted a ${a.bytes.length}-byte ${kind} at the edge, uploaded the ciphertext to media-store, sent the pointer`);
      const got = await waitFor(() => inbox.get(sent.right.id), timeoutMs);
      let decrypted = false;
      if (got?.content.body.t === "attachment") {
        const body = got.content.body;
        const bytes = await beta.download(body.media);
        const metaOk = body.kind === kind && body.caption === a.caption && sameMeta(body.media, a.meta);
        decrypted = metaOk && E.isRight(bytes) && Buffer.from(bytes.right).equals(Buffer.from(a.bytes));
        say(`beta: downloaded and decrypted the ${kind} (${decrypted ? "digest, MAC, bytes and metadata match" : "MISMATCH"})`);
      }
      const rc = await waitFor(() => receipts.get(sent.right.id), timeoutMs);
      if (rc) say(`alpha: delivered receipt for the ${kind}`);
      messages.push({ kind, id: sent.right.id, delivered: got !== undefined, decrypted, receipt: rc ? "delivered" : null, bytes: a.bytes.length });
    }
  } finally {
    await alpha.close();
    await beta.close();
  }
  const ok = messages.length === kinds.length && messages.every((m) => m.delivered && m.decrypted && m.receipt === "delivered");
  return { ok, messages, transcript, secrets: { image: attachments.image.bytes, attachmentKeys, users: [alice.user, bob.user] } };
};
