import { rmSync } from "node:fs";
import type { Logger, RunningService } from "@interlink/actor";
import { onShutdown } from "@interlink/actor";
import type { Config } from "../config.js";
import { loadKey } from "../config.js";
import { hubPaths } from "../hub.js";
import { connectNats, startStack, waitReady } from "../stack.js";
import { startTopology } from "../topology.js";
import { startOpsHttp } from "../ops-http.js";

export const ISOLATION_OFF_NOTICE =
  "interlink: isolation is OFF: single-account development mode on a plain nats-server; every provider shares one account (run without --nats for an account per provider)";

/**
 * `interlink up`: everything on one machine; Ctrl-C drains and exits 0.
 *
 * Without `--nats`: the hub's nats-server with an account per provider, the hub services, and
 * for each of `--providers` its own nats-server joined as a leafnode with its session-ratchet.
 * With `--nats URL` (a plain server): every service on that one connection, isolation off.
 */
export const runUp = async (config: Config, log: Logger): Promise<number> => {
  const keys = {
    secret: loadKey("INTERLINK_SECRET", "secret", config.dataDir),
    atRestKey: loadKey("INTERLINK_AT_REST_KEY", "at-rest.key", config.dataDir),
  };
  let services: () => readonly RunningService[];
  let stop: () => Promise<void>;
  let nc;
  let ready: string;
  if (config.natsUrl === undefined) {
    const topo = await startTopology({
      dataDir: config.dataDir,
      port: config.natsPort,
      leafPort: config.leafPort,
      providers: config.providers,
      log,
      keys,
      replicas: config.replicas,
      retentionDays: config.retentionDays,
      publishRunInfo: true,
    });
    nc = topo.nc;
    services = () => topo.services;
    const paths = hubPaths(config.dataDir);
    stop = async () => {
      rmSync(paths.runFile, { force: true });
      await topo.stop();
    };
    const edges = [...topo.edges.values()].map((e) => `${e.provider} ${e.server.url}`).join(", ");
    ready =
      `interlink ready: nats ${topo.hub.url}, leafnodes ${topo.hub.leafUrl}, services ${topo.services.map((s) => s.name).join(", ")}, ` +
      `providers ${edges === "" ? "none" : edges}, isolation on (an account per provider; enroll with interlink provider add)`;
  } else {
    process.stderr.write(ISOLATION_OFF_NOTICE + "\n");
    const conn = await connectNats(config.natsUrl, "interlink-up", config.nkeyFile);
    nc = conn;
    const stack = await startStack(conn, log, keys, { ...config, natsUrl: config.natsUrl });
    await waitReady(conn, config.providers);
    services = () => stack.services;
    stop = async () => {
      await stack.stop();
      await conn.drain().catch(() => undefined);
    };
    ready = `interlink ready: nats ${config.natsUrl}, services ${stack.services.map((s) => s.name).join(", ")}, providers ${config.providers.join(", ")}, isolation off (development mode)`;
  }
  const ops = config.metricsPort === undefined ? undefined : await startOpsHttp(config.metricsPort, config.metricsHost, nc, services);
  const metrics = ops === undefined ? "" : `, metrics http://${config.metricsHost}:${ops.port}/metrics`;
  process.stdout.write(`${ready}${metrics}\n`);
  return new Promise<number>((resolve) => {
    onShutdown(async (signal) => {
      log.info("shutting down", { signal });
      await ops?.close();
      await stop();
      resolve(0);
    });
  });
};
