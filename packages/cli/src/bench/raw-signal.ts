import { isMainThread, parentPort, workerData } from "node:worker_threads";
import {
  IdentityChange,
  IdentityKeyPair,
  IdentityKeyStore,
  KEMKeyPair,
  KyberPreKeyRecord,
  KyberPreKeyStore,
  PreKeyBundle,
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
  CiphertextMessageType,
} from "@signalapp/libsignal-client";

// The baseline for `bench ratchet`: libsignal with in-memory stores and nothing else, one
// session pair per thread, encrypt then decrypt in a loop.

class Mem extends SessionStore {
  readonly m = new Map<string, SessionRecord>();
  override async saveSession(a: ProtocolAddress, r: SessionRecord) {
    this.m.set(a.toString(), r);
  }
  override async getSession(a: ProtocolAddress) {
    return this.m.get(a.toString()) ?? null;
  }
  override async getExistingSessions(as: ProtocolAddress[]) {
    return as.map((a) => this.m.get(a.toString())!).filter(Boolean);
  }
}
class Ids extends IdentityKeyStore {
  readonly seen = new Map<string, PublicKey>();
  constructor(private readonly me: IdentityKeyPair, private readonly reg: number) {
    super();
  }
  override async getIdentityKey() {
    return this.me.privateKey;
  }
  override async getIdentityKeyPair() {
    return this.me;
  }
  override async getLocalRegistrationId() {
    return this.reg;
  }
  override async saveIdentity(a: ProtocolAddress, k: PublicKey) {
    this.seen.set(a.name(), k);
    return IdentityChange.NewOrUnchanged;
  }
  override async isTrustedIdentity() {
    return true;
  }
  override async getIdentity(a: ProtocolAddress) {
    return this.seen.get(a.name()) ?? null;
  }
}
class Pre extends PreKeyStore {
  readonly m = new Map<number, PreKeyRecord>();
  override async savePreKey(id: number, r: PreKeyRecord) {
    this.m.set(id, r);
  }
  override async getPreKey(id: number) {
    return this.m.get(id)!;
  }
  override async removePreKey(id: number) {
    this.m.delete(id);
  }
}
class Spk extends SignedPreKeyStore {
  readonly m = new Map<number, SignedPreKeyRecord>();
  override async saveSignedPreKey(id: number, r: SignedPreKeyRecord) {
    this.m.set(id, r);
  }
  override async getSignedPreKey(id: number) {
    return this.m.get(id)!;
  }
}
class Kyb extends KyberPreKeyStore {
  readonly m = new Map<number, KyberPreKeyRecord>();
  override async saveKyberPreKey(id: number, r: KyberPreKeyRecord) {
    this.m.set(id, r);
  }
  override async getKyberPreKey(id: number) {
    return this.m.get(id)!;
  }
  override async markKyberPreKeyUsed() {}
}

/** Runs `count` encrypt+decrypt pairs of `size`-byte messages on one fresh session; returns ms. */
export const rawSignalLoop = async (count: number, size: number): Promise<number> => {
  const party = (name: string, reg: number) => {
    const id = IdentityKeyPair.generate();
    return { addr: ProtocolAddress.new(name, 1), id, reg, sess: new Mem(), ids: new Ids(id, reg), pre: new Pre(), spk: new Spk(), kyb: new Kyb() };
  };
  const a = party("alice", 1);
  const b = party("bob", 2);
  const pk = PrivateKey.generate();
  await b.pre.savePreKey(1, PreKeyRecord.new(1, pk.getPublicKey(), pk));
  const spk = PrivateKey.generate();
  const spkSig = b.id.privateKey.sign(spk.getPublicKey().serialize());
  await b.spk.saveSignedPreKey(1, SignedPreKeyRecord.new(1, Date.now(), spk.getPublicKey(), spk, spkSig));
  const kem = KEMKeyPair.generate();
  const kemSig = b.id.privateKey.sign(kem.getPublicKey().serialize());
  await b.kyb.saveKyberPreKey(1, KyberPreKeyRecord.new(1, Date.now(), kem, kemSig));
  const bundle = PreKeyBundle.new(2, 1, 1, pk.getPublicKey(), 1, spk.getPublicKey(), spkSig, b.id.publicKey, 1, kem.getPublicKey(), kemSig);
  await processPreKeyBundle(bundle, b.addr, a.addr, a.sess, a.ids);
  const pt = new Uint8Array(size).fill(42);
  // One round trip first, so the measured messages are ordinary (Whisper) ones, as in a conversation.
  const first = await signalEncrypt(pt, b.addr, a.addr, a.sess, a.ids);
  await signalDecryptPreKey(PreKeySignalMessage.deserialize(first.serialize()), a.addr, b.addr, b.sess, b.ids, b.pre, b.spk, b.kyb);
  const reply = await signalEncrypt(pt, a.addr, b.addr, b.sess, b.ids);
  await signalDecrypt(SignalMessage.deserialize(reply.serialize()), b.addr, a.addr, a.sess, a.ids);
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    const c = await signalEncrypt(pt, b.addr, a.addr, a.sess, a.ids);
    if (c.type() !== CiphertextMessageType.Whisper) throw new Error("unexpected message type");
    await signalDecrypt(SignalMessage.deserialize(c.serialize()), a.addr, b.addr, b.sess, b.ids);
  }
  return performance.now() - t0;
};

if (!isMainThread && (workerData as { rawSignal?: boolean } | null)?.rawSignal === true) {
  const { count, size } = workerData as { count: number; size: number };
  void rawSignalLoop(count, size).then((ms) => parentPort?.postMessage({ ms }));
}
