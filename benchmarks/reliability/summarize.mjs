#!/usr/bin/env node
// Sums the JSON lines the reliability tests write (INTERLINK_RELIABILITY_REPORT) per fault and
// prints the markdown table of docs/reliability.md.
//   node benchmarks/reliability/summarize.mjs FIGURES.jsonl
import { readFileSync } from "node:fs";

const file = process.argv[2];
if (file === undefined) {
  console.error("usage: summarize.mjs FIGURES.jsonl");
  process.exit(2);
}
const rows = new Map();
for (const line of readFileSync(file, "utf8").split("\n")) {
  if (line.trim() === "") continue;
  const r = JSON.parse(line);
  const acc = rows.get(r.fault) ?? { runs: 0, sent: 0, accepted: 0, deliveries: 0, lost: 0, duplicates: 0, extraShows: 0, kills: 0, other: {} };
  acc.runs++;
  for (const k of ["sent", "accepted", "deliveries", "lost", "duplicates", "extraShows", "kills"]) acc[k] += Number(r[k] ?? 0);
  if (r.deviceCopies !== undefined) acc.deliveries += Number(r.deviceCopies);
  for (const [k, v] of Object.entries(r)) {
    // Durations and maxima: the largest of the runs; counts: summed.
    if (typeof v === "number" && !(k in acc)) acc.other[k] = /Ms$|Max/.test(k) ? Math.max(acc.other[k] ?? 0, v) : (acc.other[k] ?? 0) + v;
    if (k === "errorsToApp" && v !== null && typeof v === "object") for (const [c, n] of Object.entries(v)) acc.other[`app error ${c}`] = (acc.other[`app error ${c}`] ?? 0) + n;
  }
  rows.set(r.fault, acc);
}
console.log("| fault | runs | kills | messages sent | accepted | deliveries (message × device) | lost | shown twice (message, device) |");
console.log("|---|---|---|---|---|---|---|---|");
for (const [fault, a] of rows) {
  console.log(`| ${fault} | ${a.runs} | ${a.kills || "–"} | ${a.sent} | ${a.accepted} | ${a.deliveries} | ${a.lost} | ${a.duplicates} |`);
}
console.log("");
for (const [fault, a] of rows) {
  const extra = Object.entries(a.other).map(([k, v]) => `${k} ${Math.round(v)}${/Ms$|Max/.test(k) ? " (max)" : ""}`).join(", ");
  if (extra !== "") console.log(`- ${fault}: ${extra}`);
}
