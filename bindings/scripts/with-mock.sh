#!/usr/bin/env bash
# Runs a command with the mock server up: starts target/debug/server-mock on a free loopback port
# (cheap password hashing, no rate limit), exports UPAY_MOCK_URL, runs the command, stops the mock.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
log=$(mktemp)
"$top/target/debug/server-mock" --listen 127.0.0.1:0 --pbkdf2-iterations 1000 --rate-limit 0 --log warn >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -f "$log"' EXIT
url=
for _ in $(seq 200); do
  url=$(sed -n 's/^uPay mock backend listening on //p' "$log" | head -1)
  [ -n "$url" ] && curl -sf "$url/healthz" >/dev/null && break
  kill -0 $pid 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.05
done
[ -n "$url" ] || { echo "the mock server did not start" >&2; cat "$log" >&2; exit 1; }
export UPAY_MOCK_URL=$url
"$@"
