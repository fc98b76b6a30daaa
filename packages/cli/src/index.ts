export { main, USAGE } from "./main.js";
export type { DemoMessage, DemoOptions, DemoResult } from "./demo-scenario.js";
export { runDemo } from "./demo-scenario.js";
export type { Keys, ServiceName, Stack } from "./stack.js";
export { startStack, waitReady, startService } from "./stack.js";
