import type { Task } from "tinybench";

/** Where human-readable lines go: stdout normally, stderr under `--json`. */
export type Log = (line: string) => void;

export const fmtInt = (n: number): string => Math.round(n).toLocaleString("en");

export interface OpsStats {
  readonly opsPerSec: number;
  /** Relative margin of error of the mean period, in percent (tinybench's rme). */
  readonly rmePct: number;
  readonly samples: number;
}

/** ops/s of a sequential tinybench task: 1000 / mean period. */
export function opsStats(task: Task | undefined): OpsStats {
  const r = task?.result;
  if (r === undefined || !("period" in r) || r.period <= 0) return { opsPerSec: 0, rmePct: 0, samples: 0 };
  return { opsPerSec: 1000 / r.period, rmePct: r.latency.rme, samples: r.latency.samplesCount };
}

/** Nearest-rank percentile of an ascending-sorted array. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))] ?? 0;
}

/** Mean and 95% relative margin of error (normal approximation) of a set of rates. */
export function meanRme(values: readonly number[]): { mean: number; rmePct: number } {
  const n = values.length;
  if (n === 0) return { mean: 0, rmePct: 0 };
  const mean = values.reduce((a, b) => a + b, 0) / n;
  if (n < 2 || mean === 0) return { mean, rmePct: 0 };
  const variance = values.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1);
  return { mean, rmePct: (100 * 1.96 * Math.sqrt(variance / n)) / mean };
}

/** Left-aligned first column, right-aligned others. */
export function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)];
}
