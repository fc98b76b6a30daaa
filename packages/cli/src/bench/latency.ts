import { createHistogram } from "node:perf_hooks";
import type { RecordableHistogram } from "node:perf_hooks";

/** Latency percentiles from Node's own HDR histogram (nanosecond integers). */
export class Latency {
  readonly #h: RecordableHistogram = createHistogram();

  record(startNs: bigint): void {
    const d = process.hrtime.bigint() - startNs;
    this.#h.record(d > 0n ? d : 1n);
  }

  get count(): number {
    return this.#h.count;
  }

  percentilesMs(): { p50_ms: number; p90_ms: number; p99_ms: number; p999_ms: number } {
    const ms = (p: number) => (this.#h.count === 0 ? 0 : Math.round((this.#h.percentile(p) / 1e6) * 1000) / 1000);
    return { p50_ms: ms(50), p90_ms: ms(90), p99_ms: ms(99), p999_ms: ms(99.9) };
  }
}

/**
 * Runs `total` operations with `concurrency` in flight (closed loop) and returns ops/s.
 * `op` resolves false for an error; its latency is recorded either way.
 */
export const closedLoop = async (
  total: number,
  concurrency: number,
  op: (i: number) => Promise<boolean>,
  latency: Latency,
  progress?: (done: number, total: number) => void,
): Promise<{ opsPerSec: number; errors: number; elapsedMs: number }> => {
  let next = 0;
  let done = 0;
  let errors = 0;
  const t0 = process.hrtime.bigint();
  const worker = async () => {
    while (next < total) {
      const i = next++;
      const s = process.hrtime.bigint();
      const ok = await op(i).catch(() => false);
      latency.record(s);
      if (!ok) errors++;
      done++;
      if (progress !== undefined && done % 256 === 0) progress(done, total);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
  const elapsedMs = Number(process.hrtime.bigint() - t0) / 1e6;
  return { opsPerSec: (total / elapsedMs) * 1000, errors, elapsedMs };
};
