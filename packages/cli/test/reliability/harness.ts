/**
 * Shared pieces of the reliability suite (docs/reliability.md): `interlink service` child
 * processes to SIGKILL, a provider app that counts what it is shown, a sender that retries with
 * the same message id, and a ledger that turns both into sent / lost / duplicated figures.
 *
 * Nothing here logs a user id, key or plaintext: figures are counts, failures name error codes.
 */
import type { ChildProcess } from "node:child_process";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { appendFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as E from "fp-ts/lib/Either.js";
import type { Either } from "fp-ts/lib/Either.js";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { RunningService, ServiceError } from "@interlink/actor";
import { silentLogger, systemClock } from "@interlink/actor";
import { startDelivery } from "@interlink/delivery";
import type { RateLimits } from "@interlink/key-directory";
import { startKeyDirectory } from "@interlink/key-directory";
import { startMediaStore } from "@interlink/media-store";
import { startReceipt } from "@interlink/receipt";
import { startSessionRatchet } from "@interlink/session-ratchet";
import type {
  BeginUpload,
  DeleteMedia,
  Download,
  InboundError,
  InboundMessage,
  LocalDevice,
  SendContentResponse,
  UploadChunk,
  UserAddress,
} from "@interlink/client";
import {
  BeginUploadResponseS,
  CommitUploadResponseS,
  DeleteMediaResponseS,
  DownloadResponseS,
  InboundErrorS,
  InboundMessageS,
  InboundReceiptsS,
  InterlinkClient,
  SendContentResponseS,
  UploadChunkResponseS,
} from "@interlink/client";
import type { DeviceId, ProviderId, UserId } from "@interlink/subjects";
import { Service, requestSubject } from "@interlink/subjects";
import type { ContentBody } from "@interlink/wire";
import { createCodec, decodeWith, errReply, okReply } from "@interlink/wire";

export const CLI = fileURLToPath(new URL("../../bin/interlink.js", import.meta.url));
export const alpha = "alpha" as ProviderId;
export const beta = "beta" as ProviderId;
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** `INTERLINK_RELIABILITY_SCALE` multiplies message counts (the longer runs in benchmarks/reliability). */
export const scaled = (n: number): number => Math.max(1, Math.round(n * Number(process.env["INTERLINK_RELIABILITY_SCALE"] ?? 1)));

/** A short random tag, so ids of one run never meet another's. */
export const tag = (): string => randomBytes(4).toString("hex");

export interface Keys {
  readonly secret: Buffer;
  readonly atRestKey: Buffer;
}
export const newKeys = (): Keys => ({ secret: randomBytes(32), atRestKey: randomBytes(32) });

/** mulberry32: a tiny seeded PRNG, so a failing fuzz or load run can be repeated exactly. */
export const prng = (seed: number): (() => number) => {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
};

// ---------------------------------------------------------------------------------------------
// `interlink service <name>` child processes

export interface Child {
  readonly name: string;
  readonly child: ChildProcess;
  /** Resolves once the process printed its ready line. */
  readonly ready: Promise<void>;
  readonly exited: Promise<void>;
  alive(): boolean;
  output(): string;
}

/** Starts `interlink service <name> --nats <url>` with the deployment's shared keys. */
export const spawnService = (name: string, url: string, keys: Keys, dataDir: string, extra: readonly string[] = []): Child => {
  const child = spawn(process.execPath, [CLI, "service", name, "--nats", url, "--log-level", "warn", ...extra], {
    env: {
      ...process.env,
      INTERLINK_SECRET: keys.secret.toString("hex"),
      INTERLINK_AT_REST_KEY: keys.atRestKey.toString("hex"),
      INTERLINK_DATA: dataDir,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let exitedFlag = false;
  const exited = new Promise<void>((resolve) =>
    child.once("exit", () => {
      exitedFlag = true;
      resolve();
    }),
  );
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes(`${name} ready`)) resolve();
    });
    child.stderr!.on("data", (d: Buffer) => {
      out = (out + d.toString()).slice(-20_000);
    });
    void exited.then(() => reject(new Error(`${name} exited before it was ready: ${out.slice(-2000)}`)));
  });
  ready.catch(() => undefined);
  return { name, child, ready, exited, alive: () => !exitedFlag, output: () => out };
};

/** SIGKILL, and wait until the process is gone. */
export const killHard = async (c: Child): Promise<void> => {
  if (c.alive()) c.child.kill("SIGKILL");
  await c.exited;
};

/** SIGTERM (the service drains), then SIGKILL after `graceMs`. */
export const stopChild = async (c: Child, graceMs = 5_000): Promise<void> => {
  if (!c.alive()) return;
  c.child.kill("SIGTERM");
  const timer = setTimeout(() => c.alive() && c.child.kill("SIGKILL"), graceMs);
  await c.exited;
  clearTimeout(timer);
};

// ---------------------------------------------------------------------------------------------
// The ledger: what was accepted, what the app was shown

export type Outcome = "accepted" | "accepted_earlier" | "failed";

/**
 * Counts per (message id, recipient device). `lost`: an accepted message a recipient device's app
 * never saw. `duplicates`: (id, device) pairs the app was shown more than once.
 */
export class Ledger {
  readonly #expected = new Map<string, readonly string[]>();
  readonly #seen = new Map<string, number>();
  readonly #failed = new Map<string, string>();
  #acceptedEarlier = 0;
  #attempts = 0;

  /** `recipients`: "user/device" of every device that must see it. */
  accept(id: string, recipients: readonly string[], how: Outcome, attempts: number): void {
    this.#attempts += attempts;
    if (how === "accepted_earlier") this.#acceptedEarlier++;
    this.#expected.set(id, recipients);
  }

  fail(id: string, code: string, attempts: number): void {
    this.#attempts += attempts;
    this.#failed.set(id, code);
  }

  see(id: string, user: string, device: number): void {
    const k = `${id}|${user}/${device}`;
    this.#seen.set(k, (this.#seen.get(k) ?? 0) + 1);
  }

  timesSeen(id: string, user: string, device: number): number {
    return this.#seen.get(`${id}|${user}/${device}`) ?? 0;
  }

  /** Accepted deliveries the app has not been shown yet. */
  missing(): number {
    let n = 0;
    for (const [id, rs] of this.#expected) for (const r of rs) if (!this.#seen.has(`${id}|${r}`)) n++;
    return n;
  }

  summary(): LedgerSummary {
    let deliveries = 0;
    let lost = 0;
    let duplicates = 0;
    let extraShows = 0;
    for (const [id, rs] of this.#expected) {
      for (const r of rs) {
        deliveries++;
        const n = this.#seen.get(`${id}|${r}`) ?? 0;
        if (n === 0) lost++;
        if (n > 1) {
          duplicates++;
          extraShows += n - 1;
        }
      }
    }
    // Shown, yet never accepted as far as the sender knows (checked now: the app often sees a
    // message before the sender's call returns).
    let unexpected = 0;
    for (const k of this.#seen.keys()) if (!this.#expected.has(k.slice(0, k.indexOf("|")))) unexpected++;
    const failures: Record<string, number> = {};
    for (const c of this.#failed.values()) failures[c] = (failures[c] ?? 0) + 1;
    return {
      sent: this.#expected.size + this.#failed.size,
      accepted: this.#expected.size,
      acceptedEarlier: this.#acceptedEarlier,
      failed: this.#failed.size,
      failures,
      attempts: this.#attempts,
      deliveries,
      lost,
      duplicates,
      extraShows,
      unexpected,
    };
  }
}

export interface LedgerSummary {
  /** Messages the app tried to send. */
  readonly sent: number;
  /** Accepted by the system (answered, or `message_id_reused` on a retry: accepted by an earlier try). */
  readonly accepted: number;
  readonly acceptedEarlier: number;
  /** Given up on (not accepted: the app knows it must send again). */
  readonly failed: number;
  readonly failures: Readonly<Record<string, number>>;
  /** Send calls, retries included. */
  readonly attempts: number;
  /** (accepted message, recipient device) pairs. */
  readonly deliveries: number;
  readonly lost: number;
  /** (message id, device) pairs the app was shown more than once. */
  readonly duplicates: number;
  /** Shows beyond the first, summed. */
  readonly extraShows: number;
  /** Shows of ids never accepted (must be 0). */
  readonly unexpected: number;
}

/** Appends one JSON line of figures to `INTERLINK_RELIABILITY_REPORT` (benchmarks/reliability). */
export const report = (fault: string, figures: Record<string, unknown>): void => {
  const file = process.env["INTERLINK_RELIABILITY_REPORT"];
  if (file === undefined || file === "") return;
  appendFileSync(file, `${JSON.stringify({ fault, at: new Date().toISOString(), ...figures })}\n`);
};

// ---------------------------------------------------------------------------------------------
// A provider's app, as the tests see it

export type Behaviour = "ok" | "throw" | "hang";

/**
 * The app side of a provider (what `ProviderApp.onMessage` does), instrumented: it answers the
 * ratchet's message requests (the answer is the ack), records every message shown per device,
 * and can refuse (`throw`) or never answer (`hang`) for chosen devices.
 */
export class RecordingApp {
  readonly #codec = createCodec();
  readonly #subs: Subscription[] = [];
  readonly #behaviour = new Map<string, Behaviour>();
  readonly calls = new Map<string, number>();
  readonly errors: InboundError[] = [];
  readonly shown: InboundMessage[] = [];
  readonly receipts: Array<{ id: string; status: string }> = [];
  /** Every shown message goes here too. */
  onShown: ((m: InboundMessage) => void) | undefined;

  constructor(
    readonly nc: NatsConnection,
    readonly provider: ProviderId,
    /** Where shown messages are counted; tests switch it per phase. */
    public ledger?: Ledger,
    /** Keep every InboundMessage (the tap test reads them back); off for load. */
    readonly keep = false,
  ) {
    this.#subs.push(
      nc.subscribe(requestSubject(Service.Ratchet, "message", provider), {
        queue: `app.${provider}`,
        callback: (_e, msg) => {
          const m = decodeWith(this.#codec, InboundMessageS, msg.data);
          if (E.isLeft(m)) {
            msg.respond(this.#codec.encode(errReply({ code: "app_failed", message: "undecodable", retryable: true })));
            return;
          }
          const dev = `${m.right.to.user}/${m.right.to.device}`;
          this.calls.set(dev, (this.calls.get(dev) ?? 0) + 1);
          const b = this.#behaviour.get(dev) ?? "ok";
          if (b === "hang") return;
          if (b === "throw") {
            msg.respond(this.#codec.encode(errReply({ code: "app_failed", message: "the app did not take the message", retryable: true })));
            return;
          }
          this.ledger?.see(m.right.content.id, m.right.to.user, m.right.to.device);
          if (this.keep) this.shown.push(m.right);
          this.onShown?.(m.right);
          msg.respond(this.#codec.encode(okReply({})));
        },
      }),
      nc.subscribe(requestSubject(Service.Ratchet, "error", provider), {
        queue: `app.${provider}`,
        callback: (_e, msg) => {
          const m = decodeWith(this.#codec, InboundErrorS, msg.data);
          if (E.isRight(m)) this.errors.push(m.right);
          msg.respond(this.#codec.encode(okReply({})));
        },
      }),
      // Receipts are requests too (the answer is the ack; until then they sit in the sender's
      // device queue, ahead of whatever arrives after them).
      nc.subscribe(requestSubject(Service.Ratchet, "receipts", provider), {
        queue: `app.${provider}`,
        callback: (_e, msg) => {
          const r = decodeWith(this.#codec, InboundReceiptsS, msg.data);
          if (E.isRight(r)) for (const x of r.right.receipts) this.receipts.push({ id: x.id, status: x.status });
          if (msg.reply) msg.respond(this.#codec.encode(okReply({})));
        },
      }),
    );
  }

  behave(user: string, device: number, b: Behaviour): void {
    this.#behaviour.set(`${user}/${device}`, b);
  }

  errorCodes(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const e of this.errors) out[e.code] = (out[e.code] ?? 0) + 1;
    return out;
  }

  close(): void {
    for (const s of this.#subs) s.unsubscribe();
  }
}

/** Codes a sender retries with the same id (all retryable; listed for the report). */
export const isRetryable = (e: ServiceError): boolean => e.retryable;

/**
 * Sends one content record through the provider's session-ratchet with a fixed message id,
 * retrying retryable errors (and its own timeouts) with the same id until `deadlineMs`.
 * `message_id_reused` on a retry means an earlier try was accepted: the ratchet encrypted the
 * retry afresh, so delivery saw other ciphertext under the same id (see docs/reliability.md).
 */
export const sendWithRetry = async (
  client: InterlinkClient,
  from: LocalDevice,
  to: UserAddress,
  id: string,
  content: ContentBody,
  opts: { timeoutMs?: number; deadlineMs?: number } = {},
): Promise<{ outcome: Outcome; code?: string; attempts: number; res?: SendContentResponse }> => {
  const end = Date.now() + (opts.deadlineMs ?? 60_000);
  for (let attempts = 1; ; attempts++) {
    const r = await client.requester.call(
      requestSubject(Service.Ratchet, "send", client.provider),
      { v: 1, from, to, id, content },
      SendContentResponseS,
      { timeoutMs: opts.timeoutMs ?? 4_000 },
    );
    if (E.isRight(r)) return { outcome: "accepted", attempts, res: r.right };
    if (r.left.code === "message_id_reused" && attempts > 1) return { outcome: "accepted_earlier", attempts };
    if (!isRetryable(r.left) || Date.now() > end) return { outcome: "failed", code: r.left.code, attempts };
    await sleep(Math.min(r.left.retryAfterMs ?? 100, 500));
  }
};

/** Runs `work(i)` for i in [0, n) with `concurrency` at a time. */
export const runPool = async (n: number, concurrency: number, work: (i: number) => Promise<void>): Promise<void> => {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, n) }, async () => {
      while (next < n) await work(next++);
    }),
  );
};

/** Polls until `cond()` holds or `timeoutMs` passes; returns whether it held. Never throws. */
export const until = async (cond: () => boolean, timeoutMs: number, intervalMs = 50): Promise<boolean> => {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) return false;
    await sleep(intervalMs);
  }
  return true;
};

export const user = (name: string): UserId => `${name}_${tag()}` as UserId;
export const device = (n: number): DeviceId => n as DeviceId;

type Res<T> = Promise<Either<ServiceError, T>>;
type Body<T> = Omit<T, "v">;

/**
 * An InterlinkClient whose media calls time out after `mediaTimeoutMs` instead of the SDK's fixed
 * 15 s (chunks, downloads) and 30 s (commit): the uploads of a fault test are a few KiB, and a
 * request lost with a killed instance should be retried (resumed) soon.
 */
export class QuickMediaClient extends InterlinkClient {
  constructor(nc: NatsConnection, provider: ProviderId, readonly mediaTimeoutMs = 3_000) {
    super(nc, provider, { timeoutMs: mediaTimeoutMs });
  }

  #media<T>(op: string, body: object, schema: import("@interlink/wire").Schema<T>): Res<T> {
    return this.requester.call(requestSubject(Service.Media, op, this.provider), { v: 1, ...body }, schema, { timeoutMs: this.mediaTimeoutMs });
  }

  override readonly media = {
    begin: (b: Body<BeginUpload>) => this.#media("begin", b, BeginUploadResponseS),
    chunk: (b: Body<UploadChunk>) => this.#media("chunk", b, UploadChunkResponseS),
    commit: (uploadId: string) => this.#media("commit", { uploadId }, CommitUploadResponseS),
    download: (b: Body<Download>) => this.#media("download", b, DownloadResponseS),
    delete: (b: Body<DeleteMedia>) => this.#media("delete", b, DeleteMediaResponseS),
  };
}

/**
 * Requests served so far by each running instance of a service, by micro id, from NATS micro
 * discovery (`$SRV.STATS.<name>`: every instance answers). Lets a test show that the instance it
 * killed was taking its share of the load.
 */
export const microRequests = async (nc: NatsConnection, service: string, waitMs = 250): Promise<Map<string, number>> => {
  const out = new Map<string, number>();
  const inbox = `_INBOX.reliability.${tag()}`;
  const sub = nc.subscribe(inbox, {
    callback: (_e, msg) => {
      try {
        const r = JSON.parse(new TextDecoder().decode(msg.data)) as { id: string; endpoints: Array<{ name: string; num_requests: number }> };
        out.set(r.id, r.endpoints.filter((e) => e.name !== "ping").reduce((n, e) => n + e.num_requests, 0));
      } catch {
        // not a stats answer
      }
    },
  });
  nc.publish(`$SRV.STATS.interlink-${service}`, new Uint8Array(), { reply: inbox });
  await sleep(waitMs);
  sub.unsubscribe();
  return out;
};

// ---------------------------------------------------------------------------------------------
// Every service in this process, for the bad-input and fuzz tests

export interface InProcessStack {
  /** By micro name: keys, delivery, media, receipt; ratchet.<provider> for each edge. */
  readonly services: ReadonlyMap<string, RunningService>;
  stop(): Promise<void>;
}

/** key-directory, delivery, media-store, receipt and a session-ratchet per provider, each on its own connection. */
export const startInProcessStack = async (
  conn: () => Promise<NatsConnection>,
  keys: Keys,
  providers: readonly ProviderId[] = [alpha, beta],
  opts: { keyLimits?: Partial<RateLimits> } = {},
): Promise<InProcessStack> => {
  const env = async () => ({ nc: await conn(), log: silentLogger, clock: systemClock, secret: keys.secret, replicas: 1 });
  const services = new Map<string, RunningService>();
  const clients: InterlinkClient[] = [];
  services.set("keys", await startKeyDirectory(await env(), opts.keyLimits !== undefined ? { limits: opts.keyLimits } : {}));
  services.set("delivery", await startDelivery(await env()));
  services.set("media", await startMediaStore(await env()));
  services.set("receipt", await startReceipt(await env(), { batchWindowMs: 10 }));
  for (const provider of providers) {
    const e = await env();
    const client = new InterlinkClient(e.nc, provider, { timeoutMs: 5_000 });
    clients.push(client);
    services.set(`ratchet.${provider}`, await startSessionRatchet(e, { provider, client, atRestKey: keys.atRestKey, workers: 0, sweepMs: 1_000, preKeys: 10 }));
  }
  return {
    services,
    stop: async () => {
      for (const s of [...services.values()].reverse()) await s.stop();
      for (const c of clients) c.close();
    },
  };
};

/** Request subjects every running instance announces (`$SRV.INFO`), e.g. `ilk.keys.v1.claim.*`. */
export const discoverEndpoints = async (nc: NatsConnection, waitMs = 500): Promise<Array<{ service: string; op: string; subject: string }>> => {
  const found = new Map<string, { service: string; op: string; subject: string }>();
  const inbox = `_INBOX.reliability.${tag()}`;
  const sub = nc.subscribe(inbox, {
    callback: (_e, msg) => {
      try {
        const r = JSON.parse(new TextDecoder().decode(msg.data)) as { name: string; endpoints: Array<{ name: string; subject: string }> };
        for (const e of r.endpoints) found.set(e.subject, { service: r.name.replace(/^interlink-/, ""), op: e.name, subject: e.subject });
      } catch {
        // not an info answer
      }
    },
  });
  nc.publish("$SRV.INFO", new Uint8Array(), { reply: inbox });
  await sleep(waitMs);
  sub.unsubscribe();
  return [...found.values()].sort((x, y) => x.subject.localeCompare(y.subject));
};
