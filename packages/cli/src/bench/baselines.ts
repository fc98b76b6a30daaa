import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { AckPolicy, StorageType, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Latency, closedLoop } from "./latency.js";
import { rawSignalLoop } from "./raw-signal.js";
import type { BenchContext } from "./types.js";

// Same-run baselines shared by the scenarios: what the bare building blocks do on this machine,
// now, with the same sizes and parallelism as the scenario they are compared with.

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms).unref());

/**
 * Raw libsignal encrypt + decrypt of `size`-byte messages with in-memory stores (an established
 * session per thread), on `threads` worker threads (0: this thread), `count` messages in all;
 * returns messages/s. Each thread times its own loop (thread start and module loading left
 * out); the threads run together, so the slowest loop bounds the combined rate.
 */
export const rawSignal = async (threads: number, count: number, size = 100): Promise<number> => {
  if (threads === 0) return (count / (await rawSignalLoop(count, size))) * 1000;
  const per = Math.max(1, Math.ceil(count / threads));
  const script = fileURLToPath(new URL("./raw-signal.js", import.meta.url));
  const times = await Promise.all(
    Array.from(
      { length: threads },
      () =>
        new Promise<number>((resolve, reject) => {
          const w = new Worker(script, { workerData: { rawSignal: true, count: per, size } });
          w.once("message", (m: { ms: number }) => {
            resolve(m.ms);
            void w.terminate();
          });
          w.once("error", reject);
        }),
    ),
  );
  return ((per * threads) / Math.max(...times)) * 1000;
};

/**
 * Raw NATS request/reply: a plain `subscribe` responder echoing the payload and a hand-rolled
 * shared inbox (one wildcard subscription, a map of resolvers) with `concurrency` in flight,
 * payload pre-encoded. Pure transport, on two connections of this process.
 */
export const rawNatsRequestReply = async (
  ctx: BenchContext,
  total: number,
  concurrency: number,
  payload: Uint8Array,
): Promise<{ opsPerSec: number; latency: Latency }> => {
  const server = await ctx.connect("bench-raw-rr-server");
  const client = await ctx.connect("bench-raw-rr-client");
  const subject = `bench.raw.echo.${Date.now().toString(36)}`;
  const sub = server.subscribe(subject, { callback: (_e, m) => void m.respond(m.data) });
  const pending = new Map<number, () => void>();
  const inbox = `_INBOX.bench.${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  const inSub = client.subscribe(`${inbox}.*`, {
    callback: (_e, m) => {
      const id = Number(m.subject.slice(inbox.length + 1));
      pending.get(id)?.();
      pending.delete(id);
    },
  });
  await server.flush();
  await client.flush();
  let seq = 0;
  const latency = new Latency();
  const r = await closedLoop(
    total,
    concurrency,
    () =>
      new Promise<boolean>((resolve) => {
        const id = seq++;
        pending.set(id, () => resolve(true));
        client.publish(subject, payload, { reply: `${inbox}.${id}` });
      }),
    latency,
    undefined,
    ctx.recorder.phase("baseline: raw NATS request/reply", { measured: false, unit: "requests" }),
  );
  sub.unsubscribe();
  inSub.unsubscribe();
  return { opsPerSec: r.opsPerSec, latency };
};

/**
 * Raw JetStream: `js.publish` with a Nats-Msg-Id (each waiting for its ack) of `size`-byte
 * messages to `subjects` subjects, `concurrency` in flight, consumed by a durable pull consumer
 * with explicit acks; rate = messages consumed ÷ time from the first publish to the last
 * consumption; latency from publish to consumption.
 */
export const rawJetStream = async (
  ctx: BenchContext,
  total: number,
  concurrency: number,
  size: number,
  subjects = 100,
): Promise<{ opsPerSec: number; latency: Latency; errors: number }> => {
  const nc = await ctx.connect("bench-raw-js");
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  const stream = `BENCH_RAW_${Date.now().toString(36).toUpperCase()}`;
  const prefix = `bench.rawjs.${stream.toLowerCase()}`;
  await jsm.streams.add({ name: stream, subjects: [`${prefix}.>`], storage: StorageType.File });
  await jsm.consumers.add(stream, { durable_name: "bench", ack_policy: AckPolicy.Explicit, max_ack_pending: 50_000 });
  const consumer = await js.consumers.get(stream, "bench");
  const body = new Uint8Array(size).fill(7);
  const starts = new Array<bigint>(total);
  const latency = new Latency();
  const phase = ctx.recorder.phase("baseline: raw JetStream publish+consume", { measured: false, unit: "messages", load: `${concurrency} publishes in flight` });
  let received = 0;
  let done!: () => void;
  const all = new Promise<void>((r) => (done = r));
  const messages = await consumer.consume({
    max_messages: 1_024,
    callback: (m) => {
      const i = Number(m.headers?.get("Nats-Msg-Id").slice(1));
      m.ack();
      const s = starts[i];
      if (s !== undefined) {
        const ns = Number(process.hrtime.bigint() - s);
        latency.recordNs(ns);
        phase.record(ns / 1e6);
      }
      if (++received >= total) done();
    },
  });
  const t0 = process.hrtime.bigint();
  const pub = await closedLoop(
    total,
    concurrency,
    async (i) => {
      starts[i] = process.hrtime.bigint();
      await js.publish(`${prefix}.${i % subjects}`, body, { msgID: `r${i}` });
      return true;
    },
    new Latency(),
    undefined,
    "baseline: raw JetStream publish",
  );
  await Promise.race([all, sleep(120_000)]);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  phase.end();
  messages.stop();
  await jsm.streams.delete(stream).catch(() => undefined);
  return { opsPerSec: (Math.min(received, total) / ms) * 1000, latency, errors: pub.errors + Math.max(0, total - received) };
};
