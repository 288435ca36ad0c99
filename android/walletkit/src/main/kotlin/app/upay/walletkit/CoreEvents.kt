package app.upay.walletkit

import app.upay.core.Subscription
import app.upay.core.WalletClient
import app.upay.core.WalletEvent
import app.upay.core.WalletListener

/**
 * Registers [onEvents] for the core's event batches and returns the handle that stops them.
 *
 * The core calls listeners synchronously on its own threads and forbids calling back into it
 * from there, so [onEvents] must only hand the batch over (to a channel or a state flow).
 */
fun WalletClient.listen(onEvents: (List<WalletEvent>) -> Unit): EventRegistration =
    EventRegistration(
        subscribe(object : WalletListener {
            override fun onEvents(events: List<WalletEvent>) = onEvents(events)
        }),
    )

/** A live listener registration; [close] stops delivery and releases the handle. */
class EventRegistration internal constructor(private val subscription: Subscription) : AutoCloseable {
    override fun close() {
        // Dropping the handle alone would not stop delivery (the core releases foreign
        // handles lazily), so cancel first.
        subscription.cancel()
        subscription.close()
    }
}
