import { createHash } from "node:crypto";
import { ProviderGate } from "@interlink/providers";
import * as E from "fp-ts/lib/Either.js";
import type { Either } from "fp-ts/lib/Either.js";
import type { HostStats, RequestContext, RunningService, ServiceEnv, ServiceError } from "@interlink/actor";
import { CasStore, ErrorCode, Requester, ServiceHost, endpoint, overloaded, serviceError } from "@interlink/actor";
import type {
  AckRequest,
  NotifyRequest,
  NotifyResponse,
  PullAllResponse,
  PullRequest,
  PulledMessage,
  SendRequest,
  SendResponse,
} from "@interlink/client";
import {
  AckRequestS,
  DeliveryErrorCode,
  DeliveryLimit,
  MAX_DEVICE_CIPHERTEXT,
  MAX_SEND_REQUEST_BYTES,
  NotifyRequestS,
  PullRequestS,
  SendRequestS,
} from "@interlink/client";
import { nuid } from "@nats-io/transport-node";
import { HUB_PROVIDER, Service, eventSubject, inboxPrefix, requestSubject } from "@interlink/subjects";
import { createCodec, decodeWith } from "@interlink/wire";
import { DeviceDirectory } from "./devices.js";
import { FastJs, JsErr, StoreError } from "./fastjs.js";
import { KeyedLock } from "./locks.js";
import type { DeliveryOptions } from "./options.js";
import { resolveOptions } from "./options.js";
import { FairScheduler } from "./fair.js";
import { Quotas } from "./quotas.js";
import {
  ACCEPT_STREAM,
  DELIVERY_STREAM,
  KIND_HEADER,
  QUEUED_HEADER,
  RECEIPTS_KIND,
  acceptToken,
  copyMsgId,
  openQueues,
  receiptsMsgId,
  receiptsToken,
} from "./queues.js";
import type { Acceptance, StoredReceipts, StoredSignal } from "./records.js";
import { AcceptanceS, LeaseS, StoredMessageS } from "./records.js";
import { ExpirySweeper } from "./sweeper.js";
import type { Tail } from "./tails.js";
import { TailCache } from "./tails.js";

export interface DeliveryStats extends HostStats {
  /** Requests refused by a quota (rate_limited). */
  readonly limited: number;
  /** Messages the sweeper found expired and reported. */
  readonly expired: number;
  /** Whether this instance holds the sweeper lease. */
  readonly sweeping: boolean;
  readonly deviceCache: { entries: number; hits: number; fetches: number; invalidated: number };
  /** Device queues this instance remembers (recently used ones only; bounded). */
  readonly activeQueues: number;
  /** Device queues locked by sends in progress right now (0 when idle). */
  readonly lockedQueues: number;
}

export interface DeliveryService extends RunningService {
  deliveryStats(): DeliveryStats;
}

const storeDown = (): ServiceError => serviceError(ErrorCode.Unavailable, "message store unavailable", { retryable: true, retryAfterMs: 500 });
const hubOnly = (): ServiceError => serviceError(ErrorCode.Forbidden, "hub-internal operation");

/** How many times one device copy is re-read and re-published when another send got there first. */
const CONFLICT_RETRIES = 16;

/** Sent messages whose ack is expected soon: seq → what the ack needs, so it can skip a read. */
interface PulledMeta {
  readonly subject: string;
  readonly id: string;
  /** Absent for a hub receipt message: acking one reports no receipt. */
  readonly from: StoredSignal["from"] | undefined;
  /** The pull that handed it out, and its place in that pull's answer. */
  readonly batch?: number;
  readonly idx?: number;
}
const PULLED_CACHE_MAX = 50_000;
/** Device queues whose newest message this instance remembers, and for how long without use. */
const TAIL_CACHE_MAX = 100_000;
const TAIL_IDLE_MS = 60_000;

export const startDelivery = async (env: ServiceEnv, options: DeliveryOptions = {}): Promise<DeliveryService> => {
  const o = resolveOptions(options);
  const q = await openQueues(env.nc, env.secret, {
    replicas: env.replicas,
    retentionMs: o.retentionMs,
    backstopMs: o.backstopMs,
    dedupeWindowMs: o.dedupeWindowMs,
  });
  // Requests are refused by size before decoding, and a ciphertext over 256 KiB by the scanner
  // before the library allocates it.
  const codec = createCodec({ maxBytes: MAX_SEND_REQUEST_BYTES, maxBinLength: MAX_DEVICE_CIPHERTEXT });
  const fast = new FastJs(env.nc, { timeoutMs: o.storeTimeoutMs });
  const hub = new Requester(env.nc, { inboxPrefix: inboxPrefix(), codec });
  const host = new ServiceHost({ service: Service.Delivery, nc: env.nc, log: env.log, clock: env.clock, codec, maxInFlight: 4_096 });
  const directory = new DeviceDirectory(env.nc, hub, codec, env.clock, { ttlMs: o.deviceCacheTtlMs, maxEntries: o.deviceCacheMaxEntries });
  const quotas = new Quotas(o.quotas, env.clock);
  const gate = await ProviderGate.start(env.nc, { replicas: env.replicas });
  const sched = new FairScheduler(o.maxActiveRequests, o.quotas.maxInFlight);
  /** Before decoding: room for one more of this provider's requests? */
  const admitAny = (provider: string): ServiceError | undefined => (sched.admit(provider) ? undefined : quotas.concurrencyLimited());
  const locks = new KeyedLock(o.maxWaitersPerDevice);
  const pulled = new Map<number, PulledMeta>();
  let pulls = 0;
  const tails = new TailCache(TAIL_CACHE_MAX, TAIL_IDLE_MS, () => env.clock.now());
  const tailOf = (provider: string, user: string, device: number): Tail =>
    tails.get(`${provider}/${user}/${device}`, () => q.subjectFor(provider, user, device));
  const sweeper = new ExpirySweeper(fast, new CasStore(q.accepted, LeaseS, codec), env.nc, codec, env.clock, env.log, {
    retentionMs: o.retentionMs,
    intervalMs: o.sweepIntervalMs,
    batch: o.sweepBatch,
    instanceId: nuid.next(),
  });
  // Pull replies must fit one NATS message.
  const replyBudget = Math.min(env.nc.info?.max_payload ?? MAX_SEND_REQUEST_BYTES, MAX_SEND_REQUEST_BYTES) - 16 * 1024;

  const readAcceptance = async (subject: string): Promise<Acceptance | null> => {
    const m = await fast.lastBySubject(ACCEPT_STREAM, subject);
    if (m === null || m.data.length === 0) return null;
    const r = decodeWith(codec, AcceptanceS, m.data);
    if (E.isLeft(r)) throw new StoreError("api", 0, "unreadable acceptance record");
    return r.right;
  };

  const answerFor = (a: Acceptance, digest: Uint8Array): Either<ServiceError, SendResponse> =>
    Buffer.from(a.digest).equals(digest)
      ? E.right({ stored: a.stored, duplicate: true, acceptedAt: a.acceptedAt })
      : E.left(
          serviceError(DeliveryErrorCode.MessageIdReused, "this message id was already accepted with other content", {
            details: { acceptedAt: a.acceptedAt },
          }),
        );

  /** Reads the queue's newest message into `tail`. */
  const refresh = async (tail: Tail): Promise<void> => {
    const last = await fast.lastBySubject(DELIVERY_STREAM, tail.subject);
    tail.seq = last?.seq ?? 0;
    tail.running = last === null ? 0 : Number(last.headers.get(QUEUED_HEADER)) || 0;
  };

  /** Bytes the device would hold with `size` more. */
  const queuedWith = async (tail: Tail, size: number): Promise<number> => {
    if (tail.seq === undefined) await refresh(tail);
    if (tail.running + size <= o.maxQueuedBytesPerDevice) return tail.running + size;
    // Over by what this instance remembers: look again, and if the queue is not empty, take away
    // what the running count holds of messages acked since the queue was last empty.
    await refresh(tail);
    const running = tail.running + size;
    if (tail.seq === 0 || running <= o.maxQueuedBytesPerDevice) return running;
    const first = await fast.get(DELIVERY_STREAM, 1, tail.subject);
    if (first === null) return size;
    // A receipt message adds nothing to the running count (see storeReceipts).
    const own = first.headers.get(KIND_HEADER) === RECEIPTS_KIND ? 0 : first.data.length;
    const before = (Number(first.headers.get(QUEUED_HEADER)) || own) - own;
    return running - before;
  };

  /**
   * Stores one copy per device under per-queue locks: check the queue limit, publish with the
   * expected last sequence (so the running byte count stays exact across instances) and the
   * Nats-Msg-Id (so a retry after a crash is stored once).
   */
  const storeCopies = async (
    req: SendRequest,
    from: StoredSignal["from"],
    token: string,
  ): Promise<Either<ServiceError, { fresh: boolean[] }>> => {
    const items = req.messages.map((m) => {
      const stored: StoredSignal = {
        v: 1,
        id: req.id,
        from,
        to: { provider: req.to.provider, user: req.to.user, device: m.device },
        sentAt: req.sentAt,
        type: m.type,
        body: m.body,
      };
      return {
        device: m.device,
        tail: tailOf(req.to.provider, req.to.user, m.device),
        data: codec.encode(stored),
        msgId: copyMsgId(token, from.device, m.device),
      };
    });
    const release = await locks.acquire(items.map((i) => i.tail.subject));
    if (release === undefined) return E.left(overloaded("device queue"));
    try {
      const queued = await Promise.all(items.map((i) => queuedWith(i.tail, i.data.length)));
      const full = items.filter((_, k) => queued[k]! > o.maxQueuedBytesPerDevice).map((i) => i.device);
      if (full.length > 0) {
        return E.left(
          serviceError(ErrorCode.RateLimited, "a recipient device has too much queued, retry later", {
            retryable: true,
            retryAfterMs: o.queueFullRetryAfterMs,
            details: { limit: DeliveryLimit.RecipientQueue, devices: full },
          }),
        );
      }
      const fresh = await Promise.all(items.map((i) => append(i.tail, i.data, i.msgId, i.data.length)));
      return E.right({ fresh });
    } finally {
      release();
    }
  };

  /**
   * Appends one message to a device queue (its lock held): expected last sequence plus a running
   * queued-bytes header grown by `addBytes`. True when stored, false when JetStream dropped it as a
   * duplicate of an earlier copy.
   */
  const append = async (
    t: Tail,
    data: Uint8Array,
    msgId: string,
    addBytes: number,
    extra: ReadonlyArray<readonly [string, string]> = [],
  ): Promise<boolean> => {
    for (let attempt = 0; ; attempt++) {
      if (t.seq === undefined) await refresh(t);
      const running = t.running + addBytes;
      try {
        const ack = await fast.publish(t.subject, data, [
          ["Nats-Msg-Id", msgId],
          ["Nats-Expected-Last-Subject-Sequence", String(t.seq ?? 0)],
          [QUEUED_HEADER, String(running)],
          ...extra,
        ]);
        // A duplicate's ack names the first copy, which need not be the newest.
        t.seq = ack.duplicate ? undefined : ack.seq;
        if (!ack.duplicate) t.running = running;
        return !ack.duplicate;
      } catch (err) {
        t.seq = undefined;
        // Another instance queued for this device first, or acks emptied it: read and count again.
        if (!(err instanceof StoreError && err.errCode === JsErr.WrongLastSequence) || attempt >= CONFLICT_RETRIES) throw err;
      }
    }
  };

  /**
   * Queues one hub receipt message per device: under the same per-queue locks and expected-
   * sequence check as sends (so the running byte count stays exact), but it adds nothing to that
   * count and is never refused by the queue limit: receipts are charged to nobody. The
   * Nats-Msg-Id comes from the batch id, so a retried notify is stored once.
   */
  const storeReceipts = async (req: NotifyRequest, devices: readonly number[]): Promise<Either<ServiceError, { fresh: boolean[] }>> => {
    const token = receiptsToken(env.secret, req.to.provider, req.to.user, req.id);
    const items = devices.map((device) => {
      const stored: StoredReceipts = {
        v: 1,
        kind: RECEIPTS_KIND,
        id: req.id,
        to: { provider: req.to.provider, user: req.to.user, device: device as StoredReceipts["to"]["device"] },
        sentAt: req.sentAt,
        receipts: req.receipts,
      };
      return { device, tail: tailOf(req.to.provider, req.to.user, device), data: codec.encode(stored), msgId: receiptsMsgId(token, device) };
    });
    const release = await locks.acquire(items.map((i) => i.tail.subject));
    if (release === undefined) return E.left(overloaded("device queue"));
    try {
      const fresh = await Promise.all(items.map((i) => append(i.tail, i.data, i.msgId, 0, [[KIND_HEADER, RECEIPTS_KIND]])));
      return E.right({ fresh });
    } finally {
      release();
    }
  };

  const doNotify = async (req: NotifyRequest, ctx: RequestContext): Promise<Either<ServiceError, NotifyResponse>> => {
    const listed = await directory.list(HUB_PROVIDER, req.to.provider, req.to.user);
    if (E.isLeft(listed)) {
      // A sender with no device left has nobody to tell.
      return listed.left.code === DeliveryErrorCode.UnknownRecipient ? E.right({ stored: 0, duplicate: false }) : listed;
    }
    const devices = listed.right.map((d) => d.device);
    if (devices.length === 0) return E.right({ stored: 0, duplicate: false });
    try {
      const stored = await storeReceipts(req, devices);
      if (E.isLeft(stored)) return stored;
      devices.forEach((device, k) => {
        if (!stored.right.fresh[k]) return;
        env.nc.publish(eventSubject(Service.Delivery, "new", req.to.provider), codec.encode({ v: 1, user: req.to.user, device }));
      });
      return E.right({ stored: devices.length, duplicate: stored.right.fresh.every((f) => !f) });
    } catch (err) {
      ctx.log.warn("receipt message not stored", { error: err instanceof StoreError ? `${err.kind}:${err.errCode}` : "error" });
      return E.left(storeDown());
    }
  };

  /** Hub-internal: the receipt service routes a batch of receipts to every device of their sender. */
  const notify = endpoint<NotifyRequest, NotifyResponse>({
    op: "notify",
    schema: NotifyRequestS,
    // Refused before decoding from anyone but the hub; the hub's requests share the instance
    // fairly with the providers' but pay no provider's rate.
    admit: (provider) => (provider === HUB_PROVIDER ? admitAny(provider) : hubOnly()),
    handle: (req, ctx) => () => sched.run(ctx.provider, () => doNotify(req, ctx)),
  });

  const doSend = async (req: SendRequest, ctx: RequestContext): Promise<Either<ServiceError, SendResponse>> => {
    const from = { provider: ctx.provider, user: req.from.user, device: req.from.device };
    const digest = digestOf(req);
    const token = acceptToken(env.secret, ctx.provider, req.from.user, req.id);
    const accSubject = q.acceptSubject(token);
    try {
      const prior = await readAcceptance(accSubject);
      if (prior !== null) return answerFor(prior, digest);

      const devices = await directory.check(ctx.provider, req);
      if (E.isLeft(devices)) return devices;

      const stored = await storeCopies(req, from, token);
      if (E.isLeft(stored)) return stored;

      const acceptance: Acceptance = { v: 1, digest, stored: req.messages.length, acceptedAt: env.clock.now() };
      let answer: Either<ServiceError, SendResponse>;
      try {
        await fast.publish(accSubject, codec.encode(acceptance), [["Nats-Expected-Last-Subject-Sequence", "0"]]);
        answer = E.right({ stored: acceptance.stored, duplicate: stored.right.fresh.every((f) => !f), acceptedAt: acceptance.acceptedAt });
      } catch (err) {
        if (!(err instanceof StoreError && err.errCode === JsErr.WrongLastSequence)) throw err;
        // The same id was accepted concurrently (a retry that overtook this one): its answer stands.
        const winner = await readAcceptance(accSubject);
        if (winner === null) throw err;
        answer = answerFor(winner, digest);
      }
      req.messages.forEach((m, k) => {
        if (!stored.right.fresh[k]) return;
        env.nc.publish(eventSubject(Service.Delivery, "new", req.to.provider), codec.encode({ v: 1, user: req.to.user, device: m.device }));
      });
      return answer;
    } catch (err) {
      ctx.log.warn("send failed in the message store", { error: err instanceof StoreError ? `${err.kind}:${err.errCode}` : "error" });
      return E.left(storeDown());
    }
  };

  const send = endpoint<SendRequest, SendResponse>({
    op: "send",
    schema: SendRequestS,
    admit: (provider, bytes) => admitAny(provider) ?? quotas.admitSend(provider, bytes),
    handle: (req, ctx) => () => {
      // Both providers must be enrolled and have declared the envelope's end-to-end protocol
      // (open while nobody is enrolled: development mode).
      const refused = gate.checkSend(ctx.provider, req.protocol, req.to.provider);
      if (refused !== undefined) return Promise.resolve(E.left(refused));
      return sched.run(ctx.provider, () => doSend(req, ctx));
    },
  });

  const doPull = async (req: PullRequest, ctx: RequestContext): Promise<Either<ServiceError, PullAllResponse>> => {
    const tail = tailOf(ctx.provider, req.user, req.device);
    const subject = tail.subject;
    const max = req.max ?? 64;
    const cutoff = env.clock.now() - o.retentionMs;
    try {
      const last = await fast.lastBySubject(DELIVERY_STREAM, subject);
      tail.seq = last?.seq ?? 0;
      tail.running = last === null ? 0 : Number(last.headers.get(QUEUED_HEADER)) || 0;
      // nats-server 2.9's file store forgets a subject's last sequence once its newest messages
      // are deleted while older ones remain (an ack out of order, or of the messages after a
      // receipt message the puller left queued): `last_by_subj` then finds nothing although the
      // queue is not empty, and the expected-sequence check takes it as 0. So "nothing" is
      // confirmed from the head before the queue is called empty, and then walked to its end.
      if (last === null && (await fast.get(DELIVERY_STREAM, 1, subject)) === null) return E.right({ messages: [], more: false });
      const bound = last?.seq ?? Number.MAX_SAFE_INTEGER;
      const messages: PulledMessage[] = [];
      const batch = ++pulls;
      // True while everything handed out so far is the queue's head with nothing skipped.
      let prefix = true;
      let seq = 0;
      let used = 0;
      let more = false;
      while (seq < bound) {
        if (messages.length >= max) {
          more = true;
          break;
        }
        const m = await fast.get(DELIVERY_STREAM, seq + 1, subject);
        if (m === null) break;
        // Past retention: the sweeper reports it to the sender as expired, so it is not handed out.
        if (m.timeMs <= cutoff) {
          seq = m.seq;
          prefix = false;
          continue;
        }
        if (messages.length > 0 && used + m.data.length > replyBudget) {
          more = true;
          break;
        }
        seq = m.seq;
        // A receipt message for a puller that did not ask for them stays queued for one that does.
        if (req.receipts !== true && m.headers.get(KIND_HEADER) === RECEIPTS_KIND) {
          prefix = false;
          continue;
        }
        const rec = decodeWith(codec, StoredMessageS, m.data);
        if (E.isLeft(rec) || (rec.right.kind === RECEIPTS_KIND && req.receipts !== true)) {
          if (E.isLeft(rec)) ctx.log.error("unreadable queued message skipped", { seq: m.seq });
          prefix = false;
          continue;
        }
        const r = rec.right;
        const from = r.kind === RECEIPTS_KIND ? undefined : r.from;
        used += m.data.length;
        if (pulled.size >= PULLED_CACHE_MAX) pulled.delete(pulled.keys().next().value as number);
        pulled.set(m.seq, prefix ? { subject, id: r.id, from, batch, idx: messages.length } : { subject, id: r.id, from });
        messages.push(
          r.kind === RECEIPTS_KIND
            ? { kind: RECEIPTS_KIND, seq: m.seq, id: r.id, sentAt: r.sentAt, receipts: r.receipts }
            : { seq: m.seq, id: r.id, from: r.from, sentAt: r.sentAt, type: r.type, body: r.body },
        );
      }
      return E.right({ messages, more });
    } catch (err) {
      ctx.log.warn("queue read failed", { error: err instanceof StoreError ? `${err.kind}:${err.errCode}` : "error" });
      return E.left(storeDown());
    }
  };

  const pull = endpoint<PullRequest, PullAllResponse>({
    op: "pull",
    schema: PullRequestS,
    admit: admitAny,
    handle: (req, ctx) => () => sched.run(ctx.provider, () => doPull(req, ctx)),
  });

  const doAck = async (req: AckRequest, ctx: RequestContext): Promise<Either<ServiceError, { acked: number }>> => {
    const tail = tailOf(ctx.provider, req.user, req.device);
    const subject = tail.subject;
    const by = { provider: ctx.provider, user: req.user, device: req.device };
    let acks: Array<{ id: string; from: StoredSignal["from"]; by: typeof by; at: number }>;
    const seqs = [...new Set(req.seqs)].sort((x, y) => x - y);
    let ackedCount: number | undefined;
    let removed = 0;
    try {
      let done: Array<PulledMeta | undefined>;
      const metas = seqs.map((seq) => pulled.get(seq));
      const first = metas[0];
      // The acked messages are the first ones one pull handed out from the head of this queue:
      // everything on the queue below the highest of them is exactly them, so one purge does.
      const head =
        first?.batch !== undefined &&
        metas.every((m, i) => m !== undefined && m.subject === subject && m.batch === first.batch && m.idx === i);
      if (head) {
        const purged = await fast.purgeBelow(DELIVERY_STREAM, subject, seqs[seqs.length - 1]! + 1);
        // Fewer than asked: some were acked already by a repeated ack; which ones is not known, so
        // receipts go out for all of them (a delivered receipt twice is harmless, none is not).
        done = purged === 0 ? [] : metas;
        ackedCount = Math.min(purged, seqs.length);
      } else {
        done = await Promise.all(
          seqs.map(async (seq, i) => {
            let meta = metas[i];
            if (meta === undefined || meta.subject !== subject) {
              const m = await fast.get(DELIVERY_STREAM, seq);
              // Only the owner's queue can be acked; other sequences are ignored, not revealed.
              if (m === null || m.subject !== subject) return undefined;
              const rec = decodeWith(codec, StoredMessageS, m.data);
              meta = E.isRight(rec) ? { subject, id: rec.right.id, from: rec.right.kind === RECEIPTS_KIND ? undefined : rec.right.from } : undefined;
            }
            return (await fast.delete(DELIVERY_STREAM, seq)) ? meta : undefined;
          }),
        );
      }
      for (const seq of seqs) pulled.delete(seq);
      // The newest message is gone: most likely the queue is empty now (a wrong guess costs one refused publish).
      if (tail.seq !== undefined && seqs.includes(tail.seq)) {
        tail.seq = 0;
        tail.running = 0;
      }
      const at = env.clock.now();
      removed = done.filter((m) => m !== undefined).length;
      // Acked receipt messages are done with; only Signal messages make delivered receipts.
      acks = done
        .filter((m): m is PulledMeta & { from: StoredSignal["from"] } => m !== undefined && m.from !== undefined)
        .map((m) => ({ id: m.id, from: m.from, by, at }));
    } catch (err) {
      ctx.log.warn("ack failed", { error: err instanceof StoreError ? `${err.kind}:${err.errCode}` : "error" });
      return E.left(storeDown());
    }
    if (acks.length > 0) {
      // As the hub (the only caller the receipt service takes "delivered" from), naming the acking device.
      const r = await hub.call(requestSubject(Service.Receipt, "acked", HUB_PROVIDER), { v: 1, acks }, { name: "any", decode: E.right });
      if (E.isLeft(r)) ctx.log.warn("delivered receipts not recorded", { code: r.left.code });
    }
    return E.right({ acked: ackedCount ?? removed });
  };

  const ack = endpoint<AckRequest, { acked: number }>({
    op: "ack",
    schema: AckRequestS,
    admit: admitAny,
    handle: (req, ctx) => () => sched.run(ctx.provider, () => doAck(req, ctx)),
  });

  host.serve([send, pull, ack, notify]);
  if (o.sweeper) sweeper.start();
  let stopping: Promise<void> | undefined;
  return {
    name: "delivery",
    stats: () => host.stats(),
    deliveryStats: () => ({
      ...host.stats(),
      limited: quotas.limited,
      expired: sweeper.expired,
      sweeping: sweeper.leader,
      deviceCache: directory.stats(),
      activeQueues: tails.size,
      lockedQueues: locks.held,
    }),
    stop: () =>
      (stopping ??= (async () => {
        gate.stop();
        await sweeper.stop();
        await host.drain();
        directory.close();
        quotas.close();
        tails.close();
        hub.close();
        fast.close();
      })()),
  };
};

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};

/** SHA-256 over everything a retry must repeat exactly; length-prefixed so fields cannot run together. */
const digestOf = (req: SendRequest): Uint8Array => {
  const h = createHash("sha256");
  const str = (s: string): void => {
    const b = Buffer.from(s, "utf8");
    h.update(u32(b.length)).update(b);
  };
  str(req.to.provider);
  str(req.to.user);
  h.update(u32(req.from.device));
  str(String(req.sentAt));
  const ms = [...req.messages].sort((a, b) => a.device - b.device);
  h.update(u32(ms.length));
  for (const m of ms) {
    h.update(u32(m.device)).update(u32(m.registrationId)).update(u32(m.type)).update(u32(m.body.length)).update(m.body);
  }
  return new Uint8Array(h.digest());
};
