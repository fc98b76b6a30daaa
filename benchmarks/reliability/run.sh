#!/usr/bin/env bash
# Longer runs of the reliability suite (docs/reliability.md): every fault test of
# packages/cli/test/reliability with more messages, several kill -9s per phase, longer fuzzing
# with a fresh seed per round, and the known-bug scenarios that `npm test` leaves out. Figures
# go to a JSON-lines file and are summed into the markdown table docs/reliability.md shows.
#
#   benchmarks/reliability/run.sh [rounds] [scale] [kills]
#
#   rounds  how many times the whole suite runs (default 3)
#   scale   multiplies every message count (default 4)
#   kills   kill -9s of the victim per fault phase (default 3)
#
# Environment: INTERLINK_RELIABILITY_OUT (directory for figures; default $TMPDIR), INTERLINK_FUZZ_MS
# (time per fuzz property / per service, default 5000). Needs a built tree (`npx tsc -b`) and
# nats-server (found as for `npm test`). Exit status: non-zero if any round had a failure
# (the known-bug block fails until services/session-ratchet is fixed; its figures still count).
set -uo pipefail
cd "$(dirname "$0")/../.."

ROUNDS=${1:-3}
SCALE=${2:-4}
KILLS=${3:-3}
OUT=${INTERLINK_RELIABILITY_OUT:-${TMPDIR:-/tmp}}
mkdir -p "$OUT"
FIGURES="$OUT/interlink-reliability-$(date +%Y%m%d-%H%M%S).jsonl"
: > "$FIGURES"
status=0

for round in $(seq 1 "$ROUNDS"); do
  seed=$(( (RANDOM << 15) | RANDOM ))
  echo "== round $round of $ROUNDS (scale $SCALE, $KILLS kills per phase, fuzz seed $seed)"
  INTERLINK_RELIABILITY_REPORT="$FIGURES" \
  INTERLINK_RELIABILITY_SCALE="$SCALE" \
  INTERLINK_RELIABILITY_KILLS="$KILLS" \
  INTERLINK_FUZZ_SEED="$seed" \
  INTERLINK_FUZZ_MS="${INTERLINK_FUZZ_MS:-5000}" \
    npx vitest run packages/cli/test/reliability --testTimeout=900000 --hookTimeout=120000 || status=1
done

node benchmarks/reliability/summarize.mjs "$FIGURES"
echo "figures: $FIGURES"
exit $status
