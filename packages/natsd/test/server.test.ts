import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer, type Server } from "node:net";
import { Kvm } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import { NatsdError, startNatsServer, type NatsServerHandle } from "../src/index.js";

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function withServer<T>(server: NatsServerHandle, body: (s: NatsServerHandle) => Promise<T>): Promise<T> {
  try {
    return await body(server);
  } finally {
    await server.dispose();
  }
}

describe("startNatsServer", () => {
  it("starts a server clients can use, and stop() ends it", async () => {
    const server = await startNatsServer({ serverName: "solo", httpPort: 0 });
    await withServer(server, async (s) => {
      expect(s.url).toBe(`nats://127.0.0.1:${s.port}`);
      expect(s.httpPort).toBeGreaterThan(0);
      expect(readFileSync(s.configPath, "utf8")).toContain(`port: ${s.port}`);
      const nc = await connect({ servers: s.url, reconnect: false });
      const sub = nc.subscribe("hello", { max: 1 });
      nc.publish("hello", "world");
      for await (const m of sub) expect(m.string()).toBe("world");
      expect(nc.info?.server_name).toBe("solo");
      await nc.close();

      const pid = s.pid;
      expect(isAlive(pid)).toBe(true);
      await s.stop();
      await s.stop(); // idempotent
      expect(s.running).toBe(false);
      expect(isAlive(pid)).toBe(false);
      expect(s.logs()).toContain("Server is ready");
      expect(readFileSync(s.logPath, "utf8")).toContain("Server is ready");
    });
    expect(existsSync(server.workDir)).toBe(false);
  });

  it("keeps JetStream data across restart(), also after SIGKILL", async () => {
    const server = await startNatsServer({ jetstream: { domain: "t" } });
    await withServer(server, async (s) => {
      expect(s.storeDir).toBeDefined();
      const put = await connect({ servers: s.url });
      const kv = await new Kvm(put).create("settings");
      await kv.put("colour", "teal");
      await put.close();

      const firstPid = s.pid;
      await s.restart();
      expect(s.pid).not.toBe(firstPid);
      const nc = await connect({ servers: s.url });
      const entry = await (await new Kvm(nc).open("settings")).get("colour");
      expect(entry?.string()).toBe("teal");
      await nc.close();

      s.kill("SIGKILL");
      expect(await s.exited).toBeNull();
      await s.restart();
      const again = await connect({ servers: s.url });
      expect(again.info?.jetstream).toBe(true);
      await again.close();
    });
  });

  it("fails with the log tail when the config is impossible", async () => {
    const attempt = startNatsServer({ extra: "no_such_option: 1" });
    await expect(attempt).rejects.toBeInstanceOf(NatsdError);
    await expect(attempt).rejects.toMatchObject({ code: "start_failed" });
    await expect(attempt).rejects.toThrow(/unknown field "no_such_option"/);
  });

  it("fails with the log tail when a fixed port is taken", async () => {
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", r));
    const address = blocker.address();
    const port = typeof address === "object" && address ? address.port : 0;
    try {
      await expect(startNatsServer({ port })).rejects.toThrow(/address already in use/);
    } finally {
      blocker.close();
    }
  });

  it("reload() applies a changed included file without dropping clients, and reports a refusal", async () => {
    const dir = mkdtempSync(join(tmpdir(), "natsd-reload-"));
    const users = join(dir, "users.conf");
    writeFileSync(users, 'authorization { users: [ { user: "a", password: "pa" } ] }\n');
    const s = await startNatsServer({ workDir: dir, includes: ["users.conf"] });
    try {
      const a = await connect({ servers: s.url, user: "a", pass: "pa", reconnect: false });
      await expect(connect({ servers: s.url, user: "b", pass: "pb", reconnect: false })).rejects.toThrow();
      writeFileSync(users, 'authorization { users: [ { user: "a", password: "pa" }, { user: "b", password: "pb" } ] }\n');
      const pid = s.pid;
      await s.reload();
      expect(s.pid).toBe(pid);
      const b = await connect({ servers: s.url, user: "b", pass: "pb", reconnect: false });
      expect(a.isClosed()).toBe(false);
      await a.flush();
      writeFileSync(users, "no_such_option: 1\n");
      await expect(s.reload()).rejects.toThrow(/no_such_option/);
      await b.flush();
      await Promise.all([a.close(), b.close()]);
    } finally {
      await s.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
