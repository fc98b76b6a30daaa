import * as E from "fp-ts/lib/Either.js";
import type { Either } from "fp-ts/lib/Either.js";
import type { ActorCell, RunningService, ServiceEnv, ServiceError, Step, Versioned } from "@interlink/actor";
import { ActorSystem, ErrorCode, ServiceHost, endpoint, serviceError } from "@interlink/actor";
import type {
  ClaimRequest,
  ClaimResponse,
  CountRequest,
  DeviceChange,
  DevicesRequest,
  DevicesResponse,
  KeyCounts,
  RemoveRequest,
  RotateRequest,
  UploadRequest,
} from "@interlink/client";
import { ClaimRequestS, CountRequestS, DevicesRequestS, KeyErrorCode, RemoveRequestS, RotateRequestS, UploadRequestS } from "@interlink/client";
import type { PublicPreKey, SignedPublicPreKey } from "@interlink/crypto";
import { verifyUpload } from "@interlink/crypto";
import type { DeviceId, ProviderId, UserId } from "@interlink/subjects";
import { Service, eventSubject } from "@interlink/subjects";
import { createCodec } from "@interlink/wire";
import { Interest } from "./interest.js";
import type { RateLimits } from "./limits.js";
import { TokenBuckets, admit, rateLimited, resolveLimits } from "./limits.js";
import { MaterialCache } from "./material.js";
import { addUpload, checkUpload, countsOf, popKeys, rotateKeys } from "./pool.js";
import type { DeviceKeys, DeviceList, ListedDevice } from "./records.js";
import type { KeyStore } from "./store.js";
import { newBatchId, openKeyStore } from "./store.js";

export interface KeyDirectoryOptions {
  /**
   * A claim that leaves a device fewer one-time keys of either kind than this sends
   * `ilk.evt.keys.v1.low.<owner>` once; a refill above it re-arms the event. Default 10.
   */
  readonly lowWater?: number;
  /**
   * Instances of key-directory in the deployment. Rate limits are deployment-wide budgets; each
   * instance enforces its share (limit / instances) in memory. Default 1.
   */
  readonly instances?: number;
  /** Deployment-wide rate limits; see DEFAULT_LIMITS for what is not given. */
  readonly limits?: Partial<RateLimits>;
  /**
   * How long a provider that claimed or looked up a user keeps getting that user's device
   * events. The interest bucket's max age: fixed when the bucket is first created. Default 30 days.
   */
  readonly interestTtlMs?: number;
  /** Decoded one-time key batches kept in memory (up to ~170 KiB each). Default 256. */
  readonly batchCache?: number;
}

const DAY_MS = 24 * 3600 * 1000;
const CAS_RETRIES = 16;

// Every miss (unknown user, unknown device, no keys) answers the same, so a claimer cannot tell
// which users exist from the error.
const noBundle = (): ServiceError => serviceError(ErrorCode.NotFound, "no key bundle available for that address");

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b));
const backoff = (attempt: number): Promise<void> => new Promise((r) => setTimeout(r, Math.random() * Math.min(50, 2 ** attempt)));

const upsertListed =
  (device: ListedDevice) =>
  (cur: Versioned<DeviceList> | null): Either<ServiceError, Step<DeviceList, DeviceChange | null>> => {
    const devices = cur?.value.devices ?? [];
    const prev = devices.find((d) => d.device === device.device);
    const change: DeviceChange | null =
      prev === undefined
        ? "added"
        : prev.registrationId !== device.registrationId || !sameBytes(prev.identityKey, device.identityKey)
          ? "identity"
          : null;
    // A refill or rotation leaves the list as it is: one write fewer.
    if (change === null) return E.right({ keep: true, result: null });
    const next = [...devices.filter((d) => d.device !== device.device), device].sort((a, b) => a.device - b.device);
    return E.right({ write: { v: 1, devices: next }, result: change });
  };

const removeListed =
  (device: number) =>
  (cur: Versioned<DeviceList> | null): Either<ServiceError, Step<DeviceList, { removed: boolean; left: ListedDevice[] }>> => {
    const devices = cur?.value.devices ?? [];
    if (!devices.some((d) => d.device === device)) return E.right({ keep: true, result: { removed: false, left: devices } });
    const left = devices.filter((d) => d.device !== device);
    return E.right({ write: { v: 1, devices: left }, result: { removed: true, left } });
  };

type Bundle = ClaimResponse["bundles"][number];

const bundleOf = (device: DeviceId, k: DeviceKeys, preKey?: PublicPreKey, kyberPreKey?: SignedPublicPreKey): Bundle => ({
  deviceId: device,
  registrationId: k.registrationId,
  identityKey: k.identityKey,
  signedPreKey: k.signedPreKey,
  ...(preKey !== undefined ? { preKey } : {}),
  // Out of one-time Kyber keys: the signed last-resort key keeps PQXDH possible.
  kyberPreKey: kyberPreKey ?? k.kyberLastResort,
});

/**
 * A claim actor's memory, by KV key: each device entry as last written or read, and whether it
 * was current the last time that was checked (a conflict says another writer is active).
 */
type Heads = Map<string, { readonly cur: Versioned<DeviceKeys>; readonly trusted: boolean }>;

export const startKeyDirectory = async (env: ServiceEnv, opts: KeyDirectoryOptions = {}): Promise<RunningService> => {
  const lowWater = opts.lowWater ?? 10;
  if (!Number.isInteger(lowWater) || lowWater < 0) throw new RangeError("key-directory: lowWater must be a non-negative integer");
  const limits = resolveLimits(opts.limits, opts.instances ?? 1);
  const store: KeyStore = await openKeyStore(env.nc, env.secret, {
    replicas: env.replicas,
    interestTtlMs: opts.interestTtlMs ?? 30 * DAY_MS,
  });
  const codec = createCodec();
  const log = env.log.child({ service: "key-directory" });
  const material = new MaterialCache(store.batches, opts.batchCache ?? 256);
  const interest = new Interest(store.interestKv, { ttlMs: opts.interestTtlMs ?? 30 * DAY_MS, clock: env.clock, codec, log });
  const buckets = {
    claimsPerTarget: new TokenBuckets(limits.claimsPerTarget, env.clock),
    claimsPerProvider: new TokenBuckets(limits.claimsPerProvider, env.clock),
    lookupsPerProvider: new TokenBuckets(limits.lookupsPerProvider, env.clock),
    missesPerProvider: new TokenBuckets(limits.missesPerProvider, env.clock),
  };
  // Owner writes (upload, rotate, remove) of one user run one at a time in this instance;
  // across instances compare-and-swap keeps them correct.
  const writes = new ActorSystem<unknown>({ capacity: 64 });
  const host = new ServiceHost({ service: Service.Keys, nc: env.nc, log: env.log, clock: env.clock, mailbox: { capacity: 256 } });

  /** A provider that spent its misses is refused every lookup, so hits and misses look alike. */
  const gate = (provider: ProviderId, checks: ReadonlyArray<readonly [TokenBuckets, string]>): ServiceError | null => {
    const missWait = buckets.missesPerProvider.wait(provider);
    return missWait > 0 ? rateLimited(missWait) : admit(checks);
  };
  const miss = (provider: ProviderId): Either<ServiceError, never> => {
    buckets.missesPerProvider.take(provider);
    return E.left(noBundle());
  };

  const announce = async (owner: ProviderId, user: UserId, tok: string, device: number, change: DeviceChange): Promise<void> => {
    const payload = codec.encode({ v: 1, provider: owner, user, device, change });
    const to = new Set<ProviderId>([owner, ...(await interest.list(tok))]);
    for (const p of to) env.nc.publish(eventSubject(Service.Keys, "devices", p), payload);
  };

  const dropBatches = (tok: string, device: number, ids: readonly string[]): void => {
    for (const id of ids) {
      const key = store.batchKey(tok, device, id);
      material.forget(key);
      void store.batches.delete(key).then((r) => {
        if (E.isLeft(r)) log.warn("used key batch not deleted", { code: r.left.code });
      });
    }
  };

  // ---- owner operations ----

  const upload = endpoint<UploadRequest, KeyCounts>({
    op: "upload",
    schema: UploadRequestS,
    handle: (req, ctx) => () => {
      const tok = store.userToken(ctx.provider, req.user);
      return writes.ask(tok, async () => {
        // Cheap checks first, then every signature, then the pool: a refused upload stores nothing.
        const shape = checkUpload(req);
        if (E.isLeft(shape)) return shape;
        const ok = verifyUpload(req);
        if (E.isLeft(ok)) return E.left(serviceError(KeyErrorCode.BadKey, ok.left.message));
        const key = store.deviceKey(tok, req.device);
        const now = env.clock.now();
        const cur = await store.devices.get(key);
        if (E.isLeft(cur)) return cur;
        const fits = addUpload(req, null, now, lowWater)(cur.right);
        if (E.isLeft(fits)) return fits;

        let batchId: string | null = null;
        if (req.preKeys.length > 0 || req.kyberPreKeys.length > 0) {
          batchId = newBatchId();
          const put = await store.batches.put(store.batchKey(tok, req.device, batchId), { v: 1, ec: req.preKeys, kyber: req.kyberPreKeys }, 0);
          if (E.isLeft(put)) return put;
        }
        // The device entry before the list: a listed device always has keys to claim.
        const added = await store.devices.modify(key, addUpload(req, batchId, now, lowWater), { retries: CAS_RETRIES });
        if (E.isLeft(added)) {
          if (batchId !== null) dropBatches(tok, req.device, [batchId]);
          return added;
        }
        dropBatches(tok, req.device, added.right.garbage);
        const listed = await store.lists.modify(store.listKey(tok), upsertListed({
          device: req.device,
          registrationId: req.registrationId,
          identityKey: req.identityKey,
          updatedAt: now,
        }));
        if (E.isLeft(listed)) return listed;
        // Senders re-check when told; published before the reply, so the uploader sees it first.
        if (listed.right !== null) await announce(ctx.provider, req.user, tok, req.device, listed.right);
        return E.right(added.right.counts);
      });
    },
  });

  const rotate = endpoint<RotateRequest, KeyCounts>({
    op: "rotate",
    schema: RotateRequestS,
    handle: (req, ctx) => () => {
      const tok = store.userToken(ctx.provider, req.user);
      return writes.ask(tok, async () => {
        if (req.signedPreKey === undefined && req.kyberLastResort === undefined) {
          return E.left(serviceError(ErrorCode.BadRequest, "rotate needs a signed prekey, a Kyber last-resort prekey, or both"));
        }
        const key = store.deviceKey(tok, req.device);
        const cur = await store.devices.get(key);
        if (E.isLeft(cur)) return cur;
        if (cur.right === null) return E.left(noBundle());
        const k = cur.right.value;
        const ok = verifyUpload({
          registrationId: k.registrationId,
          identityKey: k.identityKey,
          signedPreKey: req.signedPreKey ?? k.signedPreKey,
          kyberLastResort: req.kyberLastResort ?? k.kyberLastResort,
          preKeys: [],
          kyberPreKeys: [],
        });
        if (E.isLeft(ok)) return E.left(serviceError(KeyErrorCode.BadKey, ok.left.message));
        return store.devices.modify(key, rotateKeys(k.identityKey, req.signedPreKey, req.kyberLastResort, env.clock.now()), {
          retries: CAS_RETRIES,
        });
      });
    },
  });

  const count = endpoint<CountRequest, KeyCounts>({
    op: "count",
    schema: CountRequestS,
    handle: (req, ctx) => async () => {
      const cur = await store.devices.get(store.deviceKey(store.userToken(ctx.provider, req.user), req.device));
      if (E.isLeft(cur)) return cur;
      return cur.right === null ? E.left(noBundle()) : E.right(countsOf(cur.right.value));
    },
  });

  const remove = endpoint<RemoveRequest, DevicesResponse>({
    op: "remove",
    schema: RemoveRequestS,
    handle: (req, ctx) => () => {
      const tok = store.userToken(ctx.provider, req.user);
      return writes.ask(tok, async () => {
        const listKey = store.listKey(tok);
        // Off the list first, keys second: a device on the list always has keys. Both steps are
        // idempotent, so a retry after a failure in between finishes the job.
        const listed = await store.lists.modify(listKey, removeListed(req.device), { retries: CAS_RETRIES });
        if (E.isLeft(listed)) return listed;
        const key = store.deviceKey(tok, req.device);
        let had: DeviceKeys | null = null;
        for (let attempt = 0; ; attempt++) {
          const cur = await store.devices.get(key);
          if (E.isLeft(cur)) return cur;
          if (cur.right === null) break;
          const del = await store.devices.delete(key, cur.right.revision);
          if (E.isRight(del)) {
            had = cur.right.value;
            break;
          }
          if (del.left.code !== ErrorCode.Conflict || attempt >= CAS_RETRIES) return del;
          await backoff(attempt);
        }
        if (had !== null) dropBatches(tok, req.device, had.batches.map((b) => b.id));
        if (!listed.right.removed && had === null) return E.left(noBundle());
        if (listed.right.left.length === 0) {
          // The last device went: remove the empty list too (unless a device was added meanwhile).
          const cur = await store.lists.get(listKey);
          if (E.isRight(cur) && cur.right !== null && cur.right.value.devices.length === 0) {
            await store.lists.delete(listKey, cur.right.revision);
          }
        }
        if (listed.right.removed) await announce(ctx.provider, req.user, tok, req.device, "removed");
        return E.right({ devices: listed.right.left.map((d) => ({ device: d.device, registrationId: d.registrationId })) });
      });
    },
  });

  // ---- lookups by any provider ----

  const devices = endpoint<DevicesRequest, DevicesResponse>({
    op: "devices",
    schema: DevicesRequestS,
    handle: (req, ctx) => async () => {
      const limited = gate(ctx.provider, [[buckets.lookupsPerProvider, ctx.provider]]);
      if (limited !== null) return E.left(limited);
      const tok = store.userToken(req.provider, req.user);
      const cur = await store.lists.get(store.listKey(tok));
      if (E.isLeft(cur)) return cur;
      if (cur.right === null || cur.right.value.devices.length === 0) return miss(ctx.provider);
      if (ctx.provider !== req.provider) await interest.note(tok, ctx.provider);
      return E.right({ devices: cur.right.value.devices.map((d) => ({ device: d.device, registrationId: d.registrationId })) });
    },
  });

  interface Claimed {
    readonly bundle: Bundle;
    /** Counts to announce: this claim took the device under the low-water mark. */
    readonly low?: KeyCounts;
  }

  /**
   * One device's bundle: pops its oldest one-time keys with compare-and-swap on the device entry.
   * `read` is the entry just read, or undefined to use what this actor remembers (when that has
   * been current lately) or else read it. The write proves a remembered copy current, so a stale
   * one costs a conflict and a reload, never a key served twice.
   */
  const claimDevice = async (
    heads: Heads,
    tok: string,
    device: DeviceId,
    read: Versioned<DeviceKeys> | null | undefined,
  ): Promise<Either<ServiceError, Claimed | null>> => {
    const key = store.deviceKey(tok, device);
    const prev = heads.get(key);
    let cur: Versioned<DeviceKeys> | null = null;
    let isFresh = false;
    // Whether the remembered copy is worth using next time: it was current when last checked.
    let trust = true;
    const fresh = (got: Versioned<DeviceKeys> | null): void => {
      cur = got;
      isFresh = true;
      if (prev !== undefined && (got === null || got.revision !== prev.cur.revision)) trust = false;
    };
    const reload = async (): Promise<ServiceError | null> => {
      const got = await store.devices.get(key);
      if (E.isLeft(got)) return got.left;
      fresh(got.right);
      return null;
    };
    if (read !== undefined) fresh(read);
    else if (prev?.trusted === true) cur = prev.cur;
    else {
      const err = await reload();
      if (err !== null) return E.left(err);
    }
    for (let attempt = 0; ; attempt++) {
      if (cur === null) {
        heads.delete(key);
        return E.right(null);
      }
      const c: Versioned<DeviceKeys> = cur;
      const pop = popKeys(c.value, lowWater);
      if (pop === null) {
        // Nothing to write, so nothing proves a remembered entry current: read it.
        if (!isFresh) {
          const err = await reload();
          if (err !== null) return E.left(err);
          continue;
        }
        heads.set(key, { cur: c, trusted: trust });
        return E.right({ bundle: bundleOf(device, c.value) });
      }
      // Material before the write: if it cannot be read, nothing has been consumed.
      const ecBatch = pop.ec === undefined ? null : await material.get(store.batchKey(tok, device, pop.ec.batch));
      const kyberBatch = pop.kyber === undefined ? null : await material.get(store.batchKey(tok, device, pop.kyber.batch));
      if (ecBatch !== null && E.isLeft(ecBatch)) return ecBatch;
      if (kyberBatch !== null && E.isLeft(kyberBatch)) return kyberBatch;
      const preKey = pop.ec === undefined ? undefined : ecBatch?.right?.ec.get(pop.ec.id);
      const kyberPreKey = pop.kyber === undefined ? undefined : kyberBatch?.right?.kyber.get(pop.kyber.id);
      const lost = [
        ...(pop.ec !== undefined && preKey === undefined ? [pop.ec.batch] : []),
        ...(pop.kyber !== undefined && kyberPreKey === undefined ? [pop.kyber.batch] : []),
      ];
      const next: DeviceKeys =
        lost.length === 0 ? pop.next : { ...c.value, batches: c.value.batches.filter((b) => !lost.includes(b.id)) };
      if (lost.length > 0) log.error("one-time key batch missing; dropping it from the device", { batches: lost.length });
      const w = await store.devices.put(key, next, c.revision);
      if (E.isRight(w)) {
        cur = { value: next, revision: w.right };
        heads.set(key, { cur, trusted: trust });
        if (lost.length > 0) continue;
        dropBatches(tok, device, pop.garbage);
        return E.right({ bundle: bundleOf(device, next, preKey, kyberPreKey), ...(pop.low ? { low: pop.counts } : {}) });
      }
      heads.delete(key);
      // Another writer (another instance, an upload): read first next time until it is quiet.
      trust = false;
      if (w.left.code !== ErrorCode.Conflict || attempt >= CAS_RETRIES) return w;
      await backoff(attempt);
      const err = await reload();
      if (err !== null) return E.left(err);
    }
  };

  const claim = endpoint<ClaimRequest, ClaimResponse, Heads>({
    op: "claim",
    schema: ClaimRequestS,
    key: (req) => store.userToken(req.provider, req.user),
    handle: (req, ctx, cell: ActorCell<Heads> | undefined) => async () => {
      const tok = store.userToken(req.provider, req.user);
      const limited = gate(ctx.provider, [
        [buckets.claimsPerProvider, ctx.provider],
        [buckets.claimsPerTarget, `${ctx.provider}.${tok}`],
      ]);
      if (limited !== null) return E.left(limited);
      const heads: Heads = cell === undefined ? new Map() : (cell.state ??= new Map());

      // `read`: the entry as just read; undefined: let claimDevice use what the actor remembers.
      let targets: Array<{ device: DeviceId; read: Versioned<DeviceKeys> | undefined }>;
      if (req.devices !== undefined) {
        // Named devices: all must exist before any key is taken, so a miss consumes nothing.
        const named = [...new Set<DeviceId>(req.devices)];
        const found = await Promise.all(
          named.map(async (device) => {
            if (heads.get(store.deviceKey(tok, device))?.trusted === true) return E.right({ device, read: undefined });
            const got = await store.devices.get(store.deviceKey(tok, device));
            return E.isLeft(got) ? got : E.right({ device, read: got.right });
          }),
        );
        targets = [];
        for (const f of found) {
          if (E.isLeft(f)) return f;
          if (f.right.read === null) return miss(ctx.provider);
          targets.push({ device: f.right.device, read: f.right.read });
        }
      } else {
        const list = await store.lists.get(store.listKey(tok));
        if (E.isLeft(list)) return list;
        if (list.right === null || list.right.value.devices.length === 0) return miss(ctx.provider);
        targets = list.right.value.devices.map((d) => ({ device: d.device, read: undefined }));
      }

      const results = await Promise.all(targets.map((t) => claimDevice(heads, tok, t.device, t.read)));
      const claimed: Claimed[] = [];
      for (const r of results) if (E.isRight(r) && r.right !== null) claimed.push(r.right);
      // Announced even if another device of the claim failed: the flag that says so is written.
      for (const c of claimed) {
        if (c.low === undefined) continue;
        env.nc.publish(
          eventSubject(Service.Keys, "low", req.provider),
          codec.encode({ v: 1, user: req.user, device: c.bundle.deviceId, preKeys: c.low.preKeys, kyberPreKeys: c.low.kyberPreKeys }),
        );
      }
      for (const r of results) if (E.isLeft(r)) return r;
      // A named device removed meanwhile, or every listed one: the same miss as always.
      if (claimed.length === 0 || (req.devices !== undefined && claimed.length !== targets.length)) return miss(ctx.provider);
      claimed.sort((a, b) => a.bundle.deviceId - b.bundle.deviceId);
      if (ctx.provider !== req.provider) await interest.note(tok, ctx.provider);
      return E.right({ bundles: claimed.map((c) => c.bundle) });
    },
  });

  host.serve([upload, rotate, count, remove, devices, claim]);
  return {
    name: "key-directory",
    stats: () => host.stats(),
    stop: async () => {
      await host.drain();
      await writes.close();
    },
  };
};
