import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join, relative } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "@interlink/actor";
import type { NatsServerHandle } from "@interlink/natsd";
import { findNatsServer, freePort, startNatsServer } from "@interlink/natsd";
import type { ProviderId } from "@interlink/subjects";
import {
  ensureUserKey,
  leafUserName,
  nkeyFileAuthenticator,
  providerFiles,
  readLeafPassword,
  renderAccounts,
  renderLeafRemote,
  writeSecret,
} from "@interlink/providers";
import { connect } from "@nats-io/transport-node";

/** Where `interlink up` keeps the hub's state and what it tells other commands. */
export interface HubPaths {
  readonly dataDir: string;
  /** Seed of the hub services' user in account HUB. */
  readonly hubSeed: string;
  /** Config, log and generated accounts file of the embedded hub server. */
  readonly workDir: string;
  readonly accountsFile: string;
  readonly logFile: string;
  /** JetStream store of the hub. */
  readonly storeDir: string;
  /** Written by `up` while it runs: URLs and the server's pid, for `provider` and `demo`. */
  readonly runFile: string;
}

export const hubPaths = (dataDir: string): HubPaths => {
  const workDir = join(dataDir, "nats-run");
  return {
    dataDir,
    hubSeed: join(dataDir, "hub.nk"),
    workDir,
    accountsFile: join(workDir, "accounts.conf"),
    logFile: join(workDir, "nats-server.log"),
    storeDir: join(dataDir, "nats"),
    runFile: join(dataDir, "run.json"),
  };
};

/** What a running `interlink up` publishes in `DATA/run.json` (no secrets: paths and URLs). */
export interface RunInfo {
  readonly v: 1;
  /** Process running `up`. */
  readonly pid: number;
  /** The embedded hub nats-server (signalled to reload accounts). */
  readonly natsPid: number;
  readonly natsUrl: string;
  /** Where provider servers connect as leafnodes. */
  readonly leafUrl: string;
  readonly isolation: boolean;
  /** Provider servers `up` runs for the providers it hosts: their apps connect here. */
  readonly edges: Readonly<Record<string, { readonly url: string; readonly pid: number }>>;
}

export const writeRunInfo = (paths: HubPaths, info: RunInfo): void => {
  mkdirSync(paths.dataDir, { recursive: true, mode: 0o700 });
  writeFileSync(paths.runFile, JSON.stringify(info, null, 2) + "\n", { mode: 0o600 });
};

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** The run file of a live `up` on this data dir, or undefined. */
export const readRunInfo = (paths: HubPaths): RunInfo | undefined => {
  try {
    const info = JSON.parse(readFileSync(paths.runFile, "utf8")) as RunInfo;
    if (info.v !== 1 || !alive(info.pid) || !alive(info.natsPid)) return undefined;
    return info;
  } catch {
    return undefined;
  }
};

/** `preferred` if nothing listens there on loopback, else any free port. */
export const portIfFree = (preferred: number): Promise<number> =>
  new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => void freePort().then(resolve));
    s.listen(preferred, "127.0.0.1", () => s.close(() => resolve(preferred)));
  });

/** Connects with the nkey in `seedFile` (and reconnects forever). */
export const connectWithSeed = (url: string, name: string, seedFile: string | undefined): Promise<NatsConnection> =>
  connect({
    servers: url,
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    ...(seedFile !== undefined ? { authenticator: nkeyFileAuthenticator(seedFile) } : {}),
  });

export interface EmbeddedHub {
  readonly server: NatsServerHandle;
  readonly paths: HubPaths;
  readonly url: string;
  readonly leafUrl: string;
  readonly hubNkey: string;
}

/**
 * The hub's nats-server with accounts: HUB for the services, one account per enrolled provider
 * (from the accounts file the registry last rendered), a leafnode port for providers' servers,
 * and JetStream in domain `hub` so it never clashes with a provider server's own JetStream.
 */
export const startAccountsHub = async (
  dataDir: string,
  opts: { port?: number | undefined; leafPort?: number | undefined; log: Logger },
): Promise<EmbeddedHub> => {
  const paths = hubPaths(dataDir);
  mkdirSync(paths.workDir, { recursive: true, mode: 0o700 });
  mkdirSync(paths.storeDir, { recursive: true });
  const hub = ensureUserKey(paths.hubSeed);
  // First start: only the hub's own account; `syncAccounts` adds the enrolled providers.
  if (!existsSync(paths.accountsFile)) writeSecret(paths.accountsFile, renderAccounts({ hubNkey: hub.publicKey, providers: [] }));
  const binary = await findNatsServer({ install: true, log: (l) => opts.log.info(l) });
  const port = opts.port ?? (await portIfFree(4222));
  const leafPort = opts.leafPort ?? (await portIfFree(7422));
  const server = await startNatsServer({
    binary,
    serverName: "interlink-hub",
    port,
    httpPort: 0,
    jetstream: { storeDir: paths.storeDir, domain: "hub" },
    leafnodes: { port: leafPort },
    workDir: paths.workDir,
    includes: [relative(paths.workDir, paths.accountsFile)],
  });
  const leafUrl = `nats-leaf://127.0.0.1:${server.leafPort ?? leafPort}`;
  return { server, paths, url: server.url, leafUrl, hubNkey: hub.publicKey };
};

/**
 * A provider's own nats-server, as the provider would run it: its own JetStream (domain = its
 * id) for its edge's sealed state, and one leafnode remote to the hub bound to its account there,
 * denying the edge subjects both ways. `up` and `demo` run one per hosted provider.
 */
export const startProviderServer = async (dataDir: string, provider: ProviderId, hubLeafUrl: string): Promise<NatsServerHandle> => {
  const files = providerFiles(dataDir, provider);
  const password = readLeafPassword(files);
  if (password === undefined) throw new Error(`provider ${provider} has no leafnode credentials in ${files.dir}`);
  // Rewritten on every start: the hub's leafnode port may have changed since enrollment.
  writeSecret(files.leafRemote, renderLeafRemote(hubLeafUrl, leafUserName(provider), password));
  const workDir = join(dataDir, "edge", provider);
  mkdirSync(workDir, { recursive: true, mode: 0o700 });
  return startNatsServer({
    serverName: `edge-${provider}`,
    port: 0,
    jetstream: { storeDir: join(workDir, "jetstream"), domain: provider },
    workDir,
    includes: [relative(workDir, files.leafRemote)],
  });
};

const countIn = (file: string, needle: string): number => {
  try {
    return readFileSync(file, "utf8").split(needle).length - 1;
  } catch {
    return 0;
  }
};

/**
 * Reloads a nats-server we do not hold a handle on (the one a running `up` started): checks that
 * the pid is a nats-server, sends SIGHUP, and waits for its log file to report the outcome.
 */
export const reloadByPid = async (pid: number, logFile: string, timeoutMs = 10_000): Promise<void> => {
  let cmdline = "";
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
  } catch {
    // not Linux, or gone: the signal below fails if it is gone
  }
  if (cmdline !== "" && !cmdline.includes("nats-server")) throw new Error(`process ${pid} is not a nats-server`);
  const ok = "Reloaded server configuration";
  const failed = "Failed to reload server configuration";
  const [ok0, failed0] = [countIn(logFile, ok), countIn(logFile, failed)];
  process.kill(pid, "SIGHUP");
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (countIn(logFile, ok) > ok0) return;
    if (countIn(logFile, failed) > failed0) throw new Error(`nats-server refused the new config; see ${logFile}`);
    if (Date.now() > deadline) throw new Error(`nats-server did not report a reload within ${timeoutMs} ms; see ${logFile}`);
    await new Promise((r) => setTimeout(r, 25));
  }
};
