import { Objm, setSha256Backend } from "@nats-io/obj";
import type { NatsConnection } from "@nats-io/transport-node";
import { MEDIA_CHUNK_BYTES } from "@interlink/client";

/**
 * The baseline `interlink bench media` compares with: a plain Object Store put and get of `data`
 * (native SHA-256 backend, the same chunk size media-store uses), in a bucket of its own.
 * Resolves the two durations in milliseconds and whether the bytes came back intact.
 */
export const objectStoreRoundTrip = async (
  nc: NatsConnection,
  bucket: string,
  name: string,
  data: Uint8Array,
): Promise<{ putMs: number; getMs: number; ok: boolean }> => {
  setSha256Backend("native");
  const os = await new Objm(nc).create(bucket);
  const t0 = performance.now();
  await os.put(
    { name, options: { max_chunk_size: MEDIA_CHUNK_BYTES } },
    new ReadableStream<Uint8Array>({
      pull(c) {
        c.enqueue(data);
        c.close();
      },
    }),
  );
  const t1 = performance.now();
  const got = await os.getBlob(name);
  const t2 = performance.now();
  await os.delete(name).catch(() => undefined);
  return { putMs: t1 - t0, getMs: t2 - t1, ok: got !== null && Buffer.from(got).equals(Buffer.from(data)) };
};
