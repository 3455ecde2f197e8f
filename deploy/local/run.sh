#!/usr/bin/env bash
# `make run`: a local broker (unless KAFKA_BOOTSTRAP names one), the worker, the seeds fed in,
# and the canonical events printed as they come. Ctrl-C stops everything this script started.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
bin="$root/.venv/bin"
cache="${WIRE_INGEST_CACHE:-$root/.cache}"
export WIRE_WEB_PORT="${WIRE_WEB_PORT:-9108}"
export WIRE_WEB_HOST="${WIRE_WEB_HOST:-127.0.0.1}"

# Another worker answering there would pass for ours below: refuse to start beside it.
if curl -fsS -o /dev/null "http://$WIRE_WEB_HOST:$WIRE_WEB_PORT/health" 2>/dev/null; then
  echo "run: something already answers on $WIRE_WEB_HOST:$WIRE_WEB_PORT (another worker?);" \
    "stop it or set WIRE_WEB_PORT" >&2
  exit 1
fi

own_broker=0
worker_pid=""
follow_pid=""
cleanup() {
  trap - INT TERM EXIT
  echo >&2
  echo "run: stopping ..." >&2
  [ -n "$follow_pid" ] && kill "$follow_pid" 2>/dev/null || true
  if [ -n "$worker_pid" ] && kill -0 "$worker_pid" 2>/dev/null; then
    kill -TERM "$worker_pid" 2>/dev/null || true
    wait "$worker_pid" 2>/dev/null || true
  fi
  if [ "$own_broker" = 1 ]; then deploy/local/kafka.sh stop >&2 || true; fi
  echo "run: stopped." >&2
}
trap cleanup EXIT
trap 'cleanup; exit 0' INT TERM  # Ctrl-C is how this script is meant to end

if [ -z "${KAFKA_BOOTSTRAP:-}" ]; then
  # A local broker already running (a `make run` beside this one, or `kafka.sh start` by
  # hand) is used and left running; only a broker this script starts is stopped at the end.
  running="$(deploy/local/kafka.sh status 2>/dev/null)" || running=""
  if [ -n "${WIRE_STATE_DIR:-}" ]; then
    # The user's folder is never deleted; a new broker has no changelog for what it holds.
    # (The worker's lock file alone is no state.)
    if [ -z "$running" ] && [ -n "$(ls -A "$WIRE_STATE_DIR" 2>/dev/null | grep -vx '.wire-ingest.lock')" ]; then
      echo "run: WIRE_STATE_DIR=$WIRE_STATE_DIR holds state, but a new broker would have no" \
        "changelog for it; empty it or unset WIRE_STATE_DIR" >&2
      exit 1
    fi
  else
    # This script's own folder, one per web port (one per worker), emptied at each start: a
    # new broker has no changelog, and a running one restores all of it.
    export WIRE_STATE_DIR="$cache/run-state-$WIRE_WEB_PORT"
    rm -rf "$WIRE_STATE_DIR"
  fi
  if [ -n "$running" ]; then
    KAFKA_BOOTSTRAP="$running"
    echo "run: using the local broker already running; it stays up after Ctrl-C" >&2
  else
    KAFKA_BOOTSTRAP="$(deploy/local/kafka.sh start)"
    own_broker=1
  fi
fi
export KAFKA_BOOTSTRAP
echo "run: broker at $KAFKA_BOOTSTRAP" >&2

health="http://$WIRE_WEB_HOST:$WIRE_WEB_PORT/health/ready"
log="$cache/run-worker-$WIRE_WEB_PORT.log"
mkdir -p "$cache"
"$bin/wire-ingest" worker >"$log" 2>&1 &
worker_pid=$!
echo "run: worker pid $worker_pid, log $log" >&2

# A worker that exits on its own (2: settings refused; 5: the broker refused a record; 6: state
# it cannot read; README, exit codes) is said so, with its code and last log lines.
worker_exited() {
  local code=0
  wait "$worker_pid" || code=$?
  worker_pid=""
  echo "run: the worker exited with code $code; last log lines:" >&2
  tail -n 40 "$log" >&2
  exit 1
}

deadline=$((SECONDS + 120))
until curl -fsS "$health" >/dev/null 2>&1; do
  kill -0 "$worker_pid" 2>/dev/null || worker_exited
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "run: worker not ready after 120s; last log lines:" >&2; tail -n 40 "$log" >&2; exit 1
  fi
  sleep 0.5
done
kill -0 "$worker_pid" 2>/dev/null || worker_exited
echo "run: worker ready; metrics at http://$WIRE_WEB_HOST:$WIRE_WEB_PORT/metrics" >&2

"$bin/wire-ingest" follow --from-beginning &
follow_pid=$!
# The original before its update, as the wire sent them: a story.created, then a story.updated.
seeds=(seeds/000_original.txt)
for seed in seeds/*.txt; do [ "$seed" = seeds/000_original.txt ] || seeds+=("$seed"); done
"$bin/wire-ingest" produce "${seeds[@]}"
echo "run: seeds fed; events follow (Ctrl-C to stop) ..." >&2
# Until Ctrl-C, or until the worker or follow ends.
# (`wait` on a background sleep: a builtin wait lets the trap run at once on a signal.)
while kill -0 "$worker_pid" 2>/dev/null && kill -0 "$follow_pid" 2>/dev/null; do
  sleep 1 &
  wait $! || true
done
kill -0 "$worker_pid" 2>/dev/null || worker_exited
wait "$follow_pid"
