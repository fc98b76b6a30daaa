import type { ChildProcess } from "node:child_process";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { rawJetStream } from "../baselines.js";
import * as E from "fp-ts/lib/Either.js";
import type { Either } from "fp-ts/lib/Either.js";
import type { ServiceError } from "@interlink/actor";
import { ServiceHost, endpoint, silentLogger } from "@interlink/actor";
import type { DevicesRequest, DevicesResponse, QueuedMessage } from "@interlink/client";
import { DevicesRequestS, InterlinkClient, NewMessageEventS } from "@interlink/client";
import type { StoredMessage } from "@interlink/delivery";
import { FastJs, QUEUED_HEADER, deviceQueueSubject } from "@interlink/delivery";
import type { DeviceId, ProviderId, UserId } from "@interlink/subjects";
import { Service, eventSubject } from "@interlink/subjects";
import { createCodec, decodeWith } from "@interlink/wire";
import { Latency, closedLoop } from "../latency.js";
import { registerScenario } from "../registry.js";
import type { BenchContext } from "../types.js";

/** packages/cli/bin/interlink.js, from packages/cli/dist/src/bench/scenarios/. */
const CLI = fileURLToPath(new URL("../../../../bin/interlink.js", import.meta.url));
const RECIPIENTS = 100;
const BODY_BYTES = 256;
const alpha = "alpha" as ProviderId;
const beta = "beta" as ProviderId;
const gamma = "gamma" as ProviderId;
const FAIRNESS_SENDS = 1_000;
const device1 = 1 as DeviceId;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms).unref());
const round = (n: number, d = 1) => Math.round(n * 10 ** d) / 10 ** d;

interface Child {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly ready: Promise<void>;
  rssMb(): number;
  /** CPU time used so far (user + system), ms. */
  cpuMs(): number;
  stop(): Promise<void>;
}

/** `interlink service <name>` as a child process, so its memory can be measured on its own. */
const spawnService = (name: string, url: string, env: NodeJS.ProcessEnv): Child => {
  const proc = spawn(process.execPath, [...(process.env["INTERLINK_BENCH_NODE_ARGS"] ?? "").split(" ").filter(Boolean), CLI, "service", name, "--nats", url, "--log-level", "error"], { env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  const ready = new Promise<void>((resolve, reject) => {
    proc.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes(`${name} ready`)) resolve();
    });
    proc.stderr!.on("data", (d: Buffer) => {
      out = (out + d.toString()).slice(-4_000);
    });
    proc.once("exit", (code) => reject(new Error(`${name} exited (${code}): ${out}`)));
  });
  ready.catch(() => undefined);
  return {
    name,
    proc,
    ready,
    rssMb: () => {
      const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${proc.pid}/status`, "utf8"));
      return m ? round(Number(m[1]) / 1024) : 0;
    },
    cpuMs: () => {
      // Fields 14 and 15 of /proc/<pid>/stat, in clock ticks (100 per second on Linux).
      const f = readFileSync(`/proc/${proc.pid}/stat`, "utf8").split(") ")[1]!.split(" ");
      return (Number(f[11]) + Number(f[12])) * 10;
    },
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
      const t = setTimeout(() => proc.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(t);
    },
  };
};

/** Retries while the answer is a retryable error (same request, so the same message id). */
const retrying = async <T>(f: () => Promise<Either<ServiceError, T>>, onRetry: () => void): Promise<Either<ServiceError, T>> => {
  for (let i = 0; ; i++) {
    const r = await f();
    if (E.isRight(r) || !r.left.retryable || i >= 50) return r;
    onRetry();
    await sleep(Math.min(r.left.retryAfterMs ?? 20, 1_000));
  }
};


/**
 * send → persist → pull → ack through delivery (a child process per instance, as deployed),
 * against raw JetStream publish + pull consumer in the same run; then 100,000 device queues
 * holding a message each, with delivery's memory before and after and pull latency for random
 * devices; then another provider's send latency alone and while one provider floods. Every
 * message id is checked: pulled twice counts as a duplicate, never pulled as lost.
 *
 * Environment: INTERLINK_BENCH_DEVICES (default 100,000; 0 skips that part; 0 by default with
 * --nats), INTERLINK_BENCH_RECEIPTS=1 (also run the receipt service), INTERLINK_SECRET (with
 * --nats: the secret every delivery instance there uses), INTERLINK_BENCH_NODE_ARGS (node flags
 * for the service processes, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof").
 */
registerScenario("delivery", async (ctx) => {
  const total = ctx.opts.count ?? 20_000;
  const conc = ctx.opts.concurrency ?? 256;
  const instances = ctx.opts.instances ?? 1;
  const devicesEnv = process.env["INTERLINK_BENCH_DEVICES"];
  const manyDevices = devicesEnv !== undefined && devicesEnv !== "" ? Number(devicesEnv) : ctx.opts.natsUrl === undefined ? 100_000 : 0;
  const secretHex = process.env["INTERLINK_SECRET"] || randomBytes(32).toString("hex");
  const secret = Buffer.from(secretHex, "hex");
  const bodies = Array.from({ length: 64 }, () => new Uint8Array(randomBytes(BODY_BYTES)));
  const codec = createCodec();

  // The same work on JetStream alone (shared with the other scenarios): js.publish with a
  // Nats-Msg-Id to one subject per recipient, a durable pull consumer with explicit acks.
  const raw = await rawJetStream(ctx, total, conc, BODY_BYTES, RECIPIENTS);
  const base = { opsPerSec: raw.opsPerSec, errors: raw.errors, ...raw.latency.percentilesMs() };

  const tmp = mkdtempSync(join(tmpdir(), "interlink-bench-delivery-"));
  const env = { ...process.env, INTERLINK_SECRET: secretHex, INTERLINK_AT_REST_KEY: randomBytes(32).toString("hex"), INTERLINK_DATA: tmp };
  // Receipts are the receipt service's load (its own scenario): delivery still hands each ack
  // batch over, and without a receipt service that call is answered "no responders" at once.
  const withReceipts = process.env["INTERLINK_BENCH_RECEIPTS"] === "1";
  const children: Child[] = withReceipts ? [spawnService("receipt", ctx.url, env)] : [];
  for (let i = 0; i < instances; i++) children.push(spawnService("delivery", ctx.url, env));
  const deliveries = children.filter((c) => c.name === "delivery");
  // Device lists: every bench recipient has one device, registration id 1 (the ciphertexts are opaque).
  const keysNc = await ctx.connect("bench-delivery-keys");
  const keys = new ServiceHost({ service: Service.Keys, nc: keysNc, log: silentLogger }).serve([
    endpoint<DevicesRequest, DevicesResponse>({
      op: "devices",
      schema: DevicesRequestS,
      handle: () => () => Promise.resolve(E.right({ devices: [{ device: device1, registrationId: 1 }] })),
    }),
  ]);
  const a = new InterlinkClient(await ctx.connect("bench-delivery-alpha"), alpha, { timeoutMs: 30_000 });
  const b = new InterlinkClient(await ctx.connect("bench-delivery-beta"), beta, { timeoutMs: 30_000 });
  const eventsNc = await ctx.connect("bench-delivery-events");
  try {
    await Promise.all(children.map((c) => c.ready));
    await keysNc.flush();
    const recipients = Array.from({ length: RECIPIENTS }, (_, i) => `r${i}` as UserId);
    const index = new Map(recipients.map((u, i) => [u as string, i]));

    // Receivers: a new-message event starts a drain of that device (pull, ack, until empty).
    const starts = new Map<string, bigint>();
    const seen = new Map<string, number>();
    const e2e = new Latency();
    let retries = 0;
    let pullErrors = 0;
    let pulls = 0;
    let pulledMsgs = 0;
    const draining = new Map<number, { again: boolean }>();
    const onMessages = (ms: readonly QueuedMessage[]) => {
      for (const m of ms) {
        const n = (seen.get(m.id) ?? 0) + 1;
        seen.set(m.id, n);
        const s = starts.get(m.id);
        if (n === 1 && s !== undefined) e2e.record(s);
      }
    };
    const drain = async (k: number): Promise<void> => {
      const running = draining.get(k);
      if (running !== undefined) {
        running.again = true;
        return;
      }
      const st = { again: true };
      draining.set(k, st);
      try {
        while (st.again) {
          st.again = false;
          for (;;) {
            const r = await b.delivery.pull({ user: recipients[k]!, device: device1, max: 256 });
            pulls++;
            if (E.isLeft(r)) {
              pullErrors++;
              st.again = true;
              await sleep(20);
              break;
            }
            if (r.right.messages.length === 0) break;
            onMessages(r.right.messages);
            pulledMsgs += r.right.messages.length;
            const seqs = r.right.messages.map((m) => m.seq);
            const acked = await retrying(() => b.delivery.ack({ user: recipients[k]!, device: device1, seqs }), () => retries++);
            if (E.isLeft(acked)) pullErrors++;
            if (!r.right.more) break;
          }
        }
      } finally {
        draining.delete(k);
      }
    };
    eventsNc.subscribe(eventSubject(Service.Delivery, "new", beta), {
      callback: (_e, m) => {
        const ev = decodeWith(codec, NewMessageEventS, m.data);
        const k = E.isRight(ev) ? index.get(ev.right.user) : undefined;
        if (k !== undefined) void drain(k);
      },
    });
    await eventsNc.flush();

    let sent = 0;
    const sendOne = async (id: string, k: number): Promise<boolean> => {
      const r = await retrying(
        () =>
          a.delivery.send({
            id,
            from: { user: `s${k % 10}` as UserId, device: device1 },
            to: { provider: beta, user: recipients[k]! },
            sentAt: Date.now(),
            messages: [{ device: device1, registrationId: 1, type: 2, body: bodies[sent++ % bodies.length]! }],
          }),
        () => retries++,
      );
      return E.isRight(r);
    };
    const settle = async (ids: readonly string[], timeoutMs: number): Promise<void> => {
      const end = Date.now() + timeoutMs;
      while (ids.some((id) => !seen.has(id)) && Date.now() < end) {
        await sleep(100);
        // Events are at most once: sweep every queue once in a while in case one was missed.
        if (ids.some((id) => !seen.has(id))) await Promise.all(recipients.map((_, k) => drain(k)));
      }
      while (draining.size > 0) await sleep(10);
    };

    // Warm-up: one message per recipient (device lists cached, code paths compiled), not counted.
    const warm = recipients.map((_, k) => `w${k}`);
    await Promise.all(warm.map((id, k) => sendOne(id, k)));
    await settle(warm, 30_000);
    seen.clear();

    const accepted: string[] = [];
    const sendLat = new Latency();
    const cpu0 = deliveries.reduce((n, d) => n + d.cpuMs(), 0);
    const t0 = process.hrtime.bigint();
    const run = await closedLoop(
      total,
      conc,
      async (i) => {
        const id = `m${i}`;
        starts.set(id, process.hrtime.bigint());
        const ok = await sendOne(id, i % RECIPIENTS);
        if (ok) accepted.push(id);
        return ok;
      },
      sendLat,
      ctx.progress,
    );
    await settle(accepted, 60_000);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    const throughput = (total / ms) * 1000;
    const cpuUs = ((deliveries.reduce((n, d) => n + d.cpuMs(), 0) - cpu0) * 1000) / total;
    let duplicates = 0;
    for (const n of seen.values()) if (n > 1) duplicates += n - 1;
    const lost = accepted.filter((id) => !seen.has(id)).length;

    const extra: Record<string, unknown> = {
      concurrency: conc,
      recipients: RECIPIENTS,
      body_bytes: BODY_BYTES,
      baseline_p50_ms: base.p50_ms,
      baseline_p99_ms: base.p99_ms,
      baseline_errors: base.errors,
      send_p50_ms: sendLat.percentilesMs().p50_ms,
      send_p99_ms: sendLat.percentilesMs().p99_ms,
      retries,
      pull_errors: pullErrors,
      pulls,
      messages_per_pull: round(pulledMsgs / Math.max(1, pulls), 2),
      receipts: withReceipts,
      service_rss_mb: deliveries.map((d) => d.rssMb()),
      service_cpu_us_per_msg: Math.round(cpuUs),
    };

    let wrong = 0;
    if (manyDevices > 0) {
      const many = await manyQueues(ctx, deliveries[0]!, b, secret, manyDevices, codec);
      wrong = many.random_pull_wrong;
      Object.assign(extra, many);
    }

    // Fairness: a third provider's sends, alone and while alpha floods with 1,024 in flight
    // (four times its in-flight cap, retrying at once on every refusal).
    const c = new InterlinkClient(await ctx.connect("bench-delivery-gamma"), gamma, { timeoutMs: 30_000 });
    try {
      const measure = async (tag: string) => {
        const lat = new Latency();
        const r = await closedLoop(
          FAIRNESS_SENDS,
          8,
          async (i) =>
            E.isRight(
              await c.delivery.send({
                id: `${tag}${i}`,
                from: { user: "s0" as UserId, device: device1 },
                to: { provider: beta, user: recipients[i % RECIPIENTS]! },
                sentAt: Date.now(),
                messages: [{ device: device1, registrationId: 1, type: 2, body: bodies[i % bodies.length]! }],
              }),
            ),
          lat,
        );
        return { ...lat.percentilesMs(), errors: r.errors };
      };
      const alone = await measure("ga");
      let flooding = true;
      let refused = 0;
      let admitted = 0;
      const flood = Array.from({ length: 1_024 }, async (_, w) => {
        for (let i = 0; flooding; i++) {
          const r = await a.delivery.send({
            id: `f${w}_${i}`,
            from: { user: "s1" as UserId, device: device1 },
            to: { provider: beta, user: recipients[(w + i) % RECIPIENTS]! },
            sentAt: Date.now(),
            messages: [{ device: device1, registrationId: 1, type: 2, body: bodies[i % bodies.length]! }],
          });
          if (E.isLeft(r)) refused++;
          else admitted++;
        }
      });
      await sleep(500);
      const flooded = await measure("gf");
      flooding = false;
      await Promise.all(flood);
      Object.assign(extra, {
        fair_other_alone_p50_ms: alone.p50_ms,
        fair_other_alone_p99_ms: alone.p99_ms,
        fair_other_flooded_p50_ms: flooded.p50_ms,
        fair_other_flooded_p99_ms: flooded.p99_ms,
        fair_other_errors: alone.errors + flooded.errors,
        fair_flood_refused: refused,
        fair_flood_admitted: admitted,
      });
      wrong += alone.errors + flooded.errors;
    } finally {
      c.close();
    }

    return {
      scenario: "delivery",
      throughput,
      baseline: base.opsPerSec,
      baseline_name: "JetStream js.publish (Nats-Msg-Id) + durable pull consumer with acks, same server, same run",
      ratio: throughput / base.opsPerSec,
      ...e2e.percentilesMs(),
      errors: run.errors + wrong,
      duplicates,
      lost,
      instances,
      count: total,
      extra,
    };
  } finally {
    a.close();
    b.close();
    await keys.drain();
    for (const c of children) await c.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
});

/**
 * `n` device queues holding one message each, written straight into the stream as delivery
 * stores them (a send per device would measure key registration, not queues). Delivery's RSS
 * before and after, then pull + ack of 1,000 random devices through delivery.
 */
const manyQueues = async (ctx: BenchContext, delivery: Child, b: InterlinkClient, secret: Uint8Array, n: number, codec: ReturnType<typeof createCodec>) => {
  const nc = await ctx.connect("bench-delivery-many");
  const fast = new FastJs(nc, { timeoutMs: 30_000 });
  const before = delivery.rssMb();
  const user = (i: number) => `d${i}` as UserId;
  const body = new Uint8Array(randomBytes(BODY_BYTES));
  const t0 = process.hrtime.bigint();
  await closedLoop(
    n,
    512,
    async (i) => {
      const stored: StoredMessage = {
        v: 1,
        id: `q${i}`,
        from: { provider: alpha, user: "bulk" as UserId, device: device1 },
        to: { provider: beta, user: user(i), device: device1 },
        sentAt: Date.now(),
        type: 2,
        body,
      };
      const data = codec.encode(stored);
      await fast.publish(deviceQueueSubject(secret, beta, user(i), 1), data, [[QUEUED_HEADER, String(data.length)]]);
      return true;
    },
    new Latency(),
    ctx.progress,
  );
  const publishMs = Number(process.hrtime.bigint() - t0) / 1e6;
  fast.close();
  await sleep(1_000);
  const afterPublish = delivery.rssMb();

  const picks = new Set<number>();
  while (picks.size < Math.min(1_000, n)) picks.add(Math.floor(Math.random() * n));
  const order = [...picks];
  const pullLat = new Latency();
  let wrong = 0;
  const t1 = process.hrtime.bigint();
  await closedLoop(
    order.length,
    16,
    async (j) => {
      const i = order[j]!;
      const s = process.hrtime.bigint();
      const r = await b.delivery.pull({ user: user(i), device: device1 });
      pullLat.record(s);
      if (E.isLeft(r) || r.right.messages.length !== 1 || r.right.messages[0]!.id !== `q${i}`) {
        wrong++;
        return false;
      }
      const ack = await b.delivery.ack({ user: user(i), device: device1, seqs: [r.right.messages[0]!.seq] });
      return E.isRight(ack) && ack.right.acked === 1;
    },
    new Latency(),
  );
  const drainMs = Number(process.hrtime.bigint() - t1) / 1e6;
  await sleep(1_000);
  const p = pullLat.percentilesMs();
  return {
    devices: n,
    devices_publish_per_sec: Math.round((n / publishMs) * 1000),
    service_rss_mb_before: before,
    service_rss_mb_after_queues: afterPublish,
    service_rss_mb_after_pulls: delivery.rssMb(),
    random_pull_p50_ms: p.p50_ms,
    random_pull_p99_ms: p.p99_ms,
    random_drains_per_sec: Math.round((order.length / drainMs) * 1000),
    random_pull_wrong: wrong,
  };
};
