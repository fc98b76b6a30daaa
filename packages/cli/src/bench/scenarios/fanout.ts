import { registerScenario } from "../registry.js";
import { runConversations } from "./conversations.js";

/**
 * Multi-device fan-out: every recipient has `--devices` devices (default 3), every sender 2.
 * One message is encrypted once per recipient device plus once for the sender's other device
 * (the sent transcript), stored per device, decrypted on each. Throughput: device deliveries
 * (decrypted on a device) per second; latencies: send → decrypted, per device delivery.
 * Baseline: raw libsignal encrypt+decrypt on as many threads as the ratchets use (one device
 * delivery costs one encrypt and one decrypt).
 */
registerScenario("fanout", (ctx) =>
  runConversations(ctx, {
    scenario: "fanout",
    senderDevices: 2,
    recipientDevices: 3,
    perDevice: true,
    defaults: { users: 64, count: 1_000, concurrency: 64 },
  }),
);
