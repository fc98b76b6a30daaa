import { connect } from "@nats-io/transport-node";
const nc = await connect({ servers: "nats://127.0.0.1:14222" });
const counts = new Map();
nc.subscribe(">", { callback: (_e, m) => { const s = m.subject.replace(/_INBOX\.[^ ]*/, "_INBOX").replace(/\$JS\.API\.DIRECT\.GET\..*/, "$JS.API.DIRECT.GET").replace(/\$JS\.ACK\..*/, "$JS.ACK").replace(/ilk\.q\..*/, "ilk.q.*").replace(/\$KV\.([^.]+)\..*/, "$KV.$1.*"); counts.set(s, (counts.get(s) ?? 0) + 1); } });
setTimeout(async () => { console.log([...counts].sort((a, b) => b[1] - a[1]).slice(0, 45).map(([k, v]) => `${String(v).padStart(7)} ${k}`).join("\n")); await nc.close(); }, Number(process.argv[2]) * 1000);
