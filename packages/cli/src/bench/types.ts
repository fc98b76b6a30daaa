import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "@interlink/actor";

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
  readonly machine: { readonly cpus: number; readonly model: string; readonly node: string; readonly nats_server: string };
  /** Scenario-specific figures (e.g. a second baseline, memory before/after). */
  readonly extra?: Readonly<Record<string, unknown>>;
}

export interface BenchOptions {
  /** Operations to run (scenario default when absent). */
  readonly count?: number;
  /** Operations in flight at once. */
  readonly concurrency?: number;
  readonly instances?: number;
  readonly workers?: number;
  /** Run against this NATS instead of a throwaway embedded server. */
  readonly natsUrl?: string;
}

/** What a scenario gets: a NATS URL to use (its own embedded server unless --nats) and a logger. */
export interface BenchContext {
  readonly url: string;
  readonly opts: BenchOptions;
  readonly log: Logger;
  connect(name: string): Promise<NatsConnection>;
  /** Progress for a terminal; silent with --json. */
  progress(done: number, total: number): void;
}

export type Scenario = (ctx: BenchContext) => Promise<Omit<BenchResult, "machine" | "rss_mb">>;
