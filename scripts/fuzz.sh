#!/usr/bin/env bash
# Fuzzes the wire codecs of core/protocol: runs every cargo-fuzz target for N seconds each.
#
#   scripts/fuzz.sh [seconds]        default 30 seconds per target
#   FUZZ_SANITIZER=none scripts/fuzz.sh   force a sanitizer (address | none)
#
# cargo-fuzz passes nightly-only rustc flags (-Zsanitizer, sanitizer-coverage options). Only
# stable Rust is installed on our machines, so RUSTC_BOOTSTRAP=1 lets stable accept them.
# AddressSanitizer is tried first; if this toolchain cannot build with it, the run falls back
# to no sanitizer, which still catches what safe Rust can hit: panics, arithmetic overflow
# (debug assertions stay on) and the targets' own assertions.
#
# New corpus entries go to core/protocol/fuzz/corpus/<target>, crashes to
# core/protocol/fuzz/artifacts/<target>; both are ignored by git. The committed seeds in
# core/protocol/fuzz/seeds/<target> give each run a valid starting point.
set -euo pipefail

seconds="${1:-30}"
if [[ ! "$seconds" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $0 [seconds-per-target]" >&2
    exit 2
fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fuzz_dir="$root/core/protocol/fuzz"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "==> installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

export RUSTC_BOOTSTRAP=1

sanitizer="${FUZZ_SANITIZER:-}"
if [[ -z "$sanitizer" ]]; then
    build_log="$(mktemp)"
    echo "==> building the fuzz targets with AddressSanitizer"
    if cargo fuzz build --fuzz-dir "$fuzz_dir" --sanitizer address >"$build_log" 2>&1; then
        sanitizer=address
    else
        tail -n 20 "$build_log" >&2
        echo "==> AddressSanitizer build failed on this toolchain; fuzzing without a sanitizer" >&2
        sanitizer=none
    fi
    rm -f "$build_log"
fi

mapfile -t targets < <(cargo fuzz list --fuzz-dir "$fuzz_dir")
failed=()
for target in "${targets[@]}"; do
    echo "==> fuzzing $target for ${seconds}s (sanitizer: $sanitizer)"
    mkdir -p "$fuzz_dir/corpus/$target"
    corpora=("$fuzz_dir/corpus/$target")
    if [[ -d "$fuzz_dir/seeds/$target" ]]; then
        corpora+=("$fuzz_dir/seeds/$target")
    fi
    # Codes are at most 512 bytes; 1024 still lets the fuzzer probe the length limit.
    if ! cargo fuzz run --fuzz-dir "$fuzz_dir" --sanitizer "$sanitizer" "$target" "${corpora[@]}" -- \
        -max_total_time="$seconds" -max_len=1024 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1; then
        failed+=("$target")
    fi
done

if ((${#failed[@]} > 0)); then
    echo "==> FAILED: ${failed[*]} (inputs in $fuzz_dir/artifacts/)" >&2
    exit 1
fi
echo "==> all ${#targets[@]} targets ran ${seconds}s without a failure"
