import { parseArgs } from "node:util";
import { createLogger } from "@interlink/actor";
import { ConfigError, loadConfig } from "./config.js";
import { runBenchCommand } from "./commands/bench.js";
import { runDemoCommand } from "./commands/demo.js";
import { runServiceCommand } from "./commands/service.js";
import { runUp } from "./commands/up.js";
import { runProviderCommand } from "./commands/provider.js";

export const USAGE = `usage: interlink <command> [options]

commands:
  up [--nats URL] [--data DIR] [--providers a,b]   run every service; without --nats, the hub's nats-server with an
                                                  account per provider and each provider's own server as a leafnode
  service <name> [--nats URL] [--nkey FILE] [--provider ID]
                                                  run one service instance: key-directory, delivery, media-store,
                                                  receipt, session-ratchet (needs --provider)
  demo [--nats URL] [--text S] [--json]           two providers exchange a text, image, voice message, video and file
  provider add <id> [--contact S] [--protocols p] [--quota-msgs N] [--quota-bytes N]
  provider list [--json] | provider remove <id>   enrol providers and issue their credentials (no restart)
  bench <scenario> [--json] [--report FILE.html] [--count N | --duration S] [--rate N|max|half]
        [--concurrency N] [--workers N] [--instances N] [--providers N] [--users N] [--devices N]
        [--size BYTES] [--nats URL [--external]]
                                                  load scenarios against same-run baselines: e2e, fanout,
                                                  ratchet, delivery, receipts, keys, media, rpc
                                                  (benchmarks/README.md)

common options: --log-level debug|info|warn|error|silent, --replicas N, --data DIR, --nkey FILE
environment: see README.md (INTERLINK_NATS_URL, INTERLINK_DATA, INTERLINK_LOG_LEVEL, ...)`;

/** Exit code of the command; the bin shim sets process.exitCode from it. */
export const main = async (argv: string[]): Promise<number> => {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        nats: { type: "string" },
        data: { type: "string" },
        providers: { type: "string" },
        provider: { type: "string" },
        "log-level": { type: "string" },
        replicas: { type: "string" },
        "nats-port": { type: "string" },
        text: { type: "string" },
        json: { type: "boolean" },
        count: { type: "string" },
        concurrency: { type: "string" },
        instances: { type: "string" },
        workers: { type: "string" },
        report: { type: "string" },
        users: { type: "string" },
        devices: { type: "string" },
        size: { type: "string" },
        duration: { type: "string" },
        rate: { type: "string" },
        external: { type: "boolean" },
        "metrics-port": { type: "string" },
        nkey: { type: "string" },
        "leaf-port": { type: "string" },
        "leaf-url": { type: "string" },
        "accounts-file": { type: "string" },
        contact: { type: "string" },
        protocols: { type: "string" },
        "quota-msgs": { type: "string" },
        "quota-bytes": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n${USAGE}\n`);
    return 2;
  }
  const [command, ...rest] = parsed.positionals;
  if (parsed.values.help || command === undefined || command === "help") {
    process.stdout.write(USAGE + "\n");
    return command === undefined && !parsed.values.help ? 2 : 0;
  }
  try {
    // `bench --providers N` is a count, not `up`'s list of provider ids.
    const config = loadConfig(command === "bench" ? { ...parsed.values, providers: undefined } : parsed.values);
    const log = createLogger({ level: config.logLevel, base: { app: "interlink" } });
    switch (command) {
      case "up":
        return await runUp(config, log);
      case "service":
        return await runServiceCommand(rest[0], typeof parsed.values.provider === "string" ? parsed.values.provider : undefined, config, log);
      case "demo":
        return await runDemoCommand(config, log, { text: parsed.values.text ?? "Hello from alpha! 👋", json: parsed.values.json === true });
      case "provider":
        return await runProviderCommand(rest, config, log, {
          contact: parsed.values.contact,
          protocols: parsed.values.protocols,
          quotaMsgs: parsed.values["quota-msgs"],
          quotaBytes: parsed.values["quota-bytes"],
          leafUrl: parsed.values["leaf-url"],
          accountsFile: parsed.values["accounts-file"],
          json: parsed.values.json === true,
        });
      case "bench":
        return await runBenchCommand(rest[0], config, log, {
          json: parsed.values.json === true,
          external: parsed.values.external === true,
          ...Object.fromEntries(
            (["count", "concurrency", "instances", "workers", "providers", "users", "devices", "size", "duration", "rate", "report"] as const).flatMap((k) => {
              const v = parsed.values[k];
              return typeof v === "string" ? [[k, v]] : [];
            }),
          ),
        });
      default:
        process.stderr.write(`unknown command: ${command}\n${USAGE}\n`);
        return 2;
    }
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`interlink: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(`interlink: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
};
