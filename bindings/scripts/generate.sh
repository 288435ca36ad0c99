#!/usr/bin/env bash
# Builds the core library (debug) and generates the Kotlin and Swift bindings from it into
# target/bindings/{kotlin,swift}. Generated code is a build output: never committed.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
cargo build -q -p upay-core -p uniffi-bindgen -p server-mock
lib=target/debug/libupay_core.so
out=target/bindings
rm -rf "$out/kotlin" "$out/swift"
target/debug/uniffi-bindgen generate --language kotlin --out-dir "$out/kotlin" --no-format "$lib" >/dev/null
target/debug/uniffi-bindgen generate --language swift --out-dir "$out/swift" --no-format "$lib" >/dev/null
echo "$top/$out"
