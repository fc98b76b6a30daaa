import { rmSync } from "node:fs";
import { cpus } from "node:os";
import { performance } from "node:perf_hooks";
import * as E from "fp-ts/lib/Either.js";
import { Bench } from "tinybench";
import { connect, nuid, type Msg, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { Requester, ServiceHost, endpoint } from "@interlink/actor";
import { findNatsServer, natsServerVersion, startNatsServer } from "@interlink/natsd";
import { Service, requestSubject, type ProviderId } from "@interlink/subjects";
import { ReplySchema, createCodec, okReply, record, s } from "@interlink/wire";
import { fmtInt, type Log, meanRme, percentile, table } from "./report.js";

/** A small versioned record; the sample below encodes to about 100 bytes of msgpack. */
const Echo = record("bench.echo", 1, {
  id: s.str({ pattern: /^[A-Za-z0-9_-]{1,64}$/ }),
  n: s.int({ min: 0 }),
  key: s.int({ min: 0, max: 1023 }),
  text: s.str({ max: 256 }),
});
type Echo = { v: 1; id: string; n: number; key: number; text: string };

export interface ActorBenchOptions {
  /** Requests kept in flight by the requester. Default 100. */
  readonly concurrency?: number;
  /** Requests per tinybench iteration (one "burst"). Default 5,000. */
  readonly burst?: number;
  /** tinybench time budget per variant and round, in ms (warm-up not counted). Default 800. */
  readonly timeMs?: number;
  /** Rounds; each runs every variant once, alternating the order, to spread drift. Default 4. */
  readonly rounds?: number;
  /** Distinct actor keys for the keyed variant. Default 64. */
  readonly keys?: number;
  /** Run only the variants whose name contains one of these (the baseline always runs). */
  readonly only?: readonly string[];
  readonly log?: Log;
}

export interface VariantResult {
  readonly name: string;
  readonly description: string;
  readonly requests: number;
  readonly seconds: number;
  /** Total requests ÷ total burst time. */
  readonly reqPerSec: number;
  /** 95% relative margin of error over the per-burst rates, in percent. */
  readonly rmePct: number;
  readonly bursts: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly errors: number;
  /** reqPerSec ÷ the raw shared inbox baseline's reqPerSec, same run. */
  readonly ratio: number;
}

export interface ActorBenchResult {
  readonly suite: "actor";
  readonly method: string;
  readonly node: string;
  readonly natsServer: string;
  readonly cpus: number;
  readonly concurrency: number;
  readonly burst: number;
  readonly rounds: number;
  readonly keys: number;
  readonly payloadBytes: number;
  readonly baseline: string;
  readonly target: number;
  readonly variants: VariantResult[];
  /** actor / raw shared inbox, the figure the target applies to. */
  readonly ratio: number;
  readonly ratioKeyed: number;
}

/** Per-request latencies of the measured (not warm-up) phase. */
class Recorder {
  on = false;
  errors = 0;
  #lat = new Float64Array(1 << 16);
  #len = 0;

  add(ms: number): void {
    if (!this.on) return;
    if (this.#len === this.#lat.length) {
      const bigger = new Float64Array(this.#lat.length * 2);
      bigger.set(this.#lat);
      this.#lat = bigger;
    }
    this.#lat[this.#len++] = ms;
  }

  fail(): void {
    if (this.on) this.errors++;
  }

  sorted(): Float64Array {
    return this.#lat.slice(0, this.#len).sort();
  }
}

/** One request: resolves true on a good answer, false on an error answer; never rejects. */
type Call = (i: number) => Promise<boolean>;

/**
 * Closed loop: keeps `concurrency` requests in flight until `n` have completed; each completion
 * starts the next one. Latency is taken per request from publish to resolution.
 */
function burst(n: number, concurrency: number, call: Call, rec: Recorder): Promise<void> {
  return new Promise((resolve) => {
    let started = 0;
    let done = 0;
    const launch = (): void => {
      const i = started++;
      const t0 = performance.now();
      call(i).then(
        (ok) => finish(ok, t0),
        () => finish(false, t0),
      );
    };
    const finish = (ok: boolean, t0: number): void => {
      rec.add(performance.now() - t0);
      if (!ok) rec.fail();
      done++;
      if (started < n) launch();
      else if (done === n) resolve();
    };
    for (let k = 0; k < Math.min(concurrency, n); k++) launch();
  });
}

/** The baseline's requester: plain publish with a reply subject, one wildcard reply subscription, a Map. */
class RawInbox {
  readonly #nc: NatsConnection;
  readonly #prefix = `_INBOX.bench.${nuid.next()}`;
  readonly #pending = new Map<number, (m: Msg) => void>();
  readonly #sub: Subscription;
  #next = 1;

  constructor(nc: NatsConnection) {
    this.#nc = nc;
    const skip = this.#prefix.length + 1;
    this.#sub = nc.subscribe(`${this.#prefix}.*`, {
      callback: (_err, msg) => {
        const id = Number(msg.subject.slice(skip));
        const resolve = this.#pending.get(id);
        if (resolve === undefined) return;
        this.#pending.delete(id);
        resolve(msg);
      },
    });
  }

  request(subject: string, payload: Uint8Array): Promise<Msg> {
    const id = this.#next++;
    return new Promise((resolve) => {
      this.#pending.set(id, resolve);
      this.#nc.publish(subject, payload, { reply: `${this.#prefix}.${id}` });
    });
  }

  close(): void {
    this.#sub.unsubscribe();
  }
}

interface Variant {
  readonly name: string;
  readonly description: string;
  readonly call: Call;
}

const BASELINE = "raw shared inbox";

/**
 * Request/reply throughput and latency on one local nats-server (JetStream off), responder and
 * requester on two connections in this process, against a raw shared-inbox baseline run in the
 * same process at the same time.
 */
export async function actorBench(opts: ActorBenchOptions = {}): Promise<ActorBenchResult> {
  const log = opts.log ?? console.log;
  const concurrency = opts.concurrency ?? 100;
  const burstSize = opts.burst ?? 5_000;
  const timeMs = opts.timeMs ?? 800;
  const rounds = opts.rounds ?? 4;
  const keys = opts.keys ?? 64;

  const binary = await findNatsServer({ install: false });
  const version = await natsServerVersion(binary).catch(() => "unknown");
  const server = await startNatsServer({ binary, jetstream: false });
  // On Ctrl-C (run.ts exits through process.exit) natsd stops the server; this removes its directory.
  const removeWorkDir = (): void => rmSync(server.workDir, { recursive: true, force: true });
  process.once("exit", removeWorkDir);
  const conns: NatsConnection[] = [];
  const cleanups: Array<() => unknown> = [];
  try {
    const open = async (extra: { noAsyncTraces?: boolean } = {}): Promise<NatsConnection> => {
      const nc = await connect({ servers: server.url, name: "interlink-bench", reconnect: false, ...extra });
      conns.push(nc);
      return nc;
    };
    const responder = await open();
    const requesterNc = await open();
    const requestNc = await open();
    const requestNoTracesNc = await open({ noAsyncTraces: true });

    const provider = "alpha" as ProviderId;
    const codec = createCodec();
    const bodies: Echo[] = Array.from({ length: keys }, (_, k) => ({
      v: 1,
      id: "01J9ZQ3KX7W2N5V8B4C6D0E1F2",
      n: 1_000_000 + k,
      key: k,
      text: "the quick brown fox jumps over the lazy dog 0123",
    }));
    const payloads = bodies.map((b) => codec.encode(b));
    const payloadBytes = payloads[0]?.length ?? 0;
    const pick = <T>(xs: readonly T[], i: number): T => xs[i % xs.length] as T;

    // Responders. The raw one echoes the bytes; the codec one decodes (limits + scan) and re-encodes.
    const rawSubject = requestSubject(Service.Keys, "rawecho", provider);
    const codecSubject = requestSubject(Service.Keys, "codececho", provider);
    const rawSub = responder.subscribe(rawSubject, { callback: (_e, msg) => void msg.respond(msg.data) });
    const codecSub = responder.subscribe(codecSubject, {
      callback: (_e, msg) => {
        const d = codec.decode(msg.data);
        msg.respond(codec.encode(E.isRight(d) ? d.right : null));
      },
    });
    // As above, plus what the actor path adds on the wire: schema validation and the Reply record.
    const schemaSubject = requestSubject(Service.Keys, "schemaecho", provider);
    const schemaSub = responder.subscribe(schemaSubject, {
      callback: (_e, msg) => {
        const d = codec.decode(msg.data);
        const req = E.isRight(d) ? Echo.decode(d.right, "request") : d;
        msg.respond(codec.encode(okReply(E.isRight(req) ? req.right : null)));
      },
    });
    const schemaReply = (m: Msg): boolean => {
      const d = codec.decode(m.data);
      if (E.isLeft(d)) return false;
      const r = ReplySchema.decode(d.right);
      return E.isRight(r) && r.right.ok && E.isRight(Echo.decode(r.right.body, "body"));
    };
    cleanups.push(() => rawSub.unsubscribe(), () => codecSub.unsubscribe(), () => schemaSub.unsubscribe());

    const host = new ServiceHost({ service: Service.Keys, nc: responder }).serve([
      endpoint<Echo, Echo>({
        op: "echo",
        schema: Echo,
        handle: (req) => () => Promise.resolve(E.right(req)),
      }),
      endpoint<Echo, Echo>({
        op: "echokeyed",
        schema: Echo,
        key: (req) => String(req.key),
        handle: (req) => () => Promise.resolve(E.right(req)),
      }),
    ]);
    cleanups.push(() => host.drain());
    await responder.flush();

    const raw = new RawInbox(requesterNc);
    const requester = new Requester(requesterNc, { timeoutMs: 10_000 });
    cleanups.push(() => raw.close(), () => requester.close());
    await requesterNc.flush();

    const actorSubject = requestSubject(Service.Keys, "echo", provider);
    const keyedSubject = requestSubject(Service.Keys, "echokeyed", provider);
    const all: Variant[] = [
      {
        name: BASELINE,
        description: "publish(reply=<prefix>.<id>) + one wildcard reply sub + Map; responder msg.respond(msg.data); payload pre-encoded, not decoded",
        call: (i) => raw.request(rawSubject, pick(payloads, i)).then(() => true),
      },
      {
        name: "raw + wire codec",
        description: "as the baseline, plus codec.encode of the request, codec.decode+encode in the responder, codec.decode of the reply (no schema)",
        call: (i) =>
          raw.request(codecSubject, codec.encode(pick(bodies, i))).then((m) => E.isRight(codec.decode(m.data))),
      },
      {
        name: "raw + codec + schema",
        description:
          "hand-rolled equivalent of the actor wire path without ServiceHost/Requester: codec, schema validation of request and reply body, Reply record",
        call: (i) => raw.request(schemaSubject, codec.encode(pick(bodies, i))).then(schemaReply),
      },
      {
        name: "actor",
        description: "ServiceHost endpoint (unkeyed) echoing the record; Requester.call with schema validation on both sides",
        call: (i) => requester.call(actorSubject, pick(bodies, i), Echo).then(E.isRight),
      },
      {
        name: `actor keyed (${keys} keys)`,
        description: `as "actor", with key = body.key: every request goes through one of ${keys} actor mailboxes`,
        call: (i) => requester.call(keyedSubject, pick(bodies, i), Echo).then(E.isRight),
      },
      {
        name: "nats.js request()",
        description: "reference: nc.request() to the raw responder, default options (async traces on)",
        call: (i) => requestNc.request(rawSubject, pick(payloads, i), { timeout: 10_000 }).then(() => true),
      },
      {
        name: "request() noAsyncTraces",
        description: "reference: nc.request() with the connection option noAsyncTraces: true",
        call: (i) => requestNoTracesNc.request(rawSubject, pick(payloads, i), { timeout: 10_000 }).then(() => true),
      },
    ];

    const only = opts.only;
    const variants = only === undefined ? all : all.filter((v, i) => i === 0 || only.some((o) => v.name.includes(o)));

    const method =
      `tinybench: one iteration = a burst of ${fmtInt(burstSize)} requests with ${concurrency} in flight (closed loop); ` +
      `${rounds} round(s) of ${timeMs} ms per variant, order alternating (warm-up: 300 ms in round 1, one burst later); ` +
      "req/s = requests / summed burst time; p50/p99 over every request of the measured bursts";
    log(`actor — request/reply on nats-server ${version}, node ${process.version}, ${cpus().length} CPUs`);
    log(`  ${payloadBytes}-byte msgpack body; ${method}`);

    const burstsMs = new Map<string, number[]>(variants.map((v) => [v.name, []]));
    const recorders = new Map<string, Recorder>(variants.map((v) => [v.name, new Recorder()]));
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? variants : [...variants].reverse();
      for (const v of order) {
        const rec = recorders.get(v.name) as Recorder;
        const bench = new Bench({
          time: timeMs,
          iterations: 2,
          // The first round warms the JIT; later ones only refill the pipeline with one burst.
          warmupTime: r === 0 ? 300 : 0,
          warmupIterations: 1,
          retainSamples: true,
          throws: true,
          setup: (_task, mode) => {
            rec.on = mode === "run";
          },
        });
        bench.add(v.name, () => burst(burstSize, concurrency, v.call, rec));
        await bench.run();
        rec.on = false;
        const result = bench.tasks[0]?.result;
        if (result === undefined || !("latency" in result) || result.latency.samples === undefined) {
          throw new Error(`${v.name}: tinybench returned no samples`);
        }
        burstsMs.get(v.name)?.push(...result.latency.samples);
        log(`  · round ${r + 1}/${rounds} ${v.name}: ${result.latency.samplesCount} bursts`);
      }
    }

    const results: VariantResult[] = variants.map((v) => {
      const ms = burstsMs.get(v.name) ?? [];
      const rec = recorders.get(v.name) as Recorder;
      const totalMs = ms.reduce((a, b) => a + b, 0);
      const requests = ms.length * burstSize;
      const lat = rec.sorted();
      return {
        name: v.name,
        description: v.description,
        requests,
        seconds: totalMs / 1000,
        reqPerSec: totalMs > 0 ? (requests * 1000) / totalMs : 0,
        rmePct: meanRme(ms.map((m) => (burstSize * 1000) / m)).rmePct,
        bursts: ms.length,
        p50Ms: percentile(lat, 50),
        p99Ms: percentile(lat, 99),
        p999Ms: percentile(lat, 99.9),
        errors: rec.errors,
        ratio: 0,
      };
    });
    const base = results[0]?.reqPerSec ?? 0;
    const withRatio = results.map((r) => ({ ...r, ratio: base > 0 ? r.reqPerSec / base : 0 }));

    log("");
    for (const line of table(
      ["variant", "req/s", "±rme", "p50 ms", "p99 ms", "vs raw", "errors"],
      withRatio.map((r) => [
        r.name,
        fmtInt(r.reqPerSec),
        `${r.rmePct.toFixed(1)}%`,
        r.p50Ms.toFixed(2),
        r.p99Ms.toFixed(2),
        r.ratio.toFixed(2),
        String(r.errors),
      ]),
    )) {
      log(`  ${line}`);
    }
    const ratio = withRatio.find((r) => r.name === "actor")?.ratio ?? 0;
    const ratioKeyed = withRatio.find((r) => r.name.startsWith("actor keyed"))?.ratio ?? 0;
    log("");
    log(`  ratio actor / ${BASELINE}: ${ratio.toFixed(2)} (target ≥ 0.70); keyed: ${ratioKeyed.toFixed(2)}`);

    return {
      suite: "actor",
      method,
      node: process.version,
      natsServer: version,
      cpus: cpus().length,
      concurrency,
      burst: burstSize,
      rounds,
      keys,
      payloadBytes,
      baseline: BASELINE,
      target: 0.7,
      variants: withRatio,
      ratio,
      ratioKeyed,
    };
  } finally {
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch {
        // best effort: the server is going away anyway
      }
    }
    await Promise.allSettled(conns.map((nc) => nc.close()));
    await server.dispose();
    process.off("exit", removeWorkDir);
  }
}
