import { randomBytes } from "node:crypto";
import { decode as rawDecode, encode as rawEncode } from "@msgpack/msgpack";
import * as E from "fp-ts/lib/Either.js";
import { Bench } from "tinybench";
import { createCodec, decodeWith, record, s } from "@interlink/wire";
import { type Log, fmtInt, opsStats, type OpsStats } from "./report.js";

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

export interface CodecBenchOptions {
  /** tinybench time budget per task (ms). */
  readonly timeMs?: number;
  readonly log?: Log;
}

export interface CodecBenchResult {
  readonly suite: "codec";
  readonly method: string;
  readonly envelopeBytes: number;
  readonly wire: OpsStats;
  readonly raw: OpsStats;
  /** wire ops/s ÷ raw ops/s, both from this run. */
  readonly ratio: number;
}

/** ops/s for the validated path and for bare msgpack in the same run, and their ratio. */
export async function codecBench(opts: CodecBenchOptions = {}): Promise<CodecBenchResult> {
  const log = opts.log ?? console.log;
  const codec = createCodec();
  const envelope = sampleEnvelope();
  const size = codec.encode(envelope).length;

  const bench = new Bench({ time: opts.timeMs ?? 1000, warmupTime: 200 });
  bench
    .add("wire: encode + decode + validate", () => {
      const r = decodeWith(codec, Envelope, codec.encode(envelope));
      if (E.isLeft(r)) throw new Error(r.left.message);
    })
    .add("raw @msgpack/msgpack: encode + decode", () => {
      rawDecode(rawEncode(envelope));
    });
  await bench.run();

  const wire = opsStats(bench.tasks[0]);
  const raw = opsStats(bench.tasks[1]);
  const ratio = raw.opsPerSec > 0 ? wire.opsPerSec / raw.opsPerSec : 0;
  const method = "tinybench, sequential, one call per iteration; ops/s = 1000 / mean period";

  log(`codec — envelope of ${size} bytes (${method})`);
  log(`  wire (limits + scan + schema):  ${fmtInt(wire.opsPerSec).padStart(9)} ops/s  ±${wire.rmePct.toFixed(1)}%`);
  log(`  raw @msgpack/msgpack (baseline): ${fmtInt(raw.opsPerSec).padStart(9)} ops/s  ±${raw.rmePct.toFixed(1)}%`);
  log(`  ratio wire/raw: ${ratio.toFixed(2)}`);
  return { suite: "codec", method, envelopeBytes: size, wire, raw, ratio };
}
