import { parentPort, workerData } from "node:worker_threads";
import { connect } from "@nats-io/transport-node";
import * as E from "fp-ts/lib/Either.js";
import type { Either } from "fp-ts/lib/Either.js";
import type { ServiceError } from "@interlink/actor";
import { internal } from "@interlink/actor";
import { InterlinkClient } from "@interlink/client";
import type { ProviderId } from "@interlink/subjects";
import { LocalEngine } from "../actors/engine.js";
import { Sessions } from "../actors/sessions.js";
import { RatchetStore } from "../store.js";
import type { FromWorker, ToWorker, WorkerConfig } from "./protocol.js";

// One shard of the edge's sessions: its own NATS connection, store view and session actors.
// The main thread pins each session to one worker, so libsignal state is never shared.
const port = parentPort;
if (port === null) throw new Error("worker.js must run as a worker thread");
const cfg = workerData as WorkerConfig;
const post = (m: FromWorker) => port.postMessage(m);

const run = async () => {
  const nc = await connect({ servers: cfg.servers, name: `ratchet-worker-${cfg.index}`, maxReconnectAttempts: -1 });
  const provider = cfg.provider as ProviderId;
  const store = await RatchetStore.open(nc, provider, cfg.secret, cfg.atRestKey, cfg.replicas);
  const sessions = new Sessions(store, { onIdentityReplaced: (dev, remote, key) => post({ t: "identity", dev, remote, key }) });
  const client = new InterlinkClient(nc, provider);
  const engine = new LocalEngine(provider, client, store, sessions);
  const waiting = new Map<number, (r: Either<ServiceError, void>) => void>();
  const answer = (id: number, p: Promise<Either<ServiceError, unknown>>) =>
    p.then(
      (result) => post({ t: "res", id, result }),
      () => post({ t: "res", id, result: E.left(internal()) }),
    );

  port.on("message", (m: ToWorker) => {
    switch (m.t) {
      case "enc":
        answer(m.id, engine.encrypt(m.dev, m.remote, m.plaintext, m.fresh));
        break;
      case "dec":
        answer(
          m.id,
          engine.decrypt(m.dev, m.msg, (plaintext) => {
            post({ t: "plain", id: m.id, plaintext });
            return new Promise((resolve) => waiting.set(m.id, resolve));
          }),
        );
        break;
      case "delivered":
        waiting.get(m.id)?.(m.result);
        waiting.delete(m.id);
        break;
      case "forget":
        answer(m.id, engine.forget(m.dev, m.remote));
        break;
      case "close":
        void (async () => {
          await engine.close();
          client.close();
          store.close();
          await nc.drain().catch(() => undefined);
          port.close();
        })();
        break;
    }
  });
  post({ t: "ready" });
};

run().catch((err: unknown) => post({ t: "failed", message: err instanceof Error ? err.name : "error" }));
