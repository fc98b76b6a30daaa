import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as E from "fp-ts/lib/Either.js";
import type { NatsConnection } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { connect, startSingle, useTopology } from "@interlink/testing";
import { record, s } from "@interlink/wire";
import { CasStore, ErrorCode } from "../src/index.js";

const CounterS = record("test.counter", 1, { n: s.int({ min: 0 }), by: s.array(s.int(), { max: 10_000 }) });
type Counter = { v: 1; n: number; by: number[] };

describe("CasStore over JetStream KV", () => {
  const topo = useTopology(() => startSingle());
  const conns: NatsConnection[] = [];
  let a: CasStore<Counter>;
  let b: CasStore<Counter>;

  beforeAll(async () => {
    conns.push(await connect(topo()), await connect(topo()));
    a = new CasStore(await new Kvm(conns[0]!).create("cas_test", { history: 1 }), CounterS as never);
    b = new CasStore(await new Kvm(conns[1]!).open("cas_test"), CounterS as never);
  });
  afterAll(async () => {
    for (const c of conns) await c.close();
  });

  it("creates only when absent and updates only at the read revision", async () => {
    const created = await a.put("k1", { v: 1, n: 1, by: [] }, 0);
    expect(E.isRight(created)).toBe(true);
    const again = await b.put("k1", { v: 1, n: 9, by: [] }, 0);
    expect(E.isLeft(again) && again.left.code).toBe(ErrorCode.Conflict);
    const cur = await b.get("k1");
    if (E.isLeft(cur) || cur.right === null) throw new Error("missing");
    expect(E.isRight(await b.put("k1", { v: 1, n: 2, by: [] }, cur.right.revision))).toBe(true);
    const stale = await a.put("k1", { v: 1, n: 3, by: [] }, cur.right.revision);
    expect(E.isLeft(stale) && stale.left.code).toBe(ErrorCode.Conflict);
  });

  it("loses no increment when two connections modify one key 100 times each", async () => {
    const inc = (store: CasStore<Counter>, who: number) =>
      store.modify("counter", (cur) =>
        E.right({ write: { v: 1 as const, n: (cur?.value.n ?? 0) + 1, by: [...(cur?.value.by ?? []), who] }, result: undefined }),
        { retries: 1000 },
      );
    const runs = Array.from({ length: 200 }, (_, i) => inc(i % 2 === 0 ? a : b, i));
    const results = await Promise.all(runs);
    expect(results.every(E.isRight)).toBe(true);
    const final = await a.get("counter");
    if (E.isLeft(final) || final.right === null) throw new Error("missing");
    expect(final.right.value.n).toBe(200);
    expect(new Set(final.right.value.by).size).toBe(200);
    expect(a.conflicts + b.conflicts).toBeGreaterThan(0);
  });

  it("reports an entry that does not match its schema as an error, not a crash", async () => {
    const raw = await new Kvm(conns[0]!).open("cas_test");
    await raw.put("junk", new Uint8Array([0x93, 1, 2, 3]));
    const r = await a.get("junk");
    expect(E.isLeft(r) && r.left.code).toBe(ErrorCode.Internal);
  });
});
