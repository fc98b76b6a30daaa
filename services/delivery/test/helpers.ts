import { randomBytes } from "node:crypto";
import * as E from "fp-ts/lib/Either.js";
import type { Either } from "fp-ts/lib/Either.js";
import type { NatsConnection } from "@nats-io/transport-node";
import { connect } from "@interlink/testing";
import type { RunningService, ServiceEnv, ServiceError } from "@interlink/actor";
import { silentLogger, systemClock } from "@interlink/actor";
import type { QueuedMessage, SendRequest } from "@interlink/client";
import { InterlinkClient } from "@interlink/client";
import { generateDevice } from "@interlink/crypto";
import { startKeyDirectory } from "@interlink/key-directory";
import { startReceipt } from "@interlink/receipt";
import type { DeviceId, ProviderId, UserId } from "@interlink/subjects";
import type { DeliveryOptions, DeliveryService } from "../src/index.js";
import { startDelivery } from "../src/index.js";

export const alpha = "alpha" as ProviderId;
export const beta = "beta" as ProviderId;
export const gamma = "gamma" as ProviderId;
export const user = (name: string) => `${name}_${randomBytes(4).toString("hex")}` as UserId;
export const dev = (n: number) => n as DeviceId;
let nextId = 0;
export const msgId = () => `m${++nextId}_${randomBytes(4).toString("hex")}`;
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const right = <T>(r: Either<ServiceError, T>): T => {
  if (E.isLeft(r)) throw new Error(`expected success, got ${r.left.code}: ${r.left.message}`);
  return r.right;
};
export const left = <T>(r: Either<ServiceError, T>): ServiceError => {
  if (E.isRight(r)) throw new Error(`expected an error, got ${JSON.stringify(r.right)}`);
  return r.left;
};
export const same = (x: Uint8Array, y: Uint8Array) => Buffer.from(x).equals(Buffer.from(y));

/** Registers `devices` of a user through key-directory; returns device → registrationId. */
export const register = async (c: InterlinkClient, u: UserId, devices: number[]): Promise<Map<number, number>> => {
  const regs = new Map<number, number>();
  for (const d of devices) {
    const keys = generateDevice({ preKeys: 1, kyberPreKeys: 0, now: Date.now() }).upload;
    right(await c.keys.upload({ user: u, device: dev(d), ...keys }));
    regs.set(d, keys.registrationId);
  }
  return regs;
};

export const envelope = (
  from: UserId,
  to: { provider: ProviderId; user: UserId },
  regs: Map<number, number>,
  body: (device: number) => Uint8Array = () => randomBytes(64),
  id = msgId(),
): Omit<SendRequest, "v"> => ({
  id,
  from: { user: from, device: dev(1) },
  to,
  sentAt: Date.now(),
  messages: [...regs].map(([device, registrationId]) => ({ device: dev(device), registrationId, type: 2, body: body(device) })),
});

/** Everything queued for a device, page by page, without acking. */
export const pullAll = async (c: InterlinkClient, u: UserId, device: number): Promise<QueuedMessage[]> => {
  const r = right(await c.delivery.pull({ user: u, device: dev(device), max: 256 }));
  return r.messages;
};

/** Pulls and acks until the queue is empty; returns what it read. */
export const drain = async (c: InterlinkClient, u: UserId, device: number): Promise<QueuedMessage[]> => {
  const out: QueuedMessage[] = [];
  for (;;) {
    const r = right(await c.delivery.pull({ user: u, device: dev(device), max: 256 }));
    if (r.messages.length === 0) return out;
    out.push(...r.messages);
    right(await c.delivery.ack({ user: u, device: dev(device), seqs: r.messages.map((m) => m.seq) }));
  }
};

/** Retries a call while it fails with a retryable error (waiting retryAfterMs), up to `deadlineMs`. */
export const retrying = async <T>(f: () => Promise<Either<ServiceError, T>>, deadlineMs = 20_000): Promise<Either<ServiceError, T>> => {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const r = await f();
    if (E.isRight(r) || !r.left.retryable || Date.now() > end) return r;
    await sleep(Math.min(r.left.retryAfterMs ?? 100, 500));
  }
};

export interface Hub {
  readonly secret: Uint8Array;
  readonly a: InterlinkClient;
  readonly b: InterlinkClient;
  readonly tap: NatsConnection;
  delivery: DeliveryService;
  conn(): Promise<NatsConnection>;
  /** Stops the delivery instance and starts another on a fresh connection. */
  restartDelivery(opts?: DeliveryOptions): Promise<DeliveryService>;
  /** Starts one more delivery instance (same secret, own connection), stopped with the hub. */
  addDelivery(opts?: DeliveryOptions): Promise<DeliveryService>;
  stop(): Promise<void>;
}

/** key-directory, receipt and delivery on one server, and two provider clients. */
export const startHub = async (
  url: () => string,
  opts: DeliveryOptions = {},
  connOpts: { reconnect?: boolean; clientTimeoutMs?: number } = {},
): Promise<Hub> => {
  const conns: NatsConnection[] = [];
  const services: RunningService[] = [];
  const secret = randomBytes(32);
  const conn = async () => {
    const nc = await connect(url(), connOpts.reconnect === true ? { reconnect: true } : {});
    conns.push(nc);
    return nc;
  };
  const env = async (): Promise<ServiceEnv> => ({ nc: await conn(), log: silentLogger, clock: systemClock, secret, replicas: 1 });
  services.push(await startKeyDirectory(await env()));
  services.push(await startReceipt(await env(), { batchWindowMs: 5 }));
  let delivery = await startDelivery(await env(), opts);
  const extra: DeliveryService[] = [];
  for (const nc of conns) await nc.flush();
  const timeoutMs = connOpts.clientTimeoutMs ?? 10_000;
  const a = new InterlinkClient(await conn(), alpha, { timeoutMs });
  const b = new InterlinkClient(await conn(), beta, { timeoutMs });
  const tap = await conn();
  const hub: Hub = {
    secret,
    a,
    b,
    tap,
    delivery,
    conn,
    restartDelivery: async (next = opts) => {
      await delivery.stop();
      const e = await env();
      delivery = await startDelivery(e, next);
      await e.nc.flush();
      hub.delivery = delivery;
      return delivery;
    },
    addDelivery: async (next = opts) => {
      const e = await env();
      const d = await startDelivery(e, next);
      await e.nc.flush();
      extra.push(d);
      return d;
    },
    stop: async () => {
      a.close();
      b.close();
      for (const d of extra) await d.stop();
      await delivery.stop();
      for (const s of services.reverse()) await s.stop();
      for (const c of conns) await c.close().catch(() => undefined);
    },
  };
  return hub;
};
