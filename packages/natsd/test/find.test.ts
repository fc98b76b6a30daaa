import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findNatsServer, freePort, NatsdError, natsServerVersion, NatsServerNotFound } from "../src/index.js";

describe("findNatsServer", () => {
  let dir = "";
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "natsd-find-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const script = async (name: string, body: string, mode = 0o755): Promise<string> => {
    const path = join(dir, name);
    await writeFile(path, `#!/bin/sh\n${body}\n`);
    await chmod(path, mode);
    return path;
  };

  it("honours INTERLINK_NATS_SERVER before PATH", async () => {
    const fake = await script("my-nats", "echo 'nats-server: v9.8.7'");
    const found = await findNatsServer({ env: { INTERLINK_NATS_SERVER: fake, PATH: "/usr/sbin:/usr/bin" }, install: false });
    expect(found).toBe(fake);
    expect(await natsServerVersion(found)).toBe("9.8.7");
  });

  it("rejects an INTERLINK_NATS_SERVER that is not executable", async () => {
    const plain = await script("not-exec", "exit 0", 0o644);
    const attempt = findNatsServer({ env: { INTERLINK_NATS_SERVER: plain }, install: false });
    await expect(attempt).rejects.toBeInstanceOf(NatsServerNotFound);
    await expect(attempt).rejects.toThrow(/INTERLINK_NATS_SERVER=.*not-exec is not an executable file/);
    await expect(findNatsServer({ env: { INTERLINK_NATS_SERVER: dir }, install: false })).rejects.toMatchObject({
      code: "not_found",
    });
  });

  it("finds the installed server and reports its version", async () => {
    const found = await findNatsServer({ install: false });
    expect(await natsServerVersion(found)).toMatch(/^2\.\d+\.\d+/);
  });

  it("says how to install when nothing is found", async () => {
    const attempt = findNatsServer({ env: { PATH: dir }, fallbackDirs: [], install: false });
    await expect(attempt).rejects.toBeInstanceOf(NatsServerNotFound);
    await expect(attempt).rejects.toThrow(/apt-get install -y nats-server/);
    await expect(attempt).rejects.toThrow(/INTERLINK_NATS_SERVER/);
    await expect(attempt).rejects.toThrow(/github\.com\/nats-io\/nats-server\/releases/);
  });

  // A fake apt-get stands in for the real one: the flow is exercised without a network.
  it.skipIf(process.getuid?.() !== 0)("installs with apt-get when root", async () => {
    const bin = await mkdtemp(join(dir, "bin-"));
    const calls = join(dir, "apt-calls");
    await writeFile(
      join(bin, "apt-get"),
      `#!/bin/sh\necho "$DEBIAN_FRONTEND $*" >> ${calls}\nif [ "$1" = install ]; then printf '#!/bin/sh\\necho v2.9.10\\n' > ${bin}/nats-server; /bin/chmod 755 ${bin}/nats-server; fi\n`,
    );
    await chmod(join(bin, "apt-get"), 0o755);
    const lines: string[] = [];
    const found = await findNatsServer({ env: { PATH: bin }, fallbackDirs: [], log: (l) => lines.push(l) });
    expect(found).toBe(join(bin, "nats-server"));
    expect(lines.join("\n")).toMatch(/apt-get update/);
    expect(await readFile(calls, "utf8")).toBe(
      "noninteractive update\nnoninteractive install -y --no-install-recommends nats-server\n",
    );
  });

  it.skipIf(process.getuid?.() !== 0)("reports a failed apt-get as install_failed", async () => {
    const bin = await mkdtemp(join(dir, "bin-"));
    await writeFile(join(bin, "apt-get"), "#!/bin/sh\necho 'E: no network' >&2\nexit 100\n");
    await chmod(join(bin, "apt-get"), 0o755);
    const attempt = findNatsServer({ env: { PATH: bin }, fallbackDirs: [] });
    await expect(attempt).rejects.toBeInstanceOf(NatsdError);
    await expect(attempt).rejects.toMatchObject({ code: "install_failed" });
    await expect(attempt).rejects.toThrow(/E: no network/);
  });
});

describe("freePort", () => {
  it("returns distinct usable ports", async () => {
    const a = await freePort();
    const b = await freePort();
    expect(a).toBeGreaterThan(0);
    expect(b).toBeGreaterThan(0);
  });
});
