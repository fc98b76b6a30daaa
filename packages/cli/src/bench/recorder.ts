/**
 * The time series of a bench run: per phase (a baseline, the measured load, ...), completions,
 * errors and a log-bucketed latency histogram for every second, plus one for the whole phase.
 * Everything is kept in fixed-size integer buckets, so recording is cheap and memory is bounded
 * by the run's length, not by its operation count.
 */

/** Buckets per power of two (≈ 9% wide). Bucket b holds latencies in [2^(b/8), 2^((b+1)/8)) µs. */
const PER_OCTAVE = 8;
/** Up to 2^28 µs ≈ 4.5 minutes; anything longer lands in the last bucket. */
export const BUCKETS = 28 * PER_OCTAVE;

export const bucketOf = (latencyMs: number): number => {
  const us = latencyMs * 1000;
  if (!(us > 1)) return 0;
  return Math.min(BUCKETS - 1, Math.floor(Math.log2(us) * PER_OCTAVE));
};

/** Lower bound of a bucket, ms. */
export const bucketLowMs = (b: number): number => (b === 0 ? 0 : 2 ** (b / PER_OCTAVE) / 1000);
/** Upper bound of a bucket, ms. */
export const bucketHighMs = (b: number): number => 2 ** ((b + 1) / PER_OCTAVE) / 1000;

/** The latency at percentile `p` (0–100) of a bucketed histogram: the bucket's upper bound, ms. */
export const percentileOf = (counts: ArrayLike<number>, p: number): number => {
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i]!;
  if (total === 0) return 0;
  const rank = Math.max(1, Math.ceil((p / 100) * total));
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i]!;
    if (seen >= rank) return bucketHighMs(i);
  }
  return bucketHighMs(counts.length - 1);
};

export interface SecondData {
  /** Seconds since the run started (the start of this second). */
  readonly t: number;
  readonly ops: number;
  readonly errors: number;
  readonly p50_ms: number;
  readonly p99_ms: number;
  readonly max_ms: number;
}

export interface PhaseData {
  readonly name: string;
  /** The load the scenario's result is about (baselines and set-up are not measured). */
  readonly measured: boolean;
  /** Seconds since the run started. */
  readonly start_s: number;
  readonly end_s: number;
  readonly ops: number;
  readonly errors: number;
  /** What one operation is ("messages", "device deliveries", "requests"). */
  readonly unit: string;
  /** How the load was driven. */
  readonly load: string;
  readonly seconds: readonly SecondData[];
  /** Whole-phase latency histogram: bucket index → count (see `bucketLowMs`/`bucketHighMs`). */
  readonly histogram: readonly number[];
}

export class Phase {
  readonly #origin: number;
  readonly #start: number;
  #end: number | undefined;
  readonly #hist = new Uint32Array(BUCKETS);
  readonly #secs = new Map<number, { ops: number; errors: number; hist: Uint32Array; max: number }>();
  #ops = 0;
  #errors = 0;
  load: string;

  constructor(
    readonly name: string,
    readonly measured: boolean,
    origin: number,
    readonly unit = "ops",
    load = "",
    /** Operations one completion counts for (e.g. device deliveries per message). */
    readonly weight = 1,
  ) {
    this.#origin = origin;
    this.#start = performance.now();
    this.load = load;
  }

  /** One operation completed now, after `latencyMs` (failed ones count as errors). */
  record(latencyMs: number, ok = true): void {
    const now = performance.now();
    const sec = Math.floor((now - this.#origin) / 1000);
    let s = this.#secs.get(sec);
    if (s === undefined) this.#secs.set(sec, (s = { ops: 0, errors: 0, hist: new Uint32Array(BUCKETS), max: 0 }));
    const b = bucketOf(latencyMs);
    if (ok) {
      s.ops += this.weight;
      this.#ops += this.weight;
    } else {
      s.errors++;
      this.#errors++;
    }
    s.hist[b]!++;
    this.#hist[b]!++;
    if (latencyMs > s.max) s.max = latencyMs;
  }

  end(): void {
    this.#end ??= performance.now();
  }

  get ops(): number {
    return this.#ops;
  }

  toJSON(): PhaseData {
    const r3 = (n: number) => Math.round(n * 1000) / 1000;
    const end = this.#end ?? performance.now();
    const first = Math.floor((this.#start - this.#origin) / 1000);
    const last = Math.floor((end - this.#origin) / 1000);
    const seconds: SecondData[] = [];
    for (let t = first; t <= last; t++) {
      const s = this.#secs.get(t);
      seconds.push(
        s === undefined
          ? { t, ops: 0, errors: 0, p50_ms: 0, p99_ms: 0, max_ms: 0 }
          : { t, ops: s.ops, errors: s.errors, p50_ms: r3(percentileOf(s.hist, 50)), p99_ms: r3(percentileOf(s.hist, 99)), max_ms: r3(s.max) },
      );
    }
    return {
      name: this.name,
      measured: this.measured,
      start_s: r3((this.#start - this.#origin) / 1000),
      end_s: r3((end - this.#origin) / 1000),
      ops: this.#ops,
      errors: this.#errors,
      unit: this.unit,
      load: this.load,
      seconds,
      histogram: [...this.#hist],
    };
  }
}

/** All phases of one run, on one clock. */
export class Recorder {
  readonly origin = performance.now();
  readonly startedAt = new Date();
  readonly #phases: Phase[] = [];

  phase(name: string, opts: { measured?: boolean; unit?: string; load?: string; weight?: number } = {}): Phase {
    const p = new Phase(name, opts.measured ?? true, this.origin, opts.unit, opts.load, opts.weight);
    this.#phases.push(p);
    return p;
  }

  phases(): PhaseData[] {
    return this.#phases.map((p) => p.toJSON());
  }
}

let active: Recorder | undefined;

/**
 * The recorder of the run in progress. `closedLoop` calls made without a phase (scenarios written
 * before the recorder existed) open one here, so every scenario gets a time series.
 */
export const activeRecorder = (): Recorder | undefined => active;
export const setActiveRecorder = (r: Recorder | undefined): void => {
  active = r;
};
