import {
  CiphertextMessageType,
  Direction,
  IdentityChange,
  IdentityKeyPair,
  IdentityKeyStore,
  KyberPreKeyRecord,
  KyberPreKeyStore,
  PreKeyRecord,
  PreKeySignalMessage,
  PreKeyStore,
  PrivateKey,
  ProtocolAddress,
  PublicKey,
  SessionRecord,
  SessionStore,
  SignalMessage,
  SignedPreKeyRecord,
  SignedPreKeyStore,
  processPreKeyBundle,
  signalDecrypt,
  signalDecryptPreKey,
  signalEncrypt,
} from "@signalapp/libsignal-client";
import * as E from "fp-ts/lib/Either.js";
import type { Either } from "fp-ts/lib/Either.js";
import type { CryptoError } from "./errors.js";
import { CryptoErrorCode, cryptoError, fromLibsignal } from "./errors.js";
import { ab, toPreKeyBundle } from "./keys.js";
import type { ClaimedBundle } from "./types.js";

/**
 * The state one session operation works on: the local identity, the one session record and the
 * one remote identity it touches. The caller loads it (from KV), runs one operation, and writes
 * back what changed with compare-and-swap; libsignal itself never touches storage.
 */
export interface SessionScope {
  readonly identity: IdentityKeyPair;
  readonly registrationId: number;
  session: SessionRecord | null;
  remoteIdentity: PublicKey | null;
  sessionChanged: boolean;
  identityChanged: boolean;
  /** A remote identity key we had stored was replaced by another one in this operation. */
  identityReplaced: boolean;
  /** "accept-changes": trust on first use, accept and flag later changes; "strict": refuse them. */
  readonly trust: "accept-changes" | "strict";
}

export const newScope = (
  identity: IdentityKeyPair,
  registrationId: number,
  session: Uint8Array | null,
  remoteIdentity: Uint8Array | null,
  trust: SessionScope["trust"] = "accept-changes",
): SessionScope => ({
  trust,
  identity,
  registrationId,
  session: session === null ? null : SessionRecord.deserialize(ab(session)),
  remoteIdentity: remoteIdentity === null ? null : PublicKey.deserialize(ab(remoteIdentity)),
  sessionChanged: false,
  identityChanged: false,
  identityReplaced: false,
});

/** Private prekeys of the local device, looked up only when a PreKey message arrives. */
export interface PreKeySource {
  getPreKey(id: number): Promise<Uint8Array | null>;
  removePreKey(id: number): Promise<void>;
  getSignedPreKey(id: number): Promise<Uint8Array | null>;
  getKyberPreKey(id: number): Promise<Uint8Array | null>;
  /** One-time Kyber keys are deleted; a repeated (ids, baseKey) on the last-resort key is refused. */
  markKyberPreKeyUsed(kyberId: number, signedPreKeyId: number, baseKey: Uint8Array): Promise<void>;
}

class ScopeSessions extends SessionStore {
  constructor(private readonly s: SessionScope) {
    super();
  }
  override async saveSession(_name: ProtocolAddress, record: SessionRecord): Promise<void> {
    this.s.session = record;
    this.s.sessionChanged = true;
  }
  override async getSession(): Promise<SessionRecord | null> {
    return this.s.session;
  }
  override async getExistingSessions(): Promise<SessionRecord[]> {
    return this.s.session ? [this.s.session] : [];
  }
}

class ScopeIdentities extends IdentityKeyStore {
  constructor(private readonly s: SessionScope) {
    super();
  }
  override async getIdentityKey(): Promise<PrivateKey> {
    return this.s.identity.privateKey;
  }
  override async getIdentityKeyPair(): Promise<IdentityKeyPair> {
    return this.s.identity;
  }
  override async getLocalRegistrationId(): Promise<number> {
    return this.s.registrationId;
  }
  override async saveIdentity(_name: ProtocolAddress, key: PublicKey): Promise<IdentityChange> {
    const prev = this.s.remoteIdentity;
    if (prev !== null && prev.equals(key)) return IdentityChange.NewOrUnchanged;
    this.s.remoteIdentity = key;
    this.s.identityChanged = true;
    if (prev !== null) this.s.identityReplaced = true;
    return prev === null ? IdentityChange.NewOrUnchanged : IdentityChange.ReplacedExisting;
  }
  // Trust on first use, as Signal does for contacts the user has not verified: the first key is
  // stored; a later different key (a reinstall) is accepted but flagged, so the app can say
  // "safety number changed" and show the new one. A verified-contact policy can refuse here.
  override async isTrustedIdentity(_name: ProtocolAddress, key: PublicKey, _d: Direction): Promise<boolean> {
    return this.s.trust === "accept-changes" || this.s.remoteIdentity === null || this.s.remoteIdentity.equals(key);
  }
  override async getIdentity(): Promise<PublicKey | null> {
    return this.s.remoteIdentity;
  }
}

const missing = (what: string): Error => new Error(`${what} not found`);

class SourcePreKeys extends PreKeyStore {
  constructor(private readonly src: PreKeySource) {
    super();
  }
  override async savePreKey(): Promise<void> {
    throw new Error("prekeys are not saved during decryption");
  }
  override async getPreKey(id: number): Promise<PreKeyRecord> {
    const r = await this.src.getPreKey(id);
    if (r === null) throw missing("prekey");
    return PreKeyRecord.deserialize(ab(r));
  }
  override async removePreKey(id: number): Promise<void> {
    await this.src.removePreKey(id);
  }
}

class SourceSignedPreKeys extends SignedPreKeyStore {
  constructor(private readonly src: PreKeySource) {
    super();
  }
  override async saveSignedPreKey(): Promise<void> {
    throw new Error("signed prekeys are not saved during decryption");
  }
  override async getSignedPreKey(id: number): Promise<SignedPreKeyRecord> {
    const r = await this.src.getSignedPreKey(id);
    if (r === null) throw missing("signed prekey");
    return SignedPreKeyRecord.deserialize(ab(r));
  }
}

class SourceKyberPreKeys extends KyberPreKeyStore {
  constructor(private readonly src: PreKeySource) {
    super();
  }
  override async saveKyberPreKey(): Promise<void> {
    throw new Error("kyber prekeys are not saved during decryption");
  }
  override async getKyberPreKey(id: number): Promise<KyberPreKeyRecord> {
    const r = await this.src.getKyberPreKey(id);
    if (r === null) throw missing("kyber prekey");
    return KyberPreKeyRecord.deserialize(ab(r));
  }
  override async markKyberPreKeyUsed(kyberId: number, signedPreKeyId: number, baseKey: PublicKey): Promise<void> {
    await this.src.markKyberPreKeyUsed(kyberId, signedPreKeyId, baseKey.serialize());
  }
}

export const MessageType = { Whisper: CiphertextMessageType.Whisper, PreKey: CiphertextMessageType.PreKey } as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

export interface Ciphertext {
  readonly type: MessageType;
  readonly body: Uint8Array;
}

export const hasSession = (s: SessionScope, now: Date): boolean => s.session !== null && s.session.hasCurrentState(now);

/** PQXDH: starts a session from a claimed bundle (the sender side). */
export const startSession = async (
  s: SessionScope,
  bundle: ClaimedBundle,
  remote: ProtocolAddress,
  local: ProtocolAddress,
  now: Date,
): Promise<Either<CryptoError, void>> => {
  const b = toPreKeyBundle(bundle);
  if (E.isLeft(b)) return b;
  try {
    await processPreKeyBundle(b.right, remote, local, new ScopeSessions(s), new ScopeIdentities(s), now);
    return E.right(undefined);
  } catch (err) {
    return E.left(fromLibsignal(err, "session setup"));
  }
};

export const encrypt = async (
  s: SessionScope,
  plaintext: Uint8Array,
  remote: ProtocolAddress,
  local: ProtocolAddress,
  now: Date,
): Promise<Either<CryptoError, Ciphertext>> => {
  if (!hasSession(s, now)) return E.left(cryptoError(CryptoErrorCode.NoSession, "encrypt: no usable session"));
  try {
    const m = await signalEncrypt(ab(plaintext), remote, local, new ScopeSessions(s), new ScopeIdentities(s), now);
    const type = m.type();
    if (type !== MessageType.Whisper && type !== MessageType.PreKey) {
      return E.left(cryptoError(CryptoErrorCode.Failed, "encrypt: unexpected message type"));
    }
    return E.right({ type, body: m.serialize() });
  } catch (err) {
    return E.left(fromLibsignal(err, "encrypt"));
  }
};

export const decrypt = async (
  s: SessionScope,
  c: Ciphertext,
  remote: ProtocolAddress,
  local: ProtocolAddress,
  keys: PreKeySource,
): Promise<Either<CryptoError, Uint8Array>> => {
  try {
    if (c.type === MessageType.PreKey) {
      const m = PreKeySignalMessage.deserialize(ab(c.body));
      return E.right(
        await signalDecryptPreKey(
          m,
          remote,
          local,
          new ScopeSessions(s),
          new ScopeIdentities(s),
          new SourcePreKeys(keys),
          new SourceSignedPreKeys(keys),
          new SourceKyberPreKeys(keys),
        ),
      );
    }
    const m = SignalMessage.deserialize(ab(c.body));
    return E.right(await signalDecrypt(m, remote, local, new ScopeSessions(s), new ScopeIdentities(s)));
  } catch (err) {
    return E.left(fromLibsignal(err, "decrypt"));
  }
};

export const protocolAddress = (name: string, deviceId: number): ProtocolAddress => ProtocolAddress.new(name, deviceId);
