package app.upay.walletkit.support

import app.upay.core.WalletEvent
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.withTimeout

/** Collects the batches a listener receives, for tests to wait on. */
class EventRecorder {
    private val received = MutableStateFlow<List<List<WalletEvent>>>(emptyList())
    val batches: List<List<WalletEvent>> get() = received.value
    val events: List<WalletEvent> get() = received.value.flatten()

    /** The listener body: only hands the batch over, as listeners must. */
    fun add(batch: List<WalletEvent>) = received.update { it + listOf(batch) }

    suspend fun await(timeoutMs: Long = 10_000, predicate: (WalletEvent) -> Boolean): WalletEvent =
        withTimeout(timeoutMs) { received.first { all -> all.flatten().any(predicate) } }
            .flatten().first(predicate)
}

/** Polls [condition] until it holds (for state outside coroutines, like proxy counters). */
suspend fun awaitUntil(timeoutMs: Long = 10_000, what: String = "condition", condition: () -> Boolean) {
    val deadline = System.nanoTime() + timeoutMs * 1_000_000
    while (!condition()) {
        check(System.nanoTime() < deadline) { "timed out waiting for $what" }
        delay(10)
    }
}

/**
 * Runs a test body in a coroutine with a deadline. Returns `Unit` whatever the body's last
 * expression is: JUnit silently skips test methods that return a value.
 */
fun coroutineTest(timeoutMs: Long = 60_000, body: suspend CoroutineScope.() -> Unit) {
    runBlocking { withTimeout(timeoutMs) { body() } }
}
