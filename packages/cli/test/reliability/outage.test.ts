import { describe, expect, it } from "vitest";
import * as E from "fp-ts/lib/Either.js";
import type { ServiceError } from "@interlink/actor";
import { Service } from "@interlink/subjects";
import { Ledger, QuickMediaClient, alpha, beta, device, report, scaled, sleep, tag, until } from "./harness.js";
import { useDeployment } from "./deployment.js";

/**
 * nats-server away for a while, on one server with every service in this process on its own
 * reconnecting connection: stopped (it flushes), or killed with SIGKILL (it does not), and
 * started again 3 s later. Callers must get retryable errors within their timeout meanwhile,
 * services must resume by themselves, and nothing accepted may be lost.
 */
describe("nats-server unreachable mid-load", () => {
  const d = useDeployment();
  const { senders, recipients } = d;

  it.each([
    ["nats-server unreachable for 3 s mid-load", "stopped"],
    ["nats-server kill -9 mid-load, back after 3 s", "killed"],
  ] as const)("%s: callers get retryable errors within their timeout, services resume, nothing accepted is lost", async (label, how) => {
    const ledger = new Ledger();
    d.app().ledger = ledger;
    d.app().errors.length = 0;
    const count = scaled(100);
    let done = 0;
    const load = d.sendTexts(ledger, `away-${how}-${tag()}`, count, () => done++);
    await until(() => done >= count / 4, 60_000, 5);

    // Callers that keep asking each service during the outage (500 ms timeout each).
    // (QuickMediaClient: the SDK's own media calls wait 15 s; these callers chose 500 ms.)
    const probe = new QuickMediaClient(await d.conn(), alpha, 500);
    const outcomes: Array<{ at: number; ms: number; code: string; retryable: boolean }> = [];
    let probing = true;
    const calls: Array<() => Promise<E.Either<ServiceError, unknown>>> = [
      () => probe.ping(Service.Delivery),
      () => probe.keys.devices({ provider: beta, user: recipients[0]! }),
      () => probe.delivery.pull({ user: senders[0]!.user, device: device(1) }),
      () => probe.receipt.status({ user: senders[0]!.user, id: "x" }),
      () => probe.media.download({ mediaId: "x".repeat(22), cap: new Uint8Array(32), offset: 0 }),
    ];
    const probes = Promise.all(
      calls.map(async (call) => {
        while (probing) {
          const at = Date.now();
          const r = await call();
          const ms = Date.now() - at;
          outcomes.push(E.isLeft(r) ? { at, ms, code: r.left.code, retryable: r.left.retryable } : { at, ms, code: "ok", retryable: true });
          await sleep(50);
        }
      }),
    );

    const server = d.topo().servers[0]!;
    await sleep(200);
    const stoppedAt = Date.now();
    if (how === "stopped") await server.stop();
    else {
      // No chance to flush: what was acknowledged must already be in the server's files.
      server.kill("SIGKILL");
      await server.exited;
    }
    await sleep(3_000);
    const restartAt = Date.now();
    await server.restart();
    await load;
    probing = false;
    await probes;
    probe.close();
    // Calls made while the server was away.
    const during = outcomes.filter((o) => o.at >= stoppedAt && o.at < restartAt);

    await until(() => ledger.missing() === 0, 30_000);
    await sleep(300);
    const s = ledger.summary();
    const failedDuring = during.filter((o) => o.code !== "ok");
    const figures = {
      ...s,
      probeCallsDuringOutage: during.length,
      probeErrors: Object.fromEntries([...new Set(failedDuring.map((o) => o.code))].map((c) => [c, failedDuring.filter((o) => o.code === c).length])),
      probeMaxMs: Math.max(0, ...during.map((o) => o.ms)),
      probeNonRetryable: failedDuring.filter((o) => !o.retryable).length,
      errorsToApp: d.app().errorCodes(),
    };
    report(label, figures);

    expect(during.length).toBeGreaterThan(10);
    // (A call made in the instant the server was shutting down may still have been answered.)
    expect(failedDuring.length).toBeGreaterThanOrEqual(during.length - 5);
    // Retryable errors, bounded by the caller's timeout (500 ms) plus scheduling slack: no hangs.
    expect(figures.probeNonRetryable).toBe(0);
    expect(figures.probeMaxMs).toBeLessThan(2_500);
    expect(s).toMatchObject({ failed: 0, lost: 0, unexpected: 0 });
    // An answer lost in the outage makes the ratchet show that message again: at most the
    // requests in flight to the app when the server went away (one per device being drained).
    expect(s.duplicates).toBeLessThanOrEqual(8);
  });
});
