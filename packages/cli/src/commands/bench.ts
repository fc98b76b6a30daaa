import type { Logger } from "@interlink/actor";
import { createLogger } from "@interlink/actor";
import type { Config } from "../config.js";
import { ConfigError } from "../config.js";
import { formatResult, runBench } from "../bench/run.js";
import type { BenchOptions } from "../bench/types.js";

const num = (name: string, v: string | undefined, min = 1): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new ConfigError(`--${name} must be an integer of at least ${min}`);
  return n;
};

/** `interlink bench <scenario> [--json]`: with --json, exactly one JSON object on stdout. */
export const runBenchCommand = async (
  scenario: string | undefined,
  config: Config,
  log: Logger,
  flags: { json: boolean; count?: string; concurrency?: string; instances?: string; workers?: string },
): Promise<number> => {
  if (scenario === undefined) throw new ConfigError("bench needs a scenario name");
  const opts: BenchOptions = {
    ...(config.natsUrl !== undefined ? { natsUrl: config.natsUrl } : {}),
    ...(num("count", flags.count) !== undefined ? { count: num("count", flags.count)! } : {}),
    ...(num("concurrency", flags.concurrency) !== undefined ? { concurrency: num("concurrency", flags.concurrency)! } : {}),
    ...(num("instances", flags.instances) !== undefined ? { instances: num("instances", flags.instances)! } : {}),
    ...(num("workers", flags.workers, 0) !== undefined ? { workers: num("workers", flags.workers, 0)! } : {}),
  };
  const quiet = flags.json ? createLogger({ level: "warn" }) : log;
  const r = await runBench(scenario, opts, quiet, !flags.json && process.stderr.isTTY === true);
  process.stdout.write(flags.json ? JSON.stringify(r) + "\n" : formatResult(r) + "\n");
  return r.errors > 0 || r.duplicates > 0 || r.lost > 0 ? 1 : 0;
};
