#!/usr/bin/perl
# Makes Swift task cancellation drop the Rust future, as Kotlin coroutine cancellation already
# does. uniffi 0.32's Swift `uniffiRustCallAsync` awaits the future with a plain continuation,
# so `Task.cancel()` has no effect and the call runs to completion (uniffi-rs #2771, PR #2887).
# Every exported future of the core is drop-safe (docs/bindings.md), and an async export that
# returns a `Result` is already `async throws` in Swift: cancelling surfaces as
# `CancellationError` without changing a signature. Infallible async exports are left as they are.
#
# The patch, applied to the generated `upay_core.swift` in place:
#   1. `uniffiRustCallAsync` takes the matching `ffi_*_rust_future_cancel_*` function and polls
#      inside `withTaskCancellationHandler`, whose handler cancels the Rust future: uniffi then
#      wakes the poll loop, `complete` drops the future and reports CALL_CANCELLED.
#   2. CALL_CANCELLED throws `CancellationError()` instead of `fatalError`.
# The cancel handler can only run while the poll loop runs, so it never races `freeFunc`.
# It fails loudly when the generated code no longer has the expected shape.
use strict;
use warnings;

my $file = shift or die "usage: $0 upay_core.swift\n";
local $/;
open my $in, '<', $file or die "$file: $!\n";
my $src = <$in>;
close $in;

my $n;
$n = ($src =~ s{
    (\n\s*freeFunc:\s*\(UInt64\)\s*->\s*\(\),)
}{$1\n    cancelFunc: \@escaping (UInt64) -> (),}x);
$n == 1 or die "patch-swift-cancellation: uniffiRustCallAsync signature not found\n";

$n = ($src =~ s{
    var\ pollResult:\ Int8;\s*
    repeat\ \{
    (.*?)
    \}\ while\ pollResult\ !=\ UNIFFI_RUST_FUTURE_POLL_READY\n
}{
    let cancellation = UniffiFutureCancellation(cancel: cancelFunc, future: rustFuture)
    await withTaskCancellationHandler {
        var pollResult: Int8
        repeat {$1} while pollResult != UNIFFI_RUST_FUTURE_POLL_READY
    } onCancel: {
        cancellation.run()
    }
}sx);
$n == 1 or die "patch-swift-cancellation: the poll loop was not found\n";

# The handler is `@Sendable`; uniffi's cancel functions may be called from any thread.
$n = ($src =~ s{(\nfileprivate\ func\ uniffiRustCallAsync)}{
/// Cancels a Rust future from a task's cancellation handler (patch-swift-cancellation.pl).
fileprivate struct UniffiFutureCancellation: \@unchecked Sendable {
    let cancel: (UInt64) -> ()
    let future: UInt64

    func run() { cancel(future) }
}
$1}x);
$n == 1 or die "patch-swift-cancellation: uniffiRustCallAsync not found\n";

$n = ($src =~ s{fatalError\("Cancellation not supported yet"\)}{throw CancellationError()}g);
$n >= 1 or die "patch-swift-cancellation: the CALL_CANCELLED branch was not found\n";

# Call sites: throwing ones (`try await`) get the matching cancel function; an infallible export
# (`try! await`, no `Result`) cannot report a cancellation, so it keeps running to completion.
my $calls = () = $src =~ /await\s+uniffiRustCallAsync\(/g;
my $patched = 0;
$src =~ s{(try(!?)\s+await\s+uniffiRustCallAsync\(.*?freeFunc:\s*ffi_(\w+?)_rust_future_free_(\w+),)}{
    $patched++;
    $2 eq '!' ? "$1\n            cancelFunc: { _ in },"
              : "$1\n            cancelFunc: ffi_$3_rust_future_cancel_$4,"
}gse;
$patched == $calls or die "patch-swift-cancellation: $calls async calls, $patched patched\n";

open my $out, '>', $file or die "$file: $!\n";
print $out $src;
close $out;
