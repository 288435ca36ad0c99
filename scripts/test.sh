#!/usr/bin/env bash
# Runs every test suite of the project from a fresh clone, installing what is missing:
# Rust (fmt, clippy, unit + integration tests), Kotlin/JVM bindings, Swift bindings (in a Debian
# trixie root made on first use), and the browser test of the agent console.
# Usage: scripts/test.sh
set -uo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)

step() { printf '\n==> %s (%ss)\n' "$*" "$(( $(date +%s) - started ))"; }

if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
  # shellcheck disable=SC1091
  . "$HOME/.cargo/env"
fi
command -v cargo >/dev/null 2>&1 || { echo "cargo (Rust 1.85+) is required" >&2; exit 1; }
need_apt=()
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
if [ ${#need_apt[@]} -gt 0 ]; then apt-get update -qq && apt-get install -y -qq "${need_apt[@]}"; fi

failures=()
log=$(mktemp)
trap 'rm -f "$log"' EXIT
run_suite() { # name, command...
  local name=$1; shift
  step "$name"
  "$@" 2>&1 | tee -a "$log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || failures+=("$name")
}

run_suite "rustfmt" cargo fmt --all -- --check
run_suite "clippy (-D warnings)" cargo clippy --workspace --all-targets --locked -- -D warnings
run_suite "Rust tests" cargo test --workspace --locked
run_suite "Kotlin binding tests" bindings/scripts/test-kotlin.sh
run_suite "Swift binding tests" bindings/scripts/test-swift.sh
run_suite "browser tests" scripts/test-browser.sh

step "done"
# One closing line over every suite: cargo's "test result" lines plus the foreign suites'
# "<Suite>: N passed, N failed" lines and node's summary.
read -r passed failed < <(python3 - "$log" <<'PY'
import re, sys
text = open(sys.argv[1], errors="replace").read()
p = f = 0
for m in re.finditer(r"test result: \w+\. (\d+) passed; (\d+) failed", text):
    p += int(m[1]); f += int(m[2])
for m in re.finditer(r"^(?:Kotlin|Swift): (\d+) passed, (\d+) failed$", text, re.M):
    p += int(m[1]); f += int(m[2])
# node --test (browser suite) closes with "ℹ pass N" and "ℹ fail N".
p += sum(int(n) for n in re.findall(r"^\S* ?pass (\d+)$", text, re.M))
f += sum(int(n) for n in re.findall(r"^\S* ?fail (\d+)$", text, re.M))
print(p, f)
PY
)
if [ ${#failures[@]} -gt 0 ]; then
  printf 'FAILED: %s\n' "${failures[@]}"
  echo "total: $passed passed, $failed failed"
  exit 1
fi
echo "all suites passed"
echo "total: $passed passed, $failed failed"
