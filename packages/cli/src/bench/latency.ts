import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { join } from "node:path";
import { createHistogram } from "node:perf_hooks";
import type { RecordableHistogram } from "node:perf_hooks";
import type { Phase } from "./recorder.js";
import { activeRecorder } from "./recorder.js";
import type { BenchContext } from "./types.js";

/** Latency percentiles from Node's own HDR histogram (nanosecond integers). */
export class Latency {
  readonly #h: RecordableHistogram = createHistogram();

  record(startNs: bigint): void {
    const d = process.hrtime.bigint() - startNs;
    this.#h.record(d > 0n ? d : 1n);
  }

  /** A latency already measured, in nanoseconds. */
  recordNs(ns: number): void {
    this.#h.record(Math.max(1, Math.round(ns)));
  }

  get count(): number {
    return this.#h.count;
  }

  percentilesMs(): { p50_ms: number; p90_ms: number; p99_ms: number; p999_ms: number } {
    const ms = (p: number) => (this.#h.count === 0 ? 0 : Math.round((this.#h.percentile(p) / 1e6) * 1000) / 1000);
    return { p50_ms: ms(50), p90_ms: ms(90), p99_ms: ms(99), p999_ms: ms(99.9) };
  }
}

export interface LoopResult {
  /** Completed (successful) operations per second over the loop's wall time. */
  readonly opsPerSec: number;
  readonly errors: number;
  readonly elapsedMs: number;
  /** Operations started (and finished). */
  readonly done: number;
}

type Progress = (done: number, total: number, note?: string) => void;

/** The phase to feed: the one given, else one opened on the run's recorder (if any). */
const phaseFor = (given: Phase | string | undefined, measured: boolean, load: string): Phase | undefined => {
  if (typeof given === "object") {
    given.load ||= load;
    return given;
  }
  return activeRecorder()?.phase(given ?? (measured ? "measured" : "loop"), { measured, load });
};

/**
 * Runs `total` operations with `concurrency` in flight (closed loop) and returns ops/s.
 * `op` resolves false for an error; its latency is recorded either way. With `durationMs`,
 * runs until that much time has passed instead (`total` is then only an upper bound).
 * `phase`: the recorder phase to feed (by default one is opened on the run's recorder, marked
 * measured when `progress` is given).
 */
export const closedLoop = async (
  total: number,
  concurrency: number,
  op: (i: number) => Promise<boolean>,
  latency: Latency,
  progress?: Progress,
  phase?: Phase | string,
  durationMs?: number,
): Promise<LoopResult> => {
  const ph = phaseFor(phase, progress !== undefined, `closed loop, ${concurrency} in flight`);
  let next = 0;
  let done = 0;
  let ok = 0;
  let errors = 0;
  const t0 = process.hrtime.bigint();
  const deadline = durationMs === undefined ? undefined : performance.now() + durationMs;
  const limit = durationMs === undefined ? total : Number.MAX_SAFE_INTEGER;
  const tick = progressTicker(progress, durationMs, () => done);
  const worker = async () => {
    while (next < limit && (deadline === undefined || performance.now() < deadline)) {
      const i = next++;
      const s = process.hrtime.bigint();
      const good = await op(i).catch(() => false);
      const ns = Number(process.hrtime.bigint() - s);
      latency.recordNs(ns);
      ph?.record(ns / 1e6, good);
      if (good) ok++;
      else errors++;
      done++;
      if (durationMs === undefined && progress !== undefined && done % 256 === 0) progress(done, total);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, limit)) }, worker));
  tick.stop();
  ph?.end();
  const elapsedMs = Number(process.hrtime.bigint() - t0) / 1e6;
  if (progress !== undefined) progress(durationMs === undefined ? total : Math.ceil(durationMs / 1000), durationMs === undefined ? total : Math.ceil(durationMs / 1000), `${done} ops`);
  // Successful operations only: a run that fails fast must not look fast.
  return { opsPerSec: (ok / elapsedMs) * 1000, errors, elapsedMs, done };
};

/** With a duration, progress is in seconds, once a second. */
const progressTicker = (progress: Progress | undefined, durationMs: number | undefined, done: () => number) => {
  if (progress === undefined || durationMs === undefined) return { stop: () => undefined };
  const t0 = performance.now();
  const total = Math.ceil(durationMs / 1000);
  const t = setInterval(() => progress(Math.min(total, Math.floor((performance.now() - t0) / 1000)), total, `${done()} ops`), 250);
  return { stop: () => clearInterval(t) };
};

export interface OpenLoopResult extends LoopResult {
  /** Operations due in the run (rate × duration, or the count). */
  readonly scheduled: number;
  /** The largest delay between an operation's due time and its start (the generator's own lag), ms. */
  readonly maxStartLagMs: number;
}

/**
 * Open loop: operation i is due at start + i / `rate` seconds whether or not earlier ones have
 * finished, and its latency is measured from that due time, not from when it was sent: a
 * system that falls behind shows its queueing in the latencies instead of silently slowing the
 * load down (coordinated omission). `maxInFlight` only protects the generator's memory; ops
 * held back by it are still timed from their due time.
 */
export const openLoop = async (
  spec: { rate: number; total?: number; durationMs?: number; maxInFlight?: number },
  op: (i: number) => Promise<boolean>,
  latency: Latency,
  progress?: Progress,
  phase?: Phase | string,
): Promise<OpenLoopResult> => {
  const rate = spec.rate;
  if (!(rate > 0)) throw new Error("open loop needs a positive rate");
  const total = spec.total ?? Math.max(1, Math.round((rate * (spec.durationMs ?? 10_000)) / 1000));
  const cap = spec.maxInFlight ?? 100_000;
  const ph = phaseFor(phase, progress !== undefined, `open loop at ${fmtRate(rate)}/s`);
  const intervalMs = 1000 / rate;
  const t0 = performance.now();
  let next = 0;
  let inFlight = 0;
  let done = 0;
  let ok = 0;
  let errors = 0;
  let maxLag = 0;
  let lastProgress = 0;
  /** True while pump stopped because `maxInFlight` operations were in flight. */
  let blocked = false;
  let finish!: () => void;
  const finished = new Promise<void>((r) => (finish = r));

  const launch = (i: number, due: number) => {
    inFlight++;
    const lag = performance.now() - due;
    if (lag > maxLag) maxLag = lag;
    op(i)
      .catch(() => false)
      .then((good) => {
        const ms = performance.now() - due;
        latency.recordNs(ms * 1e6);
        ph?.record(ms, good);
        if (good) ok++;
        else errors++;
        done++;
        inFlight--;
        if (progress !== undefined && performance.now() - lastProgress > 200) {
          lastProgress = performance.now();
          progress(done, total, `${fmtRate(rate)}/s target`);
        }
        if (blocked) pump();
        else if (done >= total) finish();
      });
  };
  const pump = () => {
    blocked = false;
    const now = performance.now();
    while (next < total && inFlight < cap) {
      const due = t0 + next * intervalMs;
      if (due > now) break;
      launch(next++, due);
    }
    if (next >= total) return;
    if (inFlight >= cap) {
      blocked = true;
      return;
    }
    const wait = t0 + next * intervalMs - performance.now();
    if (wait <= 0) setImmediate(pump);
    else setTimeout(pump, wait);
  };
  pump();
  await finished;
  ph?.end();
  const elapsedMs = performance.now() - t0;
  progress?.(total, total, `${fmtRate(rate)}/s target`);
  return { opsPerSec: (ok / elapsedMs) * 1000, errors, elapsedMs, done, scheduled: total, maxStartLagMs: Math.round(maxLag * 100) / 100 };
};

export const fmtRate = (r: number): string => (r >= 100 ? String(Math.round(r)) : r.toFixed(1));

export interface DriveResult {
  /** Operations (× weight) per second reported as the scenario's throughput (the peak with `--rate half`). */
  readonly opsPerSec: number;
  readonly errors: number;
  /** Operations started in all measured phases. */
  readonly done: number;
  readonly elapsedMs: number;
  /** Latencies of the run the percentiles are reported for (the half-rate run with `--rate half`). */
  readonly latency: Latency;
  /** How the load was driven, for the result. */
  readonly load: string;
  /** With `--rate half` or a numeric rate: the open-loop run. */
  readonly open?: OpenLoopResult & { readonly rate: number };
  /** With `--rate half`: the closed-loop peak run and its latencies. */
  readonly peak?: LoopResult & { readonly latency: Latency };
}

/**
 * Drives a scenario's measured load as the shared options ask: `--count` or `--duration`,
 * `--rate N` (open loop), `max` (closed loop with `concurrency` in flight) or `half` (closed-loop
 * peak, then an open loop at half of it). `op` gets indices unique across both runs. The phases
 * are recorded as `name` (and `name @ half peak`).
 */
export const drive = async (
  ctx: BenchContext,
  defaults: {
    count: number;
    concurrency: number;
    unit?: string;
    /** Units one successful operation counts for (device deliveries per message); throughput is multiplied by it. */
    weight?: number;
    /** Called before each run ("closed", then "open" with `--rate half`), e.g. to reset the scenario's own latencies. */
    onRun?: (kind: "closed" | "open") => void;
  },
  op: (i: number) => Promise<boolean>,
  name = "measured",
): Promise<DriveResult> => {
  const o = ctx.opts;
  const conc = o.concurrency ?? defaults.concurrency;
  const durationMs = o.durationS === undefined ? undefined : o.durationS * 1000;
  const count = o.count ?? defaults.count;
  const rate = o.rate ?? "max";
  const unit = defaults.unit ?? "ops";
  const weight = defaults.weight ?? 1;
  const closed = async (phaseName: string, offset: number) => {
    defaults.onRun?.("closed");
    const lat = new Latency();
    const ph = ctx.recorder.phase(phaseName, { unit, weight, load: `closed loop, ${conc} in flight` });
    const r = await closedLoop(count, conc, (i) => op(offset + i), lat, ctx.progress, ph, durationMs);
    return { ...r, latency: lat };
  };
  const open = async (phaseName: string, r: number, offset: number) => {
    defaults.onRun?.("open");
    const lat = new Latency();
    const ph = ctx.recorder.phase(phaseName, { unit, weight, load: `open loop at ${fmtRate(r)}/s` });
    const res = await openLoop(
      { rate: r, ...(durationMs !== undefined ? { durationMs } : { total: count }), maxInFlight: Math.max(conc * 64, 10_000) },
      (i) => op(offset + i),
      lat,
      ctx.progress,
      ph,
    );
    return { ...res, rate: r, latency: lat };
  };
  const prof = await startProfile(name);
  try {
    return await runDrive();
  } finally {
    await prof?.stop();
  }

  async function runDrive(): Promise<DriveResult> {
  if (rate === "max") {
    const r = await closed(name, 0);
    return { opsPerSec: r.opsPerSec * weight, errors: r.errors, done: r.done, elapsedMs: r.elapsedMs, latency: r.latency, load: `closed loop, ${conc} in flight` };
  }
  if (rate === "half") {
    const peak = await closed(`${name} (peak)`, 0);
    const half = Math.max(1, peak.opsPerSec / 2);
    const r = await open(`${name} @ half peak`, half, peak.done);
    return {
      opsPerSec: peak.opsPerSec * weight,
      errors: peak.errors + r.errors,
      done: peak.done + r.done,
      elapsedMs: peak.elapsedMs + r.elapsedMs,
      latency: r.latency,
      load: `peak: closed loop, ${conc} in flight; latencies: open loop at half of it (${fmtRate(half)}/s)`,
      open: r,
      peak,
    };
  }
  const r = await open(name, rate, 0);
  return { opsPerSec: r.opsPerSec * weight, errors: r.errors, done: r.done, elapsedMs: r.elapsedMs, latency: r.latency, load: `open loop at ${fmtRate(rate)}/s`, open: r };
  }
};

/**
 * INTERLINK_BENCH_PROFILE=DIR: a CPU profile of this process's main thread during the measured
 * load only (set-up and baselines left out), written to DIR as a .cpuprofile (Chrome DevTools).
 */
const startProfile = async (name: string): Promise<{ stop(): Promise<void> } | undefined> => {
  const dir = process.env["INTERLINK_BENCH_PROFILE"];
  if (dir === undefined || dir === "") return undefined;
  const s = new Session();
  s.connect();
  await s.post("Profiler.enable");
  await s.post("Profiler.setSamplingInterval", { interval: 500 });
  await s.post("Profiler.start");
  return {
    stop: async () => {
      const { profile } = await s.post("Profiler.stop");
      const file = join(dir, `bench-${name.replace(/[^A-Za-z0-9_-]+/g, "_")}-${process.pid}-${Date.now()}.cpuprofile`);
      writeFileSync(file, JSON.stringify(profile));
      s.disconnect();
    },
  };
};

/** Figures of a drive for a result's `extra`. */
export const driveExtra = (d: DriveResult): Record<string, unknown> => ({
  ...(d.open !== undefined
    ? {
        open_loop_rate: Math.round(d.open.rate),
        open_loop_achieved: Math.round(d.open.opsPerSec),
        open_loop_max_start_lag_ms: d.open.maxStartLagMs,
      }
    : {}),
  ...(d.peak !== undefined ? { peak_p50_ms: d.peak.latency.percentilesMs().p50_ms, peak_p99_ms: d.peak.latency.percentilesMs().p99_ms } : {}),
});
