#!/usr/bin/env bash
# Three-node JetStream cluster (infra/nats/cluster/n1..n3.conf) with every Interlink service on
# it and every stream, KV bucket and object store replicated three times (--replicas 3).
# Development mode (one account, isolation off). Ctrl-C stops everything.
#
#   infra/run-cluster.sh           # data in .interlink/infra
#   infra/run-cluster.sh --check   # start, run `interlink demo` once, report replicas, stop (CI)
source "$(dirname "$0")/lib.sh"
CHECK=0; [[ "${1:-}" == "--check" ]] && CHECK=1
DEMO_ARGS=()
for n in 1 2 3; do start_nats "$INFRA_DIR/nats/cluster/n$n.conf" "n$n"; done
wait_meta_leader "$(port 8222)" "$(port 8223)" "$(port 8224)"
urls="nats://127.0.0.1:$(port 4222),nats://127.0.0.1:$(port 4223),nats://127.0.0.1:$(port 4224)"
status=0
run_up "$CHECK" --nats "$urls" --data "$RUN/cluster" --replicas 3 || status=$?
[[ "$CHECK" == 1 ]] && jetstream_report "$(port 8222)"
exit $status
