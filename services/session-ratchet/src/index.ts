export type { RatchetOptions } from "./service.js";
export { startSessionRatchet } from "./service.js";
export { ratchetBucket } from "./store.js";
// The session engines, for benchmarks and embedding (the service wires them itself).
export type { Decrypted, Deliver, Encrypted, SessionEngine } from "./actors/engine.js";
export { LocalEngine } from "./actors/engine.js";
export { Sessions } from "./actors/sessions.js";
export { RatchetStore } from "./store.js";
export type { DeviceSecrets } from "./records.js";
export { WorkerPoolEngine } from "./workers/pool.js";
