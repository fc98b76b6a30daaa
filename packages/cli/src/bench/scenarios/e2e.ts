import { registerScenario } from "../registry.js";
import { runConversations } from "./conversations.js";

/**
 * 1:1 text end to end: the sender's app → its session-ratchet (encrypt) → delivery → the
 * recipient's session-ratchet (decrypt) → the recipient's app → ack → receipt → the sender's
 * app gets the delivered receipt. Throughput: messages fully done (receipt back) per second;
 * latencies: send (or, in an open loop, due time) → receipt; `decrypted_*`: → plaintext at the
 * recipient's app. Baseline: raw libsignal encrypt+decrypt on as many threads as the ratchets
 * use; raw NATS request/reply and raw JetStream publish+consume in `extra`.
 *
 * Services run in this process by default (`--workers` ratchet worker threads per provider),
 * as child processes with `--instances N` (N delivery, N session-ratchet per provider, one
 * key-directory and one receipt), or elsewhere with `--nats URL --external`.
 */
registerScenario("e2e", (ctx) =>
  runConversations(ctx, {
    scenario: "e2e",
    senderDevices: 1,
    recipientDevices: 1,
    perDevice: false,
    defaults: { users: 128, count: 5_000, concurrency: 128 },
  }),
);
