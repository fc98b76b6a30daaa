import { describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { connect } from "@nats-io/transport-node";
import { nkeyFileAuthenticator } from "@interlink/providers";
import { startSingle, waitFor } from "@interlink/testing";

// The committed shim, which loads the compiled CLI (npm test builds before testing).
const bin = fileURLToPath(new URL("../bin/interlink.js", import.meta.url));

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

const run = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<Ran> =>
  new Promise((resolve) => {
    const p = spawn(process.execPath, [bin, ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d) => (stdout += d));
    p.stderr.on("data", (d) => (stderr += d));
    p.on("exit", (code) => resolve({ code, stdout, stderr }));
  });

describe("interlink CLI", () => {
  it("prints usage and exits 2 on an unknown command", async () => {
    const r = await run(["frobnicate"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown command");
  });

  it("demo --json runs its own hub with alpha and beta as leafnodes and prints exactly one JSON object", async () => {
    const r = await run(["demo", "--json", "--text", "hello from the CLI test"]);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { ok: boolean; isolation: boolean; messages: Array<Record<string, unknown>> };
    expect(r.stdout.trim().split("\n")).toHaveLength(1);
    expect(out.ok).toBe(true);
    expect(out.isolation).toBe(true);
    expect(out.messages.map((m) => m.kind)).toEqual(["text", "image", "voice", "video", "file"]);
    for (const m of out.messages) expect(m).toMatchObject({ delivered: true, decrypted: true, receipt: "delivered" });
  });

  it("demo --nats on a plain nats-server runs in development mode and says isolation is off", async () => {
    const topo = await startSingle();
    const data = mkdtempSync(join(tmpdir(), "interlink-dev-"));
    const up = spawn(process.execPath, [bin, "up", "--nats", topo.url, "--data", data], { env: { ...process.env, INTERLINK_LOG_LEVEL: "warn" }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    up.stdout.on("data", (d) => (stdout += d));
    up.stderr.on("data", (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => up.on("exit", (code) => r(code)));
    try {
      await waitFor("up ready", async () => (stdout.includes("ready") ? true : undefined), { timeoutMs: 45_000, describe: () => stderr });
      expect(stdout).toContain("isolation off");
      expect(stderr).toContain("isolation is OFF");
      const demo = await run(["demo", "--nats", topo.url, "--json", "--data", data]);
      expect(demo.code, demo.stderr).toBe(0);
      expect(demo.stderr).toContain("isolation is OFF");
      const out = JSON.parse(demo.stdout) as { ok: boolean; isolation: boolean; messages: unknown[] };
      expect(out).toMatchObject({ ok: true, isolation: false });
      expect(out.messages).toHaveLength(5);
      up.kill("SIGINT");
      expect(await exited).toBe(0);
    } finally {
      if (up.exitCode === null) up.kill("SIGKILL");
      await topo.stop();
      rmSync(data, { recursive: true, force: true });
    }
  });

  it("up prints ready, serves a demo from another process, and exits 0 on Ctrl-C", async () => {
    const data = mkdtempSync(join(tmpdir(), "interlink-up-"));
    const up = spawn(process.execPath, [bin, "up", "--data", data, "--nats-port", "0", "--metrics-port", "0", "--workers", "1"], {
      env: { ...process.env, INTERLINK_LOG_LEVEL: "warn" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    up.stderr.on("data", (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => up.on("exit", (code) => r(code)));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no ready line; stderr: ${stderr}`)), 45_000);
        up.stdout.on("data", (d) => {
          stdout += d;
          const m = /ready: nats (nats:\/\/[0-9.:]+)/.exec(stdout);
          if (m) {
            clearTimeout(t);
            resolve(m[1]!);
          }
        });
        up.on("exit", () => reject(new Error(`up exited early; stderr: ${stderr}`)));
      });
      // Against this `up`: the demo finds its providers' servers through the data dir.
      const demo = await run(["demo", "--nats", url, "--json", "--data", data]);
      expect(demo.code, demo.stderr).toBe(0);
      expect(JSON.parse(demo.stdout) as { ok: boolean; isolation: boolean }).toMatchObject({ ok: true, isolation: true });
      // Without the data dir, the hub refuses a client that has no credentials.
      const anonymous = await run(["demo", "--nats", url, "--json", "--data", join(data, "elsewhere")]);
      expect(anonymous.code).not.toBe(0);
      expect(anonymous.stderr).toMatch(/Authorization Violation/);

      // Enrollment while it runs: credentials as files (0600), printed as paths, never as secrets.
      const add = await run(["provider", "add", "gamma", "--data", data, "--contact", "ops@gamma.example", "--protocols", "signal-pqxdh-v1"]);
      expect(add.code, add.stderr).toBe(0);
      const seedPath = /nkey seed[^:]*: (\S+)/.exec(add.stdout)?.[1];
      expect(seedPath).toBe(join(data, "providers", "gamma", "user.nk"));
      expect(statSync(seedPath!).mode & 0o777).toBe(0o600);
      expect(add.stdout + add.stderr).not.toMatch(/SU[A-Z2-7]{50}/);
      expect(add.stdout + add.stderr).not.toContain(readFileSync(join(data, "providers", "gamma", "leaf.password"), "utf8").trim());
      expect(add.stdout).toContain("no other connection dropped");
      const gamma = await connect({ servers: url, authenticator: nkeyFileAuthenticator(seedPath!) });
      await gamma.close();
      const list = await run(["provider", "list", "--json", "--data", data]);
      expect((JSON.parse(list.stdout) as Array<{ id: string; status: string }>).map((p) => `${p.id}:${p.status}`)).toEqual(["alpha:active", "beta:active", "gamma:active"]);
      const again = await run(["provider", "add", "gamma", "--data", data]);
      expect(again.code).toBe(1);
      expect(again.stderr).toContain("already enrolled");
      const rm = await run(["provider", "remove", "gamma", "--data", data]);
      expect(rm.code, rm.stderr).toBe(0);
      await expect(connect({ servers: url, reconnect: false, authenticator: nkeyFileAuthenticator(seedPath!) })).rejects.toThrow();

      // Operability: Prometheus metrics and readiness over HTTP, NATS micro discovery.
      const metricsUrl = /metrics (http:\/\/[0-9.:]+)\/metrics/.exec(stdout)?.[1];
      expect(metricsUrl).toBeDefined();
      const metrics = await (await fetch(`${metricsUrl}/metrics`)).text();
      expect(metrics).toMatch(/interlink_requests_total\{service="delivery"\} [1-9]/);
      expect(metrics).toContain("interlink_nats_connected 1");
      expect((await fetch(`${metricsUrl}/readyz`)).status).toBe(200);
      // Discovery as the hub (its nkey is in the data dir): the four hub services; each ratchet
      // answers on its provider's own server.
      const nc = await connect({ servers: url, authenticator: nkeyFileAuthenticator(join(data, "hub.nk")) });
      const names = new Set<string>();
      const inbox = `_INBOX.cli.${Date.now()}`;
      nc.subscribe(inbox, { callback: (_e, m) => void names.add((JSON.parse(new TextDecoder().decode(m.data)) as { name: string }).name) });
      nc.publish("$SRV.PING", new Uint8Array(0), { reply: inbox });
      await new Promise((r) => setTimeout(r, 300));
      await nc.close();
      expect([...names].sort()).toEqual(["interlink-delivery", "interlink-keys", "interlink-media", "interlink-receipt"]);
      const edge = /alpha (nats:\/\/[0-9.:]+)/.exec(stdout)?.[1];
      const enc = await connect({ servers: edge! });
      const ratchet = await enc.request("$SRV.PING.interlink-ratchet", new Uint8Array(0), { timeout: 2_000 });
      expect((JSON.parse(new TextDecoder().decode(ratchet.data)) as { name: string }).name).toBe("interlink-ratchet");
      await enc.close();
      up.kill("SIGINT");
      expect(await exited).toBe(0);
    } finally {
      if (up.exitCode === null) up.kill("SIGKILL");
      rmSync(data, { recursive: true, force: true });
    }
  });
});
