import type { Logger } from "@interlink/actor";
import { onShutdown, systemClock } from "@interlink/actor";
import { parseProviderId } from "@interlink/subjects";
import * as E from "fp-ts/lib/Either.js";
import type { Config } from "../config.js";
import { ConfigError, loadKey } from "../config.js";
import { SERVICE_NAMES, connectNats, isServiceName, startService } from "../stack.js";
import { startOpsHttp } from "../ops-http.js";

/** `interlink service <name>`: one instance; run several on the same NATS to share the load. */
export const runServiceCommand = async (name: string | undefined, provider: string | undefined, config: Config, log: Logger): Promise<number> => {
  if (name === undefined || !isServiceName(name)) throw new ConfigError(`service must be one of: ${SERVICE_NAMES.join(", ")}`);
  let p;
  if (name === "session-ratchet") {
    const r = parseProviderId(provider ?? process.env["INTERLINK_PROVIDER"]);
    if (E.isLeft(r)) throw new ConfigError(`session-ratchet needs --provider (or INTERLINK_PROVIDER): ${r.left.message}`);
    p = r.right;
  }
  const url = config.natsUrl ?? "nats://127.0.0.1:4222";
  const keys = {
    secret: loadKey("INTERLINK_SECRET", "secret", config.dataDir),
    atRestKey: loadKey("INTERLINK_AT_REST_KEY", "at-rest.key", config.dataDir),
  };
  const nc = await connectNats(url, `interlink-${name}`, config.nkeyFile);
  const slog = log.child({ service: name });
  const svc = await startService(name, { nc, log: slog, clock: systemClock, secret: keys.secret, replicas: config.replicas }, keys, {
    ...(p !== undefined ? { provider: p } : {}),
    retentionDays: config.retentionDays,
    ratchetWorkers: config.ratchetWorkers,
    natsUrl: url,
  });
  const ops = config.metricsPort === undefined ? undefined : await startOpsHttp(config.metricsPort, config.metricsHost, nc, () => [svc]);
  process.stdout.write(`${name} ready on ${url}${ops ? `, metrics on http://${config.metricsHost}:${ops.port}/metrics` : ""}\n`);
  return new Promise<number>((resolve) => {
    onShutdown(async () => {
      await ops?.close();
      await svc.stop();
      await nc.drain().catch(() => undefined);
      resolve(0);
    });
  });
};
