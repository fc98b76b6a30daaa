import type { FastJs } from "./fastjs.js";

/** An entry as stored; `deleted` entries are KV delete markers (their revision matters for CAS). */
export interface KvEntry {
  readonly value: Uint8Array;
  readonly revision: number;
  readonly deleted: boolean;
}

const EXPECTED_LAST_SUBJECT_SEQ = "Nats-Expected-Last-Subject-Sequence";

/**
 * The KV operations on a hot path (get, compare-and-swap put, delete) over FastJs, in the KV wire
 * format nats.js and the nats CLI use (`$KV.<bucket>.<key>` in stream `KV_<bucket>`, delete markers
 * with `KV-Operation: DEL`), so buckets stay readable by standard tools. Create the bucket with
 * nats.js (`Kvm.create`, direct get allowed) first. Errors are FastJs's StoreError; a lost
 * compare-and-swap is `StoreError("api", JsErr.WrongLastSequence)`.
 */
export class FastKv {
  readonly #js: FastJs;
  readonly #stream: string;
  readonly #prefix: string;

  constructor(js: FastJs, bucket: string) {
    this.#js = js;
    this.#stream = `KV_${bucket}`;
    this.#prefix = `$KV.${bucket}.`;
  }

  async get(key: string): Promise<KvEntry | null> {
    const m = await this.#js.lastBySubject(this.#stream, this.#prefix + key);
    if (m === null) return null;
    const op = m.headers.get("KV-Operation");
    return { value: m.data, revision: m.seq, deleted: op === "DEL" || op === "PURGE" };
  }

  /** Writes if the key's last revision is `revision` (0: the key has never been written). */
  async put(key: string, value: Uint8Array, revision: number): Promise<number> {
    const ack = await this.#js.publish(this.#prefix + key, value, [[EXPECTED_LAST_SUBJECT_SEQ, String(revision)]]);
    return ack.seq;
  }

  close(): void {
    this.#js.close();
  }

  async delete(key: string): Promise<void> {
    await this.#js.publish(this.#prefix + key, new Uint8Array(0), [["KV-Operation", "DEL"]]);
  }
}
