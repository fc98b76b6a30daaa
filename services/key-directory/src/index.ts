export type { KeyDirectoryOptions } from "./service.js";
export { startKeyDirectory } from "./service.js";
export type { RateLimit, RateLimits } from "./limits.js";
export { DEFAULT_LIMITS, TokenBuckets, perInstance } from "./limits.js";
export { INTEREST_BUCKET, KEYS_BUCKET } from "./store.js";
export { syntheticUploads } from "./fixtures.js";
