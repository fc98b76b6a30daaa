import { createHash } from "node:crypto";
import * as E from "fp-ts/lib/Either.js";
import { Kvm } from "@nats-io/kv";
import type { HostStats, RunningService, ServiceEnv, ServiceError } from "@interlink/actor";
import { CasStore, ErrorCode, Requester, ServiceHost, endpoint, serviceError } from "@interlink/actor";
import type { AckedRecord, Receipt, StatusRequest, StatusResponse } from "@interlink/client";
import { AckedRecordS, MAX_RECEIPTS_PER_MESSAGE, NotifyResponseS, ReceiptStatus, StatusRequestS } from "@interlink/client";
import type { ProviderId, UserId } from "@interlink/subjects";
import { HUB_PROVIDER, Service, eventSubject, inboxPrefix, opaqueToken, requestSubject } from "@interlink/subjects";
import { createCodec } from "@interlink/wire";
import { Batcher } from "./batcher.js";
import type { MessageStatus } from "./records.js";
import { MessageStatusS } from "./records.js";

export const RECEIPTS_BUCKET = "ilk_receipts";

export interface ReceiptOptions {
  /** Receipts for one sender user within this window go out as one message (default 20 ms). */
  readonly batchWindowMs?: number;
  /** How long per-message status is kept for queries (default 30 days: delivery's retention). */
  readonly retentionMs?: number;
  /**
   * Route each batch durably: delivery queues one receipt message for every device of the
   * sender (`ilk.delivery.v1.notify.hub`), so an offline sender gets it when it comes back.
   * Default true; false leaves only the status query and the optional event.
   */
  readonly route?: boolean;
  /** Also publish each batch as a core-NATS event to the sender's provider, at most once (default true). */
  readonly events?: boolean;
  /** Attempts at routing one batch while delivery answers a retryable error (default 8, backing off to 2 s). */
  readonly routeAttempts?: number;
  /** Timeout of one routing call (default 5 s). */
  readonly routeTimeoutMs?: number;
}

export interface ReceiptStats extends HostStats {
  /** Batches routed to delivery (queued for the sender's devices). */
  readonly routed: number;
  /** Batches given up after `routeAttempts` or a permanent error (their receipts stay queryable). */
  readonly unrouted: number;
  /** Batches being routed right now (retries included). */
  readonly pending: number;
}

export interface ReceiptService extends RunningService {
  receiptStats(): ReceiptStats;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

/** Stable id of one batch for one sender user: a retried routing of it is stored once. */
const batchId = (provider: string, user: string, receipts: readonly Receipt[]): string => {
  const h = createHash("sha256").update(`${provider}\n${user}\n`);
  for (const r of receipts) h.update(`${r.id}\n${r.status}\n${r.by.provider}\n${r.by.user}\n${r.by.device}\n${r.at}\n`);
  return h.digest("base64url").slice(0, 32);
};

export const startReceipt = async (env: ServiceEnv, opts: ReceiptOptions = {}): Promise<ReceiptService> => {
  const kv = await new Kvm(env.nc).create(RECEIPTS_BUCKET, {
    replicas: env.replicas,
    history: 1,
    ttl: opts.retentionMs ?? 30 * 24 * 60 * 60 * 1000,
  });
  const store = new CasStore(kv, MessageStatusS);
  const codec = createCodec();
  const route = opts.route ?? true;
  const events = opts.events ?? true;
  const attempts = Math.max(1, opts.routeAttempts ?? 8);
  const hub = new Requester(env.nc, { inboxPrefix: inboxPrefix(), codec, timeoutMs: opts.routeTimeoutMs ?? 5_000 });
  const keyFor = (provider: string, user: string, id: string) => `m.${opaqueToken(env.secret, "receipt", provider, user, id)}`;
  const inFlight = new Set<Promise<void>>();
  let routed = 0;
  let unrouted = 0;
  let stopping = false;

  /** Hands one batch to delivery for every device of its sender; retries what is retryable. */
  const routeBatch = async (provider: ProviderId, user: UserId, receipts: Receipt[]): Promise<void> => {
    const req = { v: 1, id: batchId(provider, user, receipts), to: { provider, user }, sentAt: env.clock.now(), receipts };
    let last: ServiceError | undefined;
    for (let i = 0; i < attempts; i++) {
      if (i > 0) await sleep(Math.min(2_000, Math.max(last?.retryAfterMs ?? 0, 50 * 2 ** i)));
      const r = await hub.call(requestSubject(Service.Delivery, "notify", HUB_PROVIDER), req, NotifyResponseS);
      if (E.isRight(r)) {
        routed++;
        return;
      }
      last = r.left;
      // Stopping: one try, no waiting (the receipts stay queryable).
      if (!r.left.retryable || stopping) break;
    }
    unrouted++;
    env.log.warn("receipt batch not routed", { code: last?.code ?? "unknown", receipts: receipts.length });
  };

  // Batches are keyed by (sender provider, sender user); the key is split back when flushing.
  const batcher = new Batcher<Receipt>(opts.batchWindowMs ?? 20, MAX_RECEIPTS_PER_MESSAGE, (key, receipts) => {
    const cut = key.indexOf("/");
    const provider = key.slice(0, cut) as ProviderId;
    const user = key.slice(cut + 1) as UserId;
    if (events) env.nc.publish(eventSubject(Service.Receipt, "status", provider), codec.encode({ v: 1, user, receipts }));
    if (!route) return;
    const p = routeBatch(provider, user, receipts).finally(() => inFlight.delete(p));
    inFlight.add(p);
  });

  const host = new ServiceHost({ service: Service.Receipt, nc: env.nc, log: env.log, clock: env.clock });

  const record = async (senderProvider: string, senderUser: string, r: Receipt) =>
    store.modify(keyFor(senderProvider, senderUser, r.id), (cur) => {
      const receipts = cur?.value.receipts ?? [];
      const same = (x: Receipt) =>
        x.by.provider === r.by.provider && x.by.user === r.by.user && x.by.device === r.by.device && x.status === r.status;
      if (receipts.some(same)) return E.right({ keep: true as const, result: false });
      const next: MessageStatus = { v: 1, receipts: [...receipts, r].slice(-1024) };
      return E.right({ write: next, result: true });
    });

  /**
   * Hub-internal, from delivery (`ilk.receipt.v1.acked.hub`): devices acked these messages. Any
   * other caller is refused, so a provider can never report "delivered" for anything: only the
   * delivery service, which saw the device ack its own queue, can.
   */
  const acked = endpoint<AckedRecord, { recorded: number }>({
    op: "acked",
    schema: AckedRecordS,
    admit: (provider) => (provider === HUB_PROVIDER ? undefined : serviceError(ErrorCode.Forbidden, "hub-internal operation")),
    handle: (req) => async () => {
      let recorded = 0;
      for (const a of req.acks) {
        const r: Receipt = { id: a.id, status: ReceiptStatus.Delivered, by: a.by, at: a.at };
        const fresh = await record(a.from.provider, a.from.user, r);
        if (E.isLeft(fresh)) return fresh;
        if (fresh.right) {
          recorded++;
          batcher.add(`${a.from.provider}/${a.from.user}`, r);
        }
      }
      return E.right({ recorded });
    },
  });

  /** The sender's provider asks how one of its users' messages fared (delivered, per device). */
  const status = endpoint<StatusRequest, StatusResponse>({
    op: "status",
    schema: StatusRequestS,
    handle: (req, ctx) => async () => {
      const cur = await store.get(keyFor(ctx.provider, req.user, req.id));
      if (E.isLeft(cur)) return cur;
      return E.right({ receipts: cur.right?.value.receipts ?? [] });
    },
  });

  host.serve([acked, status]);
  let stopped: Promise<void> | undefined;
  return {
    name: "receipt",
    stats: () => host.stats(),
    receiptStats: () => ({ ...host.stats(), routed, unrouted, pending: inFlight.size }),
    stop: () =>
      (stopped ??= (async () => {
        await host.drain();
        // What is still in a window goes out now; routing in progress gets one more try at most.
        batcher.flushAll();
        stopping = true;
        await Promise.all([...inFlight]);
        hub.close();
      })()),
  };
};
