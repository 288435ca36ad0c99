#!/usr/bin/env bash
# Builds the core library (debug), uniffi-bindgen and the mock, and generates the Kotlin and
# Swift bindings from the library into target/bindings/{kotlin,swift} with the settings of
# bindings/uniffi.toml. The Swift file gets the task-cancellation patch
# (bindings/scripts/patch-swift-cancellation.pl). Generated code is a build output: never
# committed. Prints the output directory.
# Usage: generate.sh [path/to/libupay_core.so [out-dir]]   (defaults: the debug build, target/bindings)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
cargo build -q -p upay-core -p uniffi-bindgen -p server-mock
lib=${1:-target/debug/libupay_core.so}
out=${2:-target/bindings}
rm -rf "$out/kotlin" "$out/swift"
for language in kotlin swift; do
  target/debug/uniffi-bindgen generate --language "$language" --out-dir "$out/$language" \
    --no-format --config bindings/uniffi.toml "$lib" >/dev/null
done
perl bindings/scripts/patch-swift-cancellation.pl "$out/swift/upay_core.swift"
echo "$(cd "$out" && pwd)"
