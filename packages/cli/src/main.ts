import { parseArgs } from "node:util";
import { createLogger } from "@interlink/actor";
import { ConfigError, loadConfig } from "./config.js";
import { runBenchCommand } from "./commands/bench.js";
import { runDemoCommand } from "./commands/demo.js";
import { runServiceCommand } from "./commands/service.js";
import { runUp } from "./commands/up.js";

export const USAGE = `usage: interlink <command> [options]

commands:
  up [--nats URL] [--data DIR] [--providers a,b]   run every service (and, without --nats, an embedded nats-server)
  service <name> [--nats URL] [--provider ID]     run one service instance: key-directory, delivery, media-store,
                                                  receipt, session-ratchet (needs --provider)
  demo [--nats URL] [--text S] [--json]           two providers exchange a text and an image end to end
  bench <scenario> [--json] [--count N] [--concurrency N]
                                                  load scenarios against same-run baselines (rpc, ...)

common options: --log-level debug|info|warn|error|silent, --replicas N, --data DIR
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
        "metrics-port": { type: "string" },
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
    const config = loadConfig(parsed.values);
    const log = createLogger({ level: config.logLevel, base: { app: "interlink" } });
    switch (command) {
      case "up":
        return await runUp(config, log);
      case "service":
        return await runServiceCommand(rest[0], typeof parsed.values.provider === "string" ? parsed.values.provider : undefined, config, log);
      case "demo":
        return await runDemoCommand(config, log, { text: parsed.values.text ?? "Hello from alpha! 👋", json: parsed.values.json === true });
      case "bench":
        return await runBenchCommand(rest[0], config, log, {
          json: parsed.values.json === true,
          ...(parsed.values.count !== undefined ? { count: parsed.values.count } : {}),
          ...(parsed.values.concurrency !== undefined ? { concurrency: parsed.values.concurrency } : {}),
          ...(parsed.values.instances !== undefined ? { instances: parsed.values.instances } : {}),
          ...(parsed.values.workers !== undefined ? { workers: parsed.values.workers } : {}),
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
