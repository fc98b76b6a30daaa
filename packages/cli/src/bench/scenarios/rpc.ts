import * as E from "fp-ts/lib/Either.js";
import { Requester, ServiceHost, endpoint, silentLogger } from "@interlink/actor";
import type { ProviderId } from "@interlink/subjects";
import { Service, requestSubject } from "@interlink/subjects";
import { createCodec, record, s } from "@interlink/wire";
import { rawNatsRequestReply } from "../baselines.js";
import { drive, driveExtra } from "../latency.js";
import { registerScenario } from "../registry.js";

const EchoS = record("bench.echo", 1, { n: s.int({ min: 0 }), body: s.bytes({ max: 1 << 20 }) });
const ReplyS = s.object({ n: s.int({ min: 0 }) });

/**
 * The actor request path (typed records, validation, service host) against a raw NATS
 * request/reply with one shared reply subscription, in the same process and run.
 */
registerScenario("rpc", async (ctx) => {
  const total = ctx.opts.count ?? 50_000;
  const conc = ctx.opts.concurrency ?? 100;
  const size = ctx.opts.size ?? 100;
  const server = await ctx.connect("bench-rpc-server");
  const client = await ctx.connect("bench-rpc-client");
  const codec = createCodec();
  const body = new Uint8Array(size).fill(7);
  const provider = "bench" as ProviderId;

  // Baseline: raw echo responder and a hand-rolled shared inbox, the same number of requests.
  const raw = await rawNatsRequestReply(ctx, total, conc, codec.encode({ v: 1, n: 1, body }));

  const host = new ServiceHost({ service: Service.Keys, nc: server, log: silentLogger, maxInFlight: 10_000 }).serve([
    endpoint<{ v: 1; n: number; body: Uint8Array }, { n: number }>({
      op: "echo",
      schema: EchoS,
      handle: (r) => () => Promise.resolve(E.right({ n: r.n })),
    }),
  ]);
  await server.flush();
  const req = new Requester(client, { timeoutMs: 10_000 });
  const subject = requestSubject(Service.Keys, "echo", provider);
  const run = await drive(ctx, { count: total, concurrency: conc, unit: "requests" }, async (i) => E.isRight(await req.call(subject, { v: 1, n: i, body }, ReplyS)), "actor request/reply");
  req.close();
  await host.drain();
  return {
    scenario: "rpc",
    unit: "requests",
    load: run.load,
    throughput: run.opsPerSec,
    baseline: raw.opsPerSec,
    baseline_name: "raw NATS request/reply, shared reply subscription",
    ratio: run.opsPerSec / raw.opsPerSec,
    ...run.latency.percentilesMs(),
    errors: run.errors,
    duplicates: 0,
    lost: 0,
    instances: 1,
    count: run.done,
    duration_s: run.elapsedMs / 1000,
    extra: { ...driveExtra(run), baseline_p50_ms: raw.latency.percentilesMs().p50_ms, concurrency: conc, body_bytes: size },
  };
});
