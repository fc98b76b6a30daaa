import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import * as E from "fp-ts/lib/Either.js";
import type { Either } from "fp-ts/lib/Either.js";
import type { NatsConnection } from "@nats-io/transport-node";
import { connect, startSingle, useTopology } from "@interlink/testing";
import type { RunningService, ServiceEnv, ServiceError } from "@interlink/actor";
import { ErrorCode, Requester, silentLogger, systemClock } from "@interlink/actor";
import type { ClaimResponse, UploadRequest } from "@interlink/client";
import { DevicesResponseS, InterlinkClient, KeyErrorCode } from "@interlink/client";
import type { DeviceUpload } from "@interlink/crypto";
import { generateDevice, generateIdentity, generateKyberPreKeys, generatePreKeys, generateSignedPreKey } from "@interlink/crypto";
import type { DeviceId, ProviderId, UserId } from "@interlink/subjects";
import { Service, eventSubject, requestSubject } from "@interlink/subjects";
import { createCodec } from "@interlink/wire";
import { startKeyDirectory } from "../src/index.js";

const alpha = "alpha" as ProviderId;
const beta = "beta" as ProviderId;
const codec = createCodec();
const user = (name: string) => `${name}_${randomBytes(4).toString("hex")}` as UserId;
const dev = (n: number) => n as DeviceId;

const right = <T>(r: Either<ServiceError, T>): T => {
  if (E.isLeft(r)) throw new Error(`expected success, got ${r.left.code}: ${r.left.message}`);
  return r.right;
};
const left = <T>(r: Either<ServiceError, T>): ServiceError => {
  if (E.isRight(r)) throw new Error(`expected an error, got ${JSON.stringify(r.right)}`);
  return r.left;
};

type Body = Omit<UploadRequest, "v">;
const uploadOf = (u: UserId, device: number, keys: DeviceUpload): Body => ({ user: u, device: dev(device), ...keys });

/** A fresh device's public keys, as key-directory receives them. */
const freshDevice = (preKeys: number, kyberPreKeys: number) =>
  generateDevice({ preKeys, kyberPreKeys, now: Date.now() }).upload;

describe("key-directory", () => {
  const topo = useTopology(() => startSingle());
  const conns: NatsConnection[] = [];
  const clients: InterlinkClient[] = [];
  let services: RunningService[] = [];
  const secret = randomBytes(32);
  let a: InterlinkClient;
  let b: InterlinkClient;

  const conn = async () => {
    const nc = await connect(topo().url);
    conns.push(nc);
    return nc;
  };
  const instance = async () => {
    const env: ServiceEnv = { nc: await conn(), log: silentLogger, clock: systemClock, secret, replicas: 1 };
    const svc = await startKeyDirectory(env);
    services.push(svc);
    await env.nc.flush();
    return svc;
  };
  const client = async (p: ProviderId) => {
    const c = new InterlinkClient(await conn(), p);
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    await instance();
    a = await client(alpha);
    b = await client(beta);
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    for (const s of services) await s.stop();
    for (const c of conns) await c.close();
  });

  it("stores verified uploads, lists the devices to any provider and announces new devices", async () => {
    const u = user("list");
    const events: unknown[] = [];
    const sub = conns[0]!.subscribe(eventSubject(Service.Keys, "devices", alpha), {
      callback: (_e, m) => void events.push(codec.decode(m.data)),
    });
    await conns[0]!.flush();
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
    await conns[0]!.flush();
    for (let i = 0; i < 100 && events.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    sub.unsubscribe();
    // One event per new device, naming the user in the payload only.
    expect(events).toEqual([E.right({ v: 1, user: u }), E.right({ v: 1, user: u })]);
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

  it("rejects duplicate one-time key ids, within an upload or against the pool, and stores nothing", async () => {
    const u = user("dup");
    const d = freshDevice(3, 2);
    const dupInUpload = { ...d, preKeys: [...d.preKeys, { ...d.preKeys[0]!, pub: generatePreKeys(1, 1).pub[0]!.pub }] };
    expect(left(await a.keys.upload(uploadOf(u, 1, dupInUpload))).code).toBe(KeyErrorCode.DuplicateKeyId);
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

  it("refuses a duplicate-id refill without changing the stored signed prekey", async () => {
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
    const bundle = right(await b.keys.claim({ provider: alpha, user: u })).bundles[0]!;
    expect(bundle.signedPreKey.id).toBe(1);
    expect(Buffer.from(bundle.signedPreKey.pub).equals(Buffer.from(spk1.pub))).toBe(true);
    // A refill with fresh ids and the rotated key is accepted and adds to the pool.
    expect(right(await a.keys.upload(uploadOf(u, 1, { ...refill, preKeys: generatePreKeys(3, 2).pub })))).toEqual({ preKeys: 3, kyberPreKeys: 0 });
    const after = right(await b.keys.claim({ provider: alpha, user: u })).bundles[0]!;
    expect(after.signedPreKey.id).toBe(2);
    expect(after.preKey?.id).toBe(2);
  });

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
    expect(Buffer.from(bundles[4]!.kyberPreKey.pub).equals(Buffer.from(d.kyberLastResort.pub))).toBe(true);
    expect(Buffer.from(bundles[4]!.kyberPreKey.sig).equals(Buffer.from(d.kyberLastResort.sig))).toBe(true);
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

  it("two instances and 64 concurrent claimers hand out each of N one-time keys exactly once", async () => {
    const second = await instance();
    const first = services[0]!;
    const u = user("race");
    const N = 40;
    const d = freshDevice(N, N);
    expect(right(await a.keys.upload(uploadOf(u, 1, d)))).toEqual({ preKeys: N, kyberPreKeys: N });
    const claimers = [b, await client(beta), await client(alpha), await client("gamma" as ProviderId)];
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
});
