import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { EndpointCounters } from "./service-host.js";

/** What a service instance says about itself to NATS micro discovery (`nats micro ls` etc.). */
export interface MicroIdentity {
  /** `[A-Za-z0-9_-]+`; every instance of a service shares it. */
  readonly name: string;
  /** Unique per instance. */
  readonly id: string;
  readonly version: string;
  readonly description: string;
  readonly metadata: Readonly<Record<string, string>>;
  readonly started: Date;
}

const verbs = ["PING", "INFO", "STATS"] as const;
type Verb = (typeof verbs)[number];

/**
 * Answers the NATS micro protocol (`$SRV.PING|INFO|STATS[.<name>[.<id>]]`, JSON, no queue
 * group: every instance answers), so the standard NATS tooling lists and watches Interlink's
 * services. Counters carry error codes only, never request data.
 */
export const serveMicroDiscovery = (
  nc: NatsConnection,
  me: MicroIdentity,
  endpoints: () => readonly Readonly<EndpointCounters>[],
): Subscription[] => {
  const enc = new TextEncoder();
  const base = { name: me.name, id: me.id, version: me.version, metadata: me.metadata };
  const answer = (verb: Verb): unknown => {
    switch (verb) {
      case "PING":
        return { type: "io.nats.micro.v1.ping_response", ...base };
      case "INFO":
        return {
          type: "io.nats.micro.v1.info_response",
          ...base,
          description: me.description,
          endpoints: endpoints().map((e) => ({ name: e.name, subject: e.subject, queue_group: e.queue, metadata: {} })),
        };
      case "STATS":
        return {
          type: "io.nats.micro.v1.stats_response",
          ...base,
          started: me.started.toISOString(),
          endpoints: endpoints().map((e) => ({
            name: e.name,
            subject: e.subject,
            queue_group: e.queue,
            num_requests: e.requests,
            num_errors: e.errors,
            last_error: e.lastError,
            processing_time: Number(e.processingNs),
            average_processing_time: e.requests === 0 ? 0 : Math.round(Number(e.processingNs) / e.requests),
          })),
        };
    }
  };
  const subs: Subscription[] = [];
  for (const verb of verbs) {
    for (const subject of [`$SRV.${verb}`, `$SRV.${verb}.${me.name}`, `$SRV.${verb}.${me.name}.${me.id}`]) {
      subs.push(nc.subscribe(subject, { callback: (_e, msg) => void msg.respond(enc.encode(JSON.stringify(answer(verb)))) }));
    }
  }
  return subs;
};
