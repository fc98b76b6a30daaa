import * as E from "fp-ts/lib/Either.js";
import { Requester, ServiceHost, endpoint, silentLogger } from "@interlink/actor";
import type { ProviderId } from "@interlink/subjects";
import { Service, requestSubject } from "@interlink/subjects";
import { createCodec, record, s } from "@interlink/wire";
import { Latency, closedLoop } from "../latency.js";
import { registerScenario } from "../registry.js";

const EchoS = record("bench.echo", 1, { n: s.int({ min: 0 }), body: s.bytes({ max: 1024 }) });
const ReplyS = s.object({ n: s.int({ min: 0 }) });

/**
 * The actor request path (typed records, validation, service host) against a raw NATS
 * request/reply with one shared reply subscription, in the same process and run.
 */
registerScenario("rpc", async (ctx) => {
  const total = ctx.opts.count ?? 50_000;
  const conc = ctx.opts.concurrency ?? 100;
  const server = await ctx.connect("bench-rpc-server");
  const client = await ctx.connect("bench-rpc-client");
  const codec = createCodec();
  const body = new Uint8Array(100).fill(7);
  const provider = "bench" as ProviderId;

  // Baseline: raw echo responder and a hand-rolled shared inbox.
  const rawSubject = "bench.raw.echo";
  server.subscribe(rawSubject, { callback: (_e, m) => void m.respond(m.data) });
  const pending = new Map<number, () => void>();
  const inbox = `_INBOX.bench.${Date.now()}`;
  client.subscribe(`${inbox}.*`, {
    callback: (_e, m) => {
      const id = Number(m.subject.slice(inbox.length + 1));
      pending.get(id)?.();
      pending.delete(id);
    },
  });
  await server.flush();
  await client.flush();
  let seq = 0;
  const rawPayload = codec.encode({ v: 1, n: 1, body });
  const rawLat = new Latency();
  const raw = await closedLoop(
    total,
    conc,
    () =>
      new Promise<boolean>((resolve) => {
        const id = seq++;
        pending.set(id, () => resolve(true));
        client.publish(rawSubject, rawPayload, { reply: `${inbox}.${id}` });
      }),
    rawLat,
  );

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
  const lat = new Latency();
  const actor = await closedLoop(total, conc, async (i) => E.isRight(await req.call(subject, { v: 1, n: i, body }, ReplyS)), lat, ctx.progress);
  req.close();
  await host.drain();
  return {
    scenario: "rpc",
    throughput: actor.opsPerSec,
    baseline: raw.opsPerSec,
    baseline_name: "raw NATS request/reply, shared reply subscription",
    ratio: actor.opsPerSec / raw.opsPerSec,
    ...lat.percentilesMs(),
    errors: actor.errors,
    duplicates: 0,
    lost: 0,
    instances: 1,
    count: total,
    extra: { baseline_p50_ms: rawLat.percentilesMs().p50_ms, concurrency: conc },
  };
});
