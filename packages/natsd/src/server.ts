import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { renderConfig } from "./config.js";
import { findNatsServer } from "./find.js";
import { resolvePortsOf } from "./ports.js";
import { NatsServerProcess } from "./process.js";
import type { NatsServerConfig, NatsServerHandle, StartOptions } from "./types.js";

const DEFAULT_READY_TIMEOUT_MS = 15_000;
/** Free ports are picked before the server binds them, so a parallel test can win the race. */
const MAX_PORT_ATTEMPTS = 3;

function toServerConfig(opts: StartOptions, workDir: string): NatsServerConfig {
  const { jetstream, binary: _binary, workDir: _workDir, readyTimeoutMs: _timeout, env: _env, ...rest } = opts;
  if (jetstream === undefined || jetstream === false) return { ...rest, jetstream: false };
  const js = jetstream === true ? {} : jetstream;
  return { ...rest, jetstream: { ...js, storeDir: js.storeDir ?? join(workDir, "jetstream") } };
}

/**
 * Starts nats-server with a config rendered from `opts` and resolves once clients can connect
 * (and JetStream is up, when enabled). Ports that are 0 or, for the client port, absent are
 * replaced by free ones. A cluster member is ready before its routes form.
 */
export async function startNatsServer(opts: StartOptions = {}): Promise<NatsServerHandle> {
  const env = opts.env ?? process.env;
  const binary = opts.binary ?? (await findNatsServer({ env, install: false }));
  const ownsWorkDir = opts.workDir === undefined;
  const workDir = opts.workDir ?? (await mkdtemp(join(tmpdir(), "interlink-natsd-")));
  await mkdir(workDir, { recursive: true });
  const configPath = join(workDir, "nats-server.conf");
  const logPath = join(workDir, "nats-server.log");
  const base = toServerConfig(opts, workDir);
  if (base.jetstream) await mkdir(base.jetstream.storeDir, { recursive: true });

  for (let attempt = 1; ; attempt++) {
    const { config, picked } = await resolvePortsOf(base, { clientPortRequired: true });
    await writeFile(configPath, renderConfig(config));
    const server = new NatsServerProcess({
      binary,
      config,
      configPath,
      logPath,
      workDir,
      ownsWorkDir,
      env,
      readyTimeoutMs: opts.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS,
    });
    try {
      await server.start();
      return server;
    } catch (err) {
      if (picked && attempt < MAX_PORT_ATTEMPTS && /address already in use/i.test(server.logs())) continue;
      if (ownsWorkDir) await rm(workDir, { recursive: true, force: true });
      throw err;
    }
  }
}
