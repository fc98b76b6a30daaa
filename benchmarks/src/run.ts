/**
 * `npm run bench [-- [--json] [suite ...]]`: runs the codec and actor suites (or those whose name
 * contains one of the given words) and prints each against its same-run baseline. With `--json`,
 * stdout carries exactly one JSON object; progress goes to stderr.
 */
import { actorBench } from "./actor.bench.js";
import { codecBench } from "./codec.bench.js";
import type { Log } from "./report.js";

interface Suite {
  readonly name: string;
  readonly run: (log: Log) => Promise<unknown>;
}

const SUITES: readonly Suite[] = [
  { name: "codec", run: (log) => codecBench({ log }) },
  { name: "actor", run: (log) => actorBench({ log }) },
];

const USAGE = `usage: npm run bench -- [--json] [suite ...]   (suites: ${SUITES.map((s) => s.name).join(", ")})`;

async function main(argv: readonly string[]): Promise<number> {
  const json = argv.includes("--json");
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log(USAGE);
    return 0;
  }
  const unknownFlag = argv.find((a) => a.startsWith("-") && a !== "--json");
  if (unknownFlag !== undefined) {
    console.error(`unknown option ${unknownFlag}\n${USAGE}`);
    return 2;
  }
  const filters = argv.filter((a) => !a.startsWith("-")).map((a) => a.toLowerCase());
  const selected = filters.length === 0 ? SUITES : SUITES.filter((s) => filters.some((f) => s.name.includes(f)));
  if (selected.length === 0) {
    console.error(`no suite matches ${filters.join(", ")}\n${USAGE}`);
    return 2;
  }

  const log: Log = json ? (line) => process.stderr.write(`${line}\n`) : (line) => console.log(line);
  const started = Date.now();
  const results: Record<string, unknown> = {};
  for (const suite of selected) {
    results[suite.name] = await suite.run(log);
    log("");
  }
  log(`bench finished in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  if (json) {
    process.stdout.write(
      `${JSON.stringify({ node: process.version, platform: `${process.platform}-${process.arch}`, startedAt: new Date(started).toISOString(), suites: results })}\n`,
    );
  }
  return 0;
}

// Ctrl-C: exit through process.exit so natsd's exit hook stops the nats-server child.
for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => process.exit(130));

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
    process.exitCode = 1;
  },
);
