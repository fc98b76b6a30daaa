#!/usr/bin/env bash
# Horizontal scaling of the end-to-end path, unattended: for N in 1 2 4 8, a fresh nats-server,
# N delivery and N session-ratchet processes per provider (plus one key-directory and one
# receipt), and a separate load-generator process driving 1:1 text end to end. Writes
# benchmarks/scaling/results-<host>-<date>.json and .md (a markdown table) and prints the table.
#
#   benchmarks/scaling/run.sh                          # 1,2,4,8 instances, 20 s each (≈ 4 minutes)
#   benchmarks/scaling/run.sh --instances 1,2 --duration 10
#   benchmarks/scaling/run.sh --hub n                  # key-directory and receipt scaled with N too
#   benchmarks/scaling/run.sh --help
#
# Needs Node.js 20+, `npm install` done, and nats-server (INTERLINK_NATS_SERVER or PATH).
# Meant for a quiet machine with 16 cores or more; on 2 cores it shows only overheads.
# SKIP_BUILD=1 skips `npx tsc -b` (when the compiled dist/ folders are already there).
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "${SKIP_BUILD:-0}" != 1 ]; then npx tsc -b; fi
exec node packages/cli/dist/src/bench/scaling.js "$@"
