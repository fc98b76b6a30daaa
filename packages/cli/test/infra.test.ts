import { describe, expect, it } from "vitest";
import { execFile, execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { findNatsServer } from "@interlink/natsd";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const infra = join(root, "infra");

const walk = (dir: string): string[] =>
  readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });

/**
 * YAML documents of a file: the `yaml` package (a devDependency of the CLI) when installed,
 * otherwise Python's PyYAML, so the check also runs before `npm install` brought it in.
 */
const parseYaml = async (file: string): Promise<unknown[]> => {
  const text = readFileSync(file, "utf8");
  const name = "yaml";
  try {
    const mod = (await import(name)) as { parseAllDocuments(t: string): Array<{ errors: unknown[]; toJS(): unknown }> };
    const docs = mod.parseAllDocuments(text);
    for (const d of docs) if (d.errors.length > 0) throw new Error(`${file}: ${String(d.errors[0])}`);
    return docs.map((d) => d.toJS());
  } catch (err) {
    if (!(err instanceof Error) || !/Cannot find (package|module)/.test(err.message)) throw err;
    const out = execFileSync("python3", ["-c", "import sys,json,yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))", file], { encoding: "utf8" });
    return JSON.parse(out) as unknown[];
  }
};

const portFree = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });

/** An offset that moves every port the infra configs use onto free loopback ports. */
const freeOffset = async (): Promise<number> => {
  const base = [4222, 4223, 4224, 6222, 6223, 6224, 7422, 8222, 8223, 8224];
  for (let i = 0; i < 50; i++) {
    const offset = 10_000 + Math.floor(Math.random() * 40) * 250;
    if ((await Promise.all(base.map((p) => portFree(p + offset)))).every(Boolean)) return offset;
  }
  throw new Error("no free port offset");
};

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs an infra script with `--check` on shifted ports and a throwaway run directory. */
const check = async (script: string): Promise<Ran> => {
  const run = mkdtempSync(join(tmpdir(), "interlink-infra-"));
  const offset = await freeOffset();
  try {
    return await new Promise<Ran>((resolve) => {
      execFile(
        "bash",
        [join(infra, script), "--check"],
        { env: { ...process.env, INTERLINK_INFRA_PORT_OFFSET: String(offset), INTERLINK_INFRA_RUN: run, INTERLINK_LOG_LEVEL: "warn" }, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 },
        (err, stdout, stderr) => resolve({ code: err === null ? 0 : typeof err.code === "number" ? err.code : 1, stdout, stderr }),
      );
    });
  } finally {
    rmSync(run, { recursive: true, force: true });
  }
};

const demoOf = (r: Ran): { ok: boolean; isolation: boolean; messages: Array<{ kind: string; delivered: boolean; decrypted: boolean; receipt: string | null }> } => {
  const line = r.stdout.split("\n").find((l) => l.startsWith('{"ok"'));
  if (line === undefined) throw new Error(`no demo output:\n${r.stdout}\n${r.stderr}`);
  return JSON.parse(line) as ReturnType<typeof demoOf>;
};

describe("deployment files under infra/ stay valid", () => {
  const files = walk(infra);

  it("every YAML file parses, and the Kubernetes manifests have what a cluster needs", async () => {
    const yamls = files.filter((f) => /\.ya?ml$/.test(f));
    expect(yamls.length).toBeGreaterThanOrEqual(6);
    const kinds: string[] = [];
    for (const f of yamls) {
      const docs = (await parseYaml(f)).filter((d) => d !== null);
      expect(docs.length, relative(root, f)).toBeGreaterThan(0);
      if (!f.includes(`${join("infra", "k8s")}`)) continue;
      for (const d of docs as Array<Record<string, any>>) {
        expect(d["apiVersion"], relative(root, f)).toBeTypeOf("string");
        expect(d["metadata"]?.name, relative(root, f)).toBeTypeOf("string");
        kinds.push(`${d["kind"]}/${d["metadata"].name}`);
        if (d["kind"] === "Deployment") {
          const c = d["spec"].template.spec.containers[0];
          expect(c.readinessProbe.httpGet.path).toBe("/readyz");
          expect(c.livenessProbe.httpGet.path).toBe("/healthz");
          expect(c.envFrom[0].configMapRef.name).toBe("interlink-config");
        }
        // Secret values are created out of band, never committed.
        if (d["kind"] === "Secret") for (const v of Object.values(d["stringData"] ?? {})) expect(v).toBe("");
      }
    }
    for (const s of ["key-directory", "delivery", "media-store", "receipt"]) {
      expect(kinds).toContain(`Deployment/interlink-${s}`);
      expect(kinds).toContain(`Service/interlink-${s}-metrics`);
    }
    expect(kinds).toEqual(expect.arrayContaining(["ConfigMap/interlink-config", "Secret/interlink-secrets"]));
    const helm = (await parseYaml(join(infra, "helm", "nats-values.yaml")))[0] as Record<string, any>;
    expect(helm["config"].cluster).toMatchObject({ enabled: true, replicas: 3 });
    expect(helm["config"].jetstream.enabled).toBe(true);
    expect(helm["config"].leafnodes.enabled).toBe(true);
  });

  it("the Dockerfile copies only files that exist and runs `interlink service`", () => {
    const dockerfile = readFileSync(join(infra, "docker", "Dockerfile"), "utf8");
    const copies = dockerfile
      .split("\n")
      .filter((l) => /^COPY\s/.test(l) && !l.includes("--from="))
      .flatMap((l) => l.trim().split(/\s+/).slice(1, -1));
    expect(copies.length).toBeGreaterThan(3);
    for (const src of copies) expect(existsSync(join(root, src)), `COPY ${src}`).toBe(true);
    expect(dockerfile).toMatch(/^FROM node:20-slim AS build$/m);
    expect(dockerfile).toMatch(/packages\/cli\/bin\/interlink\.js service/);
    expect(existsSync(join(root, "packages", "cli", "bin", "interlink.js"))).toBe(true);
    expect(existsSync(join(infra, "docker", "Dockerfile.dockerignore"))).toBe(true);
  });

  it("every nats-server config under infra/ passes `nats-server -t`, and the scripts parse", async () => {
    const binary = await findNatsServer({ install: false });
    const confs = files.filter((f) => f.endsWith(".conf"));
    expect(confs.length).toBeGreaterThanOrEqual(7);
    for (const f of confs) {
      const out = execFileSync(binary, ["-c", f, "-t"], { cwd: root, encoding: "utf8", stdio: "pipe" });
      void out;
    }
    for (const f of files.filter((x) => x.endsWith(".sh"))) execFileSync("bash", ["-n", f]);
  });
});

describe("the three topologies, each started by its one documented command", () => {
  it("single node: infra/run-single.sh runs the demo (development mode, isolation off)", async () => {
    const r = await check("run-single.sh");
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    const demo = demoOf(r);
    expect(demo).toMatchObject({ ok: true, isolation: false });
    expect(demo.messages.map((m) => m.kind)).toEqual(["text", "image", "voice", "video", "file"]);
    expect(r.stderr).toContain("isolation is OFF");
  });

  it("three-node cluster: infra/run-cluster.sh runs the demo with every stream, KV bucket and object store at R3", { timeout: 240_000 }, async () => {
    // Three JetStream servers replicating a 3 MiB video on a loaded 2-core machine: one retry,
    // with the first attempt's output kept in the log.
    let r = await check("run-cluster.sh");
    if (r.code !== 0) {
      console.error(`run-cluster.sh --check failed once, retrying:\n${r.stdout}\n${r.stderr}`);
      r = await check("run-cluster.sh");
    }
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(demoOf(r).ok).toBe(true);
    const line = r.stdout.split("\n").find((l) => l.startsWith('{"streams"'));
    const streams = (JSON.parse(line ?? '{"streams":[]}') as { streams: Array<{ name: string; replicas: number }> }).streams;
    const names = streams.map((s) => s.name);
    expect(names).toContain("ILK_DELIVERY");
    expect(names.some((n) => n.startsWith("KV_"))).toBe(true);
    expect(names.some((n) => n.startsWith("OBJ_"))).toBe(true);
    expect(streams.filter((s) => s.replicas !== 3)).toEqual([]);
  });

  it("hub + two providers as leafnodes: infra/run-leaf.sh runs the demo with isolation on", async () => {
    const r = await check("run-leaf.sh");
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/providers alpha nats:\/\/\S+, beta nats:\/\/\S+, isolation on/);
    const demo = demoOf(r);
    expect(demo).toMatchObject({ ok: true, isolation: true });
    for (const m of demo.messages) expect(m).toMatchObject({ delivered: true, decrypted: true, receipt: "delivered" });
  });
});
