import type { Logger } from "@interlink/actor";
import { onShutdown } from "@interlink/actor";
import type { NatsServerHandle } from "@interlink/natsd";
import type { Config } from "../config.js";
import { loadKey } from "../config.js";
import { connectNats, startEmbeddedNats, startStack, waitReady } from "../stack.js";
import { startOpsHttp } from "../ops-http.js";

/** `interlink up`: everything on one machine; Ctrl-C drains and exits 0. */
export const runUp = async (config: Config, log: Logger): Promise<number> => {
  let server: NatsServerHandle | undefined;
  let url = config.natsUrl;
  if (url === undefined) {
    server = await startEmbeddedNats(config.dataDir, config.natsPort, log);
    url = server.url;
    log.info("embedded nats-server started", { url, pid: server.pid });
  }
  const keys = {
    secret: loadKey("INTERLINK_SECRET", "secret", config.dataDir),
    atRestKey: loadKey("INTERLINK_AT_REST_KEY", "at-rest.key", config.dataDir),
  };
  const nc = await connectNats(url, "interlink-up");
  const stack = await startStack(nc, log, keys, { ...config, natsUrl: url });
  await waitReady(nc, config.providers);
  const ops = config.metricsPort === undefined ? undefined : await startOpsHttp(config.metricsPort, config.metricsHost, nc, () => stack.services);
  const metrics = ops === undefined ? "" : `, metrics http://${config.metricsHost}:${ops.port}/metrics`;
  process.stdout.write(
    `interlink ready: nats ${url}, services ${stack.services.map((s) => s.name).join(", ")}, providers ${config.providers.join(", ")}${metrics}\n`,
  );
  const done = new Promise<number>((resolve) => {
    onShutdown(async (signal) => {
      log.info("shutting down", { signal });
      await ops?.close();
      await stack.stop();
      await nc.drain().catch(() => undefined);
      await server?.stop();
      resolve(0);
    });
  });
  return done;
};
