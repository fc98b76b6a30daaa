import { Base64UrlPaddedCodec } from "@nats-io/obj";

/**
 * The JetStream Object Store's own layout (NATS ADR-20), which media-store writes into directly so
 * that each uploaded chunk is stored once, as it arrives, and a range read is one direct get:
 *
 *   stream  OBJ_<bucket>
 *   chunks  $O.<bucket>.C.<nuid>          one message per chunk, in order
 *   meta    $O.<bucket>.M.<b64url(name)>  JSON ObjectInfo, published with Nats-Rollup: sub
 *
 * These are the Object Store's subjects, not Interlink's (`packages/subjects` owns `ilk.*`); the
 * names in them are random ids minted here. An object written this way is an ordinary Object Store
 * object: `nats object get`, or `ObjectStore.get()` with its SHA-256 check, read it back.
 */
export const objectStream = (bucket: string): string => `OBJ_${bucket}`;
export const chunkSubject = (bucket: string, nuid: string): string => `$O.${bucket}.C.${nuid}`;
export const metaSubject = (bucket: string, name: string): string => `$O.${bucket}.M.${Base64UrlPaddedCodec.encode(name)}`;

/** The ObjectInfo JSON the Object Store clients expect for a finished object. */
export const objectMeta = (o: {
  bucket: string;
  name: string;
  nuid: string;
  size: number;
  chunks: number;
  chunkSize: number;
  digest: Uint8Array;
  mtime: Date;
}): string =>
  JSON.stringify({
    name: o.name,
    description: "",
    options: { max_chunk_size: o.chunkSize },
    bucket: o.bucket,
    nuid: o.nuid,
    size: o.size,
    chunks: o.chunks,
    mtime: o.mtime.toISOString(),
    digest: `SHA-256=${Base64UrlPaddedCodec.encode(o.digest)}`,
    deleted: false,
  });

/** Chunk sequence numbers, 8 bytes big-endian each. */
export const appendSeq = (seqs: Uint8Array, seq: number): Uint8Array => {
  const out = new Uint8Array(seqs.length + 8);
  out.set(seqs, 0);
  new DataView(out.buffer, out.byteOffset, out.byteLength).setBigUint64(seqs.length, BigInt(seq));
  return out;
};

export const seqCount = (seqs: Uint8Array): number => Math.floor(seqs.length / 8);

export const seqAt = (seqs: Uint8Array, i: number): number | undefined => {
  if (!Number.isInteger(i) || i < 0 || (i + 1) * 8 > seqs.length) return undefined;
  return Number(new DataView(seqs.buffer, seqs.byteOffset, seqs.byteLength).getBigUint64(i * 8));
};
