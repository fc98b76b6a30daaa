import type { NatsConnection } from "@nats-io/transport-node";
import type { KV, KvEntry } from "@nats-io/kv";
import { Kvm, KvWatchInclude } from "@nats-io/kv";
import type { ServiceError } from "@interlink/actor";
import { ErrorCode, serviceError } from "@interlink/actor";
import type { ProviderId } from "@interlink/subjects";
import { isReservedProviderId, parseProviderId } from "@interlink/subjects";
import { createCodec, decodeWith } from "@interlink/wire";
import * as E from "fp-ts/lib/Either.js";
import type { ProviderRecord } from "./records.js";
import { DEFAULT_PROTOCOL, ProviderRecordS } from "./records.js";

/** KV bucket (in the hub's account) holding one ProviderRecord per provider id. */
export const PROVIDERS_BUCKET = "ilk_providers";

const codec = createCodec();

export interface Versioned<T> {
  readonly value: T;
  readonly revision: number;
}

const decodeEntry = (e: KvEntry | null): ProviderRecord | null => {
  if (e === null || e.operation !== "PUT" || e.value.length === 0) return null;
  const r = decodeWith(codec, ProviderRecordS, e.value);
  return E.isRight(r) ? r.right : null;
};

/**
 * The enrolled providers, read and written by `interlink provider add|list|remove` as the hub.
 * Writes are compare-and-swap on the entry's revision, so two concurrent enrollments of one id
 * cannot both win.
 */
export class ProviderRegistry {
  private constructor(readonly kv: KV) {}

  /** Opens the bucket, creating it (history 5, so a removal can be looked back on) if missing. */
  static async open(nc: NatsConnection, opts: { replicas?: number } = {}): Promise<ProviderRegistry> {
    const kv = await new Kvm(nc).create(PROVIDERS_BUCKET, { replicas: opts.replicas ?? 1, history: 5 });
    return new ProviderRegistry(kv);
  }

  async get(id: ProviderId): Promise<Versioned<ProviderRecord> | null> {
    const e = await this.kv.get(id);
    const record = decodeEntry(e);
    return record === null || e === null ? null : { value: record, revision: e.revision };
  }

  async list(): Promise<ProviderRecord[]> {
    const keys: string[] = [];
    for await (const k of await this.kv.keys()) keys.push(k);
    const out: ProviderRecord[] = [];
    for (const k of keys.sort()) {
      const r = decodeEntry(await this.kv.get(k));
      if (r !== null) out.push(r);
    }
    return out;
  }

  /** Writes `record` if the entry is still at `revision` (0: must not exist). Left on a conflict. */
  async put(record: ProviderRecord, revision: number): Promise<E.Either<ServiceError, number>> {
    const bytes = codec.encode(record);
    try {
      const rev = revision === 0 ? await this.kv.create(record.id, bytes) : await this.kv.update(record.id, bytes, revision);
      return E.right(rev);
    } catch {
      return E.left(serviceError(ErrorCode.Conflict, "the provider entry changed meanwhile; try again", { retryable: true }));
    }
  }
}

/** Error codes of the gate, beside the common ones. */
export const ProviderErrorCode = {
  /** The envelope names a protocol its sender did not declare at enrollment. */
  ProtocolNotDeclared: "protocol_not_declared",
  /** The recipient's provider did not declare the envelope's protocol: it could not read it. */
  ProtocolNotSupportedByRecipient: "protocol_not_supported_by_recipient",
  /** The recipient's provider is not enrolled (or was removed). */
  UnknownRecipient: "unknown_recipient",
} as const;

/**
 * The registry as the hub services read it: an in-memory copy kept current by a KV watch, so
 * a check on the hot path is a map lookup. When nothing is enrolled (a development set-up on a
 * plain nats-server, where isolation is off) it lets every provider and protocol through.
 */
export class ProviderGate {
  readonly #records = new Map<string, ProviderRecord>();
  #stopped = false;
  #watcher: { stop(): void } | undefined;

  private constructor() {}

  /** Reads the registry and follows its changes; creates the bucket if it does not exist yet. */
  static async start(nc: NatsConnection, opts: { replicas?: number } = {}): Promise<ProviderGate> {
    const registry = await ProviderRegistry.open(nc, opts);
    const gate = new ProviderGate();
    const iter = await registry.kv.watch({ include: KvWatchInclude.LastValue });
    gate.#watcher = iter;
    let ready: () => void = () => undefined;
    const initialized = new Promise<void>((r) => (ready = r));
    // Initial values arrive with `delta` counting down to 0; an empty bucket sends none.
    if ((await registry.kv.status()).values === 0) ready();
    void (async () => {
      for await (const e of iter) {
        if (gate.#stopped) break;
        const r = decodeEntry(e);
        if (r === null) gate.#records.delete(e.key);
        else gate.#records.set(e.key, r);
        if (e.isUpdate || (e.delta ?? 0) === 0) ready();
      }
    })();
    // Never wait forever on a watch that reports nothing.
    await Promise.race([initialized, new Promise((r) => setTimeout(r, 2_000).unref())]);
    return gate;
  }

  /** For tests and for services that load the records some other way. */
  static fromRecords(records: readonly ProviderRecord[]): ProviderGate {
    const gate = new ProviderGate();
    for (const r of records) gate.#records.set(r.id, r);
    return gate;
  }

  /** True while no provider is enrolled: nothing is enforced. */
  get open(): boolean {
    return this.#records.size === 0;
  }

  /** The active enrollment of `provider`, if any. */
  get(provider: ProviderId): ProviderRecord | undefined {
    const r = this.#records.get(provider);
    return r?.status === "active" ? r : undefined;
  }

  /** Whether `provider` may send an envelope of `protocol` (absent: the default protocol). */
  checkSender(provider: ProviderId, protocol: string | undefined): ServiceError | undefined {
    if (this.open) return undefined;
    const r = this.get(provider);
    if (r === undefined) return serviceError(ErrorCode.Forbidden, "the sending provider is not enrolled");
    const p = protocol ?? DEFAULT_PROTOCOL;
    if (!r.protocols.includes(p)) {
      return serviceError(ProviderErrorCode.ProtocolNotDeclared, "the sending provider did not declare this end-to-end protocol", {
        details: { protocol: p, declared: [...r.protocols] },
      });
    }
    return undefined;
  }

  /** Whether `recipient`'s provider is enrolled and declared `protocol`. */
  checkRecipient(recipient: ProviderId, protocol: string | undefined): ServiceError | undefined {
    if (this.open) return undefined;
    const r = this.get(recipient);
    if (r === undefined) return serviceError(ProviderErrorCode.UnknownRecipient, "the recipient's provider is not enrolled");
    const p = protocol ?? DEFAULT_PROTOCOL;
    if (!r.protocols.includes(p)) {
      return serviceError(ProviderErrorCode.ProtocolNotSupportedByRecipient, "the recipient's provider did not declare this end-to-end protocol", {
        details: { protocol: p },
      });
    }
    return undefined;
  }

  /** Both checks of a send: the hook delivery's send handler calls before storing anything. */
  checkSend(sender: ProviderId, protocol: string | undefined, recipient: ProviderId): ServiceError | undefined {
    return this.checkSender(sender, protocol) ?? this.checkRecipient(recipient, protocol);
  }

  stop(): void {
    this.#stopped = true;
    this.#watcher?.stop();
  }
}

/** Validates a provider id given on a command line. */
export const providerId = (u: string): E.Either<string, ProviderId> =>
  E.chain((p: ProviderId) => (isReservedProviderId(p) ? E.left(`provider id: "${p}" is reserved for the hub's own calls`) : E.right(p)))(
    E.mapLeft((e: { message: string }) => e.message)(parseProviderId(u)),
  );
