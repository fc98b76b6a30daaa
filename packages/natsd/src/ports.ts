import { freePort } from "./port.js";
import type { NatsServerConfig } from "./types.js";

export interface ResolvedPorts<T> {
  readonly config: T;
  /** Whether any port was chosen here, so a lost race for it may be retried with new ones. */
  readonly picked: boolean;
}

/**
 * Replaces port 0 (and, with `clientPortRequired`, an absent client port) by ports that are free
 * right now, so the config names concrete ports the caller can connect to.
 */
export async function resolvePortsOf<T extends NatsServerConfig>(
  config: T,
  opts: { clientPortRequired?: boolean } = {},
): Promise<ResolvedPorts<T>> {
  const host = config.host === "0.0.0.0" || config.host === undefined ? "127.0.0.1" : config.host;
  let picked = false;
  const pick = async (value: number | undefined, required: boolean): Promise<number | undefined> => {
    if (value === 0 || (value === undefined && required)) {
      picked = true;
      return freePort(host);
    }
    return value;
  };
  const port = await pick(config.port, opts.clientPortRequired === true);
  const httpPort = await pick(config.httpPort, false);
  const cluster =
    config.cluster === undefined ? undefined : { ...config.cluster, port: (await pick(config.cluster.port, true)) ?? 0 };
  const leafnodes =
    config.leafnodes === undefined
      ? undefined
      : { ...config.leafnodes, port: (await pick(config.leafnodes.port, true)) ?? 0 };
  return { config: { ...config, port, httpPort, cluster, leafnodes }, picked };
}

/** `config` with every port given as 0 replaced by a currently free port, ready for `renderConfig`. */
export async function resolvePorts<T extends NatsServerConfig>(config: T): Promise<T> {
  return (await resolvePortsOf(config)).config;
}
