import UPayCore

/// A live listener registration; `cancel()` (or releasing it) stops delivery.
public final class EventRegistration: @unchecked Sendable {
    private let subscription: Subscription

    init(_ subscription: Subscription) {
        self.subscription = subscription
    }

    /// Stops delivery. Idempotent.
    public func cancel() {
        // Releasing the handle alone would not stop delivery (the core releases foreign
        // handles lazily), so cancel explicitly.
        subscription.cancel()
    }

    deinit {
        subscription.cancel()
    }
}

/// Forwards the core's batches to a closure. The core calls listeners synchronously on its
/// own threads and forbids calling back into it from there: the closure only hands over.
private final class ClosureListener: WalletListener, @unchecked Sendable {
    private let deliver: @Sendable ([WalletEvent]) -> Void

    init(_ deliver: @escaping @Sendable ([WalletEvent]) -> Void) {
        self.deliver = deliver
    }

    func onEvents(events: [WalletEvent]) {
        deliver(events)
    }
}

extension WalletClient {
    /// Registers `onEvents` for the core's event batches until the registration is cancelled.
    public func listen(_ onEvents: @escaping @Sendable ([WalletEvent]) -> Void) -> EventRegistration {
        EventRegistration(subscribe(listener: ClosureListener(onEvents)))
    }

    /// The core's event batches as an async sequence; ending the iteration (or cancelling its
    /// task) cancels the registration.
    public func events() -> AsyncStream<[WalletEvent]> {
        AsyncStream { continuation in
            let registration = listen { batch in continuation.yield(batch) }
            continuation.onTermination = { _ in registration.cancel() }
        }
    }
}
