import { cpus } from "node:os";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Logger } from "@interlink/actor";
import type { NatsServerHandle } from "@interlink/natsd";
import { findNatsServer, natsServerVersion } from "@interlink/natsd";
import { connectNats, startEmbeddedNats } from "../stack.js";
import { scenarios } from "./registry.js";
import "./scenarios.js";
import type { BenchOptions, BenchResult } from "./types.js";

/** Runs one scenario on a throwaway embedded nats-server (unless `natsUrl`) and adds machine facts. */
export const runBench = async (name: string, opts: BenchOptions, log: Logger, interactive: boolean): Promise<BenchResult> => {
  const scenario = scenarios.get(name);
  if (scenario === undefined) throw new Error(`unknown bench scenario ${name}; known: ${[...scenarios.keys()].sort().join(", ")}`);
  let server: NatsServerHandle | undefined;
  let tmp: string | undefined;
  let url = opts.natsUrl;
  const conns: Array<{ drain(): Promise<void> }> = [];
  try {
    if (url === undefined) {
      tmp = mkdtempSync(join(tmpdir(), "interlink-bench-"));
      server = await startEmbeddedNats(tmp, 0, log);
      url = server.url;
    }
    const u = url;
    const r = await scenario({
      url: u,
      opts,
      log,
      connect: async (n) => {
        const nc = await connectNats(u, n);
        conns.push(nc);
        return nc;
      },
      progress: (done, total) => {
        if (!interactive) return;
        const w = 30;
        const f = Math.round((done / Math.max(1, total)) * w);
        process.stderr.write(`\r${name} [${"#".repeat(f)}${".".repeat(w - f)}] ${done}/${total}`);
        if (done >= total) process.stderr.write("\n");
      },
    });
    const binary = await findNatsServer({ install: false }).catch(() => undefined);
    return {
      ...r,
      rss_mb: Math.round(process.memoryUsage().rss / 1e5) / 10,
      machine: {
        cpus: cpus().length,
        model: cpus()[0]?.model ?? "unknown",
        node: process.version,
        nats_server: binary ? await natsServerVersion(binary).catch(() => "unknown") : "external",
      },
    };
  } finally {
    for (const c of conns) await c.drain().catch(() => undefined);
    await server?.stop();
    if (tmp !== undefined) rmSync(tmp, { recursive: true, force: true });
  }
};

export const formatResult = (r: BenchResult): string =>
  [
    `scenario     ${r.scenario} (${r.count} ops, ${r.instances} instance(s))`,
    `throughput   ${r.throughput.toFixed(0)} ops/s`,
    `baseline     ${r.baseline.toFixed(0)} ops/s (${r.baseline_name})`,
    `ratio        ${r.ratio.toFixed(2)}`,
    `latency ms   p50 ${r.p50_ms}  p90 ${r.p90_ms}  p99 ${r.p99_ms}  p99.9 ${r.p999_ms}`,
    `errors ${r.errors}  duplicates ${r.duplicates}  lost ${r.lost}  rss ${r.rss_mb} MB`,
    ...(r.extra ? Object.entries(r.extra).map(([k, v]) => `${k.padEnd(12)} ${typeof v === "number" ? v : JSON.stringify(v)}`) : []),
    `machine      ${r.machine.cpus} x ${r.machine.model}, node ${r.machine.node}, nats-server ${r.machine.nats_server}`,
  ].join("\n");
