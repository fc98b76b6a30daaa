import { createHash, randomBytes } from "node:crypto";
import * as E from "fp-ts/lib/Either.js";
import type { Either } from "fp-ts/lib/Either.js";
import type { Logger, ServiceError } from "@interlink/actor";
import { ErrorCode, serviceError } from "@interlink/actor";
import type { DeviceAddress, InterlinkClient, UserAddress } from "@interlink/client";
import { DeliveryErrorCode } from "@interlink/client";
import type { DeviceId } from "@interlink/subjects";
import type { ContentBody } from "@interlink/wire";
import { encodeContent } from "@interlink/wire";
import type { DeviceSecrets } from "../records.js";
import type { SentLog } from "../sent-log.js";
import type { SessionEngine } from "./engine.js";
import type { DeviceLists } from "../device-lists.js";

export const newMessageId = (): string => randomBytes(16).toString("base64url");

interface DeviceCiphertext {
  device: DeviceId;
  registrationId: number;
  type: number;
  body: Uint8Array;
}

const detailList = (e: ServiceError, key: string): DeviceId[] => {
  const v = e.details?.[key];
  return Array.isArray(v) ? v.filter((x): x is DeviceId => typeof x === "number" && Number.isInteger(x) && x >= 1 && x <= 127) : [];
};

/**
 * Encrypts one content record for every device of the recipient and hands it to delivery. When
 * delivery says the device list moved on (missing, extra, stale), it fixes sessions and tries
 * again, so the app never sees that error. Then the sender's own other devices get a copy
 * marked with the conversation it went to (Signal's sent transcript).
 *
 * Messages that can be read or played (text, attachments) are written to the sent log first,
 * so a read or played receipt for them is believed only from the recipient they went to.
 */
export const sendContent = async (
  deps: SendDeps,
  dev: DeviceSecrets,
  to: UserAddress,
  body: ContentBody,
  id: string = newMessageId(),
): Promise<Either<ServiceError, { id: string; devices: number }>> => {
  const sentAt = deps.now();
  const self: UserAddress = { provider: deps.client.provider, user: dev.user };
  const toSelf = to.provider === self.provider && to.user === self.user;
  if (deps.sentLog !== undefined && !toSelf && (body.t === "text" || body.t === "attachment")) {
    const logged = await deps.sentLog.logSent(dev.user, id, to, sentAt);
    if (E.isLeft(logged)) return logged;
  }
  const sent = await sendToUser(deps, dev, to, id, sentAt, encodeContent({ v: 1, id, sentAt, body }));
  if (E.isLeft(sent)) return sent;
  if (!toSelf) {
    // Its own envelope id: delivery accepts each (sender, envelope id) once, and the copy is a
    // different envelope from the message itself. The content inside keeps the message's id.
    const copyId = createHash("sha256").update(`copy:${id}`).digest("base64url").slice(0, 43);
    const copy = await sendToUser(deps, dev, self, copyId, sentAt, encodeContent({ v: 1, id, sentAt, body, sentTo: to }));
    // The recipient has the message; a missing copy on the sender's other devices is not the
    // app's error to handle, so it is logged, not returned.
    if (E.isLeft(copy)) deps.log?.warn("copy to own devices failed", { code: copy.left.code });
  }
  return E.right({ id, devices: sent.right });
};

export interface SendDeps {
  readonly client: InterlinkClient;
  readonly engine: SessionEngine;
  readonly now: () => number;
  readonly log?: Logger;
  /** Where read/played receipts are checked later; without it nothing is logged. */
  readonly sentLog?: SentLog;
  readonly devices: DeviceLists;
}

/** Right: the number of devices the message was stored for. */
const sendToUser = async (
  deps: SendDeps,
  dev: DeviceSecrets,
  to: UserAddress,
  id: string,
  sentAt: number,
  plaintext: Uint8Array,
): Promise<Either<ServiceError, number>> => {
  const listed = await deps.devices.get(to);
  if (E.isLeft(listed)) return listed;
  const self = to.provider === deps.client.provider && to.user === dev.user;
  let devices: DeviceId[] = listed.right.filter((d) => !(self && d === dev.device));
  // Sessions whose remote was re-registered, to be rebuilt from a fresh bundle.
  const fresh = new Set<DeviceId>();

  for (let attempt = 0; attempt < 4; attempt++) {
    const out: DeviceCiphertext[] = [];
    for (const device of devices) {
      const remote: DeviceAddress = { ...to, device };
      const r = await deps.engine.encrypt(dev, remote, plaintext, fresh.has(device));
      if (E.isLeft(r)) return r;
      out.push({ device, ...r.right });
    }
    fresh.clear();
    if (out.length === 0) return E.right(0);
    const sent = await deps.client.delivery.send({ id, from: { user: dev.user, device: dev.device }, to, sentAt, messages: out });
    if (E.isRight(sent)) return E.right(out.length);
    const err = sent.left;
    if (err.code === DeliveryErrorCode.MismatchedDevices || err.code === DeliveryErrorCode.StaleDevices) deps.devices.drop(to);
    if (err.code === DeliveryErrorCode.MismatchedDevices) {
      const missing = detailList(err, "missing");
      const extra = new Set(detailList(err, "extra"));
      for (const d of extra) await deps.engine.forget(dev, { ...to, device: d });
      devices = [...devices.filter((d) => !extra.has(d)), ...missing.filter((d) => !devices.includes(d))];
      continue;
    }
    if (err.code === DeliveryErrorCode.StaleDevices) {
      for (const d of detailList(err, "stale")) fresh.add(d);
      continue;
    }
    // The app retried a send delivery had already accepted under this id (our new encryption
    // differs, so delivery calls it a reuse): the message is out, answer as the first time did.
    if (err.code === DeliveryErrorCode.MessageIdReused) return E.right(out.length);
    return sent;
  }
  return E.left(serviceError(ErrorCode.Conflict, "recipient's devices kept changing", { retryable: true }));
};
