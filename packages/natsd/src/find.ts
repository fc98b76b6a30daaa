import { constants } from "node:fs";
import { access, stat } from "node:fs/promises";
import { delimiter, join } from "node:path";
import { NatsdError, NatsServerNotFound } from "./errors.js";
import { exec, tail } from "./exec.js";
import type { FindOptions } from "./types.js";

const BINARY = "nats-server";
const ENV_VAR = "INTERLINK_NATS_SERVER";
const DEFAULT_FALLBACK_DIRS = ["/usr/sbin", "/usr/local/bin", "/usr/local/sbin", "/usr/bin", "/sbin", "/bin"];

const INSTALL_HELP = [
  "Install it in one of these ways:",
  "  - Debian/Ubuntu: sudo apt-get update && sudo apt-get install -y nats-server",
  `  - download a release from https://github.com/nats-io/nats-server/releases and set ${ENV_VAR}=/path/to/nats-server`,
  "  - put a nats-server binary on PATH",
  "Version 2.9.10 or newer works; 2.10+ is recommended for production (sync_interval: always).",
].join("\n");

async function isExecutableFile(path: string): Promise<boolean> {
  try {
    const s = await stat(path);
    if (!s.isFile()) return false;
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function searchDirs(env: NodeJS.ProcessEnv, fallback: readonly string[]): string[] {
  const fromPath = (env.PATH ?? "").split(delimiter).filter((d) => d !== "");
  return [...new Set([...fromPath, ...fallback])];
}

async function findIn(dirs: readonly string[], name: string): Promise<string | undefined> {
  for (const dir of dirs) {
    const candidate = join(dir, name);
    if (await isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

async function installWithApt(aptGet: string, env: NodeJS.ProcessEnv, log: (line: string) => void): Promise<void> {
  const aptEnv = { ...env, DEBIAN_FRONTEND: "noninteractive" };
  const steps: ReadonlyArray<readonly string[]> = [["update"], ["install", "-y", "--no-install-recommends", BINARY]];
  for (const args of steps) {
    log(`natsd: running ${aptGet} ${args.join(" ")}`);
    let result;
    try {
      result = await exec(aptGet, args, { env: aptEnv, onLine: (l) => log(`  ${l}`), timeoutMs: 600_000 });
    } catch (err) {
      throw new NatsdError({ code: "install_failed", message: `could not run ${aptGet}: ${String(err)}\n${INSTALL_HELP}` });
    }
    if (result.code !== 0) {
      throw new NatsdError({
        code: "install_failed",
        message: `${aptGet} ${args.join(" ")} exited with ${String(result.code)}:\n${tail(result.output)}\n${INSTALL_HELP}`,
      });
    }
  }
}

/**
 * Finds a nats-server binary: `INTERLINK_NATS_SERVER`, then PATH and the usual install
 * directories, then (as root, with apt-get) installs Debian's package. Nothing is cached here;
 * the caller keeps the path.
 */
export async function findNatsServer(opts: FindOptions = {}): Promise<string> {
  const env = opts.env ?? process.env;
  const log = opts.log ?? (() => undefined);
  const fallback = opts.fallbackDirs ?? DEFAULT_FALLBACK_DIRS;

  const configured = env[ENV_VAR];
  if (configured !== undefined && configured !== "") {
    if (await isExecutableFile(configured)) return configured;
    throw new NatsServerNotFound(`${ENV_VAR}=${configured} is not an executable file.\n${INSTALL_HELP}`);
  }

  const dirs = searchDirs(env, fallback);
  const found = await findIn(dirs, BINARY);
  if (found !== undefined) return found;

  const isRoot = process.getuid?.() === 0;
  const aptGet = opts.install === false || !isRoot ? undefined : await findIn(dirs, "apt-get");
  if (aptGet !== undefined) {
    log("natsd: nats-server not found; installing Debian's nats-server package");
    await installWithApt(aptGet, env, log);
    const installed = await findIn(dirs, BINARY);
    if (installed !== undefined) {
      log(`natsd: installed ${installed}`);
      return installed;
    }
    throw new NatsdError({
      code: "install_failed",
      message: `apt-get reported success but ${BINARY} is still not in ${dirs.join(", ")}.\n${INSTALL_HELP}`,
    });
  }

  throw new NatsServerNotFound(
    `${BINARY} was not found (looked at ${ENV_VAR}, PATH and ${fallback.join(", ")}).\n${INSTALL_HELP}`,
  );
}

/** The version the binary reports, such as "2.9.10". */
export async function natsServerVersion(binary: string): Promise<string> {
  const { code, output } = await exec(binary, ["--version"], { timeoutMs: 10_000 });
  const match = /v?(\d+\.\d+\.\d+[^\s]*)/.exec(output);
  if (code !== 0 || match?.[1] === undefined) {
    throw new NatsdError({ code: "start_failed", message: `${binary} --version failed (${String(code)}): ${tail(output, 500)}` });
  }
  return match[1];
}
