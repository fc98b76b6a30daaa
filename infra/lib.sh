# Shared by infra/run-*.sh (sourced, not run). Loopback only.
#
#   INTERLINK_INFRA_PORT_OFFSET=N   add N to every port of the configs (tests use it; default 0)
#   INTERLINK_INFRA_RUN=DIR         where rendered configs, logs and JetStream data go
#                                   (default .interlink/infra in the repository root)
#   INTERLINK_NATS_SERVER=PATH      nats-server binary (default: PATH, then /usr/sbin)

set -euo pipefail
INFRA_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$INFRA_DIR")
OFFSET=${INTERLINK_INFRA_PORT_OFFSET:-0}
RUN=${INTERLINK_INFRA_RUN:-$ROOT/.interlink/infra}
NATS_SERVER=${INTERLINK_NATS_SERVER:-$(command -v nats-server || echo /usr/sbin/nats-server)}
INTERLINK=(node "$ROOT/packages/cli/bin/interlink.js")
PIDS=()
mkdir -p "$RUN"

port() { echo $(( $1 + OFFSET )); }

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_nats CONF NAME: renders CONF into $RUN (ports shifted by OFFSET, JetStream data under
# $RUN/nats) and starts nats-server on it in the background; its log is $RUN/NAME.log.
start_nats() {
  local conf=$1 name=$2
  mkdir -p "$RUN/conf" "$RUN/nats"
  OFF=$OFFSET RUNDIR=$RUN perl -pe '
    s/\b(port:\s*|http_port:\s*|127\.0\.0\.1:)(\d{4})\b/$1.($2+$ENV{OFF})/ge;
    s/"\.interlink\/nats\//"$ENV{RUNDIR}\/nats\//g;
  ' "$conf" > "$RUN/conf/$name.conf"
  "$NATS_SERVER" -c "$RUN/conf/$name.conf" > "$RUN/$name.log" 2>&1 &
  PIDS+=($!)
  local i
  for i in $(seq 1 100); do
    grep -q "Server is ready" "$RUN/$name.log" && return 0
    kill -0 "${PIDS[-1]}" 2>/dev/null || { cat "$RUN/$name.log" >&2; echo "nats-server $name exited" >&2; return 1; }
    sleep 0.1
  done
  cat "$RUN/$name.log" >&2; echo "nats-server $name did not start" >&2; return 1
}

# wait_meta_leader HTTP_PORT...: the JetStream API answers, and R3 streams can be placed, once
# a meta leader sees every other peer as current (only the leader's /jsz lists them).
wait_meta_leader() {
  node -e '
    const ports = process.argv.slice(1).map(Number);
    const until = Date.now() + 60000;
    (async function poll() {
      try {
        const all = await Promise.all(ports.map(async (p) => (await (await fetch(`http://127.0.0.1:${p}/jsz`)).json()).meta_cluster ?? {}));
        const leader = all.find((m) => m.leader && Array.isArray(m.replicas));
        if (leader && leader.replicas.filter((r) => r.current).length >= ports.length - 1) process.exit(0);
      } catch {}
      if (Date.now() > until) { console.error("no JetStream meta leader"); process.exit(1); }
      setTimeout(poll, 200);
    })();
  ' "$@"
}

# jetstream_report HTTP_PORT: one JSON line naming every stream (KV and object store buckets are
# streams too) with its replica count.
jetstream_report() {
  node -e '
    fetch(`http://127.0.0.1:${process.argv[1]}/jsz?accounts=true&streams=true&config=true`).then((r) => r.json()).then((j) => {
      const streams = (j.account_details ?? []).flatMap((a) => (a.stream_detail ?? []).map((s) => ({ account: a.name, name: s.name, replicas: s.config?.num_replicas ?? 1 })));
      console.log(JSON.stringify({ streams }));
    });
  ' "$1"
}

# run_up CHECK ARGS...: runs `interlink up ARGS`; with CHECK=1 waits for it to be ready, runs
# `interlink demo --json` against it, prints the demo's JSON line, stops it, and exits with the
# demo's status. Otherwise runs it in the foreground until Ctrl-C.
run_up() {
  local check=$1; shift
  if [[ "$check" != 1 ]]; then
    "${INTERLINK[@]}" up "$@" &
    local up=$!
    # Ctrl-C: let `up` drain before the servers it uses are stopped.
    trap 'kill -INT $up 2>/dev/null || true' INT TERM
    wait "$up" || true
    wait "$up" 2>/dev/null || true
    return 0
  fi
  local out="$RUN/up.out"
  INTERLINK_LOG_LEVEL=${INTERLINK_LOG_LEVEL:-warn} "${INTERLINK[@]}" up "$@" > "$out" 2> "$RUN/up.err" &
  local up=$!
  PIDS=("$up" "${PIDS[@]}")
  local i url=""
  for i in $(seq 1 600); do
    url=$(sed -n 's/.*ready: nats \(nats:\/\/[0-9.:]*\).*/\1/p' "$out" | head -1)
    [[ -n "$url" ]] && break
    kill -0 "$up" 2>/dev/null || { cat "$RUN/up.err" >&2; echo "interlink up exited" >&2; return 1; }
    sleep 0.1
  done
  [[ -n "$url" ]] || { cat "$RUN/up.err" >&2; echo "interlink up was not ready" >&2; return 1; }
  cat "$out"
  local status=0
  "${INTERLINK[@]}" demo --nats "$url" --json "${DEMO_ARGS[@]}" || status=$?
  kill -INT "$up"
  wait "$up" || status=$?
  return $status
}
