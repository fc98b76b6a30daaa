import * as E from "fp-ts/lib/Either.js";
import type { Either } from "fp-ts/lib/Either.js";
import type { RunningService, ServiceEnv, ServiceError } from "@interlink/actor";
import { ErrorCode, ServiceHost, endpoint, serviceError } from "@interlink/actor";
import type { ClaimResponse, DevicesResponse, KeyCounts } from "@interlink/client";
import { ClaimRequestS, DevicesRequestS, KeyErrorCode, UploadRequestS } from "@interlink/client";
import type { ClaimRequest, DevicesRequest, UploadRequest } from "@interlink/client";
import { verifyUpload } from "@interlink/crypto";
import { Service, eventSubject } from "@interlink/subjects";
import { createCodec } from "@interlink/wire";
import { addKeys, takeKeys } from "./actors/prekey-pool.js";
import type { StoredDevice, UserDevices } from "./records.js";
import type { KeyStore } from "./store.js";
import { openKeyStore } from "./store.js";

// Every miss (unknown user, unknown device, no keys) answers the same, so a claimer cannot tell
// which users exist from the error.
const noBundle = (): ServiceError => serviceError(ErrorCode.NotFound, "no key bundle available for that address");

const upsertDevice = (req: UploadRequest, now: number) => (cur: { value: UserDevices } | null) => {
  const devices = cur?.value.devices ?? [];
  const prev = devices.find((d) => d.device === req.device);
  const entry: StoredDevice = {
    device: req.device,
    registrationId: req.registrationId,
    identityKey: req.identityKey,
    signedPreKey: req.signedPreKey,
    kyberLastResort: req.kyberLastResort,
    updatedAt: now,
  };
  const changed =
    prev === undefined ||
    prev.registrationId !== req.registrationId ||
    !Buffer.from(prev.identityKey).equals(Buffer.from(req.identityKey));
  const next: UserDevices = { v: 1, devices: [...devices.filter((d) => d.device !== req.device), entry].sort((a, b) => a.device - b.device) };
  return E.right({ write: next, result: changed });
};

export const startKeyDirectory = async (env: ServiceEnv): Promise<RunningService> => {
  const store: KeyStore = await openKeyStore(env.nc, env.secret, env.replicas);
  const codec = createCodec();
  const host = new ServiceHost({ service: Service.Keys, nc: env.nc, log: env.log, clock: env.clock });

  const upload = endpoint<UploadRequest, KeyCounts>({
    op: "upload",
    schema: UploadRequestS,
    key: (req, ctx) => store.userKey(ctx.provider, req.user),
    handle: (req, ctx) => async () => {
      const ok = verifyUpload(req);
      if (E.isLeft(ok)) return E.left(serviceError(KeyErrorCode.BadKey, ok.left.message));
      const poolKey = store.poolKey(ctx.provider, req.user, req.device);
      const add = addKeys(req.identityKey, req.preKeys, req.kyberPreKeys);
      // Check the one-time keys fit the pool (no duplicate ids, not too many) before the device
      // list is touched, so a refused upload stores nothing.
      const pool = await store.pools.get(poolKey);
      if (E.isLeft(pool)) return pool;
      const fits = add(pool.right);
      if (E.isLeft(fits)) return fits;
      const changed = await store.users.modify(store.userKey(ctx.provider, req.user), upsertDevice(req, env.clock.now()));
      if (E.isLeft(changed)) return changed;
      const counts = await store.pools.modify(poolKey, add);
      if (E.isRight(counts) && changed.right) {
        // Senders re-check devices when told; the event names the user in its payload only.
        env.nc.publish(eventSubject(Service.Keys, "devices", ctx.provider), codec.encode({ v: 1, user: req.user }));
      }
      return counts;
    },
  });

  const devices = endpoint<DevicesRequest, DevicesResponse>({
    op: "devices",
    schema: DevicesRequestS,
    handle: (req) => async () => {
      const cur = await store.users.get(store.userKey(req.provider, req.user));
      if (E.isLeft(cur)) return cur;
      if (cur.right === null) return E.left(noBundle());
      return E.right({ devices: cur.right.value.devices.map((d) => ({ device: d.device, registrationId: d.registrationId })) });
    },
  });

  const claim = endpoint<ClaimRequest, ClaimResponse>({
    op: "claim",
    schema: ClaimRequestS,
    key: (req) => store.userKey(req.provider, req.user),
    handle: (req) => async () => {
      const cur = await store.users.get(store.userKey(req.provider, req.user));
      if (E.isLeft(cur)) return cur;
      if (cur.right === null) return E.left(noBundle());
      const wanted = req.devices === undefined ? undefined : new Set<number>(req.devices);
      const targets = cur.right.value.devices.filter((d) => wanted === undefined || wanted.has(d.device));
      if (targets.length === 0 || (wanted !== undefined && targets.length !== wanted.size)) return E.left(noBundle());
      const bundles: ClaimResponse["bundles"] = [];
      for (const d of targets) {
        const taken = await store.pools.modify(store.poolKey(req.provider, req.user, d.device), takeKeys(d.identityKey));
        if (E.isLeft(taken)) return taken as Either<ServiceError, never>;
        bundles.push({
          deviceId: d.device,
          registrationId: d.registrationId,
          identityKey: d.identityKey,
          signedPreKey: d.signedPreKey,
          ...(taken.right.preKey ? { preKey: taken.right.preKey } : {}),
          // Out of one-time Kyber keys: the signed last-resort key keeps PQXDH possible.
          kyberPreKey: taken.right.kyberPreKey ?? d.kyberLastResort,
        });
      }
      return E.right({ bundles });
    },
  });

  host.serve([upload, devices, claim]);
  return { name: "key-directory", stats: () => host.stats(), stop: () => host.drain() };
};
