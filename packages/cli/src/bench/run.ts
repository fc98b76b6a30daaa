import { cpus, freemem, hostname, loadavg, release, tmpdir, totalmem, type as osType } from "node:os";
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "@interlink/actor";
import type { NatsServerHandle } from "@interlink/natsd";
import { findNatsServer, natsServerVersion } from "@interlink/natsd";
import { connectNats, startEmbeddedNats } from "../stack.js";
import { Recorder, setActiveRecorder } from "./recorder.js";
import { scenarios } from "./registry.js";
import "./scenarios.js";
import type { BenchOptions, BenchResult, MachineInfo } from "./types.js";

/** What the machine is, for a result: one line for people plus the figures behind it. */
export const describeMachine = (natsServer: string): MachineInfo => {
  const c = cpus();
  const model = (c[0]?.model ?? "unknown").replace(/\s+/g, " ").trim();
  const memGb = Math.round(totalmem() / 2 ** 30);
  const load = loadavg().map((l) => Math.round(l * 100) / 100);
  return {
    cpus: c.length,
    model,
    node: process.version,
    nats_server: natsServer,
    hostname: hostname(),
    memory_gb: memGb,
    load_avg: load,
    description: `${c.length} x ${model}, ${memGb} GiB (${Math.round(freemem() / 2 ** 30)} free), ${osType()} ${release()}, node ${process.version}, nats-server ${natsServer}, load average ${load.join(" ")} at start`,
  };
};

/**
 * A one-line progress bar on stderr, redrawn at most 10 times a second: the current phase,
 * percentage, counts, rate since the bar started and an estimate of the time left.
 */
export const progressBar = (name: string, recorder: Recorder, out: NodeJS.WriteStream = process.stderr) => {
  let last = 0;
  let prevDone = -1;
  let prevTotal = -1;
  let started = performance.now();
  let open = false;
  return (done: number, total: number, note?: string): void => {
    const now = performance.now();
    if (done < prevDone || total !== prevTotal) {
      if (open) out.write("\n");
      started = now;
      open = false;
    }
    prevDone = done;
    prevTotal = total;
    const final = done >= total;
    if (!final && now - last < 100) return;
    last = now;
    const phases = recorder.phases();
    const phase = phases.length > 0 ? phases[phases.length - 1]!.name : name;
    const w = 24;
    const frac = Math.min(1, done / Math.max(1, total));
    const f = Math.round(frac * w);
    const secs = (now - started) / 1000;
    const rate = secs > 0 ? done / secs : 0;
    const eta = rate > 0 && !final ? ` eta ${Math.ceil((total - done) / rate)}s` : "";
    const cols = out.columns || 100;
    const line = `${name}: ${phase} [${"█".repeat(f)}${"░".repeat(w - f)}] ${Math.floor(frac * 100)}% ${done}/${total}${eta}${note ? `  ${note}` : ""}`;
    out.write(`\r${line.slice(0, Math.max(20, cols - 1))}\x1b[K`);
    open = true;
    if (final) {
      out.write("\n");
      open = false;
    }
  };
};

/**
 * Runs one scenario on a throwaway embedded nats-server (unless `natsUrl`) and adds machine
 * facts. `recorder` collects the run's time series (for `--report`).
 */
export const runBench = async (name: string, opts: BenchOptions, log: Logger, interactive: boolean, recorder = new Recorder()): Promise<BenchResult> => {
  const scenario = scenarios.get(name);
  if (scenario === undefined) throw new Error(`unknown bench scenario ${name}; known: ${[...scenarios.keys()].sort().join(", ")}`);
  let server: NatsServerHandle | undefined;
  let tmp: string | undefined;
  let url = opts.natsUrl;
  const conns: Array<{ drain(): Promise<void> }> = [];
  const binary = await findNatsServer({ install: false }).catch(() => undefined);
  const natsVersion = opts.natsUrl !== undefined ? "external" : binary ? await natsServerVersion(binary).catch(() => "unknown") : "unknown";
  const machine = describeMachine(natsVersion);
  setActiveRecorder(recorder);
  try {
    if (url === undefined) {
      tmp = mkdtempSync(join(tmpdir(), "interlink-bench-"));
      server = await startEmbeddedNats(tmp, 0, log);
      url = server.url;
    }
    const u = url;
    const bar = interactive ? progressBar(name, recorder) : undefined;
    const r = await scenario({
      url: u,
      opts,
      log,
      recorder,
      ...(server !== undefined ? { natsPid: server.pid } : {}),
      connect: async (n) => {
        const nc = await connectNats(u, n);
        conns.push(nc);
        return nc;
      },
      progress: (done, total, note) => bar?.(done, total, note),
    });
    const measured = recorder.phases().find((p) => p.measured && p.ops > 0);
    return {
      ...r,
      // Peak resident set of this process (the load generator, and the services it runs in-process).
      rss_mb: Math.round(process.resourceUsage().maxRSS / 102.4) / 10,
      date: r.date ?? recorder.startedAt.toISOString(),
      ...(r.per_second === undefined && measured !== undefined ? { per_second: measured.seconds.map((s) => s.ops) } : {}),
      machine,
    };
  } finally {
    setActiveRecorder(undefined);
    for (const c of conns) await c.drain().catch(() => undefined);
    await server?.stop();
    if (tmp !== undefined) rmSync(tmp, { recursive: true, force: true });
  }
};

const fmt = (n: number): string => (Math.abs(n) >= 100 ? Math.round(n).toLocaleString("en-US") : String(Math.round(n * 100) / 100));

/** The summary table printed at the end of a run (stdout, without --json). */
export const formatResult = (r: BenchResult): string => {
  const unit = r.unit ?? "ops";
  const rows: Array<[string, string]> = [
    ["scenario", `${r.scenario} (${fmt(r.count)} ${unit}, ${r.instances} instance(s))`],
    ...(r.load !== undefined ? [["load", r.load] as [string, string]] : []),
    ["throughput", `${fmt(r.throughput)} ${unit}/s`],
    ["baseline", `${fmt(r.baseline)} ${unit}/s (${r.baseline_name})`],
    ["ratio", r.ratio.toFixed(2)],
    ["latency ms", `p50 ${r.p50_ms}  p90 ${r.p90_ms}  p99 ${r.p99_ms}  p99.9 ${r.p999_ms}`],
    ["errors", `${r.errors}  duplicates ${r.duplicates}  lost ${r.lost}`],
    ["rss", `${r.rss_mb} MB (peak, this process)`],
    ...(r.per_second !== undefined && r.per_second.length > 2
      ? [["per second", `min ${fmt(Math.min(...r.per_second.slice(1, -1)))}  max ${fmt(Math.max(...r.per_second.slice(1, -1)))} (whole seconds)`] as [string, string]]
      : []),
    ...(r.extra ? Object.entries(r.extra).filter(([, v]) => v !== undefined).map(([k, v]): [string, string] => [k, typeof v === "number" ? fmt(v) : typeof v === "string" ? v : JSON.stringify(v)]) : []),
    ["machine", r.machine.description ?? `${r.machine.cpus} x ${r.machine.model}, node ${r.machine.node}, nats-server ${r.machine.nats_server}`],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  const line = "─".repeat(Math.min(100, w + 60));
  return [line, ...rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`), line].join("\n");
};
