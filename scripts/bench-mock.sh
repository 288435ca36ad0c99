#!/usr/bin/env bash
# Load benchmark of the mock server with wrk, side by side with a bare axum route:
#   1. bare axum static JSON (baseline)   2. authenticated balance read   3. idempotent transfer
# Usage: scripts/bench-mock.sh [seconds per run, default 10]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
bare_port=18181
mock_port=18180
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }

cargo build --release -q -p server-mock --bin server-mock --example bare_axum
target/release/examples/bare_axum "127.0.0.1:$bare_port" >/dev/null &
bare_pid=$!
target/release/server-mock --listen "127.0.0.1:$mock_port" --rate-limit 0 --pbkdf2-iterations 1000 --log error >/dev/null &
mock_pid=$!
trap 'kill $bare_pid $mock_pid 2>/dev/null || true' EXIT
base="http://127.0.0.1:$mock_port"
for _ in $(seq 100); do curl -sf "$base/healthz" >/dev/null && curl -sf "http://127.0.0.1:$bare_port/v1/balances" >/dev/null && break; sleep 0.1; done

# Sign in as the demo user Zhang Wei (new device: answer the SMS step from the mock's outbox).
device='{"device_id":"bench-device-1","name":"bench","platform":"other"}'
login=$(curl -sf "$base/v1/auth/login" -H 'content-type: application/json' \
  -d "{\"phone\":\"13800138000\",\"password\":\"Demo1234\",\"device\":$device}")
ticket=$(echo "$login" | python3 -c 'import json,sys; print(json.load(sys.stdin)["login_ticket"])')
code=$(curl -sf "$base/__mock/sms?phone=13800138000" | python3 -c 'import json,sys; print(json.load(sys.stdin)["messages"][-1]["code"])')
token=$(curl -sf "$base/v1/auth/login/otp" -H 'content-type: application/json' \
  -d "{\"login_ticket\":\"$ticket\",\"code\":\"$code\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["tokens"]["access_token"])')

run() { # name, wrk args...
  local name=$1; shift
  local out
  out=$(wrk --latency -t2 -c64 -d"${secs}s" "$@")
  local rps p50 p99
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1=="50%" {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  printf '%-34s %12s req/s   p50 %8s   p99 %8s\n' "$name" "$rps" "$p50" "$p99"
  if echo "$out" | grep -q 'Non-2xx'; then echo "  ! $(echo "$out" | grep 'Non-2xx')"; fi
  eval "${name//[^a-z_]/_}_rps=$rps"
}

echo "wrk: 2 threads, 64 connections, ${secs}s per run, loopback, release build"
run bare_axum "http://127.0.0.1:$bare_port/v1/balances"
run balance_read -H "Authorization: Bearer $token" "$base/v1/balances"
TOKEN=$token PAYEE=U0000000002 run transfer -s server-mock/bench/transfer.lua "$base/v1/transfers"
python3 -c "print(f'balance read / bare axum = {float($balance_read_rps)/float($bare_axum_rps):.2f}')"
curl -sf "$base/__mock/audit" | python3 -c 'import json,sys; a=json.load(sys.stdin); print("ledger audit balanced:", a["balanced"])'
