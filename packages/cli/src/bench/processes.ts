import type { ChildProcess } from "node:child_process";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** packages/cli/bin/interlink.js, from packages/cli/dist/src/bench/. */
export const CLI = fileURLToPath(new URL("../../../bin/interlink.js", import.meta.url));

const round1 = (n: number) => Math.round(n * 10) / 10;

/** A process of this machine, measured through /proc (Linux; zeros elsewhere). */
export interface Measured {
  readonly pid: number | undefined;
  /** Resident set now, MB. */
  rssMb(): number;
  /** CPU time used so far (user + system), ms. */
  cpuMs(): number;
}

export const measurePid = (pid: number | undefined): Measured => ({
  pid,
  rssMb: () => {
    try {
      const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
      return m ? round1(Number(m[1]) / 1024) : 0;
    } catch {
      return 0;
    }
  },
  cpuMs: () => {
    try {
      // Fields 14 and 15 of /proc/<pid>/stat (utime, stime), in clock ticks of 10 ms.
      const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
      return (Number(f[11]) + Number(f[12])) * 10;
    } catch {
      return 0;
    }
  },
});

export interface ServiceProcess extends Measured {
  /** Service name and instance, e.g. "session-ratchet alpha #2". */
  readonly label: string;
  readonly name: string;
  readonly proc: ChildProcess;
  /** Resolves once the process printed "<name> ready"; rejects if it exits first. */
  readonly ready: Promise<void>;
  stop(): Promise<void>;
}

/**
 * `interlink service <name> --nats URL [args]` as a child process (as deployed), with its logs
 * at error level. `env` must carry the deployment's INTERLINK_SECRET and INTERLINK_AT_REST_KEY.
 * INTERLINK_BENCH_NODE_ARGS adds node flags (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof").
 */
export const spawnService = (name: string, url: string, env: NodeJS.ProcessEnv, args: readonly string[] = [], label = name): ServiceProcess => {
  const nodeArgs = (process.env["INTERLINK_BENCH_NODE_ARGS"] ?? "").split(" ").filter(Boolean);
  const proc = spawn(process.execPath, [...nodeArgs, CLI, "service", name, "--nats", url, "--log-level", "error", ...args], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  const ready = new Promise<void>((resolve, reject) => {
    proc.stdout!.on("data", (d: Buffer) => {
      out = (out + d.toString()).slice(-4_000);
      if (out.includes(`${name} ready`)) resolve();
    });
    proc.stderr!.on("data", (d: Buffer) => {
      out = (out + d.toString()).slice(-4_000);
    });
    proc.once("exit", (code) => reject(new Error(`${label} exited (${code}): ${out}`)));
  });
  ready.catch(() => undefined);
  return {
    ...measurePid(proc.pid),
    label,
    name,
    proc,
    ready,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
      const t = setTimeout(() => proc.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(t);
    },
  };
};

/** CPU ms used by each group of processes (by service name) between two snapshots. */
export const cpuByName = (ps: readonly ServiceProcess[]): Map<string, number> => {
  const m = new Map<string, number>();
  for (const p of ps) m.set(p.name, (m.get(p.name) ?? 0) + p.cpuMs());
  return m;
};
