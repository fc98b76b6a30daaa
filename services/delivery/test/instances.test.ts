import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ChildProcess } from "node:child_process";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as E from "fp-ts/lib/Either.js";
import type { NatsConnection } from "@nats-io/transport-node";
import { connect, startSingle, useTopology, waitFor } from "@interlink/testing";
import type { RunningService, ServiceEnv } from "@interlink/actor";
import { silentLogger, systemClock } from "@interlink/actor";
import { InterlinkClient } from "@interlink/client";
import { startKeyDirectory } from "@interlink/key-directory";
import { startReceipt } from "@interlink/receipt";
import { alpha, beta, drain, envelope, register, retrying, user } from "./helpers.js";

const CLI = fileURLToPath(new URL("../../../packages/cli/bin/interlink.js", import.meta.url));
const SENDS = 300;

interface Instance {
  readonly child: ChildProcess;
  readonly ready: Promise<void>;
  readonly exited: Promise<void>;
  output(): string;
}

/** `interlink service delivery` as a child process of this test. */
const spawnDelivery = (url: string, secretHex: string, dataDir: string): Instance => {
  const child = spawn(process.execPath, [CLI, "service", "delivery", "--nats", url, "--log-level", "warn"], {
    env: { ...process.env, INTERLINK_SECRET: secretHex, INTERLINK_AT_REST_KEY: randomBytes(32).toString("hex"), INTERLINK_DATA: dataDir },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes("delivery ready")) resolve();
    });
    child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
    child.once("exit", (code) => reject(new Error(`delivery exited early (${code}): ${out}`)));
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return { child, ready, exited, output: () => out };
};

describe("several delivery instances", () => {
  const topo = useTopology(() => startSingle());
  const secret = randomBytes(32);
  const dataDir = mkdtempSync(join(tmpdir(), "interlink-delivery-test-"));
  const conns: NatsConnection[] = [];
  const services: RunningService[] = [];
  const instances: Instance[] = [];
  let a: InterlinkClient;
  let b: InterlinkClient;

  beforeAll(async () => {
    const conn = async () => {
      const nc = await connect(topo().url);
      conns.push(nc);
      return nc;
    };
    const env = async (): Promise<ServiceEnv> => ({ nc: await conn(), log: silentLogger, clock: systemClock, secret, replicas: 1 });
    services.push(await startKeyDirectory(await env()));
    services.push(await startReceipt(await env(), { batchWindowMs: 5 }));
    instances.push(spawnDelivery(topo().url, secret.toString("hex"), join(dataDir, "1")));
    instances.push(spawnDelivery(topo().url, secret.toString("hex"), join(dataDir, "2")));
    await Promise.all(instances.map((i) => i.ready));
    // A request lost with a killed instance is retried after this long.
    a = new InterlinkClient(await conn(), alpha, { timeoutMs: 1_000 });
    b = new InterlinkClient(await conn(), beta, { timeoutMs: 5_000 });
  });

  afterAll(async () => {
    a?.close();
    b?.close();
    for (const i of instances) {
      if (i.child.exitCode === null && i.child.signalCode === null) i.child.kill("SIGTERM");
      await i.exited;
    }
    for (const s of services.reverse()) await s.stop();
    for (const c of conns) await c.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("loses no accepted message and stores none twice when one instance is killed mid-load", async () => {
    const alice = user("alice");
    const bob = user("bob");
    const regs = await register(b, bob, [1, 2]);
    const to = { provider: beta, user: bob };
    const envs = Array.from({ length: SENDS }, () => envelope(alice, to, regs));

    let accepted = 0;
    let retried = 0;
    let next = 0;
    const outcome = new Map<string, string>();
    const worker = async () => {
      while (next < envs.length) {
        const env = envs[next++]!;
        // Same id on every retry: the one that lands after a lost answer must not store it again.
        const r = await retrying(async () => {
          const x = await a.delivery.send(env);
          if (E.isLeft(x)) retried++;
          return x;
        });
        outcome.set(env.id, E.isRight(r) ? "ok" : r.left.code);
        if (E.isRight(r)) accepted++;
      }
    };
    const load = Promise.all(Array.from({ length: 16 }, worker));
    await waitFor("a third of the sends to be accepted", async () => (accepted >= SENDS / 3 ? true : undefined), { intervalMs: 5 });
    instances[0]!.child.kill("SIGKILL");
    await instances[0]!.exited;
    await load;

    expect([...outcome.values()].filter((v) => v !== "ok")).toEqual([]);
    expect(accepted).toBe(SENDS);
    for (const d of [1, 2]) {
      const ids = (await drain(b, bob, d)).map((m) => m.id);
      expect(ids.length).toBe(SENDS);
      expect(new Set(ids).size).toBe(SENDS);
      expect(new Set(ids)).toEqual(new Set(envs.map((e) => e.id)));
    }
    // The survivor served the retries of what the killed one had in hand.
    expect(retried).toBeGreaterThan(0);
    expect(instances[1]!.child.exitCode).toBe(null);
  });
});
