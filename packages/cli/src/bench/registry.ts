import type { Scenario } from "./types.js";

/** Scenario name → implementation. Each scenario file registers itself here. */
export const scenarios = new Map<string, Scenario>();

export const registerScenario = (name: string, s: Scenario): void => {
  if (scenarios.has(name)) throw new Error(`bench scenario ${name} registered twice`);
  scenarios.set(name, s);
};
