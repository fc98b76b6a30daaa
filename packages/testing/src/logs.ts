import type { NatsServerHandle } from "@interlink/natsd";
import { afterAll, beforeAll, beforeEach, onTestFailed } from "vitest";
import type { HasLogs } from "./types.js";

const TAIL_CHARS = 20_000;

function tail(text: string): string {
  return text.length <= TAIL_CHARS ? text : `…${text.slice(text.length - TAIL_CHARS)}`;
}

/** Log tails of several servers, each under a header naming it. */
export function formatLogs(servers: readonly NatsServerHandle[]): string {
  return servers
    .map((s) => {
      const name = s.serverName ?? `pid ${s.pid}`;
      return `===== nats-server ${name} ${s.url} (log: ${s.logPath}) =====\n${tail(s.logs())}`;
    })
    .join("\n");
}

type LogSource = HasLogs | (() => HasLogs | undefined);

const resolve = (source: LogSource): HasLogs | undefined => (typeof source === "function" ? source() : source);

/**
 * Prints the servers' log tails if the current test fails. Call it inside a test or in
 * `beforeEach`; pass a getter when the topology is created later.
 */
export function showLogsOnFailure(source: LogSource): void {
  onTestFailed(({ task }) => {
    const topology = resolve(source);
    if (topology === undefined) return;
    console.error(`nats-server logs for failed test "${task.name}":\n${topology.logs()}`);
  });
}

/**
 * One topology for a `describe` block: started before its tests, stopped after them, logs
 * printed for each failed test. Returns a getter for use inside the tests.
 */
export function useTopology<T extends HasLogs & { stop(): Promise<void> }>(start: () => Promise<T>): () => T {
  let topology: T | undefined;
  beforeAll(async () => {
    topology = await start();
  });
  afterAll(async () => {
    const t = topology;
    topology = undefined;
    await t?.stop();
  });
  beforeEach(() => {
    showLogsOnFailure(() => topology);
  });
  return () => {
    if (topology === undefined) throw new Error("useTopology: the topology is only available inside the block's tests");
    return topology;
  };
}
