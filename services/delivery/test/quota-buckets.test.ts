import { describe, expect, it } from "vitest";
import type { Clock } from "@interlink/actor";
import { ErrorCode } from "@interlink/actor";
import { DeliveryLimit, MAX_SEND_REQUEST_BYTES } from "@interlink/client";
import { FairScheduler } from "../src/fair.js";
import { Quotas } from "../src/quotas.js";

const clockAt = (t: number) => {
  const c = { t, now: () => c.t };
  return c as Clock & { t: number };
};

describe("per-provider token buckets", () => {
  it("admits a burst, refuses beyond it with the time until a token is back, and refills with time", () => {
    const clock = clockAt(1_000);
    const q = new Quotas({ messagesPerSec: 10, bytesPerSec: 10 * MAX_SEND_REQUEST_BYTES, burstMs: 1_000, maxInFlight: 8 }, clock);
    for (let i = 0; i < 10; i++) expect(q.admitSend("alpha", 100)).toBeUndefined();
    const refused = q.admitSend("alpha", 100)!;
    expect(refused.code).toBe(ErrorCode.RateLimited);
    expect(refused.retryAfterMs).toBe(100);
    expect(refused.details).toEqual({ limit: DeliveryLimit.ProviderMessages });
    // Another provider has its own bucket.
    expect(q.admitSend("beta", 100)).toBeUndefined();
    clock.t += 100;
    expect(q.admitSend("alpha", 100)).toBeUndefined();
    expect(q.admitSend("alpha", 100)).toBeDefined();
    expect(q.limited).toBe(2);
    q.close();
  });

  it("limits bytes per second, never below one request of the largest size, with per-provider rates", () => {
    const clock = clockAt(0);
    const q = new Quotas(
      { messagesPerSec: 1_000, bytesPerSec: 1_000, burstMs: 1_000, maxInFlight: 8, perProvider: { gamma: { bytesPerSec: 10 * MAX_SEND_REQUEST_BYTES } } },
      clock,
    );
    expect(q.admitSend("alpha", MAX_SEND_REQUEST_BYTES)).toBeUndefined();
    const refused = q.admitSend("alpha", 1_000)!;
    expect(refused.details).toEqual({ limit: DeliveryLimit.ProviderBytes });
    expect(refused.retryAfterMs).toBe(1_000);
    for (let i = 0; i < 10; i++) expect(q.admitSend("gamma", MAX_SEND_REQUEST_BYTES)).toBeUndefined();
    q.close();
  });

  it("caps one provider's requests in progress, and takes waiting requests from the providers in turn", async () => {
    const sched = new FairScheduler(1, 3);
    const order: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const job = (p: string, i: number, wait?: Promise<void>) =>
      sched.run(p, async () => {
        order.push(`${p}${i}`);
        await wait;
      });
    // alpha holds the only slot and queues two more; beta queues one after them.
    const jobs = [job("alpha", 0, gate), job("alpha", 1), job("alpha", 2)];
    expect(sched.admit("alpha")).toBe(false);
    expect(sched.admit("beta")).toBe(true);
    jobs.push(job("beta", 0));
    release();
    await Promise.all(jobs);
    // beta's request went right after the one running, ahead of alpha's backlog.
    expect(order).toEqual(["alpha0", "alpha1", "beta0", "alpha2"]);
    expect(sched.active).toBe(0);
    expect(sched.admit("alpha")).toBe(true);
  });
});
