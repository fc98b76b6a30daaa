import { describe, expect, it } from "vitest";
import { Latency, openLoop } from "../src/bench/latency.js";
import type { PhaseData } from "../src/bench/recorder.js";
import { BUCKETS, Recorder, bucketHighMs, bucketLowMs, bucketOf, percentileOf } from "../src/bench/recorder.js";
import { chart, niceTicks, renderReport } from "../src/bench/report.js";
import type { BenchResult } from "../src/bench/types.js";

/** A synthetic phase: `secs` seconds of `rate` ops/s with latencies around `ms`. */
const phase = (name: string, measured: boolean, start: number, secs: number, rate: number, ms: number): PhaseData => {
  const histogram = new Array<number>(BUCKETS).fill(0);
  for (let i = 0; i < secs * rate; i++) histogram[bucketOf(ms * (0.5 + ((i * 7919) % 1000) / 1000))]!++;
  return {
    name,
    measured,
    start_s: start,
    end_s: start + secs,
    ops: secs * rate,
    errors: 0,
    unit: "messages",
    load: "closed loop, 64 in flight",
    seconds: Array.from({ length: secs }, (_, i) => ({ t: start + i, ops: rate + (i % 3) * 10, errors: 0, p50_ms: ms, p99_ms: ms * 3, max_ms: ms * 4 })),
    histogram,
  };
};

const result: BenchResult = {
  scenario: "e2e <script>alert(1)</script>",
  unit: "messages",
  load: "closed loop, 64 in flight",
  throughput: 812.5,
  baseline: 3400,
  baseline_name: "raw libsignal encrypt+decrypt & friends",
  ratio: 812.5 / 3400,
  p50_ms: 12.5,
  p90_ms: 20,
  p99_ms: 41,
  p999_ms: 80,
  errors: 0,
  duplicates: 0,
  lost: 0,
  rss_mb: 250,
  instances: 1,
  count: 8125,
  date: "2026-01-02T03:04:05.000Z",
  machine: { cpus: 2, model: "Test CPU", node: "v20.0.0", nats_server: "2.9.10", description: "2 x Test CPU, 8 GiB" },
  extra: { decrypted_p50_ms: 8, cpu_us_per_message: { ratchet: 900 }, nothing: undefined },
};

describe("bench report", () => {
  const phases = [phase("baseline: raw NATS request/reply", false, 0, 3, 20_000, 1), phase("messages", true, 4, 10, 800, 12)];
  const html = renderReport(result, phases);

  it("is one self-contained page: inline SVG and CSS, no script, no external resource", () => {
    expect(html.startsWith("<!doctype html>")).toBe(true);
    expect(html).toContain("</html>");
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/\bsrc=|<link|@import|url\(/i);
    // Throughput over time, latency over time, distribution, percentiles.
    expect(html.match(/<svg /g)).toHaveLength(4);
    expect(html.match(/<\/svg>/g)).toHaveLength(4);
  });

  it("escapes what it prints", () => {
    expect(html).toContain("e2e &lt;script&gt;alert(1)&lt;/script&gt;");
    expect(html).toContain("raw libsignal encrypt+decrypt &amp; friends");
  });

  it("draws throughput per second of the measured phases, with the baseline as a reference line", () => {
    const thr = html.slice(html.indexOf("Throughput over time ("), html.indexOf("</svg>", html.indexOf("Throughput over time (")));
    const lines = [...thr.matchAll(/<polyline points="([^"]+)"[^>]*data-series="([^"]+)"/g)].map((m) => ({ n: m[1]!.split(" ").length, name: m[2]! }));
    expect(lines).toEqual([
      { n: 10, name: "messages" },
      { n: 2, name: "baseline 3,400/s" },
    ]);
    // Every point lies inside the plot.
    for (const m of thr.matchAll(/points="([^"]+)"/g))
      for (const p of m[1]!.split(" ")) {
        const [x, y] = p.split(",").map(Number);
        expect(x).toBeGreaterThanOrEqual(0);
        expect(x).toBeLessThanOrEqual(760);
        expect(y).toBeGreaterThanOrEqual(0);
        expect(y).toBeLessThanOrEqual(300);
      }
  });

  it("draws the latency distribution of the measured phase only, and the summary", () => {
    const dist = html.slice(html.indexOf("Latency distribution"), html.indexOf("</svg>", html.indexOf("Latency distribution")));
    expect(dist).toContain('data-series="messages"');
    expect(dist).not.toContain("raw NATS");
    expect(html).toContain("813 messages/s = 0.24 × baseline");
    expect(html).toContain("2 x Test CPU, 8 GiB");
    expect(html).toContain("cpu_us_per_message");
    expect(html).not.toContain(">nothing<");
  });
});

describe("chart helpers", () => {
  it("picks 1-2-5 ticks", () => {
    expect(niceTicks(0, 980)).toEqual([0, 200, 400, 600, 800, 1000]);
    expect(niceTicks(0, 7)).toEqual([0, 2, 4, 6, 8]);
  });

  it("renders an empty chart without failing", () => {
    expect(chart({ title: "empty", xLabel: "x", yLabel: "y", series: [] })).toContain("</svg>");
  });
});

describe("recorder", () => {
  it("buckets latencies about 9% wide and reads percentiles back", () => {
    for (const ms of [0.05, 1, 12.3, 480, 60_000]) {
      const b = bucketOf(ms);
      expect(bucketLowMs(b)).toBeLessThanOrEqual(ms);
      expect(bucketHighMs(b)).toBeGreaterThan(ms);
      expect(bucketHighMs(b) / bucketLowMs(b)).toBeLessThan(1.1);
    }
    const counts = new Array<number>(BUCKETS).fill(0);
    for (let i = 1; i <= 100; i++) counts[bucketOf(i)]!++;
    expect(percentileOf(counts, 50)).toBeGreaterThanOrEqual(50);
    expect(percentileOf(counts, 50)).toBeLessThan(55);
    expect(percentileOf(counts, 99)).toBeGreaterThanOrEqual(99);
  });

  it("keeps phases on one clock, with per-second counts", () => {
    const r = new Recorder();
    const p = r.phase("x", { unit: "messages", weight: 3 });
    p.record(5);
    p.record(7);
    p.record(9, false);
    p.end();
    const [d] = r.phases();
    expect(d).toMatchObject({ name: "x", measured: true, ops: 6, errors: 1, unit: "messages" });
    expect(d!.seconds.reduce((n, s) => n + s.ops, 0)).toBe(6);
    expect(d!.histogram.reduce((a, b) => a + b, 0)).toBe(3);
  });
});

describe("open loop", () => {
  it("times operations from when they were due, so a backlog shows in the latencies", async () => {
    // 100/s due, but one at a time and 30 ms each: the generator falls behind, and each later
    // operation has waited longer. A closed loop would report ~30 ms for all of them.
    const lat = new Latency();
    const r = await openLoop({ rate: 100, total: 20, maxInFlight: 1 }, () => new Promise((res) => setTimeout(() => res(true), 30)), lat);
    expect(r.done).toBe(20);
    expect(r.errors).toBe(0);
    expect(lat.count).toBe(20);
    expect(lat.percentilesMs().p99_ms).toBeGreaterThan(200);
  });
});

describe("bench flags", () => {
  it("turns flags into options and refuses bad ones", async () => {
    const { benchOptions } = await import("../src/commands/bench.js");
    expect(benchOptions({ natsUrl: undefined }, { json: true, rate: "500", duration: "2.5", users: "10", devices: "3", size: "1024", providers: "3", workers: "0" })).toEqual({
      rate: 500,
      durationS: 2.5,
      users: 10,
      devices: 3,
      size: 1024,
      providers: 3,
      workers: 0,
    });
    expect(benchOptions({ natsUrl: "nats://127.0.0.1:4222" }, { json: false, rate: "half", external: true })).toEqual({ natsUrl: "nats://127.0.0.1:4222", rate: "half", external: true });
    expect(benchOptions({ natsUrl: undefined }, { json: false, rate: "max" })).toEqual({ rate: "max" });
    expect(() => benchOptions({ natsUrl: undefined }, { json: false, rate: "fast" })).toThrow(/--rate/);
    expect(() => benchOptions({ natsUrl: undefined }, { json: false, count: "10", duration: "5" })).toThrow(/alternatives/);
    expect(() => benchOptions({ natsUrl: undefined }, { json: false, external: true })).toThrow(/--nats/);
    expect(() => benchOptions({ natsUrl: undefined }, { json: false, devices: "17" })).toThrow(/--devices/);
  });
});
