import type { ServerGroup } from "./group.js";
import type { TestTopology } from "./types.js";

export function toTestTopology(group: ServerGroup): TestTopology {
  const servers = [...group.servers];
  const first = servers[0];
  if (first === undefined) throw new Error("topology has no servers");
  return {
    servers,
    url: first.url,
    urls: servers.map((s) => s.url),
    stop: () => group.stop(),
    logs: () => group.logs(),
  };
}
