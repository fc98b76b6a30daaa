import { randomBytes } from "node:crypto";
import { availableParallelism } from "node:os";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { LogLevel } from "@interlink/actor";
import { parseLogLevel } from "@interlink/actor";
import type { ProviderId } from "@interlink/subjects";
import { parseProviderId } from "@interlink/subjects";
import * as E from "fp-ts/lib/Either.js";

/** Every setting, from a flag or else an environment variable (documented in the README). */
export interface Config {
  readonly natsUrl: string | undefined;
  readonly dataDir: string;
  readonly logLevel: LogLevel;
  readonly replicas: number;
  readonly providers: ProviderId[];
  readonly natsPort: number | undefined;
  readonly retentionDays: number;
  /** session-ratchet worker threads (0: crypto on the main thread). */
  readonly ratchetWorkers: number;
  /** Port of the /metrics, /healthz, /readyz endpoint (undefined: off). */
  readonly metricsPort: number | undefined;
  readonly metricsHost: string;
  /** Seed file of the NATS user nkey to connect with (a hub service: the HUB user). */
  readonly nkeyFile: string | undefined;
  /** Leafnode port of the embedded hub (providers' servers connect there). */
  readonly leafPort: number | undefined;
}

export type Flags = Readonly<Record<string, string | boolean | undefined>>;

const str = (v: string | boolean | undefined): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);

const int = (name: string, v: string | undefined, fallback: number, min: number, max: number): number => {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`${name} must be an integer from ${min} to ${max}`);
  return n;
};

export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

export const loadConfig = (flags: Flags, env: NodeJS.ProcessEnv = process.env): Config => {
  const providers = (str(flags["providers"]) ?? env["INTERLINK_PROVIDERS"] ?? "alpha,beta")
    .split(",")
    .filter((p) => p !== "")
    .map((p) => {
      const r = parseProviderId(p.trim());
      if (E.isLeft(r)) throw new ConfigError(`--providers: ${r.left.message}`);
      return r.right;
    });
  const port = str(flags["nats-port"]) ?? env["INTERLINK_NATS_PORT"];
  return {
    natsUrl: str(flags["nats"]) ?? env["INTERLINK_NATS_URL"],
    dataDir: resolve(str(flags["data"]) ?? env["INTERLINK_DATA"] ?? ".interlink"),
    logLevel: parseLogLevel(str(flags["log-level"]) ?? env["INTERLINK_LOG_LEVEL"], "info"),
    replicas: int("--replicas / INTERLINK_REPLICAS", str(flags["replicas"]) ?? env["INTERLINK_REPLICAS"], 1, 1, 5),
    providers,
    natsPort: port === undefined ? undefined : int("--nats-port / INTERLINK_NATS_PORT", port, 4222, 0, 65535),
    retentionDays: int("INTERLINK_RETENTION_DAYS", env["INTERLINK_RETENTION_DAYS"], 30, 1, 3650),
    metricsPort: (() => {
      const v = str(flags["metrics-port"]) ?? env["INTERLINK_METRICS_PORT"];
      return v === undefined ? undefined : int("--metrics-port / INTERLINK_METRICS_PORT", v, 0, 0, 65535);
    })(),
    metricsHost: env["INTERLINK_METRICS_HOST"] ?? "127.0.0.1",
    nkeyFile: (() => {
      const v = str(flags["nkey"]) ?? env["INTERLINK_NATS_NKEY"];
      return v === undefined || v === "" ? undefined : resolve(v);
    })(),
    leafPort: (() => {
      const v = str(flags["leaf-port"]) ?? env["INTERLINK_LEAF_PORT"];
      return v === undefined ? undefined : int("--leaf-port / INTERLINK_LEAF_PORT", v, 7422, 0, 65535);
    })(),
    ratchetWorkers: int("--workers / INTERLINK_RATCHET_WORKERS", str(flags["workers"]) ?? env["INTERLINK_RATCHET_WORKERS"], availableParallelism(), 0, 256),
  };
};

/**
 * A 32-byte key from the environment (hex) or from a file in the data dir, created on first use
 * with owner-only permissions. Every instance of a deployment must share the same values.
 */
export const loadKey = (envName: string, fileName: string, dataDir: string, env: NodeJS.ProcessEnv = process.env): Uint8Array => {
  const fromEnv = env[envName];
  if (fromEnv !== undefined && fromEnv !== "") {
    const b = Buffer.from(fromEnv, "hex");
    if (b.length !== 32 || b.toString("hex") !== fromEnv.toLowerCase()) throw new ConfigError(`${envName} must be 64 hex characters`);
    return b;
  }
  const path = join(dataDir, fileName);
  if (existsSync(path)) {
    const b = Buffer.from(readFileSync(path, "utf8").trim(), "hex");
    if (b.length !== 32) throw new ConfigError(`${path} does not hold a 32-byte hex key`);
    return b;
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const k = randomBytes(32);
  writeFileSync(path, k.toString("hex") + "\n", { mode: 0o600, flag: "wx" });
  return k;
};
