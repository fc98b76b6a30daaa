import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as E from "fp-ts/lib/Either.js";
import type { NatsConnection } from "@nats-io/transport-node";
import { connect, startSingle, useTopology } from "@interlink/testing";
import { Service, requestSubject } from "@interlink/subjects";
import type { ProviderId } from "@interlink/subjects";
import { createCodec, record, s } from "@interlink/wire";
import { ErrorCode, Requester, ServiceHost, endpoint, serviceError } from "../src/index.js";

const EchoS = record("test.echo", 1, { text: s.str({ max: 100 }), n: s.int({ min: 0, max: 1000 }) });
const ReplyS = s.object({ text: s.str(), n: s.int(), provider: s.str() });
const alpha = "alpha" as ProviderId;

describe("request/reply over one shared reply subscription", () => {
  const topo = useTopology(() => startSingle({ jetstream: false }));
  let server: NatsConnection;
  let client: NatsConnection;
  let host: ServiceHost;
  let req: Requester;
  const counts = new Map<number, number>();

  beforeAll(async () => {
    server = await connect(topo());
    client = await connect(topo());
    host = new ServiceHost({ service: Service.Keys, nc: server, maxInFlight: 1000, mailbox: { capacity: 200 } }).serve([
      endpoint<{ v: 1; text: string; n: number }, { text: string; n: number; provider: string }>({
        op: "echo",
        schema: EchoS,
        key: (r) => String(r.n % 4),
        handle: (r, ctx, cell) => async () => {
          counts.set(r.n, (counts.get(r.n) ?? 0) + 1);
          void cell;
          if (r.text === "fail") return E.left(serviceError("nope", "asked to fail", { retryable: false, details: { n: r.n } }));
          if (r.text === "throw") throw new Error("handler bug");
          if (r.text === "slow") await new Promise((res) => setTimeout(res, 5));
          return E.right({ text: r.text.toUpperCase(), n: r.n, provider: ctx.provider });
        },
      }),
    ]);
    await server.flush();
    req = new Requester(client, { timeoutMs: 2000 });
  });
  afterAll(async () => {
    req.close();
    await host.drain();
    await client.close();
    await server.close();
  });

  it("answers 500 concurrent requests, each with its own reply, provider taken from the subject", async () => {
    const rs = await Promise.all(
      Array.from({ length: 500 }, (_, i) => req.call(requestSubject(Service.Keys, "echo", alpha), { v: 1, text: `m${i}`, n: i }, ReplyS)),
    );
    rs.forEach((r, i) => {
      expect(E.isRight(r)).toBe(true);
      if (E.isRight(r)) expect(r.right).toEqual({ text: `M${i}`, n: i, provider: "alpha" });
    });
    expect(req.inFlight).toBe(0);
  });

  it("answers overloaded, retryable, beyond a mailbox's capacity, and keeps serving", async () => {
    // 4 actor keys x 200 waiting + 4 running: 1,000 requests overflow some mailboxes.
    const rs = await Promise.all(
      Array.from({ length: 1000 }, (_, i) => req.call(requestSubject(Service.Keys, "echo", alpha), { v: 1, text: "slow", n: i }, ReplyS, { timeoutMs: 10_000 })),
    );
    const over = rs.filter((r) => E.isLeft(r) && r.left.code === ErrorCode.Overloaded && r.left.retryable);
    expect(over.length).toBeGreaterThan(0);
    expect(rs.filter(E.isRight).length + over.length).toBe(1000);
    expect(E.isRight(await req.call(requestSubject(Service.Keys, "echo", alpha), { v: 1, text: "after", n: 1 }, ReplyS))).toBe(true);
  });

  it("passes typed errors through, with details", async () => {
    const r = await req.call(requestSubject(Service.Keys, "echo", alpha), { v: 1, text: "fail", n: 7 }, ReplyS);
    expect(E.isLeft(r) && r.left).toMatchObject({ code: "nope", retryable: false, details: { n: 7 } });
  });

  it("turns a throwing handler into internal and keeps serving", async () => {
    const r = await req.call(requestSubject(Service.Keys, "echo", alpha), { v: 1, text: "throw", n: 8 }, ReplyS);
    expect(E.isLeft(r) && r.left.code).toBe(ErrorCode.Internal);
    const ok = await req.call(requestSubject(Service.Keys, "echo", alpha), { v: 1, text: "ok", n: 9 }, ReplyS);
    expect(E.isRight(ok)).toBe(true);
  });

  it("rejects garbage, wrong types and unknown versions with bad_request and counts them", async () => {
    const before = host.stats().rejected;
    const subject = requestSubject(Service.Keys, "echo", alpha);
    const garbage = await req.callRaw(subject, new Uint8Array([0xc1, 0xff, 0x00]));
    expect(E.isLeft(garbage) && garbage.left.code).toBe(ErrorCode.BadRequest);
    const wrongType = await req.call(subject, { v: 1, text: 42, n: 1 }, ReplyS);
    expect(E.isLeft(wrongType) && wrongType.left.code).toBe(ErrorCode.BadRequest);
    const version = await req.call(subject, { v: 2, text: "x", n: 1 }, ReplyS);
    expect(E.isLeft(version) && version.left.code).toBe(ErrorCode.UnsupportedVersion);
    const deep = await req.callRaw(subject, new Uint8Array([...Array(1000).fill(0x91), 0xc0]));
    expect(E.isLeft(deep) && deep.left.code).toBe(ErrorCode.BadRequest);
    expect(host.stats().rejected - before).toBe(4);
    expect(E.isRight(await req.call(subject, { v: 1, text: "still", n: 2 }, ReplyS))).toBe(true);
  });

  it("rejects a subject whose provider token is invalid", async () => {
    const r = await req.call("ilk.keys.v1.echo.NOT_VALID", { v: 1, text: "x", n: 1 }, ReplyS);
    expect(E.isLeft(r) && r.left.code).toBe(ErrorCode.BadRequest);
  });

  it("answers no_responders at once for a subject nobody serves", async () => {
    const r = await req.call(requestSubject(Service.Media, "nothing", alpha), { v: 1 }, ReplyS);
    expect(E.isLeft(r) && r.left.code).toBe(ErrorCode.NoResponders);
    expect(E.isLeft(r) && r.left.retryable).toBe(true);
  });

  it("times out a request whose responder never answers", async () => {
    const silent = server.subscribe(requestSubject(Service.Media, "silent", alpha), { callback: () => undefined });
    await server.flush();
    const quick = new Requester(client, { timeoutMs: 200 });
    const r = await quick.call(requestSubject(Service.Media, "silent", alpha), { v: 1 }, ReplyS);
    expect(E.isLeft(r) && r.left.code).toBe(ErrorCode.Timeout);
    quick.close();
    silent.unsubscribe();
  });

  it("fails calls made after close at once instead of leaving them pending", async () => {
    const r = new Requester(client, { timeoutMs: 60_000 });
    r.close();
    const after = await r.call(requestSubject(Service.Keys, "echo", alpha), { v: 1, text: "x", n: 1 }, ReplyS);
    expect(E.isLeft(after) && after.left.code).toBe(ErrorCode.Unavailable);
  });

  it("answers ping for liveness checks", async () => {
    const r = await req.callRaw(requestSubject(Service.Keys, "ping", alpha), createCodec().encode(null));
    expect(E.isRight(r) && r.right).toEqual({ service: "keys" });
  });
});

describe("NATS micro discovery", () => {
  const topo = useTopology(() => startSingle({ jetstream: false }));

  it("answers $SRV.PING, INFO and STATS for every instance with per-endpoint counters", async () => {
    const nc = await connect(topo());
    const hosts = [1, 2].map(() =>
      new ServiceHost({ service: Service.Receipt, nc }).serve([
        endpoint<{ v: 1; text: string; n: number }, { n: number }>({
          op: "echo",
          schema: EchoS,
          handle: (r) => async () => (r.text === "bad" ? E.left(serviceError("nope", "no")) : E.right({ n: r.n })),
        }),
      ]),
    );
    await nc.flush();
    const req = new Requester(nc);
    await req.call(requestSubject(Service.Receipt, "echo", alpha), { v: 1, text: "ok", n: 1 }, s.object({ n: s.int() }));
    await req.call(requestSubject(Service.Receipt, "echo", alpha), { v: 1, text: "bad", n: 2 }, s.object({ n: s.int() }));
    const collect = async (subject: string) => {
      const inbox = `_INBOX.micro.${Date.now()}`;
      const got: Array<Record<string, unknown>> = [];
      const sub = nc.subscribe(inbox, { callback: (_e, m) => void got.push(JSON.parse(new TextDecoder().decode(m.data)) as Record<string, unknown>) });
      nc.publish(subject, new Uint8Array(0), { reply: inbox });
      await nc.flush();
      await new Promise((r) => setTimeout(r, 200));
      sub.unsubscribe();
      return got;
    };
    const pings = await collect("$SRV.PING.interlink-receipt");
    expect(pings).toHaveLength(2);
    expect(pings.every((p) => p["type"] === "io.nats.micro.v1.ping_response" && p["name"] === "interlink-receipt")).toBe(true);
    const info = await collect(`$SRV.INFO.interlink-receipt.${String(pings[0]!["id"])}`);
    expect(info).toHaveLength(1);
    expect((info[0]!["endpoints"] as Array<{ name: string }>).map((e) => e.name).sort()).toEqual(["echo", "ping"]);
    const stats = await collect("$SRV.STATS.interlink-receipt");
    const echo = stats.flatMap((st) => (st["endpoints"] as Array<{ name: string; num_requests: number; num_errors: number; last_error: string }>).filter((e) => e.name === "echo"));
    expect(echo.reduce((a, e) => a + e.num_requests, 0)).toBe(2);
    expect(echo.reduce((a, e) => a + e.num_errors, 0)).toBe(1);
    expect(echo.some((e) => e.last_error === "nope")).toBe(true);
    req.close();
    for (const h of hosts) await h.drain();
    await nc.close();
  });
});
