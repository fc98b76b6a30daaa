import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "@interlink/actor";
import { createLogger } from "@interlink/actor";
import type { ProviderId } from "@interlink/subjects";
import type { Config } from "../config.js";
import type { DemoResult } from "../demo-scenario.js";
import { runDemo } from "../demo-scenario.js";
import { hubPaths, readRunInfo } from "../hub.js";
import type { Topology } from "../topology.js";
import { startTopology } from "../topology.js";
import { connectNats, waitReady } from "../stack.js";
import { ISOLATION_OFF_NOTICE } from "./up.js";

const PROVIDERS = ["alpha", "beta"] as ProviderId[];

const sameServer = (a: string, b: string): boolean => {
  const norm = (u: string) => u.replace(/^nats:\/\//, "").replace(/^localhost:/, "127.0.0.1:").replace(/\/$/, "");
  return norm(a) === norm(b);
};

/**
 * `interlink demo`: providers alpha and beta exchange a text, an image, a voice message, a video
 * and a file, with receipts.
 * - no `--nats`: a throwaway hub with an account per provider, and alpha's and beta's own
 *   nats-servers joined as leafnodes (the deployable topology), in a temporary directory;
 * - `--nats URL` of a running `interlink up` on this data dir: its providers' servers;
 * - `--nats URL` of a plain nats-server: single-account development mode, isolation off.
 */
export const runDemoCommand = async (config: Config, log: Logger, o: { text: string; json: boolean }): Promise<number> => {
  let topo: Topology | undefined;
  let tmp: string | undefined;
  let isolation: boolean;
  // With --json, stdout carries exactly one object: service logs stay quiet unless asked for.
  const quiet = o.json && process.env["INTERLINK_LOG_LEVEL"] === undefined ? createLogger({ level: "warn" }) : log;
  const conns: NatsConnection[] = [];
  let result: DemoResult;
  try {
    let alphaUrl: string;
    let betaUrl: string;
    if (config.natsUrl === undefined) {
      tmp = mkdtempSync(join(tmpdir(), "interlink-demo-"));
      topo = await startTopology({
        dataDir: tmp,
        port: 0,
        leafPort: 0,
        providers: PROVIDERS,
        log: quiet,
        keys: { secret: randomBytes(32), atRestKey: randomBytes(32) },
        replicas: 1,
        readyTimeoutMs: 20_000,
      });
      alphaUrl = topo.edges.get(PROVIDERS[0]!)!.server.url;
      betaUrl = topo.edges.get(PROVIDERS[1]!)!.server.url;
      isolation = true;
    } else {
      const run = readRunInfo(hubPaths(config.dataDir));
      if (run !== undefined && sameServer(run.natsUrl, config.natsUrl)) {
        const a = run.edges["alpha"];
        const b = run.edges["beta"];
        if (a === undefined || b === undefined) throw new Error("the running interlink up does not host providers alpha and beta (--providers)");
        alphaUrl = a.url;
        betaUrl = b.url;
        isolation = run.isolation;
      } else {
        let hub: NatsConnection;
        try {
          hub = await connectNats(config.natsUrl, "interlink-demo", config.nkeyFile);
        } catch (err) {
          const why = err instanceof Error ? err.message : String(err);
          throw new Error(
            `${why}: ${config.natsUrl} needs credentials; to run the demo against an \`interlink up\`, give the same --data DIR it uses`,
          );
        }
        conns.push(hub);
        process.stderr.write(ISOLATION_OFF_NOTICE + "\n");
        await waitReady(hub, PROVIDERS, 15_000);
        alphaUrl = betaUrl = config.natsUrl;
        isolation = false;
      }
    }
    const alpha = await connectNats(alphaUrl, "demo-app-alpha");
    const beta = await connectNats(betaUrl, "demo-app-beta");
    conns.push(alpha, beta);
    result = await runDemo({ alpha, beta, text: o.text });
  } finally {
    for (const c of conns.reverse()) await c.drain().catch(() => undefined);
    await topo?.stop();
    if (tmp !== undefined) rmSync(tmp, { recursive: true, force: true });
  }
  if (o.json) {
    process.stdout.write(JSON.stringify({ ok: result.ok, messages: result.messages, isolation }) + "\n");
  } else {
    process.stdout.write(
      isolation
        ? "  alpha and beta each run their own nats-server, joined to the hub as leafnodes, each in its own account\n"
        : "  isolation OFF: development mode, both providers share one account on one server\n",
    );
    for (const line of result.transcript) process.stdout.write(`  ${line}\n`);
    for (const m of result.messages) {
      process.stdout.write(`${m.kind.padEnd(6)} delivered=${m.delivered} decrypted=${m.decrypted} receipt=${m.receipt ?? "none"}${m.error ? ` error=${m.error}` : ""}\n`);
    }
    process.stdout.write(result.ok ? "demo ok\n" : "demo FAILED\n");
  }
  return result.ok ? 0 : 1;
};
