#!/usr/bin/env bash
# Single node: one nats-server (infra/nats/single.conf) and every Interlink service on it, in
# development mode (one account, isolation off). Ctrl-C stops both.
#
#   infra/run-single.sh            # from anywhere; data in .interlink/infra
#   infra/run-single.sh --check    # start, run `interlink demo` once, stop (what CI runs)
source "$(dirname "$0")/lib.sh"
CHECK=0; [[ "${1:-}" == "--check" ]] && CHECK=1
DEMO_ARGS=()
start_nats "$INFRA_DIR/nats/single.conf" single
run_up "$CHECK" --nats "nats://127.0.0.1:$(port 4222)" --data "$RUN/single" --replicas 1
