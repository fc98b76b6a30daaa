import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, hostname, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { findNatsServer, freePort, natsServerVersion, startNatsServer } from "@interlink/natsd";
import { CLI, measurePid } from "./processes.js";
import { describeMachine } from "./run.js";
import type { BenchResult } from "./types.js";

// The horizontal-scaling curve (benchmarks/scaling/run.sh): for N in 1 2 4 8, a fresh
// nats-server, then `interlink bench e2e --instances N` as the load generator, which starts N
// delivery processes, N session-ratchet processes per provider, one key-directory and one
// receipt (`interlink service ...`, as deployed) and drives 1:1 text end to end through them.
// Writes results-<host>-<date>.json and .md. Unattended; a point that fails is recorded as such.

const USAGE = `usage: node packages/cli/dist/src/bench/scaling.js [options]
  --instances 1,2,4,8   instance counts (delivery, and session-ratchet per provider)
  --duration S          seconds of measured load per point (default 20)
  --workers N           libsignal worker threads per session-ratchet process (default 1)
  --users N             users per provider per instance (default 128: N × 128 per provider)
  --concurrency N       messages in flight per instance (default 128: N × 128)
  --hub K|n             key-directory and receipt instances: K, or n = as many as N (default 1)
  --ratchet processes|threads
                        processes (default): N session-ratchet processes per provider, --workers
                        threads each; threads: one process per provider with N × --workers threads
  --out DIR             where results go (default benchmarks/scaling)
  --label TEXT          free text stored with the results (e.g. the machine's name)`;

interface Point {
  readonly instances: number;
  readonly ok: boolean;
  readonly error?: string;
  readonly throughput?: number;
  readonly baseline?: number;
  readonly ratio?: number;
  readonly p50_ms?: number;
  readonly p99_ms?: number;
  readonly errors?: number;
  readonly lost?: number;
  readonly duplicates?: number;
  readonly libsignal_threads?: number;
  readonly nats_server_cpu_us_per_message?: number;
  readonly cpu_us_per_message?: unknown;
  readonly wall_s: number;
  readonly result?: BenchResult;
}

const runBench = (args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> =>
  new Promise((res) => {
    const p = spawn(process.execPath, [CLI, "bench", ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    p.stderr.on("data", (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-20_000);
      process.stderr.write(d);
    });
    const t = setTimeout(() => p.kill("SIGTERM"), timeoutMs);
    p.on("exit", (code) => {
      clearTimeout(t);
      res({ code, stdout, stderr });
    });
  });

const r1 = (n: number | undefined) => (n === undefined ? undefined : Math.round(n * 10) / 10);
const r2 = (n: number | undefined) => (n === undefined ? undefined : Math.round(n * 100) / 100);

export const main = async (argv: string[]): Promise<number> => {
  const { values } = parseArgs({
    args: argv,
    options: {
      instances: { type: "string" },
      duration: { type: "string" },
      workers: { type: "string" },
      users: { type: "string" },
      concurrency: { type: "string" },
      hub: { type: "string" },
      ratchet: { type: "string" },
      out: { type: "string" },
      label: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE + "\n");
    return 0;
  }
  const counts = (values.instances ?? "1,2,4,8").split(",").map(Number);
  if (counts.some((n) => !Number.isInteger(n) || n < 1)) throw new Error("--instances: a list of positive integers");
  const duration = Number(values.duration ?? 20);
  const workers = Number(values.workers ?? 1);
  // One message in flight per conversation (users/2 conversations per provider, 2 providers).
  const usersPer = Number(values.users ?? 128);
  const concPer = Number(values.concurrency ?? 128);
  const hub = values.hub ?? "1";
  const ratchetMode = values.ratchet ?? "processes";
  if (ratchetMode !== "processes" && ratchetMode !== "threads") throw new Error("--ratchet: processes or threads");
  const repo = resolve(fileURLToPath(new URL("../../../../../", import.meta.url)));
  const outDir = resolve(values.out ?? join(repo, "benchmarks", "scaling"));
  mkdirSync(outDir, { recursive: true });
  const binary = await findNatsServer({ install: false });
  const natsVersion = await natsServerVersion(binary).catch(() => "unknown");
  const machine = describeMachine(natsVersion);
  const started = new Date();
  const stamp = started.toISOString().replace(/[:]/g, "-").replace(/\..*/, "");
  const host = hostname().replace(/[^A-Za-z0-9_.-]/g, "_");
  const base = join(outDir, `results-${host}-${stamp}`);
  process.stderr.write(`scaling: ${machine.description}\nscaling: instances ${counts.join(",")}, ${duration} s each, ${workers} worker thread(s) per ratchet\n`);

  const points: Point[] = [];
  /** Writes both files; called after every point, so a run cut short keeps what it measured. */
  const write = (): string => {
    const one = points.find((p) => p.instances === counts[0] && p.throughput !== undefined);
    const withEff = points.map((p) => ({
      ...p,
      speedup: one?.throughput && p.throughput ? r2(p.throughput / one.throughput) : undefined,
      efficiency: one?.throughput && p.throughput ? r2(p.throughput / ((p.instances / one.instances) * one.throughput)) : undefined,
      baseline_efficiency: one?.baseline && p.baseline ? r2(p.baseline / ((p.instances / one.instances) * one.baseline)) : undefined,
    }));
    const doc = {
      what: "interlink e2e (1:1 text: encrypt -> deliver -> decrypt -> delivered receipt), services as separate processes",
      date: started.toISOString(),
      label: values.label ?? null,
      machine,
      cores: availableParallelism(),
      command: `benchmarks/scaling/run.sh ${argv.join(" ")}`.trim(),
      settings: { instances: counts, ratchet: ratchetMode, duration_s: duration, ratchet_workers: workers, users_per_provider_per_instance: usersPer, concurrency_per_instance: concPer, hub_instances: hub, providers: 2 },
      points: withEff,
    };
    writeFileSync(`${base}.json`, JSON.stringify(doc, null, 2) + "\n");
    const md = [
      `# Scaling: ${doc.date} on ${host}`,
      "",
      `Machine: ${machine.description}.`,
      `Command: \`${doc.command}\`. Each point: a fresh nats-server; N delivery processes; ${ratchetMode === "threads" ? `one session-ratchet process per provider with N × ${Math.max(1, workers)} libsignal worker threads` : `N session-ratchet processes per provider with ${workers} libsignal worker thread(s) each`} (2 providers); ${hub === "n" ? "N" : hub} key-directory and ${hub === "n" ? "N" : hub} receipt, one load-generator process (\`interlink bench e2e --instances N\`, ${concPer}·N messages in flight, ${usersPer}·N users per provider), ${duration} s of measured load.`,
      "",
      "| N | msg/s | speedup | efficiency | raw libsignal (threads) | ratio | baseline efficiency | p50 ms | p99 ms | errors / lost / dup | nats-server µs/msg | CPU µs/msg by process |",
      "|---|---|---|---|---|---|---|---|---|---|---|---|",
      ...withEff.map((p) =>
        p.throughput === undefined
          ? `| ${p.instances} | failed | | | | | | | | | | ${(p.error ?? "").replace(/\|/g, "/").slice(0, 120)} |`
          : `| ${p.instances} | ${Math.round(p.throughput)} | ${p.speedup ?? ""} | ${p.efficiency ?? ""} | ${Math.round(p.baseline ?? 0)} (${p.libsignal_threads}) | ${p.ratio} | ${p.baseline_efficiency ?? ""} | ${p.p50_ms} | ${p.p99_ms} | ${p.errors} / ${p.lost} / ${p.duplicates} | ${p.nats_server_cpu_us_per_message} | ${JSON.stringify(p.cpu_us_per_message).replace(/[{}"]/g, "").replace(/,/g, ", ")} |`,
      ),
      "",
      "Efficiency = msg/s at N ÷ (N × msg/s at the first N). Baseline efficiency: the same for raw libsignal encrypt+decrypt on as many threads as the ratchets use.",
      "",
    ].join("\n");
    writeFileSync(`${base}.md`, md);
    return md;
  };

  for (const n of counts) {
    const t0 = performance.now();
    const dir = mkdtempSync(join(tmpdir(), "interlink-scaling-"));
    const server = await startNatsServer({ binary, port: await freePort(), jetstream: { storeDir: join(dir, "js") }, workDir: join(dir, "run"), serverName: `scaling-${n}` });
    const nats = measurePid(server.pid);
    const hubN = hub === "n" ? n : Number(hub);
    const args = [
      "e2e",
      "--json",
      "--nats", server.url,
      "--instances", String(n),
      "--workers", String(ratchetMode === "threads" ? n * Math.max(1, workers) : workers),
      "--users", String(usersPer * n),
      "--concurrency", String(concPer * n),
      "--duration", String(duration),
    ];
    process.stderr.write(`scaling: N=${n}: interlink bench ${args.join(" ")}\n`);
    try {
      const cpu0 = nats.cpuMs();
      const r = await runBench(
        args,
        {
          ...process.env,
          INTERLINK_BENCH_KEY_DIRECTORY_INSTANCES: String(hubN),
          INTERLINK_BENCH_RECEIPT_INSTANCES: String(hubN),
          INTERLINK_BENCH_RATCHET_INSTANCES: ratchetMode === "threads" ? "1" : String(n),
        },
        Math.max(300_000, duration * 1000 * 6),
      );
      const natsCpu = nats.cpuMs() - cpu0;
      let res: BenchResult | undefined;
      try {
        res = JSON.parse(r.stdout.trim().split("\n").pop() ?? "") as BenchResult;
      } catch {
        res = undefined;
      }
      if (res === undefined) {
        points.push({ instances: n, ok: false, error: `exit ${r.code}: ${r.stderr.slice(-2_000)}`, wall_s: r1((performance.now() - t0) / 1000)! });
      } else {
        const ex = (res.extra ?? {}) as Record<string, unknown>;
        points.push({
          instances: n,
          ok: res.errors === 0 && res.lost === 0 && res.duplicates === 0,
          throughput: r1(res.throughput),
          baseline: r1(res.baseline),
          ratio: r2(res.ratio),
          p50_ms: res.p50_ms,
          p99_ms: res.p99_ms,
          errors: res.errors,
          lost: res.lost,
          duplicates: res.duplicates,
          libsignal_threads: ex["libsignal_threads"] as number,
          // Whole run (set-up and baselines included) over the measured messages: an upper bound.
          nats_server_cpu_us_per_message: Math.round((natsCpu * 1000) / Math.max(1, res.count)),
          cpu_us_per_message: ex["cpu_us_per_message"],
          wall_s: r1((performance.now() - t0) / 1000)!,
          result: res,
        });
      }
    } finally {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
    const last = points[points.length - 1]!;
    write();
    process.stderr.write(`scaling: N=${n}: ${last.ok ? `${last.throughput} msg/s, ratio ${last.ratio}, p99 ${last.p99_ms} ms` : `FAILED ${last.error ?? `errors ${last.errors} lost ${last.lost}`}`}\n`);
  }

  const md = write();
  process.stdout.write(md);
  process.stderr.write(`scaling: wrote ${base}.json and ${base}.md\n`);
  return points.every((p) => p.ok) ? 0 : 1;
};

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (err: unknown) => {
      process.stderr.write(`scaling: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 2;
    },
  );
}
