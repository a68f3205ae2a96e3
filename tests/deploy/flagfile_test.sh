#!/usr/bin/env bash
# The Kubernetes flag file is what basin-server really accepts: start the server with it (its
# addresses moved to loopback ephemeral ports), wait until it listens, SIGTERM it, expect a clean
# drain. An unknown or misspelt flag in the file makes the server refuse to start.
#   flagfile_test.sh SERVER FLAGFILE
set -euo pipefail
server=$1 flagfile=$2
log=$(mktemp)
trap 'kill -KILL "$pid" 2>/dev/null || true; rm -f "$log"' EXIT

"$server" --flagfile="$flagfile" --listen=127.0.0.1:0 --metrics_listen=127.0.0.1:0 --data_dir=none >"$log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  grep -q '^basin-server metrics on ' "$log" && break
  if ! kill -0 "$pid" 2>/dev/null; then
    cat "$log" >&2
    echo "flagfile_test: basin-server refused $flagfile" >&2
    exit 1
  fi
  sleep 0.1
done
grep -q '^basin-server metrics on ' "$log" || { cat "$log" >&2; echo "flagfile_test: no start within 10 s" >&2; exit 1; }
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
cat "$log"
if ((status != 0)) || ! grep -q 'draining' "$log"; then
  echo "flagfile_test: basin-server exited with $status after SIGTERM" >&2
  exit 1
fi
echo "flagfile_test: $flagfile accepted; SIGTERM drained and exited 0"
