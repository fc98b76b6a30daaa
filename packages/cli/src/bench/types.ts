import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "@interlink/actor";
import type { Recorder } from "./recorder.js";

/** Facts about the machine a result was measured on. */
export interface MachineInfo {
  readonly cpus: number;
  readonly model: string;
  readonly node: string;
  readonly nats_server: string;
  /** One line for people: cores, model, memory, OS, load average when the run started. */
  readonly description?: string;
  readonly hostname?: string;
  readonly memory_gb?: number;
  readonly load_avg?: readonly number[];
}

/** The JSON contract of `interlink bench <scenario> --json` (DESIGN.md, command-line contract). */
export interface BenchResult {
  readonly scenario: string;
  /** Operations per second of the scenario itself. */
  readonly throughput: number;
  /** Operations per second of the same-run baseline the scenario is compared with. */
  readonly baseline: number;
  readonly baseline_name: string;
  /** throughput / baseline. */
  readonly ratio: number;
  readonly p50_ms: number;
  readonly p90_ms: number;
  readonly p99_ms: number;
  readonly p999_ms: number;
  readonly errors: number;
  readonly duplicates: number;
  readonly lost: number;
  readonly rss_mb: number;
  readonly instances: number;
  readonly count: number;
  readonly machine: MachineInfo;
  /** What ops/s counts (e.g. "messages", "device deliveries"); "ops" when absent. */
  readonly unit?: string;
  /** How the load was driven: "closed loop, 64 in flight", "open loop at 500/s", ... */
  readonly load?: string;
  /** Wall-clock seconds of the measured phase. */
  readonly duration_s?: number;
  /** Completed operations per second of the measured phase, second by second. */
  readonly per_second?: readonly number[];
  /** When the run started (ISO 8601). */
  readonly date?: string;
  /** Scenario-specific figures (e.g. a second baseline, memory before/after). */
  readonly extra?: Readonly<Record<string, unknown>>;
}

/** `--rate`: operations per second (open loop), `max` (closed loop), or `half` (peak, then half of it). */
export type Rate = number | "max" | "half";

export interface BenchOptions {
  /** Operations to run (scenario default when absent). */
  readonly count?: number;
  /** Seconds to run instead of a count (the scenario still does its set-up first). */
  readonly durationS?: number;
  /**
   * Target rate. A number drives an open loop: operation i is due at start + i/rate and its
   * latency is measured from that due time, so a slow system cannot hide its queueing
   * (coordinated omission). `max` (the default) is a closed loop with `concurrency` in flight.
   * `half` measures the peak with a closed loop, then runs an open loop at half of it and
   * reports the peak's throughput with the half-rate run's latencies.
   */
  readonly rate?: Rate;
  /** Operations in flight at once (closed loop); the in-flight cap of an open loop. */
  readonly concurrency?: number;
  readonly instances?: number;
  readonly workers?: number;
  /** Providers taking part (scenarios with apps: e2e, fanout). */
  readonly providers?: number;
  /** Users per provider. */
  readonly users?: number;
  /** Devices per (recipient) user. */
  readonly devices?: number;
  /** Message size in bytes. */
  readonly size?: number;
  /** Run against this NATS instead of a throwaway embedded server. */
  readonly natsUrl?: string;
  /** The services already run on `natsUrl` (started elsewhere, e.g. as separate processes): start none. */
  readonly external?: boolean;
}

/** What a scenario gets: a NATS URL to use (its own embedded server unless --nats) and a logger. */
export interface BenchContext {
  readonly url: string;
  readonly opts: BenchOptions;
  readonly log: Logger;
  connect(name: string): Promise<NatsConnection>;
  /** Progress for a terminal; silent with --json. `note` is shown after the counts. */
  progress(done: number, total: number, note?: string): void;
  /**
   * Time series of the run: every `closedLoop`/`openLoop`/`drive` feeds it per completed
   * operation, so `--report` can draw throughput over time and the latency distribution.
   */
  readonly recorder: Recorder;
  /** Pid of the embedded nats-server (absent with --nats), to measure its CPU. */
  readonly natsPid?: number;
}

export type Scenario = (ctx: BenchContext) => Promise<Omit<BenchResult, "machine" | "rss_mb">>;
