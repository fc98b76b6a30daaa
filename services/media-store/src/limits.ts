import type { MediaKind } from "@interlink/client";
import { MEDIA_CHUNK_BYTES } from "@interlink/client";

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const DAY = 24 * 60 * 60 * 1000;
const HOUR = 60 * 60 * 1000;

/** Ciphertext size limits per kind, in bytes; Signal allows attachments up to about 100 MiB. */
export type MediaLimits = Readonly<Record<MediaKind, number>>;

export const defaultMediaLimits: MediaLimits = {
  image: 32 * MiB,
  voice: 32 * MiB,
  video: 256 * MiB,
  file: 256 * MiB,
};

/**
 * The largest limit that can be configured. A blob's chunk layout (8 bytes per 256 KiB chunk) is
 * kept in its index record, so this bounds that record to 64 KiB.
 */
export const MAX_MEDIA_BYTES = 2 * GiB;
export const MAX_MEDIA_CHUNKS = Math.ceil(MAX_MEDIA_BYTES / MEDIA_CHUNK_BYTES);

export const DEFAULT_RETENTION_MS = 30 * DAY;
export const DEFAULT_UPLOAD_TTL_MS = DAY;

export interface MediaOptions {
  /** Per-kind ciphertext limits in bytes (1 .. MAX_MEDIA_BYTES); missing kinds keep the default. */
  readonly limits?: Partial<MediaLimits>;
  /** Committed media expire this long after their commit (default 30 days). */
  readonly retentionMs?: number;
  /**
   * An upload must be committed within this long of its `begin` (default 1 day); after that it is
   * unknown and its chunks are swept away.
   */
  readonly uploadTtlMs?: number;
  /** How often an instance sweeps abandoned uploads (default: a quarter of the upload TTL, at most 10 minutes). */
  readonly sweepIntervalMs?: number;
}

export interface ResolvedMediaOptions {
  readonly limits: MediaLimits;
  readonly retentionMs: number;
  readonly uploadTtlMs: number;
  readonly sweepIntervalMs: number;
}

const kinds = Object.keys(defaultMediaLimits) as MediaKind[];

/** Fills defaults and checks ranges; throws RangeError naming the bad option. */
export const resolveMediaOptions = (o: MediaOptions = {}): ResolvedMediaOptions => {
  const limits = { ...defaultMediaLimits, ...o.limits };
  for (const k of kinds) {
    const v = limits[k];
    if (!Number.isSafeInteger(v) || v < 1 || v > MAX_MEDIA_BYTES) throw new RangeError(`media-store: limit for ${k} must be an integer in 1..${MAX_MEDIA_BYTES}`);
  }
  for (const k of Object.keys(limits)) if (!kinds.includes(k as MediaKind)) throw new RangeError(`media-store: unknown media kind ${k} in limits`);
  const retentionMs = o.retentionMs ?? DEFAULT_RETENTION_MS;
  const uploadTtlMs = o.uploadTtlMs ?? DEFAULT_UPLOAD_TTL_MS;
  const positive = (name: string, v: number, min: number) => {
    if (!Number.isSafeInteger(v) || v < min) throw new RangeError(`media-store: ${name} must be an integer of at least ${min} ms`);
  };
  positive("retentionMs", retentionMs, 1000);
  positive("uploadTtlMs", uploadTtlMs, 1000);
  const sweepIntervalMs = o.sweepIntervalMs ?? Math.min(Math.floor(uploadTtlMs / 4), 10 * 60 * 1000);
  positive("sweepIntervalMs", sweepIntervalMs, 100);
  return { limits, retentionMs, uploadTtlMs, sweepIntervalMs };
};

const SIZE_RE = /^(\d+)\s*(|b|k|kb|kib|m|mb|mib|g|gb|gib)$/i;
const UNIT: Record<string, number> = { "": 1, b: 1, k: KiB, kb: KiB, kib: KiB, m: MiB, mb: MiB, mib: MiB, g: GiB, gb: GiB, gib: GiB };

/** "256MiB", "32m", "1048576": bytes (binary units; kB and KiB both mean 1024). */
export const parseByteSize = (s: string): number | undefined => {
  const m = SIZE_RE.exec(s.trim());
  if (m === null) return undefined;
  const n = Number(m[1]) * UNIT[m[2]!.toLowerCase()]!;
  return Number.isSafeInteger(n) ? n : undefined;
};

/**
 * Options from the environment (every variable optional):
 *   INTERLINK_MEDIA_LIMIT_IMAGE / _VOICE / _VIDEO / _FILE   bytes, or with a unit: 32MiB, 1GiB
 *   INTERLINK_MEDIA_RETENTION_DAYS                           committed media lifetime (default 30; decimals allowed)
 *   INTERLINK_MEDIA_UPLOAD_TTL_HOURS                         time to finish an upload (default 24)
 * Throws RangeError naming the variable when a value does not parse.
 */
export const mediaOptionsFromEnv = (env: Readonly<Record<string, string | undefined>> = process.env): MediaOptions => {
  const limits: Partial<Record<MediaKind, number>> = {};
  for (const k of kinds) {
    const name = `INTERLINK_MEDIA_LIMIT_${k.toUpperCase()}`;
    const raw = env[name];
    if (raw === undefined || raw === "") continue;
    const v = parseByteSize(raw);
    if (v === undefined) throw new RangeError(`${name} must be a size such as 104857600 or 100MiB`);
    limits[k] = v;
  }
  const num = (name: string, unitMs: number): number | undefined => {
    const raw = env[name];
    if (raw === undefined || raw === "") return undefined;
    const v = Number(raw);
    if (!Number.isFinite(v) || v <= 0) throw new RangeError(`${name} must be a positive number`);
    return Math.round(v * unitMs);
  };
  const retentionMs = num("INTERLINK_MEDIA_RETENTION_DAYS", DAY);
  const uploadTtlMs = num("INTERLINK_MEDIA_UPLOAD_TTL_HOURS", HOUR);
  const o: MediaOptions = {
    ...(Object.keys(limits).length > 0 ? { limits } : {}),
    ...(retentionMs !== undefined ? { retentionMs } : {}),
    ...(uploadTtlMs !== undefined ? { uploadTtlMs } : {}),
  };
  resolveMediaOptions(o); // fail at start-up, not at the first upload
  return o;
};
