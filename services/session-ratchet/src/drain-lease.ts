import { randomBytes } from "node:crypto";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { FastJs, FastKv } from "@interlink/actor";
import type { LocalDevice } from "@interlink/client";
import type { ProviderId } from "@interlink/subjects";
import { opaqueToken } from "@interlink/subjects";

export const leaseBucket = (provider: ProviderId): string => `ilk_ratchet_leases_${provider.replace(/-/g, "_")}`;

interface Lease {
  readonly o: string;
  readonly u: number;
}

/**
 * Which instance of a provider's edge drains a device right now. Two instances draining one
 * queue would both decrypt its head and both hand it to the app before either saved the session;
 * a lease (compare-and-swap on a KV entry holding owner and expiry) lets one drain at a time. A
 * holder that dies loses the lease when it expires, and the periodic sweep picks the device up.
 */
export class DrainLeases {
  readonly #kv: FastKv;
  readonly #me = randomBytes(8).toString("hex");
  readonly #enc = new TextEncoder();
  readonly #dec = new TextDecoder();

  private constructor(
    kv: FastKv,
    private readonly secret: Uint8Array,
    private readonly leaseMs: number,
    private readonly now: () => number,
  ) {
    this.#kv = kv;
  }

  static async open(nc: NatsConnection, provider: ProviderId, secret: Uint8Array, replicas: number, now: () => number, leaseMs = 15_000): Promise<DrainLeases> {
    const bucket = leaseBucket(provider);
    const kvm = new Kvm(nc);
    await kvm.create(bucket, { replicas, history: 1, ttl: 24 * 60 * 60 * 1000, allow_direct: true }).catch(() => kvm.open(bucket));
    return new DrainLeases(new FastKv(new FastJs(nc), bucket), secret, leaseMs, now);
  }

  #key(d: LocalDevice): string {
    return `l.${opaqueToken(this.secret, "drain", d.user, d.device)}`;
  }

  /** True when this instance holds the device's lease for the next `leaseMs` (taken or renewed). */
  async acquire(d: LocalDevice): Promise<boolean> {
    const key = this.#key(d);
    try {
      const cur = await this.#kv.get(key);
      let revision = 0;
      if (cur !== null) {
        revision = cur.revision;
        if (!cur.deleted) {
          const held = this.#parse(cur.value);
          if (held !== null && held.o !== this.#me && held.u > this.now()) return false;
        }
      }
      await this.#kv.put(key, this.#enc.encode(JSON.stringify({ o: this.#me, u: this.now() + this.leaseMs } satisfies Lease)), revision);
      return true;
    } catch {
      // Lost the race (another instance took it) or the store is down: do not drain now.
      return false;
    }
  }

  /** Gives the lease up early, so another instance's trigger need not wait for it to expire. */
  async release(d: LocalDevice): Promise<void> {
    const key = this.#key(d);
    try {
      const cur = await this.#kv.get(key);
      if (cur === null || cur.deleted || this.#parse(cur.value)?.o !== this.#me) return;
      await this.#kv.put(key, this.#enc.encode(JSON.stringify({ o: this.#me, u: 0 } satisfies Lease)), cur.revision);
    } catch {
      // It expires on its own.
    }
  }

  #parse(b: Uint8Array): Lease | null {
    try {
      const v = JSON.parse(this.#dec.decode(b)) as Partial<Lease>;
      return typeof v.o === "string" && typeof v.u === "number" ? { o: v.o, u: v.u } : null;
    } catch {
      return null;
    }
  }

  close(): void {
    this.#kv.close();
  }
}
