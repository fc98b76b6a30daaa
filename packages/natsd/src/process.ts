import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream } from "node:fs";
import { rm } from "node:fs/promises";
import { NatsdError } from "./errors.js";
import { tail } from "./exec.js";
import { LogBuffer } from "./log-buffer.js";
import { dialHost, sleep, tcpProbe } from "./ready.js";
import type { NatsServerConfig, NatsServerHandle } from "./types.js";

/**
 * Printed by 2.9 and newer once every listener (and JetStream, when on) is up. Required even
 * without JetStream: a TCP connect alone may reach whoever else holds the port.
 */
const READY_LINE = "Server is ready";
const DEFAULT_STOP_TIMEOUT_MS = 10_000;
const RELOADED_LINE = "Reloaded server configuration";
const RELOAD_FAILED_LINE = "Failed to reload server configuration";

export interface ProcessSettings {
  readonly binary: string;
  /** Fully resolved: concrete ports, JetStream store directory filled in. */
  readonly config: NatsServerConfig;
  readonly configPath: string;
  readonly logPath: string;
  readonly workDir: string;
  readonly ownsWorkDir: boolean;
  readonly env: NodeJS.ProcessEnv;
  readonly readyTimeoutMs: number;
}

function urlFor(host: string, port: number): string {
  const h = dialHost(host);
  return `nats://${h.includes(":") ? `[${h}]` : h}:${port}`;
}

/** One nats-server child process and its later incarnations after `restart()`. */
export class NatsServerProcess implements NatsServerHandle {
  readonly host: string;
  readonly port: number;
  readonly url: string;
  readonly serverName?: string;
  readonly clusterPort?: number;
  readonly leafPort?: number;
  readonly httpPort?: number;
  readonly configPath: string;
  readonly logPath: string;
  readonly workDir: string;
  readonly storeDir?: string;

  private readonly buffer = new LogBuffer();
  private child: ChildProcess | undefined;
  private exitPromise: Promise<number | null> = Promise.resolve(null);
  private alive = false;
  private stopping: Promise<void> | undefined;
  private disposed = false;

  constructor(private readonly settings: ProcessSettings) {
    const c = settings.config;
    this.host = c.host ?? "127.0.0.1";
    if (c.port === undefined) throw new RangeError("NatsServerProcess needs a concrete client port");
    this.port = c.port;
    this.url = urlFor(this.host, this.port);
    if (c.serverName !== undefined) this.serverName = c.serverName;
    if (c.cluster !== undefined) this.clusterPort = c.cluster.port;
    if (c.leafnodes !== undefined) this.leafPort = c.leafnodes.port;
    if (c.httpPort !== undefined) this.httpPort = c.httpPort;
    if (c.jetstream) this.storeDir = c.jetstream.storeDir;
    this.configPath = settings.configPath;
    this.logPath = settings.logPath;
    this.workDir = settings.workDir;
  }

  get pid(): number {
    return this.child?.pid ?? 0;
  }

  get running(): boolean {
    return this.alive;
  }

  get exited(): Promise<number | null> {
    return this.exitPromise;
  }

  logs(): string {
    return this.buffer.text();
  }

  /** Spawns the process and resolves once it accepts clients; on failure the process is gone. */
  async start(): Promise<void> {
    if (this.disposed) throw new NatsdError({ code: "start_failed", message: "server handle was disposed" });
    if (this.alive) return;
    const { binary, configPath, env, workDir, logPath, readyTimeoutMs } = this.settings;
    const child = spawn(binary, ["-c", configPath], { cwd: workDir, env, stdio: ["ignore", "pipe", "pipe"] });
    this.child = child;
    this.alive = true;
    const logFile = createWriteStream(logPath, { flags: "a" });
    logFile.on("error", () => undefined); // the in-memory buffer still has the output
    let readySeen = false;
    const unsubscribe = this.buffer.onLine((line) => {
      if (line.includes(READY_LINE)) readySeen = true;
    });
    const onData = (chunk: Buffer): void => {
      this.buffer.append(chunk.toString("utf8"));
      logFile.write(chunk);
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    // The server outlives a crashed parent otherwise; SIGTERM lets it flush JetStream on its own.
    const onParentExit = (): void => {
      child.kill("SIGTERM");
    };
    process.on("exit", onParentExit);

    let exitedEarly = false;
    this.exitPromise = new Promise<number | null>((resolve) => {
      let settled = false;
      const finish = (code: number | null): void => {
        if (settled) return;
        settled = true;
        exitedEarly = true;
        this.alive = false;
        unsubscribe();
        process.off("exit", onParentExit);
        logFile.end();
        resolve(code);
      };
      child.once("error", (err) => {
        this.buffer.append(`natsd: could not run ${binary}: ${err.message}\n`);
        if (child.pid === undefined) finish(null);
      });
      // "close" rather than "exit": the output is complete by then, so error messages have it all.
      child.once("close", (code) => finish(code));
    });

    const deadline = Date.now() + readyTimeoutMs;
    for (;;) {
      if (exitedEarly) {
        throw new NatsdError({
          code: "start_failed",
          message: `nats-server (${configPath}) exited during start-up:\n${tail(this.logs())}`,
        });
      }
      if (readySeen && (await tcpProbe(this.host, this.port, 500))) return;
      if (exitedEarly) continue;
      if (Date.now() > deadline) {
        child.kill("SIGKILL");
        await this.exitPromise;
        throw new NatsdError({
          code: "timeout",
          message: `nats-server (${configPath}) was not ready on ${this.url} within ${readyTimeoutMs} ms:\n${tail(this.logs())}`,
        });
      }
      await Promise.race([sleep(50), this.exitPromise]);
    }
  }

  stop(timeoutMs = DEFAULT_STOP_TIMEOUT_MS): Promise<void> {
    if (this.stopping) return this.stopping;
    const child = this.child;
    if (!this.alive || child === undefined) return this.exitPromise.then(() => undefined);
    this.stopping = (async () => {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
      try {
        await this.exitPromise;
      } finally {
        clearTimeout(timer);
        this.stopping = undefined;
      }
    })();
    return this.stopping;
  }

  kill(signal: NodeJS.Signals = "SIGKILL"): void {
    if (this.alive) this.child?.kill(signal);
  }

  /**
   * Sends SIGHUP and resolves once the server reports the reload; rejects with its reason when
   * it refuses the new config (the old one stays in force). Connections stay up.
   */
  async reload(timeoutMs = 10_000): Promise<void> {
    const child = this.child;
    if (!this.alive || child === undefined) throw new NatsdError({ code: "start_failed", message: "server is not running" });
    let outcome: string | undefined;
    const unsubscribe = this.buffer.onLine((line) => {
      if (outcome !== undefined) return;
      if (line.includes(RELOADED_LINE)) outcome = "";
      else if (line.includes(RELOAD_FAILED_LINE)) outcome = line.slice(line.indexOf(RELOAD_FAILED_LINE));
    });
    try {
      child.kill("SIGHUP");
      const deadline = Date.now() + timeoutMs;
      while (outcome === undefined) {
        if (!this.alive) throw new NatsdError({ code: "start_failed", message: "nats-server exited during a reload" });
        if (Date.now() > deadline) throw new NatsdError({ code: "timeout", message: `nats-server did not report a reload within ${timeoutMs} ms` });
        await sleep(20);
      }
      if (outcome !== "") throw new NatsdError({ code: "start_failed", message: outcome });
    } finally {
      unsubscribe();
    }
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async dispose(): Promise<void> {
    await this.stop();
    this.disposed = true;
    if (this.settings.ownsWorkDir) await rm(this.workDir, { recursive: true, force: true });
  }
}
