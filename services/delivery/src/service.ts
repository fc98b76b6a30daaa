import * as E from "fp-ts/lib/Either.js";
import type { Either } from "fp-ts/lib/Either.js";
import type { RunningService, ServiceEnv, ServiceError } from "@interlink/actor";
import { ErrorCode, Requester, ServiceHost, endpoint, serviceError } from "@interlink/actor";
import type { AckRequest, PullRequest, PullResponse, QueuedMessage, SendRequest, SendResponse } from "@interlink/client";
import {
  AckRequestS,
  DeliveryErrorCode,
  DevicesResponseS,
  PullRequestS,
  SendRequestS,
} from "@interlink/client";
import { Service, eventSubject, inboxPrefix, opaqueToken, requestSubject } from "@interlink/subjects";
import type { ProviderId } from "@interlink/subjects";
import { createCodec, decodeWith } from "@interlink/wire";
import type { StoredMessage } from "./records.js";
import { StoredMessageS } from "./records.js";
import type { QueueOptions } from "./queues.js";
import { DELIVERY_STREAM, openQueues } from "./queues.js";

export interface DeliveryOptions extends Partial<Omit<QueueOptions, "replicas">> {}

const DAY = 24 * 60 * 60 * 1000;

export const startDelivery = async (env: ServiceEnv, opts: DeliveryOptions = {}): Promise<RunningService> => {
  const q = await openQueues(env.nc, env.secret, {
    replicas: env.replicas,
    retentionMs: opts.retentionMs ?? 30 * DAY,
    dedupeWindowMs: opts.dedupeWindowMs ?? 2 * 60 * 1000,
  });
  const codec = createCodec();
  const hub = new Requester(env.nc, { inboxPrefix: inboxPrefix(), codec });
  const host = new ServiceHost({ service: Service.Delivery, nc: env.nc, log: env.log, clock: env.clock });

  /** Missing, extra and stale devices, the way Signal-Server answers 409/410. */
  const checkDevices = async (provider: ProviderId, req: SendRequest): Promise<Either<ServiceError, void>> => {
    const listed = await hub.call(
      requestSubject(Service.Keys, "devices", provider),
      { v: 1, provider: req.to.provider, user: req.to.user },
      DevicesResponseS,
    );
    if (E.isLeft(listed)) {
      return listed.left.code === ErrorCode.NotFound
        ? E.left(serviceError(DeliveryErrorCode.UnknownRecipient, "recipient has no registered devices"))
        : listed;
    }
    // The sender's own device never gets a copy of its own message.
    const self = req.to.provider === provider && req.to.user === req.from.user;
    const registered = listed.right.devices.filter((d) => !(self && d.device === req.from.device));
    const sent = new Map(req.messages.map((m) => [m.device, m.registrationId]));
    const missing = registered.filter((d) => !sent.has(d.device)).map((d) => d.device);
    const known = new Set(registered.map((d) => d.device));
    const extra = [...sent.keys()].filter((d) => !known.has(d));
    if (missing.length > 0 || extra.length > 0 || sent.size !== req.messages.length) {
      return E.left(serviceError(DeliveryErrorCode.MismatchedDevices, "devices do not match the recipient's device list", { details: { missing, extra } }));
    }
    const stale = registered.filter((d) => sent.get(d.device) !== d.registrationId).map((d) => d.device);
    if (stale.length > 0) {
      return E.left(serviceError(DeliveryErrorCode.StaleDevices, "some devices were re-registered", { details: { stale } }));
    }
    return E.right(undefined);
  };

  const send = endpoint<SendRequest, SendResponse>({
    op: "send",
    schema: SendRequestS,
    handle: (req, ctx) => async () => {
      const ok = await checkDevices(ctx.provider, req);
      if (E.isLeft(ok)) return ok;
      const from = { provider: ctx.provider, user: req.from.user, device: req.from.device };
      let duplicate = false;
      try {
        const acks = await Promise.all(
          req.messages.map((m) => {
            const stored: StoredMessage = { v: 1, id: req.id, from, sentAt: req.sentAt, type: m.type, body: m.body };
            // The id is derived from the sender's message id, so a retried send (same id) is
            // dropped by JetStream instead of queued twice.
            const msgID = opaqueToken(env.secret, "msg", from.provider, from.user, from.device, req.id, m.device);
            return q.js.publish(q.subjectFor(req.to.provider, req.to.user, m.device), codec.encode(stored), { msgID });
          }),
        );
        duplicate = acks.every((a) => a.duplicate);
      } catch (err) {
        ctx.log.warn("queue publish failed", { error: err instanceof Error ? err.name : "error" });
        return E.left(serviceError(ErrorCode.Unavailable, "message store unavailable", { retryable: true, retryAfterMs: 500 }));
      }
      if (!duplicate) {
        for (const m of req.messages) {
          env.nc.publish(eventSubject(Service.Delivery, "new", req.to.provider), codec.encode({ v: 1, user: req.to.user, device: m.device }));
        }
      }
      return E.right({ stored: req.messages.length, duplicate });
    },
  });

  const pull = endpoint<PullRequest, PullResponse>({
    op: "pull",
    schema: PullRequestS,
    handle: (req, ctx) => async () => {
      const subject = q.subjectFor(ctx.provider, req.user, req.device);
      const max = req.max ?? 64;
      try {
        const last = await q.jsm.direct.getMessage(DELIVERY_STREAM, { last_by_subj: subject });
        if (last === null) return E.right({ messages: [], more: false });
        const messages: QueuedMessage[] = [];
        let seq = 0;
        while (messages.length < max && seq < last.seq) {
          const m = await q.jsm.direct.getMessage(DELIVERY_STREAM, { next_by_subj: subject, seq: seq + 1 });
          if (m === null) break;
          seq = m.seq;
          const rec = decodeWith(codec, StoredMessageS, m.data);
          if (E.isLeft(rec)) {
            ctx.log.error("unreadable queued message skipped", { seq: m.seq });
            continue;
          }
          const { id, from, sentAt, type, body } = rec.right;
          messages.push({ seq: m.seq, id, from, sentAt, type, body });
        }
        return E.right({ messages, more: seq < last.seq });
      } catch (err) {
        ctx.log.warn("queue read failed", { error: err instanceof Error ? err.name : "error" });
        return E.left(serviceError(ErrorCode.Unavailable, "message store unavailable", { retryable: true, retryAfterMs: 500 }));
      }
    },
  });

  const ack = endpoint<AckRequest, { acked: number }>({
    op: "ack",
    schema: AckRequestS,
    handle: (req, ctx) => async () => {
      const subject = q.subjectFor(ctx.provider, req.user, req.device);
      const by = { provider: ctx.provider, user: req.user, device: req.device };
      const acks: { id: string; from: StoredMessage["from"]; by: typeof by; at: number }[] = [];
      try {
        for (const seq of new Set(req.seqs)) {
          const m = await q.jsm.direct.getMessage(DELIVERY_STREAM, { seq });
          // Only the owner's queue can be acked; other sequences are ignored, not revealed.
          if (m === null || m.subject !== subject) continue;
          await q.jsm.streams.deleteMessage(DELIVERY_STREAM, seq, false).catch((err: unknown) => {
            if (!(err instanceof Error && /not found/i.test(err.message))) throw err;
          });
          const rec = decodeWith(codec, StoredMessageS, m.data);
          if (E.isRight(rec)) acks.push({ id: rec.right.id, from: rec.right.from, by, at: env.clock.now() });
        }
      } catch (err) {
        ctx.log.warn("ack failed", { error: err instanceof Error ? err.name : "error" });
        return E.left(serviceError(ErrorCode.Unavailable, "message store unavailable", { retryable: true, retryAfterMs: 500 }));
      }
      if (acks.length > 0) {
        const r = await hub.call(requestSubject(Service.Receipt, "acked", ctx.provider), { v: 1, acks }, { name: "any", decode: E.right });
        if (E.isLeft(r)) ctx.log.warn("delivered receipts not recorded", { code: r.left.code });
      }
      return E.right({ acked: acks.length });
    },
  });

  host.serve([send, pull, ack]);
  return {
    name: "delivery",
    stats: () => host.stats(),
    stop: async () => {
      await host.drain();
      hub.close();
    },
  };
};
