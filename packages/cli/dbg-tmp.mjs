import { runBench } from "/work/main/packages/cli/dist/src/bench/run.js";
import { createLogger } from "@interlink/actor";
const r = await runBench(process.argv[2], JSON.parse(process.argv[3] ?? "{}"), createLogger({ level: "warn" }), false);
console.log(JSON.stringify(r, null, 1));
