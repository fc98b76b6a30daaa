import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import * as E from "fp-ts/lib/Either.js";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { connect, startSingle, useTopology, waitFor } from "@interlink/testing";
import type { RunningService, ServiceEnv } from "@interlink/actor";
import { ErrorCode, Requester, systemClock } from "@interlink/actor";
import type { ClaimResponse, DevicesEvent, LowKeysEvent } from "@interlink/client";
import { DevicesEventS, DevicesResponseS, InterlinkClient, KeyErrorCode, LowKeysEventS, MAX_PREKEYS_PER_UPLOAD } from "@interlink/client";
import type { DeviceUpload, PreKeySource, StoredRecord } from "@interlink/crypto";
import {
  MessageType,
  decrypt,
  encrypt,
  generateDevice,
  generateIdentity,
  generateKyberPreKeys,
  generatePreKeys,
  generateSignedPreKey,
  newRegistrationId,
  newScope,
  protocolAddress,
  startSession,
} from "@interlink/crypto";
import type { ProviderId, UserId } from "@interlink/subjects";
import { Service, opaqueToken, requestSubject } from "@interlink/subjects";
import type { Schema } from "@interlink/wire";
import { KEYS_BUCKET, startKeyDirectory } from "../src/index.js";
import { Events, OPEN_LIMITS, alpha, beta, capturingLogger, dev, freshDevice, gamma, left, ownDevice, right, uploadOf, user, usersMade } from "./harness.js";

const LOW_WATER = 10;

describe("key-directory", () => {
  const topo = useTopology(() => startSingle());
  const conns: NatsConnection[] = [];
  const clients: InterlinkClient[] = [];
  const connOf = new Map<InterlinkClient, NatsConnection>();
  let services: RunningService[] = [];
  const secret = randomBytes(32);
  const logs = capturingLogger();
  let a: InterlinkClient;
  let b: InterlinkClient;
  let g: InterlinkClient;

  const conn = async () => {
    const nc = await connect(topo().url);
    conns.push(nc);
    return nc;
  };
  const instance = async () => {
    const env: ServiceEnv = { nc: await conn(), log: logs.log, clock: systemClock, secret, replicas: 1 };
    const svc = await startKeyDirectory(env, { lowWater: LOW_WATER, limits: OPEN_LIMITS });
    services.push(svc);
    await env.nc.flush();
    return svc;
  };
  const client = async (p: ProviderId) => {
    const nc = await conn();
    const c = new InterlinkClient(nc, p);
    clients.push(c);
    connOf.set(c, nc);
    return c;
  };
  const events = async <T>(on: InterlinkClient, event: string, providers: ProviderId[], schema: Schema<T>) => {
    const ev = new Events<T>(connOf.get(on)!, event, providers, schema);
    await connOf.get(on)!.flush();
    return ev;
  };
  const userToken = (p: ProviderId, u: UserId) => opaqueToken(secret, "user", p, u);

  beforeAll(async () => {
    await instance();
    a = await client(alpha);
    b = await client(beta);
    g = await client(gamma);
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    for (const s of services) await s.stop();
    for (const c of conns) await c.close();
  });

  describe("upload", () => {
    it("stores verified uploads, lists the devices to any provider and announces new devices", async () => {
      const u = user("list");
      const ev = await events(a, "devices", [alpha], DevicesEventS);
      const d1 = freshDevice(3, 2);
      const d2 = freshDevice(1, 1);
      expect(right(await a.keys.upload(uploadOf(u, 1, d1)))).toEqual({ preKeys: 3, kyberPreKeys: 2 });
      expect(right(await a.keys.upload(uploadOf(u, 2, d2)))).toEqual({ preKeys: 1, kyberPreKeys: 1 });
      const want = [
        { device: 1, registrationId: d1.registrationId },
        { device: 2, registrationId: d2.registrationId },
      ];
      expect(right(await a.keys.devices({ provider: alpha, user: u })).devices).toEqual(want);
      // The provider in the payload is the target's; any provider may look it up.
      expect(right(await b.keys.devices({ provider: alpha, user: u })).devices).toEqual(want);
      // The same user id under another provider is someone else.
      expect(left(await b.keys.devices({ provider: beta, user: u })).code).toBe(ErrorCode.NotFound);
      // One event per new device, naming the user in the payload only.
      expect(ev.take()).toEqual([
        { provider: alpha, body: { v: 1, provider: alpha, user: u, device: 1, change: "added" } },
        { provider: alpha, body: { v: 1, provider: alpha, user: u, device: 2, change: "added" } },
      ]);
      ev.close();
    });

    it("rejects a forged signature or a wrong-size key with a typed error and stores nothing", async () => {
      const u = user("bad");
      const good = freshDevice(2, 2);

      const forgedSpk = { ...good, signedPreKey: { ...good.signedPreKey, sig: Uint8Array.from(good.signedPreKey.sig, (x, i) => (i === 5 ? x ^ 1 : x)) } };
      expect(left(await a.keys.upload(uploadOf(u, 1, forgedSpk))).code).toBe(KeyErrorCode.BadKey);

      // A signature that is valid, but by another identity.
      const other = generateIdentity();
      const foreignKyber = generateKyberPreKeys(other, 50, 1, Date.now()).pub;
      expect(left(await a.keys.upload(uploadOf(u, 1, { ...good, kyberPreKeys: [...good.kyberPreKeys, ...foreignKyber] }))).code).toBe(KeyErrorCode.BadKey);
      const foreignLastResort = generateKyberPreKeys(other, 1, 1, Date.now()).pub[0]!;
      expect(left(await a.keys.upload(uploadOf(u, 1, { ...good, kyberLastResort: foreignLastResort }))).code).toBe(KeyErrorCode.BadKey);

      // Right size, not a curve point encoding libsignal accepts.
      const junkPre = { ...good, preKeys: [{ id: 77, pub: new Uint8Array(33).fill(9) }] };
      expect(left(await a.keys.upload(uploadOf(u, 1, junkPre))).code).toBe(KeyErrorCode.BadKey);

      const shortIdentity = { ...good, identityKey: good.identityKey.subarray(0, 32) };
      const shortKem = { ...good, kyberLastResort: { ...good.kyberLastResort, pub: good.kyberLastResort.pub.subarray(0, 1568) } };
      const longSig = { ...good, signedPreKey: { ...good.signedPreKey, sig: new Uint8Array(65) } };
      for (const bad of [shortIdentity, shortKem, longSig]) {
        const err = left(await a.keys.upload(uploadOf(u, 1, bad)));
        expect(err.code).toBe(ErrorCode.BadRequest);
      }

      expect(left(await a.keys.devices({ provider: alpha, user: u })).code).toBe(ErrorCode.NotFound);
      expect(left(await b.keys.claim({ provider: alpha, user: u })).code).toBe(ErrorCode.NotFound);
      // The untouched upload still goes through afterwards.
      expect(right(await a.keys.upload(uploadOf(u, 1, good)))).toEqual({ preKeys: 2, kyberPreKeys: 2 });
    });

    it("rejects keys of the wrong type (the type byte says EC where Kyber belongs, or the reverse)", async () => {
      const u = user("type");
      const good = freshDevice(1, 1);
      const retype = (bytes: Uint8Array, type: number) => Uint8Array.from(bytes, (x, i) => (i === 0 ? type : x));
      const EC = 0x05;
      const KYBER_1024 = 0x08;
      const cases: DeviceUpload[] = [
        { ...good, identityKey: retype(good.identityKey, KYBER_1024) },
        { ...good, signedPreKey: { ...good.signedPreKey, pub: retype(good.signedPreKey.pub, KYBER_1024) } },
        { ...good, preKeys: [{ ...good.preKeys[0]!, pub: retype(good.preKeys[0]!.pub, KYBER_1024) }] },
        { ...good, kyberLastResort: { ...good.kyberLastResort, pub: retype(good.kyberLastResort.pub, EC) } },
        { ...good, kyberPreKeys: [{ ...good.kyberPreKeys[0]!, pub: retype(good.kyberPreKeys[0]!.pub, EC) }] },
      ];
      for (const bad of cases) expect(left(await a.keys.upload(uploadOf(u, 1, bad))).code).toBe(KeyErrorCode.BadKey);
      expect(left(await a.keys.devices({ provider: alpha, user: u })).code).toBe(ErrorCode.NotFound);
    });

    it("refuses more than 100 one-time keys of a kind per upload with batch_too_large and stores nothing", async () => {
      const u = user("big");
      const d = generateDevice({ preKeys: 1, kyberPreKeys: 1, now: Date.now() }).upload;
      // Signatures do not cover ids, so one key under many ids still verifies.
      const ec = (n: number) => Array.from({ length: n }, (_, i) => ({ id: 1_000 + i, pub: d.preKeys[0]!.pub }));
      const kyber = (n: number) => Array.from({ length: n }, (_, i) => ({ ...d.kyberPreKeys[0]!, id: 1_000 + i }));
      for (const bad of [{ ...d, preKeys: ec(101) }, { ...d, kyberPreKeys: kyber(101) }]) {
        const err = left(await a.keys.upload(uploadOf(u, 1, bad)));
        expect(err.code).toBe(KeyErrorCode.BatchTooLarge);
        expect(err.details).toEqual({ max: MAX_PREKEYS_PER_UPLOAD });
        expect(err.retryable).toBe(false);
      }
      // Past the decoding bound the request never reaches the service's checks.
      expect(left(await a.keys.upload(uploadOf(u, 1, { ...d, preKeys: ec(1_001) }))).code).toBe(ErrorCode.BadRequest);
      expect(left(await a.keys.devices({ provider: alpha, user: u })).code).toBe(ErrorCode.NotFound);
      // Exactly the maximum is fine.
      expect(right(await a.keys.upload(uploadOf(u, 1, { ...d, preKeys: ec(100), kyberPreKeys: kyber(100) })))).toEqual({ preKeys: 100, kyberPreKeys: 100 });
    });

    it("rejects duplicate one-time key ids, within an upload or against the pool, and stores nothing", async () => {
      const u = user("dup");
      const d = freshDevice(3, 2);
      const dupInUpload = { ...d, preKeys: [...d.preKeys, { ...d.preKeys[0]!, pub: generatePreKeys(1, 1).pub[0]!.pub }] };
      expect(left(await a.keys.upload(uploadOf(u, 1, dupInUpload))).code).toBe(KeyErrorCode.DuplicateKeyId);
      // A one-time Kyber key under the last-resort key's id: the device has one Kyber id space.
      const kyberAsLastResort = { ...d, kyberPreKeys: [{ ...d.kyberPreKeys[0]!, id: d.kyberLastResort.id }] };
      expect(left(await a.keys.upload(uploadOf(u, 1, kyberAsLastResort))).code).toBe(KeyErrorCode.DuplicateKeyId);
      // A rejected upload must not leave the device listed (with an empty pool).
      expect(left(await a.keys.devices({ provider: alpha, user: u })).code).toBe(ErrorCode.NotFound);

      expect(right(await a.keys.upload(uploadOf(u, 1, d)))).toEqual({ preKeys: 3, kyberPreKeys: 2 });

      // A refill that reuses EC id 2, or Kyber id 3, is refused.
      const refill: DeviceUpload = { ...d, preKeys: generatePreKeys(2, 1).pub, kyberPreKeys: [] };
      expect(left(await a.keys.upload(uploadOf(u, 1, refill))).code).toBe(KeyErrorCode.DuplicateKeyId);
      const dupKyber: DeviceUpload = { ...d, preKeys: [], kyberPreKeys: [d.kyberPreKeys[1]!] };
      expect(left(await a.keys.upload(uploadOf(u, 1, dupKyber))).code).toBe(KeyErrorCode.DuplicateKeyId);

      // The pool is as it was: three EC and two Kyber one-time keys, in order.
      const got: ClaimResponse["bundles"] = [];
      for (let i = 0; i < 4; i++) got.push(right(await b.keys.claim({ provider: alpha, user: u })).bundles[0]!);
      expect(got.map((x) => x.preKey?.id)).toEqual([1, 2, 3, undefined]);
      expect(got.map((x) => x.kyberPreKey.id)).toEqual([2, 3, 1, 1]);
    });

    it("refuses a signed prekey or last-resort id reused for another key, and keeps the stored one", async () => {
      const u = user("rot");
      const identity = generateIdentity();
      const now = Date.now();
      const spk1 = generateSignedPreKey(identity, 1, now).pub;
      const spk2 = generateSignedPreKey(identity, 2, now).pub;
      const base: DeviceUpload = {
        registrationId: 4242,
        identityKey: identity.publicKey.serialize(),
        signedPreKey: spk1,
        kyberLastResort: generateKyberPreKeys(identity, 1, 1, now).pub[0]!,
        preKeys: generatePreKeys(1, 2).pub,
        kyberPreKeys: [],
      };
      right(await a.keys.upload(uploadOf(u, 1, base)));
      const refill: DeviceUpload = { ...base, signedPreKey: spk2, preKeys: generatePreKeys(2, 1).pub };
      expect(left(await a.keys.upload(uploadOf(u, 1, refill))).code).toBe(KeyErrorCode.DuplicateKeyId);
      // Signed prekey id 1 again, with another key: a session could not tell them apart.
      const otherSpk1 = generateSignedPreKey(identity, 1, now).pub;
      expect(left(await a.keys.upload(uploadOf(u, 1, { ...base, signedPreKey: otherSpk1, preKeys: [] }))).code).toBe(KeyErrorCode.DuplicateKeyId);
      const otherLastResort = generateKyberPreKeys(identity, 1, 1, now).pub[0]!;
      expect(left(await a.keys.upload(uploadOf(u, 1, { ...base, kyberLastResort: otherLastResort, preKeys: [] }))).code).toBe(KeyErrorCode.DuplicateKeyId);
      const bundle = right(await b.keys.claim({ provider: alpha, user: u })).bundles[0]!;
      expect(bundle.signedPreKey.id).toBe(1);
      expect(Buffer.from(bundle.signedPreKey.pub).equals(Buffer.from(spk1.pub))).toBe(true);
      // A refill with fresh ids and the rotated key is accepted and adds to the pool.
      expect(right(await a.keys.upload(uploadOf(u, 1, { ...refill, preKeys: generatePreKeys(3, 2).pub })))).toEqual({ preKeys: 3, kyberPreKeys: 0 });
      const after = right(await b.keys.claim({ provider: alpha, user: u })).bundles[0]!;
      expect(after.signedPreKey.id).toBe(2);
      expect(after.preKey?.id).toBe(2);
    });
  });

  describe("claims", () => {
    it("hands out one EC and one Kyber one-time key per claim, then the Kyber last-resort key alone", async () => {
      const u = user("claim");
      const d = freshDevice(3, 2);
      right(await a.keys.upload(uploadOf(u, 1, d)));
      const bundles = [];
      for (let i = 0; i < 5; i++) {
        const r = right(await b.keys.claim({ provider: alpha, user: u, devices: [dev(1)] }));
        expect(r.bundles).toHaveLength(1);
        bundles.push(r.bundles[0]!);
      }
      for (const x of bundles) {
        expect(x.deviceId).toBe(1);
        expect(x.registrationId).toBe(d.registrationId);
        expect(Buffer.from(x.identityKey).equals(Buffer.from(d.identityKey))).toBe(true);
        expect(x.signedPreKey.id).toBe(d.signedPreKey.id);
        expect(Buffer.from(x.signedPreKey.sig).equals(Buffer.from(d.signedPreKey.sig))).toBe(true);
      }
      expect(bundles.map((x) => x.preKey?.id)).toEqual([1, 2, 3, undefined, undefined]);
      bundles.slice(0, 3).forEach((x, i) => expect(Buffer.from(x.preKey!.pub).equals(Buffer.from(d.preKeys[i]!.pub))).toBe(true));
      expect(bundles.map((x) => x.kyberPreKey.id)).toEqual([2, 3, d.kyberLastResort.id, d.kyberLastResort.id, d.kyberLastResort.id]);
      expect(Buffer.from(bundles[1]!.kyberPreKey.pub).equals(Buffer.from(d.kyberPreKeys[1]!.pub))).toBe(true);
      expect(Buffer.from(bundles[4]!.kyberPreKey.pub).equals(Buffer.from(d.kyberLastResort.pub))).toBe(true);
      expect(Buffer.from(bundles[4]!.kyberPreKey.sig).equals(Buffer.from(d.kyberLastResort.sig))).toBe(true);
    });

    it("serves keys across several upload batches in upload order and deletes used-up batches", async () => {
      const u = user("batches");
      const d = generateDevice({ preKeys: 2, kyberPreKeys: 1, now: Date.now() }).upload;
      right(await a.keys.upload(uploadOf(u, 1, d)));
      right(await a.keys.upload(uploadOf(u, 1, { ...d, preKeys: generatePreKeys(3, 1).pub, kyberPreKeys: [] })));
      const ids = [];
      for (let i = 0; i < 4; i++) {
        const x = right(await b.keys.claim({ provider: alpha, user: u })).bundles[0]!;
        ids.push([x.preKey?.id, x.kyberPreKey.id]);
      }
      expect(ids).toEqual([
        [1, 2],
        [2, 1],
        [3, 1],
        [undefined, 1],
      ]);
      const kv = await new Kvm(conns[0]!).open(KEYS_BUCKET);
      const batchKeys = async () => {
        const out: string[] = [];
        for await (const k of await kv.keys(`kb.${userToken(alpha, u)}.>`)) out.push(k);
        return out;
      };
      await waitFor("used-up batches to be deleted", async () => ((await batchKeys()).length === 0 ? true : undefined), { timeoutMs: 5_000 });
    });

    it("claims every device of a user when none are named, each from its own pool", async () => {
      const u = user("multi");
      right(await a.keys.upload(uploadOf(u, 3, freshDevice(1, 1))));
      right(await a.keys.upload(uploadOf(u, 1, freshDevice(2, 0))));
      const r = right(await a.keys.claim({ provider: alpha, user: u }));
      expect(r.bundles.map((x) => [x.deviceId, x.preKey?.id, x.kyberPreKey.id])).toEqual([
        [1, 1, 1],
        [3, 1, 2],
      ]);
    });

    it("answers an unknown user and an unknown device with the same not_found error", async () => {
      const u = user("known");
      right(await a.keys.upload(uploadOf(u, 1, freshDevice(1, 1))));
      const errs = [
        left(await b.keys.claim({ provider: alpha, user: user("nobody") })),
        left(await b.keys.claim({ provider: alpha, user: user("nobody"), devices: [dev(1)] })),
        left(await b.keys.claim({ provider: alpha, user: u, devices: [dev(9)] })),
        left(await b.keys.claim({ provider: alpha, user: u, devices: [dev(1), dev(9)] })),
        left(await b.keys.claim({ provider: beta, user: u })),
      ];
      for (const e of errs) {
        expect(e.code).toBe(ErrorCode.NotFound);
        expect(e).toEqual(errs[0]);
      }
      // The failed claim for [1, 9] did not consume device 1's key.
      expect(right(await b.keys.claim({ provider: alpha, user: u })).bundles[0]!.preKey?.id).toBe(1);
      expect(left(await b.keys.devices({ provider: alpha, user: user("nobody") }))).toEqual(errs[0]);
    });

    it("answers garbage and malformed payloads with bad_request and keeps serving", async () => {
      const raw = new Requester(conns[0]!, { timeoutMs: 5000 });
      try {
        const subject = requestSubject(Service.Keys, "claim", alpha);
        const garbage = await raw.callRaw(subject, new Uint8Array([0xc1, 0xff, 0x00, 0x13]));
        expect(E.isLeft(garbage) && garbage.left.code).toBe(ErrorCode.BadRequest);
        const badProvider = await raw.call(subject, { v: 1, provider: "Not.Valid", user: "x" }, DevicesResponseS);
        expect(E.isLeft(badProvider) && badProvider.left.code).toBe(ErrorCode.BadRequest);
        const badDevice = await raw.call(subject, { v: 1, provider: "alpha", user: "x", devices: [0] }, DevicesResponseS);
        expect(E.isLeft(badDevice) && badDevice.left.code).toBe(ErrorCode.BadRequest);
      } finally {
        raw.close();
      }
      const u = user("after");
      right(await a.keys.upload(uploadOf(u, 1, freshDevice(0, 0))));
      expect(right(await a.keys.devices({ provider: alpha, user: u })).devices).toHaveLength(1);
    });
  });

  describe("rotation", () => {
    it("serves the rotated signed prekey and last-resort key; sessions started from the previous ones still decrypt", async () => {
      const u = user("rotate");
      const now = Date.now();
      const identity = generateIdentity();
      const registrationId = newRegistrationId();
      const spk1 = generateSignedPreKey(identity, 1, now);
      const lr1 = generateKyberPreKeys(identity, 1, 1, now);
      const pre = generatePreKeys(1, 1);
      const kyber = generateKyberPreKeys(identity, 2, 1, now);
      right(
        await a.keys.upload(
          uploadOf(u, 1, {
            registrationId,
            identityKey: identity.publicKey.serialize(),
            signedPreKey: spk1.pub,
            kyberLastResort: lr1.pub[0]!,
            preKeys: pre.pub,
            kyberPreKeys: kyber.pub,
          }),
        ),
      );
      const ev = await events(a, "devices", [alpha], DevicesEventS);

      // The receiver's private records, as its edge keeps them.
      const records = new Map<string, Uint8Array>();
      const keep = (kind: string, r: StoredRecord) => records.set(`${kind}:${r.id}`, r.record);
      keep("spk", spk1.record);
      keep("kyber", lr1.records[0]!);
      keep("pre", pre.records[0]!);
      keep("kyber", kyber.records[0]!);
      const source = (drop: string[] = []): PreKeySource => ({
        getPreKey: async (id) => records.get(`pre:${id}`) ?? null,
        removePreKey: async () => undefined,
        getSignedPreKey: async (id) => (drop.includes(`spk:${id}`) ? null : (records.get(`spk:${id}`) ?? null)),
        getKyberPreKey: async (id) => records.get(`kyber:${id}`) ?? null,
        markKyberPreKeyUsed: async () => undefined,
      });
      const receiver = protocolAddress(`alpha/${u}`, 1);
      const send = async (bundle: ClaimResponse["bundles"][number], text: string) => {
        const me = newScope(generateIdentity(), newRegistrationId(), null, null);
        const from = protocolAddress(`beta/${user("sender")}`, 1);
        const started = await startSession(me, bundle, receiver, from, new Date());
        if (E.isLeft(started)) throw new Error(started.left.message);
        const c = await encrypt(me, new TextEncoder().encode(text), receiver, from, new Date());
        if (E.isLeft(c)) throw new Error(c.left.message);
        expect(c.right.type).toBe(MessageType.PreKey);
        return { from, c: c.right };
      };
      const open = async (m: Awaited<ReturnType<typeof send>>, drop: string[] = []) => {
        const scope = newScope(identity, registrationId, null, null);
        const p = await decrypt(scope, m.c, m.from, receiver, source(drop));
        return E.isRight(p) ? new TextDecoder().decode(p.right) : `error: ${p.left.code}`;
      };

      const before = right(await b.keys.claim({ provider: alpha, user: u })).bundles[0]!;
      expect(before.signedPreKey.id).toBe(1);
      const early = await send(before, "started before the rotation");

      const spk2 = generateSignedPreKey(identity, 2, now);
      const lr2 = generateKyberPreKeys(identity, 100, 1, now);
      keep("spk", spk2.record);
      keep("kyber", lr2.records[0]!);
      expect(right(await a.keys.rotate({ user: u, device: dev(1), signedPreKey: spk2.pub, kyberLastResort: lr2.pub[0]! }))).toEqual({ preKeys: 0, kyberPreKeys: 0 });

      const after = right(await g.keys.claim({ provider: alpha, user: u })).bundles[0]!;
      expect(after.signedPreKey.id).toBe(2);
      expect(Buffer.from(after.signedPreKey.pub).equals(Buffer.from(spk2.pub.pub))).toBe(true);
      expect(after.kyberPreKey.id).toBe(100);
      expect(after.preKey).toBeUndefined();
      const late = await send(after, "started after the rotation");

      // The edge kept the previous signed prekey, so the early session opens; without it, it would not.
      expect(await open(early, ["spk:1"])).toMatch(/^error/);
      expect(await open(early)).toBe("started before the rotation");
      expect(await open(late)).toBe("started after the rotation");
      // Rotation is not a device change: nobody is told to re-check.
      expect(ev.take()).toEqual([]);
      ev.close();
    });

    it("rotates one key alone, and refuses a forged signature, a reused id, an unknown device, an empty request", async () => {
      const u = user("rot2");
      const identity = generateIdentity();
      const now = Date.now();
      const base: DeviceUpload = {
        registrationId: 77,
        identityKey: identity.publicKey.serialize(),
        signedPreKey: generateSignedPreKey(identity, 1, now).pub,
        kyberLastResort: generateKyberPreKeys(identity, 1, 1, now).pub[0]!,
        preKeys: [],
        kyberPreKeys: generateKyberPreKeys(identity, 2, 2, now).pub,
      };
      right(await a.keys.upload(uploadOf(u, 1, base)));
      const spk2 = generateSignedPreKey(identity, 2, now).pub;
      const foreign = generateSignedPreKey(generateIdentity(), 3, now).pub;
      expect(left(await a.keys.rotate({ user: u, device: dev(1), signedPreKey: foreign })).code).toBe(KeyErrorCode.BadKey);
      const foreignLr = generateKyberPreKeys(generateIdentity(), 9, 1, now).pub[0]!;
      expect(left(await a.keys.rotate({ user: u, device: dev(1), kyberLastResort: foreignLr })).code).toBe(KeyErrorCode.BadKey);
      // Id 1 for another signed prekey; a last-resort id that a pooled one-time Kyber key has.
      expect(left(await a.keys.rotate({ user: u, device: dev(1), signedPreKey: generateSignedPreKey(identity, 1, now).pub })).code).toBe(KeyErrorCode.DuplicateKeyId);
      expect(left(await a.keys.rotate({ user: u, device: dev(1), kyberLastResort: generateKyberPreKeys(identity, 3, 1, now).pub[0]! })).code).toBe(KeyErrorCode.DuplicateKeyId);
      expect(left(await a.keys.rotate({ user: u, device: dev(2), signedPreKey: spk2 })).code).toBe(ErrorCode.NotFound);
      // Only the owner provider reaches its users' devices.
      expect(left(await b.keys.rotate({ user: u, device: dev(1), signedPreKey: spk2 })).code).toBe(ErrorCode.NotFound);
      expect(left(await a.keys.rotate({ user: u, device: dev(1) })).code).toBe(ErrorCode.BadRequest);

      expect(right(await a.keys.rotate({ user: u, device: dev(1), signedPreKey: spk2 }))).toEqual({ preKeys: 0, kyberPreKeys: 2 });
      // The same rotation again (a retry) is fine.
      right(await a.keys.rotate({ user: u, device: dev(1), signedPreKey: spk2 }));
      const x = right(await b.keys.claim({ provider: alpha, user: u })).bundles[0]!;
      expect([x.signedPreKey.id, x.kyberPreKey.id]).toEqual([2, 2]);
      const y = right(await b.keys.claim({ provider: alpha, user: u })).bundles[0]!;
      expect([y.signedPreKey.id, y.kyberPreKey.id]).toEqual([2, 3]);
      expect(right(await b.keys.claim({ provider: alpha, user: u })).bundles[0]!.kyberPreKey.id).toBe(1);
    });
  });

  describe("device list and events", () => {
    it("announces added, re-registered and removed devices to the owner and to providers that claimed or looked up the user, only", async () => {
      const u = user("events");
      right(await a.keys.upload(uploadOf(u, 1, freshDevice(2, 2))));
      const ev = await events(a, "devices", [alpha, beta, gamma], DevicesEventS);
      const expectEvents = (device: number, change: DevicesEvent["change"], to: ProviderId[]) =>
        expect(ev.take().sort((x, y) => x.provider.localeCompare(y.provider))).toEqual(
          to.map((p) => ({ provider: p, body: { v: 1, provider: alpha, user: u, device, change } })),
        );

      // gamma claims a bundle: from now on it hears of changes; beta has not shown interest.
      right(await g.keys.claim({ provider: alpha, user: u }));
      right(await a.keys.upload(uploadOf(u, 2, freshDevice(1, 1))));
      expectEvents(2, "added", [alpha, gamma]);

      // beta looks the devices up (as delivery does on a send): it is interested too.
      right(await b.keys.devices({ provider: alpha, user: u }));
      right(await a.keys.upload(uploadOf(u, 2, freshDevice(1, 1))));
      expectEvents(2, "identity", [alpha, beta, gamma]);

      // A refill and a rotation change nothing a sender needs to know.
      const d1 = freshDevice(1, 1);
      right(await a.keys.upload(uploadOf(u, 3, d1)));
      ev.take();
      right(await a.keys.upload(uploadOf(u, 3, { ...d1, preKeys: generatePreKeys(10, 3).pub, kyberPreKeys: [] })));
      expect(ev.take()).toEqual([]);

      right(await a.keys.remove({ user: u, device: dev(1) }));
      expectEvents(1, "removed", [alpha, beta, gamma]);
      // Another user's changes are not announced to providers interested in this one.
      right(await a.keys.upload(uploadOf(user("other"), 1, freshDevice(0, 0))));
      expect(ev.take().filter((e) => e.provider !== alpha)).toEqual([]);
      ev.close();
    });

    it("removes a device by its owner: off the list, keys gone, claims miss; the last removal makes the user unknown", async () => {
      const u = user("remove");
      const d1 = freshDevice(2, 2);
      const d2 = freshDevice(1, 1);
      right(await a.keys.upload(uploadOf(u, 1, d1)));
      right(await a.keys.upload(uploadOf(u, 2, d2)));
      // beta cannot remove alpha's user's devices: the owner comes from the subject.
      expect(left(await b.keys.remove({ user: u, device: dev(1) })).code).toBe(ErrorCode.NotFound);
      expect(right(await a.keys.devices({ provider: alpha, user: u })).devices).toHaveLength(2);

      expect(right(await a.keys.remove({ user: u, device: dev(1) }))).toEqual({ devices: [{ device: 2, registrationId: d2.registrationId }] });
      expect(right(await b.keys.devices({ provider: alpha, user: u })).devices).toEqual([{ device: 2, registrationId: d2.registrationId }]);
      expect(left(await b.keys.claim({ provider: alpha, user: u, devices: [dev(1)] })).code).toBe(ErrorCode.NotFound);
      expect(left(await a.keys.count({ user: u, device: dev(1) })).code).toBe(ErrorCode.NotFound);
      expect(right(await b.keys.claim({ provider: alpha, user: u })).bundles.map((x) => x.deviceId)).toEqual([2]);
      expect(left(await a.keys.remove({ user: u, device: dev(1) })).code).toBe(ErrorCode.NotFound);

      expect(right(await a.keys.remove({ user: u, device: dev(2) }))).toEqual({ devices: [] });
      const miss = left(await b.keys.claim({ provider: alpha, user: user("never") }));
      expect(left(await b.keys.devices({ provider: alpha, user: u }))).toEqual(miss);
      expect(left(await b.keys.claim({ provider: alpha, user: u }))).toEqual(miss);

      // Registering device 1 again starts from its new keys, none of the old ones.
      const again = freshDevice(1, 1);
      right(await a.keys.upload(uploadOf(u, 1, again)));
      const x = right(await b.keys.claim({ provider: alpha, user: u })).bundles[0]!;
      expect(Buffer.from(x.identityKey).equals(Buffer.from(again.identityKey))).toBe(true);
      expect(Buffer.from(x.preKey!.pub).equals(Buffer.from(again.preKeys[0]!.pub))).toBe(true);

      const kv = await new Kvm(conns[0]!).open(KEYS_BUCKET);
      const left2 = async () => {
        const out: string[] = [];
        for await (const k of await kv.keys(`kb.${userToken(alpha, u)}.2.>`)) out.push(k);
        return out.length;
      };
      await waitFor("the removed device's key batches to be deleted", async () => ((await left2()) === 0 ? true : undefined), { timeoutMs: 5_000 });
    });
  });

  describe("counts and low water", () => {
    it("counts a device's one-time keys for its owner only", async () => {
      const u = user("count");
      right(await a.keys.upload(uploadOf(u, 1, freshDevice(4, 3))));
      expect(right(await a.keys.count({ user: u, device: dev(1) }))).toEqual({ preKeys: 4, kyberPreKeys: 3 });
      right(await b.keys.claim({ provider: alpha, user: u }));
      expect(right(await a.keys.count({ user: u, device: dev(1) }))).toEqual({ preKeys: 3, kyberPreKeys: 2 });
      expect(left(await b.keys.count({ user: u, device: dev(1) })).code).toBe(ErrorCode.NotFound);
      expect(left(await a.keys.count({ user: u, device: dev(2) })).code).toBe(ErrorCode.NotFound);
    });

    it("tells the owner once per dip under the low-water mark, again after a refill", async () => {
      const u = user("low");
      const d = ownDevice(LOW_WATER + 2, LOW_WATER + 2);
      right(await a.keys.upload(uploadOf(u, 1, d.upload)));
      const ev = await events<LowKeysEvent>(b, "low", [alpha, beta], LowKeysEventS);
      const claimN = async (n: number) => {
        for (let i = 0; i < n; i++) right(await b.keys.claim({ provider: alpha, user: u }));
      };
      await claimN(2);
      expect(ev.take()).toEqual([]); // exactly at the mark is not under it
      await claimN(1);
      expect(ev.take()).toEqual([{ provider: alpha, body: { v: 1, user: u, device: 1, preKeys: LOW_WATER - 1, kyberPreKeys: LOW_WATER - 1 } }]);
      await claimN(3);
      expect(ev.take()).toEqual([]);

      // EC keys refilled, Kyber keys still under the mark: the same dip, not announced again.
      right(await a.keys.upload(uploadOf(u, 1, d.refill(100, 10, 100, 0))));
      expect(right(await a.keys.count({ user: u, device: dev(1) }))).toEqual({ preKeys: 16, kyberPreKeys: 6 });
      await claimN(1);
      expect(ev.take()).toEqual([]);
      // Both kinds over the mark re-arm it; the next dip is announced once more.
      right(await a.keys.upload(uploadOf(u, 1, d.refill(200, 0, 200, 10))));
      expect(right(await a.keys.count({ user: u, device: dev(1) }))).toEqual({ preKeys: 15, kyberPreKeys: 15 });
      await claimN(5);
      expect(ev.take()).toEqual([]);
      await claimN(1);
      expect(ev.take()).toEqual([{ provider: alpha, body: { v: 1, user: u, device: 1, preKeys: 9, kyberPreKeys: 9 } }]);
      await claimN(2);
      expect(ev.take()).toEqual([]);
      ev.close();
    });

    it("announces a pool uploaded under the mark at its first claim", async () => {
      const u = user("lowstart");
      right(await a.keys.upload(uploadOf(u, 1, freshDevice(3, 3))));
      const ev = await events<LowKeysEvent>(b, "low", [alpha], LowKeysEventS);
      right(await b.keys.claim({ provider: alpha, user: u }));
      right(await b.keys.claim({ provider: alpha, user: u }));
      expect(ev.take().map((e) => e.body)).toEqual([{ v: 1, user: u, device: 1, preKeys: 2, kyberPreKeys: 2 }]);
      ev.close();
    });
  });

  describe("concurrency and persistence", () => {
    it("two instances and 64 concurrent claimers hand out each of N one-time keys exactly once", async () => {
      const second = await instance();
      const first = services[0]!;
      const u = user("race");
      const N = 40;
      const d = freshDevice(N, N);
      expect(right(await a.keys.upload(uploadOf(u, 1, d)))).toEqual({ preKeys: N, kyberPreKeys: N });
      const claimers = [b, await client(beta), await client(alpha), await client(gamma)];
      const before = [first.stats().received, second.stats().received];
      const results = await Promise.all(
        Array.from({ length: 64 }, (_, i) => claimers[i % claimers.length]!.keys.claim({ provider: alpha, user: u })),
      );
      const bundles = results.map((r) => right(r).bundles[0]!);
      // Both instances took part.
      expect(first.stats().received).toBeGreaterThan(before[0]!);
      expect(second.stats().received).toBeGreaterThan(before[1]!);

      const ec = bundles.flatMap((x) => (x.preKey ? [x.preKey.id] : []));
      expect(ec).toHaveLength(N);
      expect(new Set(ec).size).toBe(N);
      expect([...ec].sort((x, y) => x - y)).toEqual(d.preKeys.map((k) => k.id));

      const oneTimeKyber = bundles.map((x) => x.kyberPreKey.id).filter((id) => id !== d.kyberLastResort.id);
      expect(oneTimeKyber).toHaveLength(N);
      expect(new Set(oneTimeKyber).size).toBe(N);
      expect([...oneTimeKyber].sort((x, y) => x - y)).toEqual(d.kyberPreKeys.map((k) => k.id));
      const lastResort = bundles.filter((x) => x.kyberPreKey.id === d.kyberLastResort.id);
      expect(lastResort).toHaveLength(64 - N);
      for (const x of lastResort) expect(x.preKey).toBeUndefined();
      // Every EC key was paired with a one-time Kyber key.
      for (const x of bundles) expect(x.preKey === undefined).toBe(x.kyberPreKey.id === d.kyberLastResort.id);
      expect(right(await a.keys.count({ user: u, device: dev(1) }))).toEqual({ preKeys: 0, kyberPreKeys: 0 });
    });

    it("two instances racing claims against a refill and a rotation never serve a key twice", async () => {
      expect(services.length).toBeGreaterThanOrEqual(2);
      const u = user("race2");
      const identity = generateIdentity();
      const now = Date.now();
      const base: DeviceUpload = {
        registrationId: 99,
        identityKey: identity.publicKey.serialize(),
        signedPreKey: generateSignedPreKey(identity, 1, now).pub,
        kyberLastResort: generateKyberPreKeys(identity, 1, 1, now).pub[0]!,
        preKeys: generatePreKeys(1, 30).pub,
        kyberPreKeys: generateKyberPreKeys(identity, 2, 30, now).pub,
      };
      right(await a.keys.upload(uploadOf(u, 1, base)));
      const claimers = [b, g];
      const claims = Promise.all(Array.from({ length: 60 }, (_, i) => claimers[i % 2]!.keys.claim({ provider: alpha, user: u })));
      const refill = a.keys.upload(uploadOf(u, 1, { ...base, preKeys: generatePreKeys(31, 10).pub, kyberPreKeys: [] }));
      const rotation = a.keys.rotate({ user: u, device: dev(1), signedPreKey: generateSignedPreKey(identity, 2, now).pub });
      const bundles = (await claims).map((r) => right(r).bundles[0]!);
      right(await refill);
      right(await rotation);
      const ec = bundles.flatMap((x) => (x.preKey ? [x.preKey.id] : []));
      const kyber = bundles.map((x) => x.kyberPreKey.id).filter((id) => id !== 1);
      expect(new Set(ec).size).toBe(ec.length);
      expect(new Set(kyber).size).toBe(kyber.length);
      expect(kyber).toHaveLength(30);
      // Whatever the interleaving, every key is either served once or still in the pool.
      const left_ = right(await a.keys.count({ user: u, device: dev(1) }));
      expect(ec.length + left_.preKeys).toBe(40);
      expect(left_.kyberPreKeys).toBe(0);
    });

    it("keeps device lists and pools across a restart of every instance", async () => {
      const u = user("restart");
      const d = freshDevice(3, 3);
      right(await a.keys.upload(uploadOf(u, 5, d)));
      expect(right(await b.keys.claim({ provider: alpha, user: u })).bundles[0]!.preKey?.id).toBe(1);

      for (const s of services) await s.stop();
      services = [];
      expect(left(await b.keys.claim({ provider: alpha, user: u })).code).toBe(ErrorCode.NoResponders);

      await instance();
      expect(right(await a.keys.devices({ provider: alpha, user: u })).devices).toEqual([{ device: 5, registrationId: d.registrationId }]);
      const again = right(await b.keys.claim({ provider: alpha, user: u })).bundles[0]!;
      expect(again.preKey?.id).toBe(2);
      expect(again.kyberPreKey.id).toBe(3);
    });

    it("never logged a user id", () => {
      expect(logs.lines.length).toBeGreaterThan(0);
      const all = logs.lines.join("\n");
      for (const u of usersMade) expect(all.includes(u)).toBe(false);
    });
  });
});
