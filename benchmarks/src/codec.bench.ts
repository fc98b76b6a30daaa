import { randomBytes } from "node:crypto";
import { decode as rawDecode, encode as rawEncode } from "@msgpack/msgpack";
import * as E from "fp-ts/lib/Either.js";
import { Bench } from "tinybench";
import { createCodec, decodeWith, record, s } from "@interlink/wire";

/** Shaped like the delivery service's sealed envelope: ids, a recipient and one ciphertext per device. */
const Envelope = record("Envelope", 1, {
  messageId: s.str({ pattern: /^[A-Za-z0-9_-]{1,64}$/ }),
  recipient: s.str({ pattern: /^[A-Za-z0-9_-]{1,64}$/ }),
  sentAt: s.int({ min: 0 }),
  devices: s.array(
    s.object({
      deviceId: s.int({ min: 1, max: 127 }),
      registrationId: s.int({ min: 0 }),
      type: s.int({ min: 0, max: 255 }),
      ciphertext: s.bytes({ max: 256 * 1024 }),
    }),
    { min: 1, max: 127 },
  ),
});

const sampleEnvelope = () => ({
  v: 1 as const,
  messageId: "01J9ZQ3KX7W2N5V8B4C6D0E1F2",
  recipient: "u_8f3a9c2e71d04b6a",
  sentAt: 1_700_000_000_000,
  devices: [1, 2, 3].map((deviceId) => ({
    deviceId,
    registrationId: 10_000 + deviceId,
    type: 3,
    ciphertext: new Uint8Array(randomBytes(370)),
  })),
});

/** Prints ops/s for the validated path and for bare msgpack, and their ratio. */
export async function codecBench(): Promise<void> {
  const codec = createCodec();
  const envelope = sampleEnvelope();
  const size = codec.encode(envelope).length;

  const bench = new Bench({ time: 1000, warmupTime: 200 });
  bench
    .add("wire: encode + decode + validate", () => {
      const r = decodeWith(codec, Envelope, codec.encode(envelope));
      if (E.isLeft(r)) throw new Error(r.left.message);
    })
    .add("raw @msgpack/msgpack: encode + decode", () => {
      rawDecode(rawEncode(envelope));
    });
  await bench.run();

  const opsPerSec = (i: number): number => {
    const result = bench.tasks[i]?.result;
    return result !== undefined && "period" in result && result.period > 0 ? 1000 / result.period : 0;
  };
  const wire = opsPerSec(0);
  const raw = opsPerSec(1);
  console.log(`envelope: ${size} bytes`);
  console.log(`wire (limits + scan + schema): ${Math.round(wire).toLocaleString("en")} ops/s`);
  console.log(`raw msgpack:                   ${Math.round(raw).toLocaleString("en")} ops/s`);
  console.log(`ratio wire/raw: ${raw > 0 ? (wire / raw).toFixed(2) : "n/a"}`);
}
