import type { MediaKind } from "@interlink/client";

const MiB = 1024 * 1024;

/** Ciphertext size limits per kind; Signal allows attachments up to about 100 MiB. */
export type MediaLimits = Readonly<Record<MediaKind, number>>;

export const defaultMediaLimits: MediaLimits = {
  image: 32 * MiB,
  voice: 32 * MiB,
  video: 256 * MiB,
  file: 256 * MiB,
};
