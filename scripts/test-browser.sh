#!/usr/bin/env bash
# The agent console's browser test: Debian's headless Chromium drives /console through
# pick-up → reply → ticket → resolve against a freshly started mock.
# Usage: scripts/test-browser.sh        (CONSOLE_SCREENSHOT=out.png keeps a screenshot)
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if [ ! -x /usr/bin/chromium ]; then
  step "installing Debian's chromium"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if ! command -v node >/dev/null 2>&1; then
  step "installing node"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "node 20 or newer is needed (found $(node --version))" >&2
  exit 1
fi

browser_dir=server-mock/tests/browser
if [ ! -d "$browser_dir/node_modules/playwright-core" ]; then
  step "npm ci (playwright-core; no browser download)"
  (cd "$browser_dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
fi

step "building the mock"
# The same package set as bindings/scripts/generate.sh: cargo unifies features over the packages
# of one invocation, so building server-mock alone would recompile its dependencies.
cargo build --locked -p upay-core -p uniffi-bindgen -p server-mock
bin=target/debug/server-mock

step "starting the mock on a free loopback port"
log=$(mktemp)
# Port 0: the kernel picks a free port; the banner tells which.
"$bin" --listen 127.0.0.1:0 --pbkdf2-iterations 1000 --log warn >"$log" 2>&1 &
pid=$!
cleanup() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -f "$log"
}
trap cleanup EXIT
url=""
for _ in $(seq 1 300); do
  url=$(sed -n 's/^uPay mock backend listening on \(http[^ ]*\).*/\1/p' "$log" | head -n1)
  [ -n "$url" ] && break
  if ! kill -0 "$pid" 2>/dev/null; then
    cat "$log" >&2
    echo "the mock exited before listening" >&2
    exit 1
  fi
  sleep 0.1
done
[ -n "$url" ] || { cat "$log" >&2; echo "the mock did not start" >&2; exit 1; }
echo "mock at $url"

step "node --test (agent console in headless Chromium)"
MOCK_URL="$url" MOCK_SANDBOX="browser-$$" \
  node --test --test-reporter=spec "$browser_dir/console.test.mjs"
