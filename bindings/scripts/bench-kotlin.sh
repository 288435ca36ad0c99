#!/usr/bin/env bash
# Kotlin binding-overhead benchmark (bindings/bench/kotlin): per-call and per-record cost of
# calls into a release build of the core through the generated bindings and JNA, against the
# mock with 1,000 seeded transactions. Not part of the test run.
# Usage: bindings/scripts/bench-kotlin.sh
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
read -r kotlin_home jna junit < <(bindings/scripts/kotlin-toolchain.sh)
cargo build -q --release -p upay-core
# The release profile strips symbols, uniffi's metadata among them: the bindings come from the
# debug build of the same source (generate.sh builds it, and the mock). At load time uniffi
# compares the API checksums of bindings and library, so a mismatch fails loudly.
gen=$(bindings/scripts/generate.sh target/debug/libupay_core.so target/bindings/bench)
out=target/bindings/bench/classes
rm -rf "$out" && mkdir -p "$out"
lib="$kotlin_home/lib"
deps="$jna:$lib/kotlinx-coroutines-core-jvm.jar"
src=$(find "$gen/kotlin" android/walletkit/src/main/kotlin bindings/bench/kotlin -name '*.kt' -not -path '*/android/*')
# shellcheck disable=SC2086
"$kotlin_home/bin/kotlinc" -nowarn -jvm-target 17 -cp "$deps" -d "$out" $src
bindings/scripts/with-mock.sh java -Djna.library.path="$top/target/release" \
  -cp "$out:$deps:$lib/kotlin-stdlib.jar" app.upay.bench.BindingBenchKt
