import { buildTopology } from "./group.js";
import { toTestTopology } from "./topology.js";
import type { SingleOptions, TestTopology } from "./types.js";

/** One server on free loopback ports, JetStream on by default. */
export function startSingle(opts: SingleOptions = {}): Promise<TestTopology> {
  return buildTopology("single", async (group) => {
    await group.start("s1", {
      serverName: "s1",
      httpPort: 0,
      jetstream: opts.jetstream ?? true,
      maxPayload: opts.maxPayload,
      extra: opts.extra,
      accounts: opts.accounts,
      debug: opts.debug,
    });
    return toTestTopology(group);
  });
}
