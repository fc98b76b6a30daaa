import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findNatsServer, startNatsServer, type NatsServerHandle, type StartOptions } from "@interlink/natsd";
import { formatLogs } from "./logs.js";

/** Parallel test files may grab a picked port first; the whole topology is then started again. */
const MAX_ATTEMPTS = 3;

/** Servers of one topology under one temporary directory, stopped and removed together. */
export class ServerGroup {
  readonly servers: NatsServerHandle[] = [];
  private stopping: Promise<void> | undefined;

  private constructor(
    readonly root: string,
    private readonly binary: string,
  ) {}

  static async create(kind: string): Promise<ServerGroup> {
    const binary = await findNatsServer({ install: false });
    return new ServerGroup(await mkdtemp(join(tmpdir(), `interlink-${kind}-`)), binary);
  }

  /** Starts servers in parallel; every one that started is kept for `stop()`, even when another failed. */
  async startAll(specs: ReadonlyArray<readonly [name: string, opts: StartOptions]>): Promise<NatsServerHandle[]> {
    const results = await Promise.allSettled(
      specs.map(([name, opts]) => startNatsServer({ ...opts, binary: this.binary, workDir: join(this.root, name) })),
    );
    const started: NatsServerHandle[] = [];
    for (const r of results) if (r.status === "fulfilled") started.push(r.value);
    this.servers.push(...started);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
    return started;
  }

  async start(name: string, opts: StartOptions): Promise<NatsServerHandle> {
    const [server] = await this.startAll([[name, opts]]);
    if (server === undefined) throw new Error(`server ${name} did not start`);
    return server;
  }

  logs(): string {
    return formatLogs(this.servers);
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await Promise.allSettled(this.servers.map((s) => s.stop()));
      await rm(this.root, { recursive: true, force: true });
    })();
    return this.stopping;
  }
}

/**
 * Runs `build` on a fresh group; on failure stops what it started and throws with every
 * server's log, retrying when a picked port was taken in the meantime.
 */
export async function buildTopology<T>(kind: string, build: (group: ServerGroup) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const group = await ServerGroup.create(kind);
    try {
      return await build(group);
    } catch (err) {
      const logs = group.logs();
      await group.stop();
      const message = err instanceof Error ? err.message : String(err);
      if (attempt < MAX_ATTEMPTS && /address already in use/i.test(message + logs)) continue;
      throw new Error(`${kind} topology did not start: ${message}\n${logs}`, { cause: err });
    }
  }
}
