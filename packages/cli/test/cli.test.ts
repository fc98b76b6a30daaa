import { describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { connect } from "@nats-io/transport-node";

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

  it("demo --json runs on its own embedded broker and prints exactly one JSON object", async () => {
    const r = await run(["demo", "--json", "--text", "hello from the CLI test"]);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { ok: boolean; messages: Array<Record<string, unknown>> };
    expect(r.stdout.trim().split("\n")).toHaveLength(1);
    expect(out.ok).toBe(true);
    expect(out.messages.map((m) => m.kind)).toEqual(["text", "image"]);
    for (const m of out.messages) expect(m).toMatchObject({ delivered: true, decrypted: true, receipt: "delivered" });
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
      const demo = await run(["demo", "--nats", url, "--json"]);
      expect(demo.code, demo.stderr).toBe(0);
      expect((JSON.parse(demo.stdout) as { ok: boolean }).ok).toBe(true);

      // Operability: Prometheus metrics and readiness over HTTP, NATS micro discovery.
      const metricsUrl = /metrics (http:\/\/[0-9.:]+)\/metrics/.exec(stdout)?.[1];
      expect(metricsUrl).toBeDefined();
      const metrics = await (await fetch(`${metricsUrl}/metrics`)).text();
      expect(metrics).toMatch(/interlink_requests_total\{service="delivery"\} [1-9]/);
      expect(metrics).toContain("interlink_nats_connected 1");
      expect((await fetch(`${metricsUrl}/readyz`)).status).toBe(200);
      const nc = await connect({ servers: url });
      const names = new Set<string>();
      const inbox = `_INBOX.cli.${Date.now()}`;
      nc.subscribe(inbox, { callback: (_e, m) => void names.add((JSON.parse(new TextDecoder().decode(m.data)) as { name: string }).name) });
      nc.publish("$SRV.PING", new Uint8Array(0), { reply: inbox });
      await new Promise((r) => setTimeout(r, 300));
      await nc.close();
      expect([...names].sort()).toEqual(["interlink-delivery", "interlink-keys", "interlink-media", "interlink-ratchet", "interlink-receipt"]);
      up.kill("SIGINT");
      expect(await exited).toBe(0);
    } finally {
      if (up.exitCode === null) up.kill("SIGKILL");
      rmSync(data, { recursive: true, force: true });
    }
  });
});
