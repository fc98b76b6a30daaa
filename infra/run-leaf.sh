#!/usr/bin/env bash
# Hub and providers as leafnodes, with isolation: `interlink up` starts the hub's nats-server
# with an account per provider (HUB for the services), and providers alpha and beta each on
# their own nats-server, joined to the hub as a leafnode bound to its account, running its
# session-ratchet. Configs and credentials are generated in the data dir (see docs/providers.md).
#
#   infra/run-leaf.sh              # data in .interlink/infra/leaf; hub on 4222, leafnodes on 7422
#   infra/run-leaf.sh --check      # start, run `interlink demo` once against it, stop (CI)
source "$(dirname "$0")/lib.sh"
CHECK=0; [[ "${1:-}" == "--check" ]] && CHECK=1
DEMO_ARGS=(--data "$RUN/leaf")
run_up "$CHECK" --data "$RUN/leaf" --nats-port "$(port 4222)" --leaf-port "$(port 7422)" --providers alpha,beta
