#!/usr/bin/env bash
# run_with_server.sh SERVER PROGRAM [ARGS...]: starts SERVER on an ephemeral loopback port, runs
# PROGRAM --target=127.0.0.1:PORT ARGS..., then SIGTERMs the server. Exits with PROGRAM's status.
set -euo pipefail
server=$1 program=$2
shift 2
log=$(mktemp)
"$server" --listen=127.0.0.1:0 --metrics_listen=none --data_dir=none >"$log" 2>&1 &
pid=$!
cleanup() {
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -f "$log"
}
trap cleanup EXIT
target=
for _ in $(seq 200); do
  target=$(sed -n 's/^basin-server listening on \([^ ]*\)$/\1/p' "$log")
  [[ -n "$target" ]] && break
  kill -0 "$pid" 2>/dev/null || { echo "basin-server exited:" >&2; cat "$log" >&2; exit 1; }
  sleep 0.1
done
[[ -n "$target" ]] || { echo "basin-server did not start:" >&2; cat "$log" >&2; exit 1; }
"$program" --target="$target" "$@"
