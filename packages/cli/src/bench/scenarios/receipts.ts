import { randomBytes } from "node:crypto";
import * as E from "fp-ts/lib/Either.js";
import type { RunningService } from "@interlink/actor";
import { Requester, silentLogger, systemClock } from "@interlink/actor";
import { ReceiptEventS } from "@interlink/client";
import { startReceipt } from "@interlink/receipt";
import type { DeviceId, ProviderId, UserId } from "@interlink/subjects";
import { HUB_PROVIDER, Service, eventSubject, inboxPrefix, requestSubject } from "@interlink/subjects";
import { createCodec, decodeWith, s } from "@interlink/wire";
import type { DriveResult } from "../latency.js";
import { drive, driveExtra } from "../latency.js";
import { registerScenario } from "../registry.js";

const alpha = "alpha" as ProviderId;
const beta = "beta" as ProviderId;
const device1 = 1 as DeviceId;
const RecordedS = s.object({ recorded: s.int({ min: 0 }) });
const BATCH_MS = 20;

/** Two runs of one variant as one: rates over their summed time, latencies of the first run. */
const merge = (a: Phase, b: Phase): Phase => {
  const ms = a.run.elapsedMs + b.run.elapsedMs;
  const ok = (p: Phase) => (p.run.opsPerSec * p.run.elapsedMs) / 1000;
  return {
    run: { ...a.run, opsPerSec: ((ok(a) + ok(b)) / ms) * 1000, errors: a.run.errors + b.run.errors, done: a.run.done + b.run.done, elapsedMs: ms },
    events: a.events + b.events,
    receipts: a.receipts + b.receipts,
    duplicates: a.duplicates + b.duplicates,
    lost: a.lost + b.lost,
  };
};

interface Phase {
  readonly run: DriveResult;
  readonly events: number;
  readonly receipts: number;
  readonly duplicates: number;
  readonly lost: number;
}

/**
 * Delivered receipts through the receipt service: delivery's `acked` report for a device
 * (ilk.receipt.v1.acked.hub, hub-internal, one receipt per call) → the service records it
 * (compare-and-swap on the message's status entry) → the status event to the sender's provider
 * (ilk.evt.receipt.v1.status.<provider>, batched per sender user). One operation is done when
 * its receipt arrives in an event. Measured with the service's batching (a 20 ms window, as
 * deployed) against the same load with batching off (window 0: each batch goes out as soon
 * as the timers run; the service has no setting that sends one receipt per event), on the same
 * server in the same run, alternating (off, on, on, off). Throughput is capacity: enough
 * receipts are in flight that neither variant waits on its window.
 */
registerScenario("receipts", async (ctx) => {
  const total = ctx.opts.count ?? 10_000;
  // Few senders with many receipts in flight each: what batching per sender is for (a busy
  // sender's messages being read on many devices). With one in flight per sender there is
  // nothing to batch and the window is pure delay.
  // Enough in flight that both variants are bound by the service, not by the window's latency.
  const conc = ctx.opts.concurrency ?? 1024;
  const senders = ctx.opts.users ?? 8;
  const instances = ctx.opts.instances ?? 1;
  const secret = randomBytes(32);
  const codec = createCodec();
  const tag = randomBytes(3).toString("hex");
  const users = Array.from({ length: senders }, (_, i) => `s${tag}_${i}` as UserId);

  const caller = await ctx.connect("bench-receipts-delivery");
  // As delivery calls it: hub-internal, on the hub's own subject.
  const req = new Requester(caller, { inboxPrefix: inboxPrefix(), timeoutMs: 30_000 });
  const subject = requestSubject(Service.Receipt, "acked", HUB_PROVIDER);
  const events = await ctx.connect("bench-receipts-events");

  const phase = async (name: string, letter: string, batchWindowMs: number, count: number): Promise<Phase> => {
    const services: RunningService[] = [];
    for (let i = 0; i < instances; i++) {
      const nc = await ctx.connect(`bench-receipts-svc-${name}-${i}`);
      // Events only: routing the batches on to delivery (the senders' device queues) is
      // delivery's load, measured by its own scenario; here no delivery runs.
      services.push(await startReceipt({ nc, log: silentLogger, clock: systemClock, secret, replicas: 1 }, { batchWindowMs, route: false, events: true }));
      await nc.flush();
    }
    const waiting = new Map<string, () => void>();
    const done = new Set<string>();
    let evs = 0;
    let receipts = 0;
    let duplicates = 0;
    const sub = events.subscribe(eventSubject(Service.Receipt, "status", alpha), {
      callback: (_e, m) => {
        const ev = decodeWith(codec, ReceiptEventS, m.data);
        if (E.isLeft(ev)) return;
        evs++;
        for (const r of ev.right.receipts) {
          const w = waiting.get(r.id);
          if (w !== undefined) {
            receipts++;
            waiting.delete(r.id);
            done.add(r.id);
            w();
          } else if (done.has(r.id)) duplicates++;
        }
      },
    });
    await events.flush();
    let lost = 0;
    // Each of the four runs gets half the count (with --duration, the whole duration).
    const run = await drive(
      ctx.opts.durationS === undefined ? { ...ctx, opts: { ...ctx.opts, count } } : ctx,
      { count, concurrency: conc, unit: "receipts" },
      async (i) => {
        const id = `${tag}${letter}${i}`;
        const got = new Promise<boolean>((resolve) => {
          waiting.set(id, () => resolve(true));
          setTimeout(() => {
            if (waiting.delete(id)) {
              lost++;
              resolve(false);
            }
          }, 30_000).unref();
        });
        const r = await req.call(
          subject,
          {
            v: 1,
            acks: [
              {
                id,
                from: { provider: alpha, user: users[i % senders]!, device: device1 },
                by: { provider: beta, user: `r${i % 997}` as UserId, device: device1 },
                at: Date.now(),
              },
            ],
          },
          RecordedS,
        );
        if (E.isLeft(r) || r.right.recorded !== 1) {
          waiting.delete(id);
          return false;
        }
        return got;
      },
      name,
    );
    sub.unsubscribe();
    for (const svc of services) await svc.stop();
    return { run, events: evs, receipts, duplicates, lost };
  };

  // Off, on, on, off (half the count each): drift on a shared machine hits both alike.
  const half = Math.max(1, Math.ceil(total / 2));
  const off1 = await phase("batching off", "u", 0, half);
  const on1 = await phase(`batching ${BATCH_MS} ms`, "b", BATCH_MS, half);
  const on2 = await phase(`batching ${BATCH_MS} ms (2)`, "c", BATCH_MS, half);
  const off2 = await phase("batching off (2)", "v", 0, half);
  req.close();
  const off = merge(off1, off2);
  const on = merge(on1, on2);
  const per = (p: Phase) => Math.round((p.receipts / Math.max(1, p.events)) * 100) / 100;
  const offLat = off.run.latency.percentilesMs();
  return {
    scenario: "receipts",
    unit: "receipts",
    load: on.run.load,
    throughput: on.run.opsPerSec,
    baseline: off.run.opsPerSec,
    baseline_name: "the same load through the receipt service with batching off (window 0)",
    ratio: on.run.opsPerSec / off.run.opsPerSec,
    // Latencies: the first batched run (with this much in flight they are mostly queueing).
    ...on.run.latency.percentilesMs(),
    errors: on.run.errors - on.lost + off.run.errors - off.lost,
    duplicates: on.duplicates + off.duplicates,
    lost: on.lost + off.lost,
    instances,
    count: on.run.done,
    duration_s: on.run.elapsedMs / 1000,
    extra: {
      ...driveExtra(on.run),
      batch_window_ms: BATCH_MS,
      sender_users: senders,
      concurrency: conc,
      events_per_sec: Math.round((on.events / on.run.elapsedMs) * 1000),
      receipts_per_event: per(on),
      unbatched_events_per_sec: Math.round((off.events / off.run.elapsedMs) * 1000),
      unbatched_receipts_per_event: per(off),
      unbatched_p50_ms: offLat.p50_ms,
      unbatched_p99_ms: offLat.p99_ms,
    },
  };
});
