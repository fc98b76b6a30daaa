import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as E from "fp-ts/lib/Either.js";
import type { RunningService, ServiceEnv } from "@interlink/actor";
import { silentLogger, systemClock } from "@interlink/actor";
import { InterlinkClient, ProviderApp } from "@interlink/client";
import type { DeviceId, ProviderId, UserId } from "@interlink/subjects";
import { Service } from "@interlink/subjects";
import { startService, startStack } from "../../stack.js";
import { rawJetStream, rawNatsRequestReply, rawSignal } from "../baselines.js";
import { Latency, drive, driveExtra } from "../latency.js";
import type { Measured, ServiceProcess } from "../processes.js";
import { measurePid, spawnService } from "../processes.js";
import type { BenchContext, BenchResult } from "../types.js";

// The app-level scenarios (e2e, fanout): providers' apps (ProviderApp, as in the demo) send
// text through their session-ratchets and the hub; the recipients' apps get the plaintext; the
// senders' apps get the delivered receipts. One message is done when every device it was for
// has decrypted it and every recipient device's delivered receipt is back at the sender's app.

const NAMES = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda", "mu"];
export const providerName = (i: number): ProviderId => (NAMES[i] ?? `prov${i}`) as ProviderId;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (n: number, d = 1) => Math.round(n * 10 ** d) / 10 ** d;

export interface ConversationSpec {
  readonly scenario: string;
  /** Devices of every sending user (the message is copied to the others, as Signal's sent transcript). */
  readonly senderDevices: number;
  /** Devices of every receiving user (`--devices` overrides). */
  readonly recipientDevices: number;
  /** Throughput in device deliveries (fanout) rather than messages (e2e). */
  readonly perDevice: boolean;
  /** Defaults: users per provider (half send, half receive: users/2 conversations each), messages, in flight. */
  readonly defaults: { readonly users: number; readonly count: number; readonly concurrency: number };
}

interface Conversation {
  readonly from: { provider: ProviderId; user: UserId };
  readonly to: { provider: ProviderId; user: UserId };
}

interface Track {
  readonly start: number;
  readonly expectDec: number;
  readonly expectRc: number;
  dec: number;
  rc: number;
  readonly seen: Set<string>;
  readonly resolve: (ok: boolean) => void;
  accepted: boolean;
}

/** Where the services run: this process, child processes (as deployed), or elsewhere (--external). */
type Mode = "in-process" | "processes" | "external";

export const runConversations = async (ctx: BenchContext, spec: ConversationSpec): Promise<Omit<BenchResult, "machine" | "rss_mb">> => {
  const o = ctx.opts;
  const P = o.providers ?? 2;
  const U = o.users ?? spec.defaults.users;
  const recipientDevices = o.devices ?? spec.recipientDevices;
  const senderDevices = spec.senderDevices;
  const workers = o.workers ?? 1;
  const size = o.size ?? 100;
  const mode: Mode = o.external === true ? "external" : o.instances !== undefined ? "processes" : "in-process";
  const instances = o.instances ?? 1;
  // Session-ratchet processes per provider (child processes only): --instances unless
  // INTERLINK_BENCH_RATCHET_INSTANCES says otherwise (e.g. 1 process with N worker threads).
  const ratchetInstances = Number(process.env["INTERLINK_BENCH_RATCHET_INSTANCES"] || instances);
  const providers = Array.from({ length: P }, (_, i) => providerName(i));
  const tag = randomBytes(3).toString("hex");
  const text = "x".repeat(size);

  // --- services -------------------------------------------------------------------------------
  const stops: Array<() => Promise<void>> = [];
  const children: ServiceProcess[] = [];
  let tmp: string | undefined;
  try {
    if (mode === "in-process") {
      const keys = { secret: randomBytes(32), atRestKey: randomBytes(32) };
      const hub = await ctx.connect(`bench-${spec.scenario}-hub`);
      const stack = await startStack(hub, silentLogger, keys, { replicas: 1, providers: [] });
      stops.push(() => stack.stop());
      for (const p of providers) {
        const nc = await ctx.connect(`bench-${spec.scenario}-ratchet-${p}`);
        const env: ServiceEnv = { nc, log: silentLogger, clock: systemClock, secret: keys.secret, replicas: 1 };
        const svc: RunningService = await startService("session-ratchet", env, keys, { provider: p, ratchetWorkers: workers, natsUrl: ctx.url });
        stops.push(() => svc.stop());
      }
    } else if (mode === "processes") {
      tmp = mkdtempSync(join(tmpdir(), `interlink-bench-${spec.scenario}-`));
      const env = {
        ...process.env,
        INTERLINK_SECRET: randomBytes(32).toString("hex"),
        INTERLINK_AT_REST_KEY: randomBytes(32).toString("hex"),
        INTERLINK_DATA: tmp,
      };
      const hubCount = (name: string) => Number(process.env[`INTERLINK_BENCH_${name.toUpperCase().replace("-", "_")}_INSTANCES`] ?? 1);
      for (const name of ["key-directory", "receipt"]) for (let i = 0; i < hubCount(name); i++) children.push(spawnService(name, ctx.url, env, [], `${name} #${i + 1}`));
      for (let i = 0; i < instances; i++) children.push(spawnService("delivery", ctx.url, env, [], `delivery #${i + 1}`));
      for (const p of providers)
        for (let i = 0; i < ratchetInstances; i++)
          children.push(spawnService("session-ratchet", ctx.url, env, ["--provider", p, "--workers", String(workers)], `session-ratchet ${p} #${i + 1}`));
      await Promise.all(children.map((c) => c.ready));
    }
    await waitForServices(ctx, providers);

    // --- apps and bookkeeping ---------------------------------------------------------------
    const apps = new Map<ProviderId, ProviderApp>();
    const appConns = [];
    for (const p of providers) {
      const nc = await ctx.connect(`bench-${spec.scenario}-app-${p}`);
      appConns.push(nc);
      apps.set(p, new ProviderApp(nc, p));
    }
    stops.push(async () => {
      for (const a of apps.values()) await a.close();
    });
    const tracks = new Map<string, Track>();
    const finished = new Set<string>();
    let duplicates = 0;
    let dupReceipts = 0;
    let otherReceipts = 0;
    /** The same receipt at another device of the sender (expected with several sender devices). */
    let receiptCopies = 0;
    /** (message, recipient device, sender device) seen after the message was done; bounded by the run. */
    const receiptsSeen = new Set<string>();
    let unknown = 0;
    let undecryptable = 0;
    const errorEvents = new Map<string, number>();
    let copies = 0;
    let deviceDeliveries = 0;
    let measuring = false;
    let decLat = new Latency();
    let devLat = new Latency();
    const settle = (id: string, t: Track, ok: boolean) => {
      tracks.delete(id);
      finished.add(id);
      t.resolve(ok);
    };
    const check = (id: string, t: Track) => {
      if (t.dec >= t.expectDec && t.rc >= t.expectRc) settle(id, t, true);
    };
    for (const [p, app] of apps) {
      app.onMessage((m) => {
        const id = m.content.id;
        const t = tracks.get(id);
        if (t === undefined) {
          if (finished.has(id)) duplicates++;
          else unknown++;
          return;
        }
        const k = `d:${p}/${m.to.user}/${m.to.device}`;
        if (t.seen.has(k)) {
          duplicates++;
          return;
        }
        t.seen.add(k);
        t.dec++;
        const ms = performance.now() - t.start;
        if (measuring) {
          deviceDeliveries++;
          if (m.content.sentTo !== undefined) copies++;
          devLat.recordNs(ms * 1e6);
          if (t.dec === t.expectDec) decLat.recordNs(ms * 1e6);
        }
        check(id, t);
      });
      app.onError((e) => {
        errorEvents.set(e.code, (errorEvents.get(e.code) ?? 0) + 1);
        // A replay the ratchet recognised (the same ciphertext decrypted again, e.g. by two
        // instances draining one queue): the app already has the message; not a failure.
        if (e.code !== "duplicated_message") undecryptable++;
      });
      app.onReceipts((r) => {
        // Receipts reach every device of the sender (the device they were queued for, when the
        // ratchet says): one per (recipient device, sender device) is expected, more is a duplicate.
        const at = (r as { device?: number }).device ?? 0;
        for (const x of r.receipts) {
          const by = `r:${x.by.provider}/${x.by.user}/${x.by.device}`;
          const k = `${by}@${at}`;
          const t = tracks.get(x.id);
          if (t === undefined) {
            if (!finished.has(x.id)) otherReceipts++; // e.g. receipts for the copies to the sender's own devices
            else if (receiptsSeen.has(`${x.id}/${k}`)) dupReceipts++;
            else {
              receiptsSeen.add(`${x.id}/${k}`);
              receiptCopies++;
            }
            continue;
          }
          if (t.seen.has(k)) {
            dupReceipts++;
            continue;
          }
          t.seen.add(k);
          receiptsSeen.add(`${x.id}/${k}`);
          if (t.seen.has(by)) {
            receiptCopies++;
            continue;
          }
          t.seen.add(by);
          t.rc++;
          check(x.id, t);
        }
      });
    }
    for (const nc of appConns) await nc.flush();
    const opTimeoutMs = 30_000;
    let lost = 0;
    const sweeper = setInterval(() => {
      const now = performance.now();
      for (const [id, t] of tracks) {
        if (t.accepted && now - t.start > opTimeoutMs) {
          lost++;
          settle(id, t, false);
        }
      }
    }, 500);
    stops.push(async () => clearInterval(sweeper));
    const expect = (id: string, expectDec: number, expectRc: number): { track: Track; done: Promise<boolean> } => {
      let resolve!: (ok: boolean) => void;
      const done = new Promise<boolean>((r) => (resolve = r));
      const track: Track = { start: performance.now(), expectDec, expectRc, dec: 0, rc: 0, seen: new Set(), resolve, accepted: false };
      tracks.set(id, track);
      return { track, done };
    };
    const sendErrors = new Map<string, number>();
    /** Sends one text and resolves once it is fully done (false on error or timeout). */
    const send = async (from: { provider: ProviderId; user: UserId; device: number }, to: { provider: ProviderId; user: UserId }, id: string, expectDec: number, expectRc: number): Promise<boolean> => {
      const { track, done } = expect(id, expectDec, expectRc);
      const r = await apps.get(from.provider)!.sendText({ user: from.user, device: from.device as DeviceId }, to, text, { id });
      if (E.isLeft(r)) {
        sendErrors.set(r.left.code, (sendErrors.get(r.left.code) ?? 0) + 1);
        if (tracks.get(id) === track) settle(id, track, false);
        return false;
      }
      track.accepted = true;
      return done;
    };

    // --- users and devices ------------------------------------------------------------------
    const pairs = Math.max(1, Math.floor(U / 2));
    const convs: Conversation[] = [];
    for (let p = 0; p < P; p++)
      for (let j = 0; j < pairs; j++)
        convs.push({
          from: { provider: providers[p]!, user: `s${tag}_${p}_${j}` as UserId },
          to: { provider: providers[(p + 1) % P]!, user: `r${tag}_${p}_${j}` as UserId },
        });
    const registrations = convs.flatMap((c) => [
      ...Array.from({ length: senderDevices }, (_, d) => ({ ...c.from, device: d + 1 })),
      ...Array.from({ length: recipientDevices }, (_, d) => ({ ...c.to, device: d + 1 })),
    ]);
    const setupStart = performance.now();
    let setupErrors = 0;
    await inBatches(registrations, 8, async (r) => {
      const res = await apps.get(r.provider)!.client.ratchet.register({ user: r.user, device: r.device as DeviceId, preKeys: 8 });
      if (E.isLeft(res)) throw new Error(`bench set-up: registering a device failed (${res.left.code}: ${res.left.message})`);
    });
    // Warm-up (not measured): every sender device writes, then every recipient device answers,
    // so each session is established both ways and the measured messages are ordinary
    // (Whisper) ones, as in a running conversation; code paths and caches are warm.
    let w = 0;
    const warm = async (list: Array<() => Promise<boolean>>) => {
      const oks = await inBatches(list, 32, (f) => f());
      setupErrors += oks.filter((ok) => !ok).length;
    };
    await warm(
      convs.flatMap((c) =>
        Array.from({ length: senderDevices }, (_, d) => () => send({ ...c.from, device: d + 1 }, c.to, `${tag}w${w++}`, recipientDevices + senderDevices - 1, recipientDevices)),
      ),
    );
    await warm(
      convs.flatMap((c) =>
        Array.from({ length: recipientDevices }, (_, d) => () => send({ ...c.to, device: d + 1 }, c.from, `${tag}w${w++}`, senderDevices + recipientDevices - 1, senderDevices)),
      ),
    );
    const setupS = (performance.now() - setupStart) / 1000;
    if (setupErrors > 0) ctx.log.warn("bench warm-up had failures", { failures: setupErrors, codes: JSON.stringify(Object.fromEntries(sendErrors)) });
    sendErrors.clear();
    duplicates = 0;
    dupReceipts = 0;
    otherReceipts = 0;
    receiptCopies = 0;
    receiptsSeen.clear();
    unknown = 0;
    lost = 0;
    undecryptable = 0;
    errorEvents.clear();

    // --- measured load ------------------------------------------------------------------------
    const perMessage = recipientDevices + senderDevices - 1;
    const procs: Measured[] = [measurePid(process.pid), ...(ctx.natsPid !== undefined ? [measurePid(ctx.natsPid)] : []), ...children];
    const cpu0 = procs.map((p) => p.cpuMs());
    const cpuSelf0 = process.cpuUsage();
    measuring = true;
    const free = convs.map((_, k) => k);
    const run = await drive(
      ctx,
      {
        count: spec.defaults.count,
        concurrency: spec.defaults.concurrency,
        unit: spec.perDevice ? "device deliveries" : "messages",
        weight: spec.perDevice ? perMessage : 1,
        onRun: () => {
          decLat = new Latency();
          devLat = new Latency();
        },
      },
      async (i) => {
        // At most one message in flight per conversation while there are free ones (as a person
        // types): with more in flight than conversations, round robin.
        const k = free.length > 0 ? free.shift()! : i % convs.length;
        const c = convs[k]!;
        try {
          return await send({ ...c.from, device: 1 }, c.to, `${tag}m${i}`, perMessage, recipientDevices);
        } finally {
          free.push(k);
        }
      },
      spec.perDevice ? "device deliveries" : "messages (sent → decrypted → receipt)",
    );
    measuring = false;
    const cpuSelf = process.cpuUsage(cpuSelf0);
    const cpu = procs.map((p, i) => p.cpuMs() - cpu0[i]!);
    const messages = run.done;

    // --- baselines, same run ----------------------------------------------------------------
    // Encrypt + decrypt on as many threads as the ratchets use for libsignal in this run.
    const threads = mode === "in-process" ? (workers === 0 ? 0 : P * workers) : P * ratchetInstances * Math.max(1, workers);
    const rawCount = Math.max(2_000, Math.min(messages * perMessage, 4_000 * Math.max(1, threads)));
    const signal = await rawSignal(threads, rawCount, size);
    const rr = await rawNatsRequestReply(ctx, 20_000, 100, new Uint8Array(size + 200).fill(7));
    const js = await rawJetStream(ctx, 10_000, 256, size + 400);

    // CPU per message, by process group: where the time goes.
    const perMsgUs = (ms: number) => Math.round((ms * 1000) / Math.max(1, messages));
    const cpuBy: Record<string, number> = {};
    if (mode === "in-process") {
      cpuBy["this_process"] = perMsgUs((cpuSelf.user + cpuSelf.system) / 1000);
    } else {
      cpuBy["load_generator"] = perMsgUs(cpu[0]!);
      children.forEach((c, i) => {
        const k = c.name;
        cpuBy[k] = (cpuBy[k] ?? 0) + perMsgUs(cpu[i + 1 + (ctx.natsPid !== undefined ? 1 : 0)]!);
      });
    }
    if (ctx.natsPid !== undefined) cpuBy["nats_server"] = perMsgUs(cpu[1]!);
    const rawRatio = (x: number) => round(run.opsPerSec / x, 3);
    const dec = decLat.percentilesMs();
    const dev = devLat.percentilesMs();
    const primary = spec.perDevice ? dev : run.latency.percentilesMs();

    const errors = run.errors - lost + undecryptable;
    return {
      scenario: spec.scenario,
      unit: spec.perDevice ? "device deliveries" : "messages",
      load: run.load,
      throughput: run.opsPerSec,
      baseline: signal,
      baseline_name: `raw libsignal encrypt+decrypt, in-memory stores, ${threads === 0 ? "main thread" : `${threads} worker thread(s)`} (as many as the ratchets use here)`,
      ratio: run.opsPerSec / signal,
      ...primary,
      errors,
      duplicates,
      lost,
      instances,
      count: spec.perDevice ? messages * perMessage : messages,
      duration_s: round(run.elapsedMs / 1000, 2),
      extra: {
        ...driveExtra(run),
        services: mode === "in-process" ? "in this process" : mode === "processes" ? "child processes (interlink service ...)" : "external (--external)",
        providers: P,
        users_per_provider: 2 * pairs,
        conversations: convs.length,
        sender_devices: senderDevices,
        recipient_devices: recipientDevices,
        message_bytes: size,
        ratchet_workers: workers,
        ...(mode === "processes" ? { ratchet_processes_per_provider: ratchetInstances, delivery_processes: instances } : {}),
        concurrency: o.concurrency ?? spec.defaults.concurrency,
        ...(spec.perDevice
          ? {
              messages,
              messages_per_sec: round(run.opsPerSec / perMessage),
              copies_to_own_devices: copies,
              message_p50_ms: run.latency.percentilesMs().p50_ms,
              message_p99_ms: run.latency.percentilesMs().p99_ms,
            }
          : {
              decrypted_p50_ms: dec.p50_ms,
              decrypted_p90_ms: dec.p90_ms,
              decrypted_p99_ms: dec.p99_ms,
              decrypted_p999_ms: dec.p999_ms,
            }),
        device_deliveries: deviceDeliveries,
        libsignal_threads: threads,
        baseline_nats_request_reply: Math.round(rr.opsPerSec),
        ratio_vs_nats_request_reply: rawRatio(rr.opsPerSec),
        baseline_jetstream_publish_consume: Math.round(js.opsPerSec),
        ratio_vs_jetstream: rawRatio(js.opsPerSec),
        cpu_us_per_message: cpuBy,
        send_errors: Object.fromEntries(sendErrors),
        undecryptable,
        error_events: Object.fromEntries(errorEvents),
        duplicate_receipts: dupReceipts,
        receipts_at_other_sender_devices: receiptCopies,
        other_receipts: otherReceipts,
        unknown_messages: unknown,
        setup_s: round(setupS),
        warmup_failures: setupErrors,
        service_rss_mb: children.length > 0 ? Object.fromEntries(children.map((c) => [c.label, c.rssMb()])) : undefined,
      },
    };
  } finally {
    for (const s of stops.reverse()) await s().catch(() => undefined);
    await Promise.all(children.map((c) => c.stop()));
    if (tmp !== undefined) rmSync(tmp, { recursive: true, force: true });
  }
};

/** Runs `f` over `items`, `n` at a time, keeping order of results. */
const inBatches = async <T, R>(items: readonly T[], n: number, f: (t: T) => Promise<R>): Promise<R[]> => {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await f(items[i]!);
      }
    }),
  );
  return out;
};

/** Every service the scenario needs answers a ping (key-directory, delivery, receipt, each provider's ratchet). */
const waitForServices = async (ctx: BenchContext, providers: readonly ProviderId[]): Promise<void> => {
  const nc = await ctx.connect("bench-ready");
  const deadline = Date.now() + 60_000;
  for (const p of providers) {
    const c = new InterlinkClient(nc, p);
    try {
      for (const svc of [Service.Keys, Service.Delivery, Service.Receipt, Service.Ratchet]) {
        for (;;) {
          const r = await c.ping(svc, { timeoutMs: 2_000 });
          if (E.isRight(r)) break;
          if (Date.now() > deadline) throw new Error(`bench: service ${svc} for ${p} did not answer (${r.left.code})`);
          await sleep(200);
        }
      }
    } finally {
      c.close();
    }
  }
};
