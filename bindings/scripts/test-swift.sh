#!/usr/bin/env bash
# Swift binding tests on Linux: places the generated Swift bindings into the UPayKit package and
# runs its XCTest suites with `swift test` inside a Debian trixie root (Swift 6), against the host
# core library and a live mock server. Prints `Swift: N passed, N failed` last.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
root=$(bindings/scripts/swift-root.sh)
gen=$(bindings/scripts/generate.sh)
pkg=ios/UPayKit
mkdir -p "$pkg/Sources/UPayCore" "$pkg/Sources/UPayCoreFFI"
cp "$gen/swift/upay_core.swift" "$pkg/Sources/UPayCore/"
cp "$gen/swift/upay_coreFFI.h" "$pkg/Sources/UPayCoreFFI/"
cat >"$pkg/Sources/UPayCoreFFI/module.modulemap" <<'MAP'
module upay_coreFFI {
    header "upay_coreFFI.h"
    link "upay_core"
    export *
}
MAP

# The clone is bind-mounted into the root; proc, dev and a tmpfs /tmp as DESIGN.md says.
# Unique per run, so two checkouts (or a CI run beside a developer's) never share a mount.
inside=/upay-$$
key=$(printf '%s' "$top" | sha1sum | cut -c1-12)
mkdir -p "$root$inside" "$root/proc" "$root/dev" "$root/tmp"
cleanup() {
  mountpoint -q "$root$inside" && umount -l "$root$inside"
  rmdir "$root$inside" 2>/dev/null || true
  # proc, dev and tmp are shared by concurrent runs: the last one out unmounts them.
  if ! ls -d "$root"/upay-* >/dev/null 2>&1; then
    for m in "$root/tmp" "$root/dev" "$root/proc"; do
      mountpoint -q "$m" && umount -l "$m" || true
    done
  fi
}
trap cleanup EXIT
mount --bind "$top" "$root$inside"
mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
mountpoint -q "$root/dev" || mount --bind /dev "$root/dev"
mountpoint -q "$root/tmp" || mount -t tmpfs tmpfs "$root/tmp"

report=$(mktemp)
set +e
bindings/scripts/with-mock.sh bash -c '
  exec chroot "$0" /usr/bin/env -i HOME=/tmp PATH=/usr/bin:/bin UPAY_MOCK_URL="$UPAY_MOCK_URL" \
    LD_LIBRARY_PATH=/usr/libexec/swift/lib/swift/linux:'"$inside"'/target/debug \
    bash -c "cd '"$inside/$pkg"' && swift test --disable-swift-testing --scratch-path /var/cache/upaykit-build-'"$key"' \
      -Xlinker --allow-shlib-undefined -Xlinker -L'"$inside"'/target/debug 2>&1"
' "$root" | tee "$report"
status=${PIPESTATUS[0]}
set -e
line=$(grep -E 'Executed [0-9]+ tests?, with [0-9]+ failures?' "$report" | tail -1)
rm -f "$report"
total=$(echo "$line" | sed -n 's/.*Executed \([0-9]*\) test.*/\1/p')
failed=$(echo "$line" | sed -n 's/.*with \([0-9]*\) failure.*/\1/p')
echo "Swift: $(( ${total:-0} - ${failed:-0} )) passed, ${failed:-0} failed"
[ "$status" -eq 0 ] && [ "${total:-0}" -gt 0 ]
