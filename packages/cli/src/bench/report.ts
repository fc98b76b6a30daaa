import type { PhaseData } from "./recorder.js";
import { bucketHighMs, bucketLowMs, percentileOf } from "./recorder.js";
import type { BenchResult } from "./types.js";

// `interlink bench <scenario> --report FILE.html`: one self-contained page (inline CSS and SVG
// drawn here; no script, no external resource), readable offline.

export const esc = (s: string): string => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");

const COLORS = ["#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#be185d", "#4b5563"];
const num = (n: number): string => (Math.abs(n) >= 100 ? Math.round(n).toLocaleString("en-US") : String(Math.round(n * 1000) / 1000));
const f2 = (n: number): string => (Number.isFinite(n) ? n.toFixed(2) : "0");

/** 1, 2, 5 × 10^k ticks covering [lo, hi] (the first ≤ lo, the last ≥ hi). */
export const niceTicks = (lo: number, hi: number, want = 5): number[] => {
  if (!(hi > lo)) hi = lo + 1;
  const raw = (hi - lo) / want;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  const first = Math.floor(lo / step + 1e-9);
  const last = Math.ceil(hi / step - 1e-9);
  for (let k = first; k <= last; k++) out.push(Number((k * step).toPrecision(12)));
  return out;
};

/** Powers of ten covering [lo, hi] (lo > 0). */
const logTicks = (lo: number, hi: number): number[] => {
  const out: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) out.push(10 ** e);
  return out;
};

export interface Series {
  readonly name: string;
  readonly points: ReadonlyArray<readonly [number, number]>;
  readonly color?: string;
  readonly dashed?: boolean;
  /** Draw as steps of bars from y = 0 (histograms). */
  readonly bars?: boolean;
}

export interface ChartSpec {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly Series[];
  readonly xLog?: boolean;
  /** Tick labels for x instead of numbers (e.g. percentiles on a "nines" axis). */
  readonly xTickLabels?: ReadonlyArray<readonly [number, string]>;
  readonly width?: number;
  readonly height?: number;
}

/** One chart as an inline `<svg>`: axes, ticks, grid, one polyline (or bars) per series, a legend. */
export const chart = (c: ChartSpec): string => {
  const W = c.width ?? 760;
  const H = c.height ?? 300;
  const m = { l: 70, r: 20, t: 34, b: 64 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const all = c.series.flatMap((s) => s.points);
  const xsAll = all.map((p) => p[0]).filter((x) => Number.isFinite(x) && (!c.xLog || x > 0));
  let xMin = xsAll.length ? Math.min(...xsAll) : 0;
  let xMax = xsAll.length ? Math.max(...xsAll) : 1;
  if (c.xLog) {
    xMin = 10 ** Math.floor(Math.log10(xMin > 0 ? xMin : 0.001));
    xMax = 10 ** Math.ceil(Math.log10(xMax > xMin ? xMax : xMin * 10));
  } else if (xMax === xMin) xMax = xMin + 1;
  const yMaxRaw = Math.max(0, ...all.map((p) => p[1]).filter(Number.isFinite));
  const yt = niceTicks(0, yMaxRaw > 0 ? yMaxRaw : 1);
  const yMax = yt[yt.length - 1]!;
  const sx = (x: number) => m.l + (c.xLog ? (Math.log10(Math.max(x, xMin)) - Math.log10(xMin)) / (Math.log10(xMax) - Math.log10(xMin)) : (x - xMin) / (xMax - xMin)) * pw;
  const sy = (y: number) => m.t + ph - (Math.max(0, y) / yMax) * ph;
  const parts: string[] = [];
  parts.push(`<svg class="chart" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(c.title)}">`);
  parts.push(`<title>${esc(c.title)}</title>`);
  parts.push(`<text x="${m.l}" y="20" class="ct">${esc(c.title)}</text>`);
  for (const y of yt) {
    parts.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${f2(sy(y))}" y2="${f2(sy(y))}" class="grid"/>`);
    parts.push(`<text x="${m.l - 6}" y="${f2(sy(y) + 4)}" text-anchor="end" class="tick">${esc(num(y))}</text>`);
  }
  const xt: ReadonlyArray<readonly [number, string]> =
    c.xTickLabels ?? (c.xLog ? logTicks(xMin, xMax) : niceTicks(xMin, xMax, 8)).filter((x) => x >= xMin && x <= xMax).map((x) => [x, num(x)] as const);
  for (const [x, label] of xt) {
    parts.push(`<line x1="${f2(sx(x))}" x2="${f2(sx(x))}" y1="${m.t}" y2="${m.t + ph}" class="grid"/>`);
    parts.push(`<text x="${f2(sx(x))}" y="${m.t + ph + 16}" text-anchor="middle" class="tick">${esc(label)}</text>`);
  }
  parts.push(`<line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${m.t + ph}" class="axis"/>`);
  parts.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${m.t + ph}" y2="${m.t + ph}" class="axis"/>`);
  parts.push(`<text x="${m.l + pw / 2}" y="${H - 28}" text-anchor="middle" class="label">${esc(c.xLabel)}</text>`);
  parts.push(`<text transform="translate(16 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle" class="label">${esc(c.yLabel)}</text>`);
  c.series.forEach((s, i) => {
    const color = s.color ?? COLORS[i % COLORS.length]!;
    const pts = s.points.filter((p) => Number.isFinite(p[0]) && Number.isFinite(p[1]) && (!c.xLog || p[0] > 0));
    if (pts.length === 0) return;
    if (s.bars) {
      const d = pts.map(([x, y]) => `M${f2(sx(x))} ${f2(sy(0))}V${f2(sy(y))}`).join("");
      parts.push(`<path d="${d}" class="series bars" data-series="${esc(s.name)}" stroke="${color}" stroke-width="${Math.max(1, Math.min(8, pw / Math.max(1, pts.length) - 1)).toFixed(1)}"/>`);
    } else {
      const d = pts.map(([x, y]) => `${f2(sx(x))},${f2(sy(y))}`).join(" ");
      parts.push(`<polyline points="${d}" class="series" data-series="${esc(s.name)}" fill="none" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ""}/>`);
    }
  });
  // Legend under the x label, wrapped into rows that fit the width (the SVG grows to hold them).
  let lx = m.l;
  let row = 0;
  c.series.forEach((s, i) => {
    const color = s.color ?? COLORS[i % COLORS.length]!;
    const w = 30 + s.name.length * 6.2;
    if (lx > m.l && lx + w > W - m.r) {
      lx = m.l;
      row++;
    }
    const y = H - 9 + row * 16;
    parts.push(`<line x1="${f2(lx)}" x2="${f2(lx + 18)}" y1="${y}" y2="${y}" stroke="${color}" stroke-width="3"${s.dashed ? ' stroke-dasharray="4 3"' : ""}/>`);
    parts.push(`<text x="${f2(lx + 22)}" y="${y + 4}" class="legend">${esc(s.name)}</text>`);
    lx += w;
  });
  parts.push(`</svg>`);
  if (row > 0) {
    const h = H + row * 16;
    parts[0] = `<svg class="chart" width="${W}" height="${h}" viewBox="0 0 ${W} ${h}" role="img" aria-label="${esc(c.title)}">`;
  }
  return parts.join("\n");
};

/** x position on a "nines" axis: 0 → 0, 90 → 1, 99 → 2, 99.9 → 3. */
const nines = (p: number): number => -Math.log10(1 - Math.min(p, 99.9999) / 100);

const table = (rows: ReadonlyArray<readonly string[]>, head?: readonly string[]): string =>
  `<table>${head ? `<thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join("")}</tr></thead>` : ""}<tbody>${rows
    .map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join("")}</tr>`)
    .join("")}</tbody></table>`;

/** The page: summary, throughput over time, latency over time, latency distribution, phases. */
export const renderReport = (r: BenchResult, phases: readonly PhaseData[]): string => {
  const measured = phases.filter((p) => p.measured && p.ops + p.errors > 0);
  const unit = r.unit ?? "ops";
  // Measured phases only (baselines are in the table below and as the dashed line); a second
  // the phase only partly covers is scaled up to a rate, so phase edges do not show as dips.
  const rate = (p: PhaseData, sec: { t: number; ops: number }) => {
    const covered = Math.min(sec.t + 1, p.end_s) - Math.max(sec.t, p.start_s);
    return covered >= 0.2 ? sec.ops / Math.min(1, covered) : undefined;
  };
  const thrPhases = measured.filter((p) => p.ops > 0 && p.seconds.length > 0);
  const thr = chart({
    title: `Throughput over time (${unit}/s, per second)`,
    xLabel: "seconds since the run started",
    yLabel: `${unit}/s`,
    series: [
      ...thrPhases.map((p): Series => ({
        name: p.name,
        points: p.seconds.flatMap((sec) => {
          const v = rate(p, sec);
          return v === undefined ? [] : [[Math.max(sec.t, p.start_s) / 2 + Math.min(sec.t + 1, p.end_s) / 2, v] as const];
        }),
      })),
      ...(r.baseline > 0 && thrPhases.length > 0
        ? [
            {
              name: `baseline ${num(r.baseline)}/s`,
              color: "#111827",
              dashed: true,
              points: [
                [Math.min(...thrPhases.map((p) => p.start_s)), r.baseline],
                [Math.max(...thrPhases.map((p) => p.end_s)), r.baseline],
              ] as const,
            } satisfies Series,
          ]
        : []),
    ],
  });
  const latTime = chart({
    title: "Latency over time (ms; p50 and p99 of each second)",
    xLabel: "seconds since the run started",
    yLabel: "ms",
    series: measured.flatMap((p): Series[] => [
      { name: `${p.name} p50`, points: p.seconds.filter((s) => s.ops + s.errors > 0).map((s) => [s.t + 0.5, s.p50_ms] as const) },
      { name: `${p.name} p99`, dashed: true, points: p.seconds.filter((s) => s.ops + s.errors > 0).map((s) => [s.t + 0.5, s.p99_ms] as const) },
    ]),
  });
  const dist = chart({
    title: "Latency distribution (share of operations per latency bucket, log scale)",
    xLabel: "latency, ms (log scale)",
    yLabel: "% of operations",
    xLog: true,
    series: measured.map((p): Series => {
      const total = p.histogram.reduce((a, b) => a + b, 0) || 1;
      return {
        name: p.name,
        bars: measured.length === 1,
        points: p.histogram.flatMap((c, b) => (c > 0 ? [[Math.sqrt(bucketLowMs(b) * bucketHighMs(b)) || bucketHighMs(b) / 2, (100 * c) / total] as const] : [])),
      };
    }),
  });
  const ps = [0, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99];
  const pct = chart({
    title: "Latency by percentile (ms)",
    xLabel: "percentile",
    yLabel: "ms",
    xTickLabels: [0, 90, 99, 99.9, 99.99].map((p) => [nines(p), `p${p}`] as const),
    series: measured.map((p): Series => ({ name: p.name, points: ps.map((q) => [nines(q), percentileOf(p.histogram, q)] as const) })),
  });
  const summary: Array<[string, string]> = [
    ["scenario", r.scenario],
    ["date", r.date ?? ""],
    ["throughput", `${num(r.throughput)} ${unit}/s`],
    ["baseline", `${num(r.baseline)} ${unit}/s — ${r.baseline_name}`],
    ["ratio", r.ratio.toFixed(2)],
    ["latency", `p50 ${r.p50_ms} ms, p90 ${r.p90_ms} ms, p99 ${r.p99_ms} ms, p99.9 ${r.p999_ms} ms`],
    ["load", r.load ?? ""],
    ["operations", `${num(r.count)} ${unit}; ${r.errors} errors, ${r.duplicates} duplicates, ${r.lost} lost`],
    ["instances", String(r.instances)],
    ["peak RSS", `${r.rss_mb} MB`],
    ["machine", r.machine.description ?? `${r.machine.cpus} x ${r.machine.model}, node ${r.machine.node}, nats-server ${r.machine.nats_server}`],
  ];
  const extra = Object.entries(r.extra ?? {})
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => [k, typeof v === "string" ? v : typeof v === "number" ? num(v) : JSON.stringify(v)] as const);
  const phaseRows = phases.map((p) => {
    const secs = Math.max(0.001, p.end_s - p.start_s);
    return [p.name, p.measured ? "yes" : "no", p.load, `${num(p.ops)} ${p.unit}`, String(p.errors), secs.toFixed(1), num(p.ops / secs), num(percentileOf(p.histogram, 50)), num(percentileOf(p.histogram, 99))];
  });
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>interlink bench ${esc(r.scenario)} — ${esc(r.date ?? "")}</title>
<style>
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px; color: #111827; max-width: 1100px; }
h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 28px 0 8px; }
.ratio { font-size: 28px; font-weight: 600; margin: 8px 0 16px; }
table { border-collapse: collapse; margin: 8px 0; } td, th { border: 1px solid #e5e7eb; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f3f4f6; } td:first-child { white-space: nowrap; }
.chart { display: block; margin: 12px 0; background: #fff; border: 1px solid #e5e7eb; }
.ct { font-weight: 600; font-size: 13px; } .tick { font-size: 11px; fill: #4b5563; } .label { font-size: 12px; fill: #374151; } .legend { font-size: 11px; fill: #111827; }
.grid { stroke: #f0f0f0; } .axis { stroke: #6b7280; } .bars { fill: none; }
.note { color: #4b5563; font-size: 12px; }
</style>
</head>
<body>
<h1>interlink bench ${esc(r.scenario)}</h1>
<div class="note">${esc(r.machine.description ?? "")}</div>
<div class="ratio">${esc(num(r.throughput))} ${esc(unit)}/s = ${esc(r.ratio.toFixed(2))} × baseline</div>
${table(summary)}
<h2>Throughput over time</h2>
${thr}
<h2>Latency</h2>
${latTime}
${dist}
${pct}
<p class="note">Latencies of the measured phases. In an open loop (<code>--rate N</code>) each operation is timed from when it was due, not from when it was sent, so queueing shows (no coordinated omission). Histogram buckets are ≈9% wide; percentiles read from them are the bucket's upper bound.</p>
<h2>Phases</h2>
${table(phaseRows, ["phase", "measured", "load", "operations", "errors", "seconds", "per second", "p50 ms", "p99 ms"])}
${extra.length > 0 ? `<h2>Scenario figures</h2>\n${table(extra)}` : ""}
</body>
</html>
`;
};
