import Observation
import UPayCore

/// The transfer screen's view model. Every outcome of the core is a phase, so the screen never
/// guesses: confirmation (signed by the platform key store after Face ID or the passcode),
/// offline queueing, holds and refusals all arrive as typed values.
///
/// Made with `init(client:)`, it also follows the payment after the call returned: a queued
/// transfer the core sends later (and that then needs confirmation, settles or fails), or one
/// confirmed or cancelled elsewhere, moves the phase on by itself until `stop()`.
@MainActor
@Observable
public final class TransferModel {
    public enum Phase: Equatable {
        case editing
        case sending
        /// `reasons`: `high_amount`, `new_payee`, `risk_step_up`.
        case needsConfirmation(item: OutboxItem, reasons: [String], risk: RiskInfo?)
        /// No network: it waits in the outbox and is sent when the network returns.
        case queued(OutboxItem)
        case done(item: OutboxItem, transaction: TransactionView?)
        /// Accepted and held for review; the money is reserved meanwhile.
        case held(item: OutboxItem, risk: RiskInfo?)
        /// Definitely refused (blocked by risk, insufficient funds, ...).
        case refused(item: OutboxItem, code: ErrorCode, message: String?)
    }

    public private(set) var phase: Phase = .editing
    public private(set) var error: UIError?

    @ObservationIgnored private let payments: PaymentsApi
    @ObservationIgnored private var following: Task<Void, Never>?

    public init(payments: PaymentsApi) {
        self.payments = payments
    }

    public convenience init(client: WalletClient) {
        self.init(payments: client.payments())
        let events = client.events()
        following = Task { [weak self] in
            for await batch in events {
                let items = batch.flatMap { event -> [OutboxItem] in
                    if case let .outboxChanged(items) = event { return items }
                    return []
                }
                guard let model = self else { return }
                if !items.isEmpty { model.follow(items) }
            }
        }
    }

    /// Stops following the payment.
    public func stop() {
        following?.cancel()
        following = nil
    }

    /// The shown item's newest state decides the phase (a report older than it changes nothing).
    private func follow(_ items: [OutboxItem]) {
        let shown: OutboxItem
        switch phase {
        case let .needsConfirmation(item, _, _), let .queued(item), let .held(item, _): shown = item
        default: return
        }
        guard let item = items.last(where: { $0.id == shown.id }), item.updatedAt >= shown.updatedAt else {
            return
        }
        let next = Self.phase(of: item)
        if next != phase {
            phase = next
            error = nil
        }
    }

    /// The phase an outbox item in its current state shows.
    private static func phase(of item: OutboxItem) -> Phase {
        switch item.state {
        case .queued, .sending, .unknown:
            if let confirmation = item.confirmation {
                return .needsConfirmation(item: item, reasons: confirmation.reasons, risk: confirmation.risk)
            }
            return .queued(item)
        case .accepted:
            if let risk = item.risk { return .held(item: item, risk: risk) }
            return .done(item: item, transaction: nil)
        case .settled:
            return .done(item: item, transaction: nil)
        case .failed, .expired:
            return .refused(item: item, code: item.errorCode ?? .unknown, message: item.errorMessage)
        case .cancelled:
            return .editing
        }
    }

    public func send(to payee: PayeeInput, amount: Amount, note: String?) async {
        guard phase == .editing else { return }
        await perform { try await $0.transfer(to: payee, amount: amount, note: note) }
    }

    /// Confirms the waiting payment; `reason` is what the Face ID / passcode prompt shows.
    public func confirm(reason: String) async {
        guard case let .needsConfirmation(item, _, _) = phase else { return }
        await perform { try await $0.confirmPayment(itemId: item.id, reason: reason) }
    }

    /// Gives up a payment that was not sent (waiting for confirmation or for the network).
    public func cancelPending() {
        let item: OutboxItem
        switch phase {
        case let .needsConfirmation(waiting, _, _): item = waiting
        case let .queued(waiting): item = waiting
        default: return
        }
        do {
            _ = try payments.cancel(itemId: item.id)
            phase = .editing
        } catch let failure as CoreError {
            error = UIError(failure)
        } catch {}
    }

    private func perform(_ call: @escaping @Sendable (PaymentsApi) async throws -> PaymentOutcome) async {
        let before = phase
        phase = .sending
        error = nil
        // The call runs to its end even when the task awaiting it is cancelled (the sheet was
        // dismissed): by then the core may have queued the payment, and showing the form again
        // would invite a second one. Its outcome still becomes the phase.
        let payments = self.payments
        let work = Task { try await call(payments) }
        do {
            phase = Self.phase(of: try await work.value)
        } catch let failure as CoreError {
            // Nothing was queued (invalid input, locked app, cancelled prompt): the user can
            // correct and try again from where they were.
            phase = before
            error = UIError(failure)
        } catch {
            phase = before
        }
    }

    private static func phase(of outcome: PaymentOutcome) -> Phase {
        switch outcome {
        case let .completed(item, transaction): return .done(item: item, transaction: transaction)
        case let .held(item, risk): return .held(item: item, risk: risk)
        case let .queued(item): return .queued(item)
        case let .confirmationRequired(item, confirmation):
            return .needsConfirmation(item: item, reasons: confirmation.reasons, risk: confirmation.risk)
        case let .blocked(item, risk): return .refused(item: item, code: .riskBlocked, message: risk?.reasons.first)
        case let .failed(item, code, message): return .refused(item: item, code: code, message: message)
        case let .quoteExpired(item, _): return .refused(item: item, code: .quoteExpired, message: nil)
        }
    }
}
