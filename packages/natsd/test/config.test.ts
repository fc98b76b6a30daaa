import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findNatsServer, renderConfig, resolvePorts } from "../src/index.js";

const run = promisify(execFile);

describe("renderConfig", () => {
  let dir = "";
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "natsd-config-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** The real binary is the judge of the syntax: `-t` parses the file and exits. */
  async function parses(text: string): Promise<void> {
    const file = join(dir, `c${Math.random().toString(36).slice(2)}.conf`);
    await writeFile(file, text);
    await run(await findNatsServer({ install: false }), ["-c", file, "-t"]);
  }

  it("writes loopback defaults and nothing else for an empty config", () => {
    const text = renderConfig({});
    expect(text).toContain('host: "127.0.0.1"');
    expect(text).not.toContain("jetstream");
    expect(text).not.toContain("port:");
  });

  it("renders JetStream with sizes and a domain", async () => {
    const text = renderConfig({
      port: 14222,
      serverName: "n1",
      httpPort: 18222,
      maxPayload: 2 * 1024 * 1024,
      jetstream: { storeDir: "/tmp/x y/js", maxMemory: "64M", maxFile: 1_000_000_000, domain: "hub" },
    });
    expect(text).toMatch(/^server_name: "n1"$/m);
    expect(text).toMatch(/^port: 14222$/m);
    expect(text).toMatch(/^http_port: 18222$/m);
    expect(text).toMatch(/^max_payload: 2097152$/m);
    expect(text).toContain('jetstream {\n  store_dir: "/tmp/x y/js"\n  max_memory_store: "64M"\n  max_file_store: 1000000000\n  domain: "hub"\n}');
    await parses(text);
  });

  it("renders a cluster with routes", async () => {
    const text = renderConfig({
      port: 14222,
      serverName: "n1",
      cluster: { name: "ilk", port: 16222, routes: ["nats-route://127.0.0.1:16223", "nats-route://127.0.0.1:16224"] },
    });
    expect(text).toContain(
      'cluster {\n  name: "ilk"\n  host: "127.0.0.1"\n  port: 16222\n  routes: ["nats-route://127.0.0.1:16223", "nats-route://127.0.0.1:16224"]\n}',
    );
    await parses(text);
  });

  it("renders leaf remotes with deny lists, next to a leafnode listener", async () => {
    const text = renderConfig({
      port: 14222,
      leafnodes: { port: 17422 },
      leafRemotes: [
        { url: "nats-leaf://127.0.0.1:17000", account: "$G", denyExports: ["ilk.ratchet.>"], denyImports: ["a.b", "c.*"] },
        { url: "nats-leaf://127.0.0.1:17001" },
      ],
    });
    expect(text).toContain('leafnodes {\n  host: "127.0.0.1"\n  port: 17422\n  remotes: [');
    expect(text).toContain('deny_exports: ["ilk.ratchet.>"]');
    expect(text).toContain('deny_imports: ["a.b", "c.*"]');
    expect(text).toContain('account: "$G"');
    expect(text.match(/url: /g)).toHaveLength(2);
    await parses(text);
  });

  it("quotes strings and wraps an accounts body", async () => {
    const text = renderConfig({
      port: 14222,
      serverName: 'odd "name" \\ here',
      accounts: "A: { users: [{ user: a, password: a }] }",
      extra: "ping_interval: 20s",
      debug: true,
    });
    expect(text).toContain('server_name: "odd \\"name\\" \\\\ here"');
    expect(text).toContain("accounts {\n  A: { users: [{ user: a, password: a }] }\n}");
    expect(text.trimEnd().endsWith("ping_interval: 20s")).toBe(true);
    expect(text).toMatch(/^debug: true$/m);
    await parses(text);
    expect(renderConfig({ accounts: "accounts { A: {} }" })).toContain("accounts { A: {} }\n");
  });

  it("refuses values nats-server would misread", async () => {
    expect(() => renderConfig({ port: 0 })).toThrow(RangeError);
    expect(() => renderConfig({ cluster: { name: "c", port: 0, routes: [] } })).toThrow(/resolvePorts/);
    expect(() => renderConfig({ serverName: "a\u0000b" })).toThrow(RangeError);
    expect(() => renderConfig({ jetstream: { storeDir: "/x", maxFile: "lots" } })).toThrow(RangeError);
    const resolved = await resolvePorts({ port: 0, httpPort: 0, cluster: { name: "c", port: 0, routes: [] } });
    expect(resolved.port).toBeGreaterThan(0);
    expect(resolved.httpPort).toBeGreaterThan(0);
    expect(resolved.cluster?.port).toBeGreaterThan(0);
    expect(() => renderConfig(resolved)).not.toThrow();
  });

  it("includes files by relative path, last, and refuses absolute ones", () => {
    const text = renderConfig({ port: 4222, includes: ["accounts.conf", "sub/leaf.conf"], extra: "debug: false" });
    expect(text.trimEnd().split("\n").slice(-2)).toEqual(['include "accounts.conf"', 'include "sub/leaf.conf"']);
    expect(() => renderConfig({ includes: ["/etc/x.conf"] })).toThrow(/relative/);
  });
});
