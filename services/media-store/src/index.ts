export { MEDIA_BUCKET, MEDIA_INDEX_BUCKET, MEDIA_STREAM, UPLOADS_BUCKET, startMediaStore } from "./service.js";
export type { MediaLimits, MediaOptions, ResolvedMediaOptions } from "./limits.js";
export {
  DEFAULT_RETENTION_MS,
  DEFAULT_UPLOAD_TTL_MS,
  MAX_MEDIA_BYTES,
  defaultMediaLimits,
  mediaOptionsFromEnv,
  parseByteSize,
  resolveMediaOptions,
} from "./limits.js";
export { chunkSubject, metaSubject, objectStream } from "./layout.js";
export { objectStoreRoundTrip } from "./baseline.js";
