import * as E from "fp-ts/lib/Either.js";
import { Kvm } from "@nats-io/kv";
import type { RunningService, ServiceEnv } from "@interlink/actor";
import { CasStore, ErrorCode, ServiceHost, endpoint, serviceError } from "@interlink/actor";
import type { AckedRecord, Receipt, StatusRequest, StatusResponse } from "@interlink/client";
import { AckedRecordS, ReceiptStatus, StatusRequestS } from "@interlink/client";
import { Service, eventSubject, opaqueToken } from "@interlink/subjects";
import { createCodec } from "@interlink/wire";
import { Batcher } from "./batcher.js";
import type { MessageStatus } from "./records.js";
import { MessageStatusS } from "./records.js";

export const RECEIPTS_BUCKET = "ilk_receipts";

export interface ReceiptOptions {
  /** Receipts for one sender within this window go out as one event. */
  readonly batchWindowMs?: number;
  /** How long per-message status is kept for queries. */
  readonly retentionMs?: number;
}

export const startReceipt = async (env: ServiceEnv, opts: ReceiptOptions = {}): Promise<RunningService> => {
  const kv = await new Kvm(env.nc).create(RECEIPTS_BUCKET, {
    replicas: env.replicas,
    history: 1,
    ttl: opts.retentionMs ?? 30 * 24 * 60 * 60 * 1000,
  });
  const store = new CasStore(kv, MessageStatusS);
  const codec = createCodec();
  const keyFor = (provider: string, user: string, id: string) => `m.${opaqueToken(env.secret, "receipt", provider, user, id)}`;

  // Batches are keyed by (sender provider, sender user); the key is split back when flushing.
  const batcher = new Batcher<Receipt>(opts.batchWindowMs ?? 20, 256, (key, receipts) => {
    const cut = key.indexOf("/");
    const provider = key.slice(0, cut);
    const user = key.slice(cut + 1);
    env.nc.publish(eventSubject(Service.Receipt, "status", provider as never), codec.encode({ v: 1, user, receipts }));
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

  /** From delivery (hub-internal): devices acked these messages. */
  const acked = endpoint<AckedRecord, { recorded: number }>({
    op: "acked",
    schema: AckedRecordS,
    handle: (req, ctx) => async () => {
      // The acking device must belong to the provider on whose subject this arrived. Checked for
      // the whole record first, so a refused record leaves nothing recorded.
      if (req.acks.some((a) => a.by.provider !== ctx.provider)) {
        return E.left(serviceError(ErrorCode.Forbidden, "acks may only be reported for the caller's own devices"));
      }
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

  /** The sender's provider asks how one of its users' messages fared. */
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
  return {
    name: "receipt",
    stats: () => host.stats(),
    stop: async () => {
      await host.drain();
      batcher.flushAll();
    },
  };
};
