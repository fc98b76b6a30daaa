export type { RatchetOptions } from "./service.js";
export { startSessionRatchet } from "./service.js";
export { ratchetBucket } from "./store.js";
