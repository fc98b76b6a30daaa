import { describe, expect, it } from "vitest";
import * as E from "fp-ts/lib/Either.js";
import { ActorSystem, ErrorCode } from "../src/index.js";

const tick = () => new Promise((r) => setTimeout(r, 1));

describe("ActorSystem", () => {
  it("runs one message at a time per key, in order, and keys in parallel", async () => {
    const sys = new ActorSystem<number>({ capacity: 100 });
    const log: string[] = [];
    let inside = 0;
    let maxInside = 0;
    const job = (key: string, i: number) =>
      sys.ask(key, async (cell) => {
        inside++;
        maxInside = Math.max(maxInside, inside);
        await tick();
        cell.state = (cell.state ?? 0) + 1;
        log.push(`${key}${i}`);
        inside--;
        return E.right(cell.state);
      });
    const results = await Promise.all([job("a", 1), job("a", 2), job("a", 3), job("b", 1)]);
    expect(log.filter((l) => l.startsWith("a"))).toEqual(["a1", "a2", "a3"]);
    expect(results.map((r) => (E.isRight(r) ? r.right : -1))).toEqual([1, 2, 3, 1]);
    expect(maxInside).toBe(2); // a and b overlapped, never two a's
    await sys.close();
  });

  it("answers overloaded, retryable, when a mailbox is full", async () => {
    const sys = new ActorSystem({ capacity: 2 });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const first = sys.ask("k", async () => (await gate, E.right(1)));
    const queued = [sys.ask("k", async () => E.right(2)), sys.ask("k", async () => E.right(3))];
    const rejected = await sys.ask("k", async () => E.right(4));
    expect(E.isLeft(rejected) && rejected.left.code).toBe(ErrorCode.Overloaded);
    expect(E.isLeft(rejected) && rejected.left.retryable).toBe(true);
    release();
    expect((await Promise.all([first, ...queued])).every(E.isRight)).toBe(true);
    await sys.close();
  });

  it("deactivates idle actors and drops their state", async () => {
    let now = 0;
    const dropped: string[] = [];
    const sys = new ActorSystem<string>({ idleMs: 1000, clock: { now: () => now }, onDeactivate: (k) => dropped.push(k) });
    await sys.ask("x", async (cell) => ((cell.state = "warm"), E.right(undefined)));
    await new Promise((r) => setImmediate(r)); // the actor finishes its turn after answering
    expect(sys.stats().live).toBe(1);
    now = 500;
    sys.sweep();
    expect(sys.stats().live).toBe(1);
    now = 2000;
    sys.sweep();
    expect(sys.stats().live).toBe(0);
    expect(dropped).toEqual(["x"]);
    const again = await sys.ask("x", async (cell) => E.right(cell.state));
    expect(E.isRight(again) && again.right).toBeUndefined();
    await sys.close();
  });

  it("turns a throwing handler into a typed internal error and keeps the actor alive", async () => {
    const sys = new ActorSystem();
    const bad = await sys.ask("k", async () => {
      throw new Error("bug");
    });
    expect(E.isLeft(bad) && bad.left.code).toBe(ErrorCode.Internal);
    const good = await sys.ask("k", async () => E.right("fine"));
    expect(E.isRight(good) && good.right).toBe("fine");
    await sys.close();
  });
});
