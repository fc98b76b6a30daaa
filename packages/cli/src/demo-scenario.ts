import { randomBytes } from "node:crypto";
import type { NatsConnection } from "@nats-io/transport-node";
import type { InboundMessage, Receipt } from "@interlink/client";
import { ProviderApp } from "@interlink/client";
import type { DeviceId, ProviderId, UserId } from "@interlink/subjects";
import * as E from "fp-ts/lib/Either.js";
import { gradientPng } from "./image.js";

export interface DemoMessage {
  readonly kind: "text" | "image";
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
 * Plays both providers' apps: alpha's user sends beta's user a text and an image through their
 * providers' session-ratchets and the hub; beta's app checks what it decrypted; alpha's app waits
 * for the delivered receipts.
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
  const png = gradientPng(64, 48);
  const attachmentKeys: Uint8Array[] = [];
  try {
    for (const [c, who] of [[alpha, alice], [beta, bob]] as const) {
      const r = await c.register(who.user, who.device as DeviceId);
      if (E.isLeft(r)) throw new Error(`register ${who.provider}: ${r.left.code} ${r.left.message}`);
      say(`${who.provider}: registered a device (keys generated at the edge, public parts uploaded to key-directory)`);
    }

    // Text.
    const from = { user: alice.user, device: 1 as DeviceId };
    const to = { provider: BETA, user: bob.user };
    const text = await alpha.sendText(from, to, o.text);
    if (E.isLeft(text)) {
      messages.push({ kind: "text", id: null, delivered: false, decrypted: false, receipt: null, error: text.left.code });
    } else {
      say(`alpha -> beta: text encrypted for ${text.right.devices} device(s) and accepted by delivery`);
      const got = await waitFor(() => inbox.get(text.right.id), timeoutMs);
      const decrypted = got?.content.body.t === "text" && got.content.body.text === o.text;
      if (got) say(`beta: decrypted the text: ${JSON.stringify(got.content.body.t === "text" ? got.content.body.text : "")}`);
      const rc = await waitFor(() => receipts.get(text.right.id), timeoutMs);
      if (rc) say(`alpha: delivered receipt from ${rc.by.provider} device ${rc.by.device}`);
      messages.push({ kind: "text", id: text.right.id, delivered: got !== undefined, decrypted, receipt: rc ? "delivered" : null });
    }

    // Image: encrypted at alpha's edge, ciphertext to media-store, pointer inside the message.
    const sent = await alpha.sendAttachment(from, to, "image", png, { mime: "image/png", fileName: "gradient.png", width: 64, height: 48 });
    if (E.isLeft(sent)) {
      messages.push({ kind: "image", id: null, delivered: false, decrypted: false, receipt: null, error: sent.left.code });
    } else {
      attachmentKeys.push(sent.right.media.key);
      say(`alpha: encrypted a ${png.length}-byte image at the edge, uploaded the ciphertext to media-store, sent the pointer`);
      const got = await waitFor(() => inbox.get(sent.right.id), timeoutMs);
      let decrypted = false;
      if (got?.content.body.t === "attachment") {
        const bytes = await beta.download(got.content.body.media);
        decrypted = E.isRight(bytes) && Buffer.from(bytes.right).equals(Buffer.from(png));
        say(`beta: downloaded and decrypted the image (${decrypted ? "digest, MAC and bytes match" : "MISMATCH"})`);
      }
      const rc = await waitFor(() => receipts.get(sent.right.id), timeoutMs);
      if (rc) say(`alpha: delivered receipt for the image`);
      messages.push({ kind: "image", id: sent.right.id, delivered: got !== undefined, decrypted, receipt: rc ? "delivered" : null, bytes: png.length });
    }
  } finally {
    await alpha.close();
    await beta.close();
  }
  const ok = messages.length === 2 && messages.every((m) => m.delivered && m.decrypted && m.receipt === "delivered");
  return { ok, messages, transcript, secrets: { image: png, attachmentKeys, users: [alice.user, bob.user] } };
};
