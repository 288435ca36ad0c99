#!/usr/bin/env bash
# macOS with Xcode only: builds the core as a static library for iOS devices and simulators,
# packages it with the C header as ios/UPayKit/UPayCoreFFI.xcframework (which Package.swift
# then uses instead of the Linux system library), and places the Swift bindings, with the
# cancellation patch, in ios/UPayKit/Sources/UPayCore. Outputs are never committed.
# Usage: bindings/scripts/build-xcframework.sh [mobile|release|dev]   (mobile: the shipped, size-tuned profile)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
profile=${1:-mobile}
[ "$(uname -s)" = Darwin ] || { echo "build-xcframework.sh needs macOS with Xcode" >&2; exit 1; }
dir=$([ "$profile" = dev ] && echo debug || echo "$profile")
device=aarch64-apple-ios
simulators=(aarch64-apple-ios-sim x86_64-apple-ios)
rustup target add "$device" "${simulators[@]}"
for target in "$device" "${simulators[@]}"; do
  # A staticlib only here: host builds (cdylib for JNA and the Linux Swift tests) skip it.
  cargo rustc --locked -p upay-core --lib --profile "$profile" --target "$target" --crate-type staticlib
done

# The bindings come from the host library, which embeds the same uniffi metadata.
cargo build --locked -p upay-core -p uniffi-bindgen
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
target/debug/uniffi-bindgen generate --language swift --no-format --config bindings/uniffi.toml \
  --out-dir "$work/swift" target/debug/libupay_core.dylib
perl bindings/scripts/patch-swift-cancellation.pl "$work/swift/upay_core.swift"

pkg=ios/UPayKit
mkdir -p "$work/headers" "$work/sim" "$pkg/Sources/UPayCore"
cp "$work/swift/upay_coreFFI.h" "$work/headers/"
# No `link` line: the xcframework's library is linked by SwiftPM/Xcode.
printf 'module upay_coreFFI {\n    header "upay_coreFFI.h"\n    export *\n}\n' >"$work/headers/module.modulemap"
# One simulator library for both architectures.
sim_libs=()
for target in "${simulators[@]}"; do sim_libs+=("target/$target/$dir/libupay_core.a"); done
lipo -create "${sim_libs[@]}" -output "$work/sim/libupay_core.a"
rm -rf "$pkg/UPayCoreFFI.xcframework"
xcodebuild -create-xcframework \
  -library "target/$device/$dir/libupay_core.a" -headers "$work/headers" \
  -library "$work/sim/libupay_core.a" -headers "$work/headers" \
  -output "$pkg/UPayCoreFFI.xcframework"
cp "$work/swift/upay_core.swift" "$pkg/Sources/UPayCore/"
echo "$pkg/UPayCoreFFI.xcframework"
