import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import * as E from "fp-ts/lib/Either.js";
import type { NatsConnection } from "@nats-io/transport-node";
import { connect, startSingle, useTopology } from "@interlink/testing";
import type { ServiceError } from "@interlink/actor";
import { Requester } from "@interlink/actor";
import type { SendRequest } from "@interlink/client";
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
  MessageStatusRequestS,
  NotifyRequestS,
  PullRequestS,
  ReceiptSettingsS,
  RegisterRequestS,
  RemoveRequestS,
  RotateRequestS,
  SafetyNumberRequestS,
  SendContentS,
  SendRequestS,
  StatusRequestS,
  UploadChunkS,
  UploadRequestS,
  uploadAttachmentWithToken,
} from "@interlink/client";
import { syntheticUploads } from "@interlink/key-directory";
import type { Schema } from "@interlink/wire";
import { createCodec, decodeWith, wireErrorToRecord } from "@interlink/wire";
import type { InProcessStack } from "./harness.js";
import { Ledger, RecordingApp, alpha, beta, device, discoverEndpoints, newKeys, report, sleep, startInProcessStack, until, user } from "./harness.js";

const MiB = 1024 * 1024;
const codec = createCodec();
/** Codes a request refused while decoding may get. */
const DECODE_CODES = ["bad_request", "too_large", "unsupported_version"];

/** The request schema of every operation the suite knows (an unknown new op still gets the msgpack bombs). */
const SCHEMAS: Record<string, Schema<unknown>> = {
  "keys.upload": UploadRequestS,
  "keys.devices": DevicesRequestS,
  "keys.claim": ClaimRequestS,
  "keys.rotate": RotateRequestS,
  "keys.count": CountRequestS,
  "keys.remove": RemoveRequestS,
  "delivery.send": SendRequestS,
  "delivery.pull": PullRequestS,
  "delivery.ack": AckRequestS,
  "delivery.notify": NotifyRequestS,
  "media.begin": BeginUploadS,
  "media.chunk": UploadChunkS,
  "media.commit": CommitUploadS,
  "media.download": DownloadS,
  "media.delete": DeleteMediaS,
  "receipt.acked": AckedRecordS,
  "receipt.status": StatusRequestS,
  "ratchet.register": RegisterRequestS,
  "ratchet.send": SendContentS,
  "ratchet.safety": SafetyNumberRequestS,
  "ratchet.settings": ReceiptSettingsS,
  "ratchet.status": MessageStatusRequestS,
};

/**
 * Hub-internal operations (one hub service asking another): only the `hub` provider token is
 * served; any provider is refused with `forbidden` before decoding. Their bad input is sent as
 * `hub`, which is what a compromised hub service could send.
 */
const HUB_ONLY = new Set(["delivery.notify", "receipt.acked"]);

/** Hostile msgpack: every one must be refused by the codec before a handler runs. */
const bombs = (): Array<[string, Uint8Array]> => {
  const deepArray = new Uint8Array(100_001).fill(0x91);
  deepArray[100_000] = 0xc0;
  const deepMap = new Uint8Array(3 * 30_000 + 1);
  for (let i = 0; i < 30_000; i++) deepMap.set([0x81, 0xa1, 0x61], i * 3);
  deepMap[deepMap.length - 1] = 0xc0;
  const manyKeys = new Map<string, number>();
  for (let i = 0; i < 5_000; i++) manyKeys.set(`k${i}`, i);
  return [
    ["empty frame", new Uint8Array()],
    ["100,000-deep array", deepArray],
    ["30,000-deep map", deepMap],
    ["array32 claiming 4G elements", Uint8Array.from([0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0])],
    ["map32 claiming 4G entries", Uint8Array.from([0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, 0x61, 0xc0])],
    ["str32 claiming 2 GiB", Uint8Array.from([0xdb, 0x7f, 0xff, 0xff, 0xff, 0x61, 0x62])],
    ["bin32 claiming 4 GiB", Uint8Array.from([0xc6, 0xff, 0xff, 0xff, 0xff, 0x00])],
    ["map of 5,000 real entries", codec.encode(Object.fromEntries(manyKeys))],
    ["array of 20,000 real elements", codec.encode(new Array(20_000).fill(null))],
    ["ext type", Uint8Array.from([0x81, 0xa1, 0x76, 0xd4, 0x01, 0x00])],
    ["reserved 0xc1", Uint8Array.from([0xc1])],
    ["trailing bytes", Uint8Array.from([0x81, 0xa1, 0x76, 0x01, 0x00])],
    ["truncated map", Uint8Array.from([0x83, 0xa1, 0x76, 0x01])],
    ["__proto__ key", Uint8Array.from([0x81, 0xa9, ...Buffer.from("__proto__"), 0x80])],
    ["constructor.prototype gadget", codec.encode({ constructor: { prototype: { polluted: true } } })],
    ["binary map key", Uint8Array.from([0x81, 0xc4, 0x01, 0x61, 0x01])],
    ["1.5 MiB frame", codec.encode({ v: 1, pad: new Uint8Array(1.5 * MiB) })],
  ];
};

/** Strings that must never reach a subject, a KV key or a log: separators, wildcards, control and non-ASCII characters. */
const INJECTIONS = ["a.b", "a*", "a.>", ">", "a b", "x\u0000y", "x\r\nPUB ilk.evil 1", "ä-user", "../etc", "_INBOX.x", "a".repeat(65), ""];
const ID_FIELDS = /^(user|provider|id|uploadId|mediaId)$/;

type Obj = Record<string, unknown>;
const isObj = (u: unknown): u is Obj => typeof u === "object" && u !== null && !(u instanceof Uint8Array) && !Array.isArray(u);

/** Replaces the value at `path` (keys, array indexes) of a deep copy; `undefined` deletes it. */
const setAt = (value: unknown, path: readonly (string | number)[], next: unknown): unknown => {
  if (path.length === 0) return next;
  const [head, ...rest] = path;
  if (Array.isArray(value)) return value.map((x, i) => (i === head ? setAt(x, rest, next) : x));
  const o = { ...(value as Obj) };
  if (rest.length === 0 && next === undefined) delete o[head as string];
  else o[head as string] = setAt(o[head as string], rest, next);
  return o;
};

/** Every leaf and container path of a sample (arrays: their first element). */
const pathsOf = (value: unknown, prefix: (string | number)[] = []): Array<{ path: (string | number)[]; value: unknown }> => {
  const out: Array<{ path: (string | number)[]; value: unknown }> = [];
  if (Array.isArray(value)) {
    if (value.length > 0) {
      out.push({ path: [...prefix, 0], value: value[0] });
      out.push(...pathsOf(value[0], [...prefix, 0]));
    }
  } else if (isObj(value)) {
    for (const [k, v] of Object.entries(value)) {
      out.push({ path: [...prefix, k], value: v });
      out.push(...pathsOf(v, [...prefix, k]));
    }
  }
  return out;
};

const wrongTypeFor = (v: unknown): unknown =>
  typeof v === "number" ? String(v) : typeof v === "string" ? 7 : typeof v === "boolean" ? 1 : v instanceof Uint8Array ? "bytes" : Array.isArray(v) ? { 0: v[0] } : isObj(v) ? [v] : 0;

/** Schema-level bad input derived from a valid sample: wrong types, missing fields, bad versions, injected ids, bad device ids. */
const variantsOf = (sample: Obj): Array<[string, unknown, string?]> => {
  const out: Array<[string, unknown, string?]> = [
    ["version 2", { ...sample, v: 2 }],
    ["version 0", { ...sample, v: 0 }],
    ["version as a string", { ...sample, v: "1" }],
    ["version 1.5", { ...sample, v: 1.5 }],
    ["no version", setAt(sample, ["v"], undefined)],
    ["not a map (number)", 42],
    ["not a map (array)", [sample]],
    ["not a map (string)", "request"],
  ];
  for (const { path, value } of pathsOf(sample)) {
    const where = path.join(".");
    if (where === "v") continue;
    out.push([`wrong type at ${where}`, setAt(sample, path, wrongTypeFor(value))]);
    out.push([`missing ${where}`, setAt(sample, path, undefined)]);
    out.push([`null at ${where}`, setAt(sample, path, null)]);
    const key = String(path[path.length - 1]);
    if (typeof value === "string" && ID_FIELDS.test(key)) for (const s of INJECTIONS) out.push([`injected ${where}`, setAt(sample, path, s), s]);
    if (typeof value === "number" && /device|devices|^\d+$/.test(key) && path.includes("device" as never) === false && /device/.test(where)) {
      for (const d of [0, 128, -1, 1.5, 2 ** 53]) out.push([`device ${d} at ${where}`, setAt(sample, path, d)]);
    }
  }
  return out;
};

/** The error names the rule, never the value: neither the injected string nor a user id may come back. */
const echoes = (e: ServiceError, needles: readonly (string | undefined)[]): boolean => {
  const text = `${e.message} ${JSON.stringify(e.details ?? {})}`;
  return needles.some((n) => n !== undefined && n.length >= 3 && text.includes(n));
};

describe("bad input on every request subject", () => {
  // max_payload raised so that frames over the services' own limits reach them.
  const topo = useTopology(() => startSingle({ maxPayload: 4 * MiB }));
  const keys = newKeys();
  const conns: NatsConnection[] = [];
  let stack: InProcessStack;
  let raw: Requester;
  let endpoints: Array<{ service: string; op: string; subject: string }>;
  const samples = new Map<string, () => Obj>();
  const upload = syntheticUploads(1, 2)[0]!;
  const alice = user("alice");
  const bob = user("bob");
  const owner = user("owner");
  const parked = user("parked");
  let a: InterlinkClient;
  let b: InterlinkClient;
  let betaApp: RecordingApp;
  let alphaApp: RecordingApp;
  const figures: Record<string, number> = {};

  const conn = async () => {
    const nc = await connect(topo().url);
    conns.push(nc);
    return nc;
  };
  /** The instance that serves a subject (ratchets are per provider). */
  const serviceOf = (e: { service: string; subject: string }) =>
    stack.services.get(e.service === "ratchet" ? `ratchet.${e.subject.slice(e.subject.lastIndexOf(".") + 1)}` : e.service)!;
  /** The subject a caller uses: alpha for provider-facing operations, the hub for hub-internal ones. */
  const concrete = (subject: string, provider?: string) => {
    const op = subject.split(".").slice(1, 4);
    return subject.replace(/\*$/, provider ?? (HUB_ONLY.has(`${op[0]}.${op[2]}`) ? "hub" : "alpha"));
  };

  beforeAll(async () => {
    stack = await startInProcessStack(conn, keys);
    const nc = await conn();
    raw = new Requester(nc, { timeoutMs: 10_000 });
    a = new InterlinkClient(nc, alpha);
    b = new InterlinkClient(nc, beta);
    betaApp = new RecordingApp(nc, beta, new Ledger());
    alphaApp = new RecordingApp(nc, alpha, new Ledger());
    await nc.flush();
    expect(E.isRight(await a.ratchet.register({ user: alice, device: device(1) }))).toBe(true);
    expect(E.isRight(await b.ratchet.register({ user: bob, device: device(1) }))).toBe(true);
    expect(E.isRight(await a.keys.upload({ user: owner, device: device(1), ...upload }))).toBe(true);
    expect(E.isRight(await b.keys.upload({ user: parked, device: device(1), ...upload }))).toBe(true);
    endpoints = await discoverEndpoints(nc);

    const now = Date.now();
    const fresh = () => `id_${randomBytes(6).toString("hex")}`;
    samples.set("keys.upload", () => ({ v: 1, user: user("up"), device: 1, ...upload }));
    samples.set("keys.devices", () => ({ v: 1, provider: "alpha", user: owner }));
    samples.set("keys.claim", () => ({ v: 1, provider: "alpha", user: owner, devices: [1] }));
    samples.set("keys.rotate", () => ({ v: 1, user: owner, device: 1, signedPreKey: upload.signedPreKey }));
    samples.set("keys.count", () => ({ v: 1, user: owner, device: 1 }));
    samples.set("keys.remove", () => ({ v: 1, user: user("gone"), device: 1 }));
    samples.set("delivery.send", () => ({
      v: 1,
      id: fresh(),
      from: { user: owner, device: 1 },
      to: { provider: "beta", user: parked },
      sentAt: now,
      messages: [{ device: 1, registrationId: upload.registrationId, type: 2, body: randomBytes(48) }],
    }));
    samples.set("delivery.pull", () => ({ v: 1, user: owner, device: 1, max: 4 }));
    samples.set("delivery.ack", () => ({ v: 1, user: owner, device: 1, seqs: [1] }));
    samples.set("media.begin", () => ({ v: 1, kind: "image", size: 10, digest: randomBytes(32) }));
    samples.set("media.chunk", () => ({ v: 1, uploadId: "u".repeat(22), index: 0, data: randomBytes(10) }));
    samples.set("media.commit", () => ({ v: 1, uploadId: "u".repeat(22) }));
    samples.set("media.download", () => ({ v: 1, mediaId: "m".repeat(22), cap: randomBytes(32), offset: 0 }));
    samples.set("media.delete", () => ({ v: 1, mediaId: "m".repeat(22), token: randomBytes(32) }));
    samples.set("receipt.acked", () => ({
      v: 1,
      acks: [{ id: fresh(), from: { provider: "beta", user: parked, device: 1 }, by: { provider: "alpha", user: owner, device: 1 }, at: now }],
    }));
    samples.set("delivery.notify", () => ({
      v: 1,
      id: fresh(),
      to: { provider: "alpha", user: owner },
      sentAt: now,
      receipts: [{ id: "m1", status: "delivered", by: { provider: "beta", user: parked, device: 1 }, at: now }],
    }));
    samples.set("receipt.status", () => ({ v: 1, user: owner, id: "m1" }));
    samples.set("ratchet.register", () => ({ v: 1, user: alice, device: 1 }));
    samples.set("ratchet.send", () => ({ v: 1, from: { user: alice, device: 1 }, to: { provider: "beta", user: bob }, content: { t: "text", text: "hello" } }));
    samples.set("ratchet.safety", () => ({ v: 1, local: { user: alice, device: 1 }, remote: { provider: "beta", user: bob } }));
    samples.set("ratchet.settings", () => ({ v: 1, user: alice, readReceipts: true }));
    samples.set("ratchet.status", () => ({ v: 1, user: alice, id: "m1" }));
  });

  afterAll(async () => {
    report("bad input on every request subject", figures);
    betaApp?.close();
    alphaApp?.close();
    raw?.close();
    a?.close();
    b?.close();
    await stack?.stop();
    for (const c of conns) await c.close();
  });

  it("discovers every request subject of every service (NATS micro $SRV.INFO)", () => {
    const names = new Set(endpoints.map((e) => `${e.service}.${e.op}`));
    for (const op of Object.keys(SCHEMAS)) expect(names.has(op)).toBe(true);
    for (const svc of ["keys", "delivery", "media", "receipt", "ratchet"]) expect(names.has(`${svc}.ping`)).toBe(true);
    figures["subjects"] = endpoints.length;
  });

  it("answers msgpack bombs on every subject with a typed error, counts each one as rejected, and keeps serving", async () => {
    const before = new Map([...stack.services].map(([k, s]) => [k, s.stats().rejected]));
    const sentTo = new Map<string, number>();
    const wrong: string[] = [];
    let sent = 0;
    for (const e of endpoints) {
      for (const [what, bytes] of bombs()) {
        const r = await raw.callRaw(concrete(e.subject), bytes);
        sent++;
        const name = e.service === "ratchet" ? `ratchet.${e.subject.slice(e.subject.lastIndexOf(".") + 1)}` : e.service;
        sentTo.set(name, (sentTo.get(name) ?? 0) + 1);
        if (E.isRight(r) || !["bad_request", "too_large"].includes(r.left.code) || r.left.retryable) {
          wrong.push(`${e.subject} ${what}: ${E.isRight(r) ? "accepted" : r.left.code}`);
        }
      }
    }
    expect(wrong).toEqual([]);
    for (const [name, s] of stack.services) expect(s.stats().rejected - before.get(name)!, name).toBe(sentTo.get(name) ?? 0);
    figures["msgpack bombs sent"] = sent;
    // Still serving: each service answers a ping.
    for (const e of endpoints.filter((x) => x.op === "ping")) expect(E.isRight(await raw.callRaw(concrete(e.subject), Uint8Array.from([0xc0]))), e.subject).toBe(true);
  });

  it("answers wrong types, unknown versions, missing fields, injected ids and bad device ids with the typed error the schema names", async () => {
    const before = new Map([...stack.services].map(([k, s]) => [k, s.stats().rejected]));
    const sentTo = new Map<string, number>();
    const wrong: string[] = [];
    let sent = 0;
    for (const e of endpoints) {
      const key = `${e.service}.${e.op}`;
      const schema = SCHEMAS[key];
      const sample = samples.get(key);
      if (schema === undefined || sample === undefined) continue;
      for (const [what, body, needle] of variantsOf(sample())) {
        // The schema is the oracle: only what it refuses is sent, and the service must refuse it alike.
        const expected = decodeWith(codec, schema, codec.encode(body));
        if (E.isRight(expected)) continue;
        const r = await raw.callRaw(concrete(e.subject), codec.encode(body));
        sent++;
        const name = serviceOf(e) === undefined ? e.service : [...stack.services].find(([, s]) => s === serviceOf(e))![0];
        sentTo.set(name, (sentTo.get(name) ?? 0) + 1);
        const want = wireErrorToRecord(expected.left).code;
        if (E.isRight(r) || r.left.code !== want || r.left.retryable) wrong.push(`${key} ${what}: ${E.isRight(r) ? "accepted" : r.left.code} (want ${want})`);
        else if (echoes(r.left, [needle, alice, bob, owner, parked])) wrong.push(`${key} ${what}: the error repeats a value`);
      }
    }
    expect(wrong).toEqual([]);
    for (const [name, s] of stack.services) expect(s.stats().rejected - before.get(name)!, name).toBe(sentTo.get(name) ?? 0);
    figures["schema-level bad requests sent"] = sent;
    expect(sent).toBeGreaterThan(300);

    // Still serving: each valid sample passes decoding (a domain answer such as not_found is fine).
    for (const e of endpoints) {
      const sample = samples.get(`${e.service}.${e.op}`);
      if (sample === undefined) continue;
      const r = await raw.callRaw(concrete(e.subject), codec.encode(sample()));
      expect(E.isRight(r) || !DECODE_CODES.includes(r.left.code), `${e.subject}: ${E.isLeft(r) ? r.left.code : ""}`).toBe(true);
    }
  });

  it("refuses forged provider ids: in the subject (bad_request, counted) and in the payload (forbidden, not_found, ignored)", async () => {
    const before = new Map([...stack.services].map(([k, s]) => [k, s.stats().rejected]));
    let sent = 0;
    const sentTo = new Map<string, number>();
    for (const e of endpoints.filter((x) => x.subject.endsWith(".*") && x.op !== "ping")) {
      const sample = samples.get(`${e.service}.${e.op}`);
      if (sample === undefined) continue;
      for (const bad of ["ALPHA", "a", "x_y", "a".repeat(33), "alpha%2e"]) {
        const r = await raw.callRaw(concrete(e.subject, bad), codec.encode(sample()));
        sent++;
        sentTo.set(e.service, (sentTo.get(e.service) ?? 0) + 1);
        expect(E.isLeft(r) && r.left.code === "bad_request" && !r.left.retryable, `${e.subject} as ${bad}`).toBe(true);
      }
    }
    for (const [name, s] of stack.services) expect(s.stats().rejected - before.get(name)!, name).toBe(sentTo.get(name) ?? 0);
    figures["forged subject provider tokens sent"] = sent;

    // Hub-internal operations are refused to every provider before decoding.
    for (const e of endpoints.filter((x) => HUB_ONLY.has(`${x.service}.${x.op}`))) {
      const r = await raw.callRaw(concrete(e.subject, "alpha"), codec.encode(samples.get(`${e.service}.${e.op}`)!()));
      expect(E.isLeft(r) && r.left.code, e.subject).toBe("forbidden");
    }
    // Payload: alpha reports a delivered receipt in beta's name.
    const forged = await raw.callRaw(
      "ilk.receipt.v1.acked.alpha",
      codec.encode({ v: 1, acks: [{ id: "m1", from: { provider: "alpha", user: owner, device: 1 }, by: { provider: "beta", user: parked, device: 1 }, at: Date.now() }] }),
    );
    expect(E.isLeft(forged) && forged.left.code).toBe("forbidden");
    // Owner operations act in the caller's namespace: alpha cannot see or remove beta's devices.
    const count = await a.keys.count({ user: parked, device: device(1) });
    expect(E.isLeft(count) && count.left.code).toBe("not_found");
    await a.keys.remove({ user: parked, device: device(1) });
    const still = await b.keys.devices({ provider: beta, user: parked });
    expect(E.isRight(still) && still.right.devices.map((d) => d.device)).toEqual([1]);
    expect(E.isRight(await a.keys.claim({ provider: beta, user: parked, devices: [device(1)] }))).toBe(true);
    // Queues: alpha acking beta's sequences removes nothing.
    const env = samples.get("delivery.send")!() as unknown as Omit<SendRequest, "v">;
    expect(E.isRight(await a.delivery.send(env))).toBe(true);
    const page = await b.delivery.pull({ user: parked, device: device(1) });
    if (E.isLeft(page)) throw new Error(page.left.code);
    const seqs = page.right.messages.map((m) => m.seq);
    expect(seqs.length).toBeGreaterThan(0);
    const stolen = await a.delivery.ack({ user: parked, device: device(1), seqs });
    expect(E.isRight(stolen) && stolen.right.acked).toBe(0);
    const again = await b.delivery.pull({ user: parked, device: device(1) });
    expect(E.isRight(again) && again.right.messages.map((m) => m.seq)).toEqual(seqs);
    // Media: another provider's delete with the right token removes nothing.
    const up = await uploadAttachmentWithToken(a, "file", randomBytes(1000), { mime: "application/octet-stream" });
    if (E.isLeft(up)) throw new Error(up.left.code);
    const del = await b.media.delete({ mediaId: up.right.pointer.id, token: up.right.deleteToken });
    expect(E.isLeft(del) && del.left.code).toBe("unknown_media");
    expect(E.isRight(await b.media.download({ mediaId: up.right.pointer.id, cap: up.right.pointer.cap, offset: 0 }))).toBe(true);
  });

  it("a replayed envelope is answered as the duplicate it is (or message_id_reused) and stored once", async () => {
    const env = samples.get("delivery.send")!() as unknown as Omit<SendRequest, "v">;
    const first = await a.delivery.send(env);
    const replay = await a.delivery.send(env);
    if (E.isLeft(first) || E.isLeft(replay)) throw new Error("send failed");
    expect(replay.right).toEqual({ ...first.right, duplicate: true });
    const changed = await a.delivery.send({ ...env, messages: [{ ...env.messages[0]!, body: randomBytes(48) }] });
    expect(E.isLeft(changed) && changed.left.code).toBe("message_id_reused");
    const page = await b.delivery.pull({ user: parked, device: device(1), max: 256 });
    expect(E.isRight(page) && page.right.messages.filter((m) => m.id === env.id).length).toBe(1);
  });

  it("replayed PreKey and Whisper messages reach the app as duplicated_message errors, never as a second message", async () => {
    const tap = await conn();
    const captured: Array<Omit<SendRequest, "v">> = [];
    tap.subscribe("ilk.delivery.v1.send.*", {
      callback: (_e, m) => {
        const r = decodeWith(codec, SendRequestS, m.data);
        if (E.isRight(r)) captured.push(r.right);
      },
    });
    await tap.flush();
    const ledgerB = betaApp.ledger!;
    const ledgerA = alphaApp.ledger!;
    const toBob = { provider: beta, user: bob };
    const toAlice = { provider: alpha, user: alice };
    // alice → bob (a PreKey message: alice has not heard from bob yet), bob → alice, alice → bob (Whisper).
    const m1 = await a.ratchet.send({ from: { user: alice, device: device(1) }, to: toBob, id: "replay-prekey", content: { t: "text", text: "first" } });
    expect(E.isRight(m1)).toBe(true);
    await until(() => ledgerB.timesSeen("replay-prekey", bob, 1) > 0, 15_000);
    const m2 = await b.ratchet.send({ from: { user: bob, device: device(1) }, to: toAlice, id: "replay-answer", content: { t: "text", text: "answer" } });
    expect(E.isRight(m2)).toBe(true);
    await until(() => ledgerA.timesSeen("replay-answer", alice, 1) > 0, 15_000);
    const m3 = await a.ratchet.send({ from: { user: alice, device: device(1) }, to: toBob, id: "replay-whisper", content: { t: "text", text: "second" } });
    expect(E.isRight(m3)).toBe(true);
    await until(() => ledgerB.timesSeen("replay-whisper", bob, 1) > 0, 15_000);
    const prekey = captured.find((c) => c.id === "replay-prekey")!;
    const whisper = captured.find((c) => c.id === "replay-whisper")!;
    expect(prekey.messages[0]!.type).toBe(3);
    expect(whisper.messages[0]!.type).toBe(2);

    // Someone with access to alpha's subjects replays both ciphertexts under new envelope ids.
    for (const [orig, id] of [[prekey, "replayed-1"], [whisper, "replayed-2"]] as const) {
      const r = await a.delivery.send({ ...orig, id, sentAt: Date.now() });
      expect(E.isRight(r)).toBe(true);
    }
    const reported = await until(() => ["replayed-1", "replayed-2"].every((id) => betaApp.errors.some((e) => e.id === id)), 15_000);
    expect(reported).toBe(true);
    expect(betaApp.errors.filter((e) => e.id.startsWith("replayed-")).map((e) => e.code)).toEqual(["duplicated_message", "duplicated_message"]);
    await sleep(200);
    expect(ledgerB.timesSeen("replay-prekey", bob, 1)).toBe(1);
    expect(ledgerB.timesSeen("replay-whisper", bob, 1)).toBe(1);
    figures["replayed ciphertexts"] = 2;
  });

  it("timestamps: invalid ones are refused; absurd but valid ones are stored and cannot change retention or order", async () => {
    const env = () => samples.get("delivery.send")!() as Obj;
    for (const sentAt of [-1, 1.5, 2 ** 53, Number.NaN, 1e300, "2024-01-01"]) {
      const r = await raw.callRaw("ilk.delivery.v1.send.alpha", codec.encode({ ...env(), sentAt }));
      expect(E.isLeft(r) && r.left.code, String(sentAt)).toBe("bad_request");
    }
    // 1970 and the year 275760: accepted today (see docs/reliability.md), handed out in arrival
    // order, and not treated as expired (retention counts from arrival, never from sentAt).
    const parkedPull = async () => {
      const p = await b.delivery.pull({ user: parked, device: device(1), max: 256 });
      return E.isRight(p) ? p.right.messages : [];
    };
    const before = (await parkedPull()).length;
    const ids: string[] = [];
    for (const sentAt of [0, 8.64e15]) {
      const e = env();
      const r = await a.delivery.send({ ...(e as unknown as Omit<SendRequest, "v">), sentAt });
      expect(E.isRight(r)).toBe(true);
      ids.push(e["id"] as string);
    }
    const after = await parkedPull();
    expect(after.length).toBe(before + 2);
    expect(after.slice(-2).map((m) => m.id)).toEqual(ids);
    expect(after.slice(-2).map((m) => m.sentAt)).toEqual([0, 8.64e15]);
    figures["timestamp variants"] = 8;
  });
});
