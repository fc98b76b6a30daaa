import type { NatsServerHandle } from "@interlink/natsd";
import { connect as natsConnect, type NatsConnection, type NodeConnectionOptions } from "@nats-io/transport-node";

export type ConnectTarget =
  | string
  | NatsServerHandle
  | { readonly urls: readonly string[] }
  | ReadonlyArray<string | NatsServerHandle>;

const isList = (t: ConnectTarget): t is ReadonlyArray<string | NatsServerHandle> => Array.isArray(t);

function serversOf(target: ConnectTarget): string[] {
  if (typeof target === "string") return [target];
  if (isList(target)) return target.map((t) => (typeof t === "string" ? t : t.url));
  if ("urls" in target) return [...target.urls];
  return [target.url];
}

/**
 * A client for tests. Reconnecting is off unless asked for, so a test against a stopped server
 * fails fast instead of waiting; with `reconnect: true` it retries quickly and forever.
 */
export function connect(target: ConnectTarget, opts: Partial<NodeConnectionOptions> = {}): Promise<NatsConnection> {
  const reconnectDefaults = opts.reconnect === true ? { reconnectTimeWait: 250, maxReconnectAttempts: -1 } : {};
  return natsConnect({
    name: "interlink-test",
    reconnect: false,
    timeout: 5000,
    ...reconnectDefaults,
    ...opts,
    servers: serversOf(target),
  });
}

/**
 * Publishes on `subject` from `publisher` until `subscriber` receives it: proves a path across
 * routes or leafnodes, including the interest propagation that lags behind a connection.
 */
export async function waitForDelivery(
  publisher: NatsConnection,
  subscriber: NatsConnection,
  subject: string,
  opts: { timeoutMs?: number } = {},
): Promise<void> {
  let received = false;
  const sub = subscriber.subscribe(subject, {
    callback: () => {
      received = true;
    },
  });
  await subscriber.flush();
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  try {
    while (!received) {
      if (Date.now() > deadline) throw new Error(`no message on ${subject} reached the subscriber`);
      publisher.publish(subject);
      await publisher.flush();
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    sub.unsubscribe();
  }
}
