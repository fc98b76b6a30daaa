import { describe, expect, it } from "vitest";
import { createHash, randomBytes } from "node:crypto";
import * as E from "fp-ts/lib/Either.js";
import { downloadAttachment, uploadAttachment } from "@interlink/client";
import type { AttachmentPointer } from "@interlink/wire";
import { Ledger, alpha, beta, device, report, scaled, sendWithRetry, sleep, tag, until } from "./harness.js";
import { SWEEP_MS, useDeployment } from "./deployment.js";

/**
 * The whole deployment restarted with messages queued, and a recipient whose app never takes its
 * messages: one nats-server, every service in this process on its own reconnecting connection.
 */
describe("the whole stack restarted, a recipient that never acks", () => {
  const d = useDeployment();
  const { senders, recipients } = d;

  it("the whole stack restarted (nats-server SIGKILLed) with messages queued: all are delivered once afterwards", async () => {
    const app = d.app();
    const alphaClient = d.alphaClient();
    const betaClient = d.betaClient();
    const ledger = new Ledger();
    app.ledger = ledger;
    app.errors.length = 0;
    const label = `queued-${tag()}`;
    // The recipients' edge is down: messages queue in delivery.
    await d.stopEdge(beta);
    const count = scaled(40);
    await d.sendTexts(ledger, label, count);
    const picture = randomBytes(300_000);
    const up = await uploadAttachment(alphaClient, "image", picture, { mime: "image/png" });
    if (E.isLeft(up)) throw new Error(`upload: ${up.left.code}`);
    const pid = `${label}-picture`;
    const sent = await sendWithRetry(alphaClient, senders[0]!, { provider: beta, user: recipients[0]! }, pid, { t: "attachment", kind: "image", media: up.right });
    expect(sent.outcome).toBe("accepted");
    ledger.accept(pid, [`${recipients[0]}/1`, `${recipients[0]}/2`], sent.outcome, sent.attempts);
    expect(app.shown.length + ledger.summary().deliveries - ledger.missing()).toBe(0);

    // Everything stops: services first (as their processes would), then nats-server, hard.
    await d.stopEdge(alpha);
    await d.stopHub();
    const server = d.topo().servers[0]!;
    server.kill("SIGKILL");
    await server.exited;
    await server.restart();
    await d.startHub();
    await d.startEdge(alpha);
    await d.startEdge(beta);

    let pointer: AttachmentPointer | undefined;
    app.onShown = (m) => {
      if (m.content.id === pid && m.content.body.t === "attachment") pointer = m.content.body.media;
    };
    await until(() => ledger.missing() === 0, 30_000);
    // The sessions survived too: a new message in the same conversations arrives.
    const after = `${label}-after`;
    const r = await sendWithRetry(alphaClient, senders[0]!, { provider: beta, user: recipients[1]! }, after, { t: "text", text: "after the restart" });
    expect(r.outcome).toBe("accepted");
    ledger.accept(after, [`${recipients[1]}/1`, `${recipients[1]}/2`], r.outcome, r.attempts);
    await until(() => ledger.missing() === 0, 30_000);
    await sleep(300);
    app.onShown = undefined;
    const got = pointer === undefined ? undefined : await downloadAttachment(betaClient, pointer);
    const intact = got !== undefined && E.isRight(got) && createHash("sha256").update(got.right).digest("hex") === createHash("sha256").update(picture).digest("hex");
    const s = ledger.summary();
    report("whole stack restarted (nats-server kill -9) with messages queued", { ...s, attachmentIntact: intact, errorsToApp: app.errorCodes() });

    expect(s).toMatchObject({ failed: 0, lost: 0, duplicates: 0, unexpected: 0 });
    expect(intact).toBe(true);
  });

  it("a recipient device whose app never takes a message: bounded redelivery, queued not lost, other recipients unaffected", async () => {
    const app = d.app();
    const betaClient = d.betaClient();
    const ledger = new Ledger();
    app.ledger = ledger;
    const label = `stuck-${tag()}`;
    const stuck = recipients[2]!;
    const healthy = recipients.filter((r) => r !== stuck);
    app.behave(stuck, 1, "throw"); // answers "app_failed" at once
    app.behave(stuck, 2, "hang"); // never answers (the ratchet gives up after 10 s)
    const callsBefore = (dev: number) => app.calls.get(`${stuck}/${dev}`) ?? 0;
    const base1 = callsBefore(1);
    const base2 = callsBefore(2);
    const t0 = Date.now();
    const stuckCount = scaled(20);
    const healthyCount = scaled(60);
    await Promise.all([d.sendTexts(ledger, `${label}-s`, stuckCount, undefined, [stuck]), d.sendTexts(ledger, `${label}-h`, healthyCount, undefined, healthy)]);
    // The other recipients get everything while the stuck device's messages wait.
    const healthyIds = Array.from({ length: healthyCount }, (_, i) => `${label}-h-${i}`);
    const healthyDone = await until(
      () => healthyIds.every((id, i) => [1, 2].every((d) => ledger.timesSeen(id, healthy[i % healthy.length]!, d) > 0)),
      30_000,
    );
    await sleep(2 * SWEEP_MS);
    const elapsed = Date.now() - t0;
    const calls1 = callsBefore(1) - base1;
    const calls2 = callsBefore(2) - base2;
    // Still queued in delivery, in order, nothing lost (a read-only pull).
    const queued = await betaClient.delivery.pull({ user: stuck, device: device(1), max: 256 });
    const queuedIds = E.isRight(queued) ? queued.right.messages.map((m) => m.id) : [];

    // The app recovers: every message arrives, once.
    app.behave(stuck, 1, "ok");
    app.behave(stuck, 2, "ok");
    await until(() => ledger.missing() === 0, 30_000);
    await sleep(300);
    const s = ledger.summary();
    report("recipient app never acks (one device refuses, one never answers)", {
      ...s,
      stuckMessages: stuckCount,
      healthyMessages: healthyCount,
      windowMs: elapsed,
      appCallsRefusingDevice: calls1,
      appCallsHangingDevice: calls2,
      queuedWhileStuck: queuedIds.length,
    });

    expect(healthyDone).toBe(true);
    expect([...queuedIds].sort()).toEqual(Array.from({ length: stuckCount }, (_, i) => `${label}-s-${i}`).sort());
    // Redelivery is driven by new-message events and the ratchet's sweep, never a hot loop: at
    // most one attempt per message sent to it plus one per sweep (and start-up slack).
    expect(calls1).toBeLessThanOrEqual(stuckCount + Math.ceil(elapsed / SWEEP_MS) + 2);
    // A request the app never answers holds that device's drain for the ratchet's 10 s timeout.
    expect(calls2).toBeLessThanOrEqual(Math.ceil(elapsed / 10_000) + 2);
    expect(s).toMatchObject({ failed: 0, lost: 0, duplicates: 0, unexpected: 0 });
  });
});
