import { existsSync } from "node:fs";
import { resolve } from "node:path";
import type { Logger } from "@interlink/actor";
import type { ProviderRecord, Quotas } from "@interlink/providers";
import { PROTOCOL_RE, ProviderRegistry, accountName, ensureUserKey, providerId, publicKeyOf } from "@interlink/providers";
import * as E from "fp-ts/lib/Either.js";
import type { Config } from "../config.js";
import { ConfigError } from "../config.js";
import { Enrollment, EnrollmentError } from "../enrollment.js";
import type { AccountsTarget } from "../enrollment.js";
import { hubPaths, readRunInfo, reloadByPid } from "../hub.js";
import { connectNats } from "../stack.js";

export interface ProviderFlags {
  readonly contact?: string | undefined;
  readonly protocols?: string | undefined;
  readonly quotaMsgs?: string | undefined;
  readonly quotaBytes?: string | undefined;
  readonly leafUrl?: string | undefined;
  readonly accountsFile?: string | undefined;
  readonly json: boolean;
}

const USAGE = `usage: interlink provider add <id> [--contact S] [--protocols p1,p2] [--quota-msgs N] [--quota-bytes N]
       interlink provider list [--json]
       interlink provider remove <id>
With a running \`interlink up\` on the same --data DIR, nothing else is needed. For another hub,
give --nats URL --nkey HUB_SEED_FILE (and --accounts-file FILE, --leaf-url URL).`;

const positiveInt = (name: string, v: string | undefined): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) throw new ConfigError(`${name} must be a positive integer`);
  return n;
};

const out = (line = ""): void => void process.stdout.write(line + "\n");

const describe = (r: ProviderRecord): string => {
  const q = [r.quotas.messagesPerSecond !== undefined ? `${r.quotas.messagesPerSecond} msg/s` : "", r.quotas.bytesPerSecond !== undefined ? `${r.quotas.bytesPerSecond} B/s` : ""]
    .filter((x) => x !== "")
    .join(", ");
  return `${r.id.padEnd(16)} ${r.status.padEnd(8)} ${accountName(r.id).padEnd(20)} ${r.protocols.join(",").padEnd(18)} ${new Date(r.createdAt).toISOString()}  ${q === "" ? "-" : q}  ${r.contact}`;
};

/**
 * `interlink provider add|list|remove`: talks to the registry over NATS as the hub (HUB's nkey
 * from the data dir) and, for a hub started by `interlink up`, reloads its nats-server (pid from
 * DATA/run.json). Prints credential file paths, never their contents.
 */
export const runProviderCommand = async (args: readonly string[], config: Config, log: Logger, f: ProviderFlags): Promise<number> => {
  const [sub, id] = args;
  if (sub !== "add" && sub !== "list" && sub !== "remove") {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const paths = hubPaths(config.dataDir);
  const run = readRunInfo(paths);
  const url = config.natsUrl ?? run?.natsUrl;
  if (url === undefined) {
    throw new ConfigError(`no running \`interlink up\` uses ${config.dataDir}: start it, or give --nats URL and --nkey FILE of the hub`);
  }
  const seed = config.nkeyFile ?? (existsSync(paths.hubSeed) ? paths.hubSeed : undefined);
  const nc = await connectNats(url, "interlink-provider", seed).catch((err: unknown) => {
    throw new ConfigError(`cannot connect to ${url} as the hub (${err instanceof Error ? err.message : String(err)}); give --nkey with the HUB user's seed`);
  });
  try {
    const registry = await ProviderRegistry.open(nc, { replicas: config.replicas });
    const ours = run !== undefined && run.natsUrl === url;
    const target: AccountsTarget = {
      accountsFile: f.accountsFile !== undefined ? resolve(f.accountsFile) : paths.accountsFile,
      hubUrl: url,
      ...(f.leafUrl !== undefined ? { leafUrl: f.leafUrl } : run !== undefined ? { leafUrl: run.leafUrl } : {}),
      ...(ours ? { reload: () => reloadByPid(run.natsPid, paths.logFile) } : {}),
    };
    // The rendered accounts name the hub's user; a hub without one (a plain server) gets one here.
    const hubNkey = (seed !== undefined ? publicKeyOf(seed) : undefined) ?? ensureUserKey(paths.hubSeed).publicKey;
    const enrollment = new Enrollment(nc, registry, config.dataDir, hubNkey, target, log);

    if (sub === "list") {
      const all = await enrollment.list();
      if (f.json) out(JSON.stringify(all.map(({ v: _v, ...r }) => r)));
      else {
        out(`${"id".padEnd(16)} ${"status".padEnd(8)} ${"account".padEnd(20)} ${"protocols".padEnd(18)} ${"created".padEnd(24)}  quotas  contact`);
        for (const r of all) out(describe(r));
      }
      return 0;
    }

    const pid = providerId(id ?? "");
    if (E.isLeft(pid)) throw new ConfigError(`provider id: ${pid.left}`);
    try {
      if (sub === "add") {
        const protocols = (f.protocols ?? "").split(",").map((p) => p.trim()).filter((p) => p !== "");
        for (const p of protocols) if (!PROTOCOL_RE.test(p)) throw new ConfigError(`--protocols: invalid protocol id`);
        const quotas: Quotas = {
          ...(positiveInt("--quota-msgs", f.quotaMsgs) !== undefined ? { messagesPerSecond: positiveInt("--quota-msgs", f.quotaMsgs)! } : {}),
          ...(positiveInt("--quota-bytes", f.quotaBytes) !== undefined ? { bytesPerSecond: positiveInt("--quota-bytes", f.quotaBytes)! } : {}),
        };
        const r = await enrollment.add(pid.right, { ...(f.contact !== undefined ? { contact: f.contact } : {}), protocols, quotas });
        if (f.json) {
          out(JSON.stringify({ id: r.record.id, account: accountName(r.record.id), protocols: r.record.protocols, applied: r.applied, files: { userSeed: r.files.userSeed, leafRemote: target.leafUrl !== undefined ? r.files.leafRemote : null } }));
        } else {
          out(`provider ${r.record.id} enrolled: account ${accountName(r.record.id)}, protocols ${r.record.protocols.join(", ")}`);
          out(`  client credentials (nkey seed; nats --nkey FILE, INTERLINK_NATS_NKEY): ${r.files.userSeed}`);
          if (target.leafUrl !== undefined) out(`  leafnode link for the provider's own nats-server (include it in its config): ${r.files.leafRemote}`);
          out(`  hand both to the provider over a private channel; they are not stored anywhere else`);
          reportApplied(r.applied, target.accountsFile);
        }
        return 0;
      }
      const r = await enrollment.remove(pid.right);
      if (f.json) out(JSON.stringify({ id: r.record.id, status: r.record.status, applied: r.applied }));
      else {
        out(`provider ${r.record.id} removed: its credentials are revoked and its account reaches nothing`);
        reportApplied(r.applied, target.accountsFile);
        if (r.applied === "applied") {
          out("  note: nats-server 2.9 keeps an already-open leafnode link of a removed provider up (it reaches nothing); restart the hub to close it");
        }
      }
      return 0;
    } catch (err) {
      if (err instanceof EnrollmentError) {
        process.stderr.write(`interlink: ${err.message}\n`);
        return 1;
      }
      throw err;
    }
  } finally {
    await nc.drain().catch(() => undefined);
  }
};

const reportApplied = (applied: string, accountsFile: string): void => {
  if (applied === "applied") out("  the hub's nats-server reloaded its accounts: nothing restarted, no other connection dropped");
  else if (applied === "manual") {
    out(`  accounts written to ${accountsFile} (mode 0600): include it in the hub's nats-server config, then reload it twice:`);
    out("    nats-server --signal reload=<pid>   (nats-server 2.9 wires a new account's service imports on the second reload)");
  }
};
