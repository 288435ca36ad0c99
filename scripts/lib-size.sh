#!/usr/bin/env bash
# Prints the size of the core library as it ships (profile `mobile`: fat LTO, one codegen unit,
# size-tuned, symbols stripped) for this machine's target, against QUALITY.md's 8 MB.
#
#   scripts/lib-size.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --locked -q --profile mobile -p upay-core
lib=target/mobile/libupay_core.so
[ -f "$lib" ] || lib=target/mobile/libupay_core.dylib
bytes=$(wc -c <"$lib")
printf 'core library (%s, profile mobile, stripped): %d bytes = %.2f MiB (target <= 8 MiB)\n' \
  "$(uname -m)" "$bytes" "$(awk "BEGIN { print $bytes / 1048576 }")"
[ "$bytes" -le $((8 * 1024 * 1024)) ]
