import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Logger } from "@interlink/actor";
import { createLogger } from "@interlink/actor";
import type { NatsServerHandle } from "@interlink/natsd";
import { randomBytes } from "node:crypto";
import type { Config } from "../config.js";
import type { DemoResult } from "../demo-scenario.js";
import { runDemo } from "../demo-scenario.js";
import type { Stack } from "../stack.js";
import { connectNats, startEmbeddedNats, startStack, waitReady } from "../stack.js";

/**
 * `interlink demo`: against `--nats` (where `interlink up` runs), or, without it, a throwaway
 * embedded nats-server and every service in this process.
 */
export const runDemoCommand = async (config: Config, log: Logger, o: { text: string; json: boolean }): Promise<number> => {
  let server: NatsServerHandle | undefined;
  let stack: Stack | undefined;
  let tmp: string | undefined;
  let url = config.natsUrl;
  // With --json, stdout carries exactly one object: service logs stay quiet unless asked for.
  const quiet = o.json && process.env["INTERLINK_LOG_LEVEL"] === undefined ? createLogger({ level: "warn" }) : log;
  const conns = [];
  let result: DemoResult;
  try {
    if (url === undefined) {
      tmp = mkdtempSync(join(tmpdir(), "interlink-demo-"));
      server = await startEmbeddedNats(tmp, 0, quiet);
      url = server.url;
    }
    const hub = await connectNats(url, "interlink-demo");
    conns.push(hub);
    if (server !== undefined) {
      stack = await startStack(hub, quiet, { secret: randomBytes(32), atRestKey: randomBytes(32) }, { replicas: 1, providers: ["alpha", "beta"] as never });
    }
    await waitReady(hub, ["alpha", "beta"] as never, 15_000);
    const alpha = await connectNats(url, "demo-app-alpha");
    const beta = await connectNats(url, "demo-app-beta");
    conns.push(alpha, beta);
    result = await runDemo({ alpha, beta, text: o.text });
  } finally {
    await stack?.stop();
    for (const c of conns.reverse()) await c.drain().catch(() => undefined);
    await server?.stop();
    if (tmp !== undefined) rmSync(tmp, { recursive: true, force: true });
  }
  if (o.json) {
    process.stdout.write(JSON.stringify({ ok: result.ok, messages: result.messages }) + "\n");
  } else {
    for (const line of result.transcript) process.stdout.write(`  ${line}\n`);
    for (const m of result.messages) {
      process.stdout.write(`${m.kind.padEnd(6)} delivered=${m.delivered} decrypted=${m.decrypted} receipt=${m.receipt ?? "none"}${m.error ? ` error=${m.error}` : ""}\n`);
    }
    process.stdout.write(result.ok ? "demo ok\n" : "demo FAILED\n");
  }
  return result.ok ? 0 : 1;
};
