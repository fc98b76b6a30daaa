import * as E from "fp-ts/lib/Either.js";
import type { Either } from "fp-ts/lib/Either.js";
import type { ServiceError } from "@interlink/actor";
import type { InterlinkClient, UserAddress } from "@interlink/client";
import type { DeviceId } from "@interlink/subjects";

/**
 * Recipients' device lists for sending, kept for a short while: a stale list costs nothing but a
 * retry, because delivery answers mismatched or stale devices and the sender then fixes its
 * list. Entries go at once on key-directory's device events and on any mismatch.
 */
export class DeviceLists {
  readonly #m = new Map<string, { devices: DeviceId[]; at: number }>();

  constructor(
    private readonly client: InterlinkClient,
    private readonly now: () => number,
    private readonly ttlMs = 10_000,
    private readonly max = 50_000,
  ) {}

  #key(a: UserAddress): string {
    return `${a.provider}/${a.user}`;
  }

  async get(a: UserAddress): Promise<Either<ServiceError, DeviceId[]>> {
    const k = this.#key(a);
    const hit = this.#m.get(k);
    if (hit !== undefined && this.now() - hit.at < this.ttlMs) return E.right(hit.devices);
    const r = await this.client.keys.devices(a);
    if (E.isLeft(r)) return r;
    const devices = r.right.devices.map((d) => d.device);
    if (this.#m.size >= this.max) this.#m.clear();
    this.#m.set(k, { devices, at: this.now() });
    return E.right(devices);
  }

  drop(a: { provider: string; user: string }): void {
    this.#m.delete(`${a.provider}/${a.user}`);
  }
}
