import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import type { Logger } from "@interlink/actor";
import { createLogger } from "@interlink/actor";
import type { Config } from "../config.js";
import { ConfigError } from "../config.js";
import { Recorder } from "../bench/recorder.js";
import { renderReport } from "../bench/report.js";
import { formatResult, runBench } from "../bench/run.js";
import type { BenchOptions, Rate } from "../bench/types.js";

const num = (name: string, v: string | undefined, min = 1, max = 1e9): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`--${name} must be an integer from ${min} to ${max}`);
  return n;
};

const positive = (name: string, v: string | undefined): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new ConfigError(`--${name} must be a positive number`);
  return n;
};

const rate = (v: string | undefined): Rate | undefined => {
  if (v === undefined) return undefined;
  if (v === "max" || v === "half") return v;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new ConfigError("--rate must be operations per second, max (closed loop) or half (peak, then half of it)");
  return n;
};

export interface BenchFlags {
  readonly json: boolean;
  readonly external?: boolean;
  readonly count?: string;
  readonly concurrency?: string;
  readonly instances?: string;
  readonly workers?: string;
  readonly providers?: string;
  readonly users?: string;
  readonly devices?: string;
  readonly size?: string;
  readonly duration?: string;
  readonly rate?: string;
  readonly report?: string;
}

/** Flags → options; throws ConfigError on a bad value (exit 2). */
export const benchOptions = (config: Pick<Config, "natsUrl">, flags: BenchFlags): BenchOptions => {
  if (flags.count !== undefined && flags.duration !== undefined) throw new ConfigError("--count and --duration are alternatives; give one");
  if (flags.external === true && config.natsUrl === undefined) throw new ConfigError("--external needs --nats URL (where the services run)");
  const entries: Array<[keyof BenchOptions, unknown]> = [
    ["natsUrl", config.natsUrl],
    ["count", num("count", flags.count)],
    ["durationS", positive("duration", flags.duration)],
    ["rate", rate(flags.rate)],
    ["concurrency", num("concurrency", flags.concurrency)],
    ["instances", num("instances", flags.instances, 1, 256)],
    ["workers", num("workers", flags.workers, 0, 256)],
    ["providers", num("providers", flags.providers, 1, 26)],
    ["users", num("users", flags.users, 1, 100_000)],
    ["devices", num("devices", flags.devices, 1, 16)],
    ["size", num("size", flags.size, 1, 256 * 1024 * 1024)],
    ["external", flags.external === true ? true : undefined],
  ];
  return Object.fromEntries(entries.filter(([, v]) => v !== undefined)) as BenchOptions;
};

/**
 * `interlink bench <scenario>`: with --json, exactly one JSON object on stdout (progress and
 * logs stay on stderr, and the bar is off); otherwise a summary table. `--report FILE.html`
 * writes the run's charts as one self-contained page.
 */
export const runBenchCommand = async (scenario: string | undefined, config: Config, log: Logger, flags: BenchFlags): Promise<number> => {
  if (scenario === undefined) throw new ConfigError("bench needs a scenario name");
  const opts = benchOptions(config, flags);
  const quiet = flags.json ? createLogger({ level: "warn" }) : log;
  const recorder = new Recorder();
  const r = await runBench(scenario, opts, quiet, !flags.json && process.stderr.isTTY === true, recorder);
  if (flags.report !== undefined) {
    const path = resolve(flags.report);
    writeFileSync(path, renderReport(r, recorder.phases()));
    if (!flags.json) process.stderr.write(`report written to ${path}\n`);
  }
  process.stdout.write(flags.json ? JSON.stringify(r) + "\n" : formatResult(r) + "\n");
  return r.errors > 0 || r.duplicates > 0 || r.lost > 0 ? 1 : 0;
};
