#!/usr/bin/env bash
# Makes (once) and prints the path of a Debian trixie root with Swift 6 (`swiftlang`), where the
# Swift binding tests run: Debian bookworm has no Swift package. The root is cached outside the
# clone (UPAY_SWIFT_ROOT, default ~/.cache/upay/swift-trixie) so later runs reuse it.
set -euo pipefail
root=${UPAY_SWIFT_ROOT:-$HOME/.cache/upay/swift-trixie}
marker="$root/.upay-ready"
if [ -f "$marker" ]; then
  echo "$root"
  exit 0
fi
if ! command -v debootstrap >/dev/null; then
  apt-get update -qq >&2
  apt-get install -y -qq debootstrap >&2
fi
mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
[ -n "$mirror" ] || mirror=$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
[ -n "$mirror" ] || { echo "cannot find the Debian mirror this machine uses" >&2; exit 1; }
rm -rf "$root"
mkdir -p "$(dirname "$root")"
echo "creating the Swift root in $root (a few minutes, once)" >&2
debootstrap --variant=minbase --include=swiftlang,libc6-dev,ca-certificates trixie "$root" "$mirror" >&2
touch "$marker"
echo "$root"
