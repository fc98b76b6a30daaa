import * as E from "fp-ts/lib/Either.js";
import { DeviceLists } from "./device-lists.js";
import { DrainLeases } from "./drain-lease.js";
import type { RunningService, ServiceEnv } from "@interlink/actor";
import { ErrorCode, Requester, ServiceHost, endpoint, serviceError } from "@interlink/actor";
import type {
  InterlinkClient,
  MessageStatusRequest,
  MessageStatusResponse,
  Receipt,
  ReceiptSettings,
  ReceiptSettingsResponse,
  RegisterRequest,
  SafetyNumberRequest,
  SafetyNumberResponse,
  SendContent,
  SendContentResponse,
} from "@interlink/client";
import {
  DevicesEventS,
  LowKeysEventS,
  MessageStatusRequestS,
  NewMessageEventS,
  ReceiptSettingsS,
  RegisterRequestS,
  SafetyNumberRequestS,
  SendContentS,
  signalName,
} from "@interlink/client";
import { ab, generateDevice, safetyNumber } from "@interlink/crypto";
import type { DeviceAddress } from "@interlink/client";
import { IdentityKeyPair } from "@signalapp/libsignal-client";
import { WorkerPoolEngine } from "./workers/pool.js";
import type { ProviderId } from "@interlink/subjects";
import { Service, eventSubject, inboxPrefix, requestSubject } from "@interlink/subjects";
import { createCodec, decodeWith } from "@interlink/wire";
import { KeyMaintenance } from "./actors/maintenance.js";
import { Receiver } from "./actors/receiver.js";
import { newMessageId, sendContent } from "./actors/sender.js";
import { Sessions } from "./actors/sessions.js";
import type { SessionEngine } from "./actors/engine.js";
import { LocalEngine } from "./actors/engine.js";
import type { DeviceSecrets } from "./records.js";
import { RatchetStore } from "./store.js";
import { ReceiptPrefs, SentLog } from "./sent-log.js";

export interface RatchetOptions {
  readonly provider: ProviderId;
  /** Talks to the hub services on behalf of the provider. */
  readonly client: InterlinkClient;
  /** 32 bytes: seals everything this service stores. */
  readonly atRestKey: Uint8Array;
  /** One-time EC and Kyber prekeys generated per device. */
  readonly preKeys?: number;
  /** How often every hosted device's queue is checked even without an event. */
  readonly sweepMs?: number;
  /** Worker threads doing the libsignal work (sessions pinned by hash); 0 runs it in this thread. */
  readonly workers?: number;
  /** Where workers connect (they open their own connections); defaults to this connection's server. */
  readonly natsServers?: string;
  /** Signed prekey and Kyber last-resort age that triggers a rotation (default 7 days). */
  readonly rotateAfterMs?: number;
  /**
   * How long what a user sent is remembered for checking read/played receipts and answering
   * `status` (default 30 days, delivery's retention; the sent-log bucket's max age).
   */
  readonly sentLogTtlMs?: number;
}

/**
 * A provider's edge: the only place its users' private keys and plaintext exist. It serves the
 * provider's app on ilk.ratchet.v1.<op>.<provider> and talks to the hub with ciphertext only.
 */
export const startSessionRatchet = async (env: ServiceEnv, o: RatchetOptions): Promise<RunningService> => {
  const store = await RatchetStore.open(env.nc, o.provider, env.secret, o.atRestKey, env.replicas);
  const sentLog = await SentLog.open(env.nc, o.provider, env.secret, o.atRestKey, env.replicas, o.sentLogTtlMs ?? 30 * 24 * 60 * 60 * 1000);
  const prefs = await ReceiptPrefs.open(env.nc, o.provider, env.secret, o.atRestKey, env.replicas);
  const codec = createCodec();
  const safety = (dev: DeviceSecrets, remote: { provider: ProviderId; user: string }, remoteKey: Uint8Array): string =>
    safetyNumber(
      signalName({ provider: o.provider, user: dev.user }),
      IdentityKeyPair.deserialize(ab(dev.identity)).publicKey.serialize(),
      signalName(remote as never),
      remoteKey,
    );
  const onIdentityReplaced = (dev: DeviceSecrets, remote: DeviceAddress, key: Uint8Array) => {
    const local = { user: dev.user, device: dev.device };
    const to = { provider: remote.provider, user: remote.user };
    env.nc.publish(requestSubject(Service.Ratchet, "identity", o.provider), codec.encode({ v: 1, local, remote: to, safetyNumber: safety(dev, to, key) }));
  };
  const app = new Requester(env.nc, { inboxPrefix: inboxPrefix(o.provider), timeoutMs: 10_000 });
  const workers = o.workers ?? 0;
  let engine: SessionEngine;
  if (workers > 0) {
    const servers = o.natsServers ?? env.nc.getServer();
    engine = await WorkerPoolEngine.start(
      workers,
      { servers, provider: o.provider, secret: env.secret, atRestKey: o.atRestKey, replicas: env.replicas },
      onIdentityReplaced,
    );
  } else {
    engine = new LocalEngine(o.provider, o.client, store, new Sessions(store, { onIdentityReplaced }), () => env.clock.now());
  }
  const deviceLists = new DeviceLists(o.client, () => env.clock.now());
  // key-directory tells providers that looked a user up when that user's devices change; every
  // instance drops its cached list (no queue group).
  const onDevices = env.nc.subscribe(eventSubject(Service.Keys, "devices", o.provider), {
    callback: (_e, msg) => {
      const ev = decodeWith(codec, DevicesEventS, msg.data);
      if (E.isRight(ev)) deviceLists.drop(ev.right);
    },
  });
  const leases = await DrainLeases.open(env.nc, o.provider, env.secret, env.replicas, () => env.clock.now());
  const receiver = new Receiver({ client: o.client, app, engine, log: env.log, sentLog, prefs, leases });
  const hosted = new Map<string, DeviceSecrets>();
  const remember = (d: DeviceSecrets) => hosted.set(`${d.user}/${d.device}`, d);

  const loadDevice = async (user: string, device: number) => {
    const known = hosted.get(`${user}/${device}`);
    if (known !== undefined) return E.right(known);
    const r = await store.getDevice({ user: user as never, device: device as never });
    if (E.isRight(r) && r.right !== null) remember(r.right);
    return r;
  };

  const register = endpoint<RegisterRequest, { registrationId: number; created: boolean }>({
    op: "register",
    schema: RegisterRequestS,
    key: (req) => `${req.user}/${req.device}`,
    handle: (req) => async () => {
      const existing = await loadDevice(req.user, req.device);
      if (E.isLeft(existing)) return existing;
      if (existing.right !== null) return E.right({ registrationId: existing.right.registrationId, created: false });
      const n = req.preKeys ?? o.preKeys ?? 20;
      const now = env.clock.now();
      const gen = generateDevice({ preKeys: n, kyberPreKeys: n, now });
      const secrets: DeviceSecrets = {
        v: 1,
        user: req.user,
        device: req.device,
        registrationId: gen.registrationId,
        identity: gen.identity,
        signedPreKeys: [gen.signedPreKey],
        kyberLastResort: [gen.kyberLastResort],
        nextPreKeyId: n + 1,
        nextKyberPreKeyId: n + 2,
        createdAt: now,
      };
      const local = { user: req.user, device: req.device };
      // Private parts first: a device whose keys are public but not stored could never decrypt.
      for (const w of [await store.putPreKeys(local, "pk", gen.preKeys), await store.putPreKeys(local, "kpk", gen.kyberPreKeys)]) {
        if (E.isLeft(w)) return w;
      }
      const created = await store.createDevice(secrets);
      if (E.isLeft(created)) return created;
      const up = await o.client.keys.upload({ user: req.user, device: req.device, ...gen.upload });
      if (E.isLeft(up)) {
        await store.deleteDevice(local);
        return up;
      }
      remember(secrets);
      return E.right({ registrationId: gen.registrationId, created: true });
    },
  });

  const send = endpoint<SendContent, SendContentResponse>({
    op: "send",
    schema: SendContentS,
    handle: (req) => async () => {
      const dev = await loadDevice(req.from.user, req.from.device);
      if (E.isLeft(dev)) return dev;
      if (dev.right === null) return E.left(serviceError(ErrorCode.NotFound, "sending device is not registered here"));
      if (req.content.t === "receipt" && req.content.status === "read") {
        // Read receipts off: nothing is sent (and the app is told no device got anything).
        const on = await prefs.readReceipts(req.from.user);
        if (E.isLeft(on)) return on;
        if (!on.right) return E.right({ id: req.id ?? newMessageId(), devices: 0 });
      }
      return sendContent({ client: o.client, engine, now: () => env.clock.now(), log: env.log, sentLog, devices: deviceLists }, dev.right, req.to, req.content, req.id);
    },
  });

  const settings = endpoint<ReceiptSettings, ReceiptSettingsResponse>({
    op: "settings",
    schema: ReceiptSettingsS,
    handle: (req) => async () => {
      if (req.readReceipts === undefined) return E.map((on: boolean) => ({ readReceipts: on }))(await prefs.readReceipts(req.user));
      return E.map((on: boolean) => ({ readReceipts: on }))(await prefs.setReadReceipts(req.user, req.readReceipts));
    },
  });

  /**
   * How a message fared, per recipient device: delivered from the hub's record (the receipt
   * service's `status`), read and played from the end-to-end receipts kept in the sent log.
   */
  const status = endpoint<MessageStatusRequest, MessageStatusResponse>({
    op: "status",
    schema: MessageStatusRequestS,
    handle: (req) => async () => {
      const [entry, hub, on] = await Promise.all([
        sentLog.lookup(req.user, req.id),
        o.client.receipt.status({ user: req.user, id: req.id }),
        prefs.readReceipts(req.user),
      ]);
      if (E.isLeft(entry)) return entry;
      if (E.isLeft(hub)) return hub;
      if (E.isLeft(on)) return on;
      const receipts: Receipt[] = [...hub.right.receipts];
      const e = entry.right;
      if (e === null) return E.right({ to: null, receipts });
      for (const st of e.statuses) {
        // Read receipts off: not shown, even those kept from before.
        if (st.status === "read" && !on.right) continue;
        const by = { ...e.to, device: st.device };
        const dup = receipts.some((r) => r.status === st.status && r.by.provider === by.provider && r.by.user === by.user && r.by.device === by.device);
        if (!dup) receipts.push({ id: req.id, status: st.status, by, at: st.at });
      }
      return E.right({ to: e.to, receipts });
    },
  });

  const safetyEndpoint = endpoint<SafetyNumberRequest, SafetyNumberResponse>({
    op: "safety",
    schema: SafetyNumberRequestS,
    handle: (req) => async () => {
      const dev = await loadDevice(req.local.user, req.local.device);
      if (E.isLeft(dev)) return dev;
      if (dev.right === null) return E.left(serviceError(ErrorCode.NotFound, "local device is not registered here"));
      const known = await store.getIdentity(dev.right, { ...req.remote, device: 1 as never });
      if (E.isLeft(known)) return known;
      return E.right({ safetyNumber: known.right === null ? null : safety(dev.right, req.remote, known.right.bytes) });
    },
  });

  const host = new ServiceHost({ service: Service.Ratchet, nc: env.nc, log: env.log, clock: env.clock, provider: o.provider });
  host.serve([register, send, safetyEndpoint, settings, status]);

  // New mail for one of our devices: drain it. Devices we do not host are someone else's edge.
  // Queue groups: with several instances of this provider's ratchet, one reacts per event.
  const onNew = env.nc.subscribe(eventSubject(Service.Delivery, "new", o.provider), {
    queue: `ilk.ratchet.${o.provider}`,
    callback: (_e, msg) => {
      const ev = decodeWith(codec, NewMessageEventS, msg.data);
      if (E.isLeft(ev)) return;
      void loadDevice(ev.right.user, ev.right.device).then((d) => {
        if (E.isRight(d) && d.right !== null) receiver.trigger(d.right);
      });
    },
  });

  const maintenance = new KeyMaintenance(
    store,
    o.client,
    { refillBatch: o.preKeys ?? 20, rotateAfterMs: o.rotateAfterMs ?? 7 * 24 * 60 * 60 * 1000, keepPrevious: 2 },
    () => env.clock.now(),
    env.log,
    remember,
  );
  // key-directory says a device ran low on one-time keys: generate and upload more.
  const onLow = env.nc.subscribe(eventSubject(Service.Keys, "low", o.provider), {
    queue: `ilk.ratchet.${o.provider}`,
    callback: (_e, msg) => {
      const ev = decodeWith(codec, LowKeysEventS, msg.data);
      if (E.isLeft(ev)) return;
      void loadDevice(ev.right.user, ev.right.device).then(async (d) => {
        if (E.isLeft(d) || d.right === null) return;
        const r = await maintenance.refill(d.right);
        if (E.isLeft(r)) env.log.warn("refill failed", { code: r.left.code });
      });
    },
  });

  // Receipts for messages our users sent come through the device queues (hub receipt messages,
  // end-to-end read/played receipts): the receiver hands them to the app. The receipt service's
  // core-NATS event is not used here (at most once; the queues are durable).

  // Catch up on start and now and then: events are at-most-once, the queues are not.
  const sweep = async () => {
    const all = await store.listDevices();
    if (E.isLeft(all)) return;
    for (const d of all.right) {
      remember(d);
      receiver.trigger(d);
      const r = await maintenance.rotateIfDue(d);
      if (E.isLeft(r)) env.log.warn("rotation failed", { code: r.left.code });
    }
  };
  void sweep();
  const timer = setInterval(() => void sweep(), o.sweepMs ?? 30_000);
  timer.unref();

  let stopping: Promise<void> | undefined;
  return {
    name: "session-ratchet",
    stats: () => host.stats(),
    // Idempotent: a second stop waits for the first (worker threads only exit once).
    stop: () =>
      (stopping ??= (async () => {
        clearInterval(timer);
        onNew.unsubscribe();
        onLow.unsubscribe();
        await maintenance.close();
        await host.drain();
        await receiver.close();
        await engine.close();
        app.close();
        store.close();
        leases.close();
        sentLog.close();
        prefs.close();
        onDevices.unsubscribe();
      })()),
  };
};
