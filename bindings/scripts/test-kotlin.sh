#!/usr/bin/env bash
# Kotlin/JVM binding tests: compiles the generated Kotlin bindings, the JVM-portable part of the
# Android `walletkit` module and its tests with kotlinc, then runs them with the JUnit 5 console
# launcher against the host core library (JNA) and a live mock server.
# Prints `Kotlin: N passed, N failed` last.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
read -r kotlin_home jna junit < <(bindings/scripts/kotlin-toolchain.sh)
gen=$(bindings/scripts/generate.sh)
out=target/bindings/kotlin-classes
rm -rf "$out" && mkdir -p "$out"
lib="$kotlin_home/lib"
deps="$jna:$lib/kotlinx-coroutines-core-jvm.jar"
kotlinc="$kotlin_home/bin/kotlinc"

main_src=$(find "$gen/kotlin" android/walletkit/src/main/kotlin -name '*.kt' -not -path '*/android/*')
# shellcheck disable=SC2086
"$kotlinc" -nowarn -jvm-target 17 -cp "$deps" -d "$out/main" $main_src
test_src=$(find android/walletkit/src/test/kotlin -name '*.kt')
# shellcheck disable=SC2086
"$kotlinc" -nowarn -jvm-target 17 -cp "$deps:$out/main:$lib/kotlin-test.jar:$lib/kotlin-test-junit5.jar:$junit" -d "$out/test" $test_src

report=$(mktemp)
set +e
bindings/scripts/with-mock.sh java -Djna.library.path="$top/target/debug" -jar "$junit" \
  --class-path "$out/main:$out/test:$deps:$lib/kotlin-stdlib.jar:$lib/kotlin-test.jar:$lib/kotlin-test-junit5.jar" \
  --scan-class-path --disable-banner --details=tree 2>&1 | tee "$report"
status=${PIPESTATUS[0]}
set -e
passed=$(sed -n 's/.*\[ *\([0-9]*\) tests successful *\].*/\1/p' "$report" | tail -1)
failed=$(sed -n 's/.*\[ *\([0-9]*\) tests failed *\].*/\1/p' "$report" | tail -1)
found=$(sed -n 's/.*\[ *\([0-9]*\) tests found *\].*/\1/p' "$report" | tail -1)
rm -f "$report"
# JUnit silently skips a test method that returns a value (an expression body ending in a
# call): every declared @Test must have been found.
declared=$(grep -rhoE '^\s*@Test\b' android/walletkit/src/test/kotlin | wc -l)
if [ "${found:-0}" -ne "$declared" ]; then
  echo "Kotlin: $declared tests declared but ${found:-0} found (does one return a value?)" >&2
  failed=$(( ${failed:-0} + declared - ${found:-0} ))
fi
echo "Kotlin: ${passed:-0} passed, ${failed:-0} failed"
[ "$status" -eq 0 ] && [ "${passed:-0}" -gt 0 ] && [ "${failed:-0}" -eq 0 ]
