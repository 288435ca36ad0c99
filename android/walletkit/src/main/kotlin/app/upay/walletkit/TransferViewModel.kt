package app.upay.walletkit

import app.upay.core.Amount
import app.upay.core.CoreException
import app.upay.core.ErrorCode
import app.upay.core.OutboxItem
import app.upay.core.OutboxState
import app.upay.core.PayeeInput
import app.upay.core.PaymentOutcome
import app.upay.core.PaymentsApi
import app.upay.core.RiskInfo
import app.upay.core.TransactionView
import app.upay.core.WalletClient
import app.upay.core.WalletEvent
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext

/** Where a transfer is, as the transfer screen shows it. */
sealed interface TransferPhase {
    data object Editing : TransferPhase

    data object Sending : TransferPhase

    /** The user must confirm on this device; [reasons] are `high_amount`, `new_payee`, `risk_step_up`. */
    data class NeedsConfirmation(val item: OutboxItem, val reasons: List<String>, val risk: RiskInfo?) : TransferPhase

    /** No network: it waits in the outbox and is sent when the network returns. */
    data class Queued(val item: OutboxItem) : TransferPhase

    data class Done(val item: OutboxItem, val transaction: TransactionView?) : TransferPhase

    /** Accepted and held for review; the money is reserved meanwhile. */
    data class Held(val item: OutboxItem, val risk: RiskInfo?) : TransferPhase

    /** Definitely refused (blocked by risk, insufficient funds, ...). */
    data class Refused(val item: OutboxItem, val code: ErrorCode, val message: String?) : TransferPhase
}

data class TransferState(
    val phase: TransferPhase = TransferPhase.Editing,
    val error: UiError? = null,
)

/**
 * The transfer screen's state holder. Every outcome of the core is a phase, so the screen never
 * guesses: confirmation (signed by the platform key store after PIN/biometrics), offline
 * queueing, holds and refusals all arrive as typed values.
 *
 * Given the [client], it also follows the payment after the call returned: a queued transfer
 * the core sends later (and that then needs confirmation, settles or fails), or one confirmed or
 * cancelled elsewhere, moves the phase on by itself. [close] stops following.
 */
class TransferViewModel(
    private val payments: PaymentsApi,
    private val scope: CoroutineScope,
    private val io: CoroutineDispatcher = Dispatchers.IO,
    client: WalletClient? = null,
) : AutoCloseable {
    private val _state = MutableStateFlow(TransferState())
    val state: StateFlow<TransferState> = _state.asStateFlow()

    private val following = client?.listen { batch ->
        val items = batch.filterIsInstance<WalletEvent.OutboxChanged>().flatMap { it.items }
        if (items.isNotEmpty()) _state.update { current -> followed(current, items) }
    }

    override fun close() {
        following?.close()
    }

    fun send(to: PayeeInput, amount: Amount, note: String?) {
        if (_state.value.phase != TransferPhase.Editing) return
        perform { payments.transfer(to, amount, note) }
    }

    /** Confirms the waiting payment; [reason] is what the PIN/biometric prompt shows. */
    fun confirm(reason: String) {
        val waiting = _state.value.phase as? TransferPhase.NeedsConfirmation ?: return
        perform { payments.confirmPayment(waiting.item.id, reason) }
    }

    /** Gives up a payment that was not sent (waiting for confirmation or for the network). */
    fun cancelPending() {
        val item = when (val phase = _state.value.phase) {
            is TransferPhase.NeedsConfirmation -> phase.item
            is TransferPhase.Queued -> phase.item
            else -> return
        }
        scope.launch {
            try {
                withContext(io) { payments.cancel(item.id) }
                _state.update { TransferState(phase = TransferPhase.Editing) }
            } catch (e: CoreException) {
                _state.update { it.copy(error = e.toUiError()) }
            }
        }
    }

    private fun perform(call: suspend () -> PaymentOutcome) {
        val before = _state.value.phase
        _state.update { TransferState(phase = TransferPhase.Sending) }
        scope.launch {
            try {
                val outcome = withContext(io) { call() }
                _state.update { TransferState(phase = phaseOf(outcome)) }
            } catch (e: CoreException) {
                // Nothing was queued (invalid input, locked app, cancelled prompt): the user can
                // correct and try again from where they were.
                _state.update { TransferState(phase = before, error = e.toUiError()) }
            }
        }
    }

    private companion object {
        /** The item the phase shows, while its outcome can still change. */
        fun shownItem(phase: TransferPhase): OutboxItem? = when (phase) {
            is TransferPhase.NeedsConfirmation -> phase.item
            is TransferPhase.Queued -> phase.item
            is TransferPhase.Held -> phase.item
            else -> null
        }

        /** The state after the core reported [items]: the shown item's newest state decides. */
        fun followed(current: TransferState, items: List<OutboxItem>): TransferState {
            val shown = shownItem(current.phase) ?: return current
            val item = items.lastOrNull { it.id == shown.id } ?: return current
            // A report older than what is shown (delivered late) changes nothing.
            if (item.updatedAt < shown.updatedAt) return current
            val phase = phaseOf(item)
            return if (phase == current.phase) current else TransferState(phase = phase)
        }

        /** The phase an outbox item in its current state shows. */
        fun phaseOf(item: OutboxItem): TransferPhase = when (item.state) {
            OutboxState.QUEUED, OutboxState.SENDING, OutboxState.UNKNOWN -> item.confirmation?.let {
                TransferPhase.NeedsConfirmation(item, it.reasons, it.risk)
            } ?: TransferPhase.Queued(item)
            OutboxState.ACCEPTED -> if (item.risk != null) TransferPhase.Held(item, item.risk) else TransferPhase.Done(item, null)
            OutboxState.SETTLED -> TransferPhase.Done(item, null)
            OutboxState.FAILED, OutboxState.EXPIRED ->
                TransferPhase.Refused(item, item.errorCode ?: ErrorCode.UNKNOWN, item.errorMessage)
            OutboxState.CANCELLED -> TransferPhase.Editing
        }

        fun phaseOf(outcome: PaymentOutcome): TransferPhase = when (outcome) {
            is PaymentOutcome.Completed -> TransferPhase.Done(outcome.item, outcome.transaction)
            is PaymentOutcome.Held -> TransferPhase.Held(outcome.item, outcome.risk)
            is PaymentOutcome.Queued -> TransferPhase.Queued(outcome.item)
            is PaymentOutcome.ConfirmationRequired -> TransferPhase.NeedsConfirmation(
                outcome.item,
                outcome.confirmation.reasons,
                outcome.confirmation.risk,
            )
            is PaymentOutcome.Blocked -> TransferPhase.Refused(outcome.item, ErrorCode.RISK_BLOCKED, outcome.risk?.reasons?.firstOrNull())
            is PaymentOutcome.Failed -> TransferPhase.Refused(outcome.item, outcome.code, outcome.message)
            is PaymentOutcome.QuoteExpired -> TransferPhase.Refused(outcome.item, ErrorCode.QUOTE_EXPIRED, null)
        }
    }
}
