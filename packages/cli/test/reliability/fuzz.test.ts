import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isDeepStrictEqual } from "node:util";
import * as E from "fp-ts/lib/Either.js";
import type { NatsConnection } from "@nats-io/transport-node";
import { connect, startSingle, useTopology } from "@interlink/testing";
import { Requester } from "@interlink/actor";
import {
  AckRequestS,
  AckedRecordS,
  BeginUploadS,
  ClaimRequestS,
  CommitUploadS,
  CountRequestS,
  DeleteMediaS,
  DevicesRequestS,
  DownloadS,
  InterlinkClient,
  NotifyRequestS,
  PullRequestS,
  RegisterRequestS,
  RemoveRequestS,
  RotateRequestS,
  SafetyNumberRequestS,
  SendContentS,
  SendRequestS,
  StatusRequestS,
  UploadChunkS,
  UploadRequestS,
} from "@interlink/client";
import { syntheticUploads } from "@interlink/key-directory";
import type { Schema } from "@interlink/wire";
import { ContentSchema, ERROR_CODE_PATTERN, ReplySchema, createCodec, decodeContent, decodeWith, encodeContent } from "@interlink/wire";
import type { InProcessStack } from "./harness.js";
import { alpha, beta, device, discoverEndpoints, newKeys, prng, report, startInProcessStack, user } from "./harness.js";

/**
 * Property-based fuzzing, seeded and bounded in time: `INTERLINK_FUZZ_SEED` repeats a run,
 * `INTERLINK_FUZZ_MS` sets the time per property (default 0.5 s) or per service (default 0.8 s).
 * Inputs come from a small generator of msgpack values and structure-aware mutations of valid
 * requests; a failure prints the seed and the case number. (fast-check would give shrinking;
 * this keeps the suite free of a new dependency.)
 */
const SEED = Number(process.env["INTERLINK_FUZZ_SEED"] ?? 20_261_126);
const BUDGET_MS = Number(process.env["INTERLINK_FUZZ_MS"] ?? 500);
const HANDLER_BUDGET_MS = Number(process.env["INTERLINK_FUZZ_MS"] ?? 800);
const BACKSTOP = "msgpack: cannot decode";

type Rnd = () => number;
const pick = <T>(r: Rnd, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const int = (r: Rnd, lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));

/** Random strings long and odd enough that finding one inside an error message means it was echoed. */
const token = (r: Rnd): string => `Zq${Math.floor(r() * 2 ** 40).toString(36)}${pick(r, ["", ".", "*", ">", " ", "\u0000", "é", "\n"])}x9`;

const INTERESTING_NUMBERS = [0, 1, -1, 2, 127, 128, 255, 256, 16_380, 65_535, 2 ** 31, -(2 ** 31), 2 ** 32, 2 ** 53 - 1, -(2 ** 53 - 1), 0.5, 1e300, -1e-300];

/** A random msgpack value: scalars, byte strings, arrays and maps, nested up to `depth`. */
const genValue = (r: Rnd, depth: number, strings: string[] = [], width = 6): unknown => {
  const k = r();
  if (depth <= 0 || k < 0.55) {
    const t = int(r, 0, 6);
    if (t === 0) return null;
    if (t === 1) return r() < 0.5;
    if (t === 2) return pick(r, INTERESTING_NUMBERS);
    if (t === 3) return int(r, -1_000_000, 1_000_000);
    if (t === 4) {
      const s = r() < 0.5 ? token(r) : "x".repeat(int(r, 0, 40));
      strings.push(s);
      return s;
    }
    if (t === 5) return Uint8Array.from({ length: int(r, 0, 48) }, () => int(r, 0, 255));
    return r() * 1e6;
  }
  if (k < 0.78) return Array.from({ length: int(r, 0, width) }, () => genValue(r, depth - 1, strings, width));
  const o: Record<string, unknown> = {};
  for (let i = int(r, 0, width); i > 0; i--) o[r() < 0.3 ? pick(r, ["v", "user", "device", "id", "provider", "messages", "body", "t", "seqs"]) : `k${int(r, 0, 99)}`] = genValue(r, depth - 1, strings, width);
  return o;
};

type Obj = Record<string, unknown>;
/** -0 → 0, deeply. */
const unsignZero = (u: unknown): unknown =>
  Object.is(u, -0) ? 0 : Array.isArray(u) ? u.map(unsignZero) : isObj(u) ? Object.fromEntries(Object.entries(u).map(([k, v]) => [k, unsignZero(v)])) : u;
const isObj = (u: unknown): u is Obj => typeof u === "object" && u !== null && !(u instanceof Uint8Array) && !Array.isArray(u);

/** Structure-aware mutation of a valid request: one field replaced, removed or added, or the version changed. */
const mutate = (r: Rnd, value: unknown, strings: string[]): unknown => {
  if (Array.isArray(value)) {
    if (value.length === 0 || r() < 0.2) return [...value, genValue(r, 2, strings)];
    const i = int(r, 0, value.length - 1);
    return value.map((x, j) => (j === i ? mutate(r, x, strings) : x));
  }
  if (isObj(value)) {
    const keys = Object.keys(value);
    const c = r();
    if (keys.length === 0 || c < 0.1) return { ...value, [`k${int(r, 0, 9)}`]: genValue(r, 2, strings) };
    const key = pick(r, keys);
    if (c < 0.2) {
      const { [key]: _, ...rest } = value;
      void _;
      return rest;
    }
    if (c < 0.3) return { ...value, v: pick(r, [0, 2, "1", 1.5, null]) };
    return { ...value, [key]: r() < 0.5 ? mutate(r, value[key], strings) : genValue(r, 2, strings) };
  }
  return genValue(r, 1, strings);
};

/** Byte-level mutations of an encoding: flips, truncation, splices, inserted header bytes. */
const mutateBytes = (r: Rnd, b: Uint8Array): Uint8Array => {
  const out = Array.from(b);
  const n = int(r, 1, 4);
  for (let i = 0; i < n; i++) {
    const at = int(r, 0, Math.max(0, out.length - 1));
    const c = r();
    if (c < 0.4) out[at] = int(r, 0, 255);
    else if (c < 0.6) out.splice(at, 0, pick(r, [0xdc, 0xdd, 0xde, 0xdf, 0xc4, 0xc5, 0xc6, 0xd9, 0xda, 0xdb, 0x9f, 0x8f, 0xc1, 0xd4]), 0xff, 0xff);
    else if (c < 0.8) out.splice(at, int(r, 1, 8));
    else out.splice(at, 0, ...out.slice(int(r, 0, at), at));
  }
  return Uint8Array.from(r() < 0.15 ? out.slice(0, int(r, 0, out.length)) : out);
};

/** Runs `check(rnd, i)` with fresh cases until the time budget is spent; returns the number run. */
const forAll = (name: string, budgetMs: number, check: (r: Rnd, i: number) => void): number => {
  const r = prng(SEED ^ [...name].reduce((h, c) => Math.imul(h ^ c.charCodeAt(0), 16_777_619), 2_166_136_261));
  const end = Date.now() + budgetMs;
  let i = 0;
  for (; Date.now() < end || i < 50; i++) {
    try {
      check(r, i);
    } catch (err) {
      throw new Error(`${name}: case ${i} failed (INTERLINK_FUZZ_SEED=${SEED}): ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }
  return i;
};

const figures: Record<string, number> = {};

describe("property-based fuzzing of the wire codec", () => {
  const codec = createCodec();
  const small = createCodec({ maxDepth: 4, maxArrayLength: 5, maxMapLength: 5, maxStrLength: 20, maxBinLength: 20, maxBytes: 4_000 });

  /** The deepest container nesting, and whether any length is over `small`'s limits. */
  const shape = (v: unknown): { depth: number; over: boolean } => {
    if (Array.isArray(v)) {
      const kids = v.map(shape);
      return { depth: 1 + Math.max(0, ...kids.map((k) => k.depth)), over: v.length > 5 || kids.some((k) => k.over) };
    }
    if (isObj(v)) {
      const kids = Object.entries(v).map(([k, x]) => ({ ...shape(x), over: shape(x).over || Buffer.byteLength(k) > 20 }));
      return { depth: 1 + Math.max(0, ...kids.map((k) => k.depth)), over: Object.keys(v).length > 5 || kids.some((k) => k.over) };
    }
    if (typeof v === "string") return { depth: 0, over: Buffer.byteLength(v) > 20 };
    if (v instanceof Uint8Array) return { depth: 0, over: v.length > 20 };
    return { depth: 0, over: false };
  };

  it("decode(encode(v)) is v for every value within the limits", () => {
    figures["codec round trips"] = forAll("roundtrip", BUDGET_MS, (r) => {
      const v = genValue(r, 5);
      const d = codec.decode(codec.encode(v));
      if (E.isLeft(d)) throw new Error(`refused a valid value: ${d.left.code}`);
      expect(isDeepStrictEqual(d.right, v)).toBe(true);
    });
  });

  it("accepts exactly the values within its depth and length limits, and names the limit it refuses", () => {
    figures["codec limit checks"] = forAll("limits", BUDGET_MS, (r) => {
      const v = genValue(r, 7, [], 8);
      const bytes = small.encode(v);
      const s = shape(v);
      const within = s.depth <= 4 && !s.over && bytes.length <= 4_000;
      const d = small.decode(bytes);
      expect(E.isRight(d)).toBe(within);
      if (E.isLeft(d)) expect(["too_deep", "too_large"]).toContain(d.left.code);
    });
  });

  it("never throws and never leaves it to the library's own checks, for mutated encodings", () => {
    figures["codec byte mutations"] = forAll("mutations", BUDGET_MS, (r) => {
      const b = mutateBytes(r, codec.encode(genValue(r, 4)));
      const d = codec.decode(b);
      if (E.isLeft(d)) expect(d.left.message).not.toBe(BACKSTOP);
      else {
        // Whatever decodes re-encodes to something that decodes to the same value (up to the sign
        // of zero: the library writes a float -0 back as the integer 0; seed 594153756 found it).
        const again = codec.decode(codec.encode(d.right));
        expect(E.isRight(again) && isDeepStrictEqual(unsignZero(again.right), unsignZero(d.right))).toBe(true);
      }
    });
  });

  it("decodes padded content and every request record without throwing or echoing a value", () => {
    const schemas: Array<Schema<unknown>> = [
      ContentSchema,
      ReplySchema,
      UploadRequestS,
      ClaimRequestS,
      SendRequestS,
      PullRequestS,
      AckRequestS,
      NotifyRequestS,
      BeginUploadS,
      UploadChunkS,
      DownloadS,
      AckedRecordS,
      SendContentS,
      RegisterRequestS,
    ];
    const content = encodeContent({ v: 1, id: "m1", sentAt: 1, body: { t: "text", text: "hello" } });
    figures["schema decodes"] = forAll("schemas", BUDGET_MS, (r) => {
      const strings: string[] = [];
      const v = r() < 0.5 ? genValue(r, 4, strings) : mutate(r, { v: 1, id: "m1", user: "u", device: 1, body: { t: "text", text: "x" }, messages: [{ device: 1 }] }, strings);
      for (const schema of schemas) {
        const d = schema.decode(v);
        if (E.isLeft(d)) for (const s of strings) if (s.length >= 8) expect(d.left.message.includes(s)).toBe(false);
      }
      expect(E.isLeft(decodeContent(mutateBytes(r, content))) || true).toBe(true);
    });
  });
});

describe("property-based fuzzing of every service's request handlers", () => {
  const topo = useTopology(() => startSingle());
  const keys = newKeys();
  const conns: NatsConnection[] = [];
  let stack: InProcessStack;
  let raw: Requester;
  let nc: NatsConnection;
  const codec = createCodec();
  const samples = new Map<string, Record<string, unknown>>();

  const conn = async () => {
    const nc = await connect(topo().url);
    conns.push(nc);
    return nc;
  };

  beforeAll(async () => {
    stack = await startInProcessStack(conn, keys);
    nc = await conn();
    raw = new Requester(nc, { timeoutMs: 8_000 });
    const a = new InterlinkClient(nc, alpha);
    const b = new InterlinkClient(nc, beta);
    const alice = user("alice");
    const bob = user("bob");
    const upload = syntheticUploads(1, 2)[0]!;
    expect(E.isRight(await a.ratchet.register({ user: alice, device: device(1) }))).toBe(true);
    expect(E.isRight(await b.keys.upload({ user: bob, device: device(1), ...upload }))).toBe(true);
    a.close();
    b.close();
    const now = Date.now();
    const dev1 = { user: alice, device: 1 };
    samples.set("keys.upload", { v: 1, user: alice, device: 2, ...upload });
    samples.set("keys.devices", { v: 1, provider: "beta", user: bob });
    samples.set("keys.claim", { v: 1, provider: "beta", user: bob, devices: [1] });
    samples.set("keys.rotate", { v: 1, user: bob, device: 1, signedPreKey: upload.signedPreKey });
    samples.set("keys.count", { v: 1, ...dev1 });
    samples.set("keys.remove", { v: 1, user: bob, device: 3 });
    samples.set("delivery.send", { v: 1, id: "f1", from: dev1, to: { provider: "beta", user: bob }, sentAt: now, messages: [{ device: 1, registrationId: upload.registrationId, type: 2, body: new Uint8Array(40) }] });
    samples.set("delivery.pull", { v: 1, ...dev1, max: 4 });
    samples.set("delivery.ack", { v: 1, ...dev1, seqs: [1, 2] });
    samples.set("delivery.notify", { v: 1, id: "n1", to: { provider: "alpha", user: alice }, sentAt: now, receipts: [{ id: "m1", status: "delivered", by: { provider: "beta", user: bob, device: 1 }, at: now }] });
    samples.set("media.begin", { v: 1, kind: "image", size: 10, digest: new Uint8Array(32) });
    samples.set("media.chunk", { v: 1, uploadId: "u".repeat(22), index: 0, data: new Uint8Array(10) });
    samples.set("media.commit", { v: 1, uploadId: "u".repeat(22) });
    samples.set("media.download", { v: 1, mediaId: "m".repeat(22), cap: new Uint8Array(32), offset: 0 });
    samples.set("media.delete", { v: 1, mediaId: "m".repeat(22), token: new Uint8Array(32) });
    samples.set("receipt.acked", { v: 1, acks: [{ id: "m1", from: { provider: "alpha", user: alice, device: 1 }, by: { provider: "beta", user: bob, device: 1 }, at: now }] });
    samples.set("receipt.status", { v: 1, user: alice, id: "m1" });
    samples.set("ratchet.register", { v: 1, user: alice, device: 1 });
    samples.set("ratchet.send", { v: 1, from: dev1, to: { provider: "beta", user: bob }, content: { t: "text", text: "hi" } });
    samples.set("ratchet.safety", { v: 1, local: dev1, remote: { provider: "beta", user: bob } });
    samples.set("ratchet.status", { v: 1, user: alice, id: "m1" });
    samples.set("ratchet.settings", { v: 1, user: alice, readReceipts: true });
  });

  afterAll(async () => {
    report("fuzz (codec and service handlers)", figures);
    raw?.close();
    await stack?.stop();
    for (const c of conns) await c.close();
  });

  it("every service answers every fuzzed request with a typed error or a result, never `internal`, never silence, and keeps serving", async () => {
    const endpoints = (await discoverEndpoints(nc)).filter((e) => e.op !== "ping");
    const services = [...new Set(endpoints.map((e) => (e.service === "ratchet" ? `ratchet.${e.subject.slice(e.subject.lastIndexOf(".") + 1)}` : e.service)))];
    const failures: string[] = [];
    const codes: Record<string, number> = {};
    let total = 0;
    for (const svc of services) {
      const mine = endpoints.filter((e) => (e.service === "ratchet" ? `ratchet.${e.subject.slice(e.subject.lastIndexOf(".") + 1)}` : e.service) === svc);
      const r = prng(SEED ^ [...svc].reduce((h, c) => h * 31 + c.charCodeAt(0), 7));
      const rejectedBefore = stack.services.get(svc)!.stats().rejected;
      const end = Date.now() + HANDLER_BUDGET_MS;
      let i = 0;
      while (Date.now() < end || i < 40) {
        // 16 at a time, so a slow handler shows up as a timeout rather than a stall of the loop.
        await Promise.all(
          Array.from({ length: 16 }, async () => {
            const e = pick(r, mine);
            const key = `${e.service}.${e.op}`;
            const hubOnly = key === "delivery.notify" || key === "receipt.acked";
            const subject = e.subject.endsWith(".*") ? e.subject.replace(/\*$/, hubOnly && r() < 0.8 ? "hub" : "alpha") : e.subject;
            const strings: string[] = [];
            const sample = samples.get(key) ?? { v: 1 };
            const c = r();
            const bytes = c < 0.6 ? codec.encode(mutate(r, sample, strings)) : c < 0.8 ? codec.encode(genValue(r, 4, strings)) : mutateBytes(r, codec.encode(sample));
            const n = i++;
            const t0 = Date.now();
            const res = await raw.callRaw(subject, bytes);
            total++;
            if (E.isRight(res)) {
              codes["ok"] = (codes["ok"] ?? 0) + 1;
              return;
            }
            const err = res.left;
            codes[err.code] = (codes[err.code] ?? 0) + 1;
            const where = `${subject} case ${n} (INTERLINK_FUZZ_SEED=${SEED})`;
            if (!ERROR_CODE_PATTERN.test(err.code)) failures.push(`${where}: malformed error code`);
            if (err.code === "internal") failures.push(`${where}: internal error (a handler threw)`);
            if ((err.code === "timeout" || err.code === "no_responders") && Date.now() - t0 >= 7_900) failures.push(`${where}: no answer`);
            for (const s of strings) if (s.length >= 8 && `${err.message} ${JSON.stringify(err.details ?? {})}`.includes(s)) failures.push(`${where}: error echoes a value`);
          }),
        );
      }
      const rejected = stack.services.get(svc)!.stats().rejected - rejectedBefore;
      figures[`${svc} fuzzed requests`] = i;
      figures[`${svc} rejected`] = rejected;
      expect(rejected, svc).toBeGreaterThan(0);
      // Still serving.
      const ping = mine[0]!.subject.replace(/\.[a-z-]+\.([^.]+)$/, ".ping.$1").replace(/\*$/, "alpha");
      expect(E.isRight(await raw.callRaw(ping, Uint8Array.from([0xc0]))), ping).toBe(true);
    }
    figures["fuzzed requests"] = total;
    for (const [c, n] of Object.entries(codes)) figures[`answer ${c}`] = n;
    expect(failures).toEqual([]);
    expect(total).toBeGreaterThan(200);
  });
});
