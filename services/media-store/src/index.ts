export type { MediaOptions } from "./service.js";
export { MEDIA_BUCKET, MEDIA_INDEX_BUCKET, STAGING_STREAM, UPLOADS_BUCKET, startMediaStore } from "./service.js";
export type { MediaLimits } from "./limits.js";
export { defaultMediaLimits } from "./limits.js";
