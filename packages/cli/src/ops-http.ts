import { createServer } from "node:http";
import type { Server } from "node:http";
import type { NatsConnection } from "@nats-io/transport-node";
import type { RunningService } from "@interlink/actor";
import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";

/**
 * Per-process operations endpoint for platform engineers: Prometheus metrics (`/metrics`),
 * liveness (`/healthz`) and readiness (`/readyz`: NATS connected). Labels name services only,
 * never users or providers' payloads.
 */
export const startOpsHttp = async (
  port: number,
  host: string,
  nc: NatsConnection,
  services: () => readonly RunningService[],
): Promise<{ server: Server; port: number; close(): Promise<void> }> => {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "interlink_process_" });
  const counter = (name: string, help: string, pick: (s: ReturnType<RunningService["stats"]>) => number) =>
    new Counter({
      name,
      help,
      labelNames: ["service"],
      registers: [registry],
      collect() {
        this.reset();
        for (const s of services()) this.inc({ service: s.name }, pick(s.stats()));
      },
    });
  counter("interlink_requests_total", "Requests received", (s) => s.received);
  counter("interlink_requests_failed_total", "Requests answered with a typed error", (s) => s.failed);
  counter("interlink_requests_rejected_total", "Requests refused as bad input before the handler", (s) => s.rejected);
  counter("interlink_requests_overloaded_total", "Requests refused because a mailbox or the instance was full", (s) => s.overloaded);
  new Gauge({
    name: "interlink_requests_in_flight",
    help: "Requests being handled",
    labelNames: ["service"],
    registers: [registry],
    collect() {
      for (const s of services()) this.set({ service: s.name }, s.stats().inFlight);
    },
  });
  new Gauge({
    name: "interlink_nats_connected",
    help: "1 while the NATS connection is up",
    registers: [registry],
    collect() {
      this.set(nc.isClosed() ? 0 : 1);
    },
  });

  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/metrics") {
      registry.metrics().then(
        (body) => {
          res.writeHead(200, { "content-type": registry.contentType });
          res.end(body);
        },
        () => {
          res.writeHead(500);
          res.end();
        },
      );
      return;
    }
    if (path === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("ok\n");
      return;
    }
    if (path === "/readyz") {
      const ready = !nc.isClosed() && services().length > 0;
      res.writeHead(ready ? 200 : 503, { "content-type": "text/plain" });
      res.end(ready ? "ready\n" : "not ready\n");
      return;
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address();
  return {
    server,
    port: typeof addr === "object" && addr !== null ? addr.port : port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
};
