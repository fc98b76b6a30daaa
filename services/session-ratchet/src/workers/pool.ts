import { existsSync } from "node:fs";
import { sep } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import * as E from "fp-ts/lib/Either.js";
import type { Either } from "fp-ts/lib/Either.js";
import type { ServiceError } from "@interlink/actor";
import { ErrorCode, serviceError } from "@interlink/actor";
import type { DeviceAddress, QueuedMessage } from "@interlink/client";
import type { Decrypted, Deliver, Encrypted, SessionEngine } from "../actors/engine.js";
import type { DeviceSecrets } from "../records.js";
import type { FromWorker, ToWorker, WorkerConfig } from "./protocol.js";

/**
 * The compiled worker beside this module. When this module runs from TypeScript sources (vitest
 * transforms them), there is no worker.js beside it: use the build's copy, which `npm test`
 * produces before running tests.
 */
const workerScript = (): string => {
  const here = fileURLToPath(new URL("./worker.js", import.meta.url));
  if (existsSync(here)) return here;
  const built = here.replace(`${sep}src${sep}workers${sep}`, `${sep}dist${sep}src${sep}workers${sep}`);
  if (existsSync(built)) return built;
  throw new Error("session-ratchet worker script not found; run `npx tsc -b` first");
};

interface Pending {
  readonly resolve: (r: Either<ServiceError, unknown>) => void;
  readonly deliver?: Deliver;
  readonly worker: Worker;
}

/** FNV-1a over the session's two addresses: a stable worker per session. */
const shardOf = (dev: DeviceSecrets, remote: DeviceAddress, n: number): number => {
  let h = 0x811c9dc5;
  const s = `${dev.user}\0${dev.device}\0${remote.provider}\0${remote.user}\0${remote.device}`;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % n;
};

/**
 * libsignal does its native work on the calling JS thread, so one process uses one core for
 * crypto. This engine runs sessions on worker threads, each session pinned to one worker by a
 * hash of its addresses (so no two threads ever touch one session); the main thread keeps the
 * NATS endpoints and the conversation with the app.
 */
export class WorkerPoolEngine implements SessionEngine {
  readonly #workers: Worker[];
  readonly #pending = new Map<number, Pending>();
  #next = 1;

  private constructor(workers: Worker[]) {
    this.#workers = workers;
  }

  static async start(
    count: number,
    cfg: Omit<WorkerConfig, "index">,
    onIdentityReplaced: (dev: DeviceSecrets, remote: DeviceAddress, key: Uint8Array) => void,
  ): Promise<WorkerPoolEngine> {
    const workers: Worker[] = [];
    const ready: Promise<void>[] = [];
    for (let index = 0; index < count; index++) {
      const w = new Worker(workerScript(), { workerData: { ...cfg, index } satisfies WorkerConfig });
      workers.push(w);
      ready.push(
        new Promise((resolve, reject) => {
          const first = (m: FromWorker) => {
            if (m.t === "ready") resolve();
            else if (m.t === "failed") reject(new Error(`ratchet worker ${index} failed to start: ${m.message}`));
            else return;
            w.off("message", first);
          };
          w.on("message", first);
          w.once("error", reject);
        }),
      );
    }
    const pool = new WorkerPoolEngine(workers);
    for (const w of workers) {
      w.on("message", (m: FromWorker) => pool.#onMessage(w, m, onIdentityReplaced));
      // A dead worker fails what it had in flight (retryable); its sessions are safe in KV.
      w.on("exit", () => pool.#failAll(w));
    }
    try {
      await Promise.all(ready);
    } catch (err) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw err;
    }
    return pool;
  }

  #onMessage(w: Worker, m: FromWorker, onIdentity: (dev: DeviceSecrets, remote: DeviceAddress, key: Uint8Array) => void): void {
    switch (m.t) {
      case "res": {
        const p = this.#pending.get(m.id);
        this.#pending.delete(m.id);
        p?.resolve(m.result);
        break;
      }
      case "plain": {
        const p = this.#pending.get(m.id);
        const reply = (result: Either<ServiceError, void>) => w.postMessage({ t: "delivered", id: m.id, result } satisfies ToWorker);
        if (p?.deliver === undefined) reply(E.left(serviceError(ErrorCode.Internal, "no receiver for plaintext")));
        else p.deliver(m.plaintext).then(reply, () => reply(E.left(serviceError(ErrorCode.Internal, "delivery to the app failed", { retryable: true }))));
        break;
      }
      case "identity":
        onIdentity(m.dev, m.remote, m.key);
        break;
      default:
        break;
    }
  }

  #failAll(w: Worker): void {
    for (const [id, p] of this.#pending) {
      if (p.worker !== w) continue;
      this.#pending.delete(id);
      p.resolve(E.left(serviceError(ErrorCode.Unavailable, "ratchet worker stopped", { retryable: true })));
    }
  }

  #send<T>(w: Worker, make: (id: number) => ToWorker, deliver?: Deliver): Promise<Either<ServiceError, T>> {
    const id = this.#next++;
    return new Promise((resolve) => {
      this.#pending.set(id, { resolve: resolve as (r: Either<ServiceError, unknown>) => void, worker: w, ...(deliver ? { deliver } : {}) });
      w.postMessage(make(id));
    });
  }

  #worker(dev: DeviceSecrets, remote: DeviceAddress): Worker {
    return this.#workers[shardOf(dev, remote, this.#workers.length)]!;
  }

  encrypt(dev: DeviceSecrets, remote: DeviceAddress, plaintext: Uint8Array, fresh: boolean): Promise<Either<ServiceError, Encrypted>> {
    return this.#send(this.#worker(dev, remote), (id) => ({ t: "enc", id, dev, remote, plaintext, fresh }));
  }

  decrypt(dev: DeviceSecrets, msg: QueuedMessage, deliver: Deliver): Promise<Decrypted> {
    return this.#send(this.#worker(dev, msg.from), (id) => ({ t: "dec", id, dev, msg }), deliver);
  }

  forget(dev: DeviceSecrets, remote: DeviceAddress): Promise<Either<ServiceError, void>> {
    return this.#send(this.#worker(dev, remote), (id) => ({ t: "forget", id, dev, remote }));
  }

  #closing: Promise<void> | undefined;

  /** Idempotent: workers exit once, so a second close waits for the first. */
  close(): Promise<void> {
    return (this.#closing ??= this.#close());
  }

  async #close(): Promise<void> {
    await Promise.all(
      this.#workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            w.once("exit", () => resolve());
            w.postMessage({ t: "close" } satisfies ToWorker);
            setTimeout(() => void w.terminate(), 5_000).unref();
          }),
      ),
    );
  }
}
