package app.upay.walletkit

import app.upay.core.Amount
import app.upay.core.CoreException
import app.upay.core.ErrorCode
import app.upay.core.PaycodeInfo
import app.upay.core.PaycodeView
import app.upay.core.WalletClient
import app.upay.core.WalletEvent
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.isActive
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext

/** A charge at a till, as the payment-code screen announces it ("paid ¥23.50 at 全家便利店"). */
data class PaycodeCharge(val amount: Amount, val merchantName: String, val at: Long)

/** What the payment-code screen (付款码) renders. */
data class PaycodeState(
    /** `null` until read from the cache. */
    val info: PaycodeInfo? = null,
    /** The code to draw (QR + barcode); `null` while the payment code is off. */
    val code: PaycodeView? = null,
    /** The last charge announced while the screen was open. */
    val lastCharge: PaycodeCharge? = null,
    val busy: Boolean = false,
    val error: UiError? = null,
)

/**
 * The payment-code screen's state holder. Codes are derived by the core with no network: the
 * holder asks for the current one and again once it expires, so the screen always shows a code
 * the till accepts. Expiry is checked every second against the wall clock, which keeps running
 * while the phone sleeps (a delay alone would wake late and leave a stale code up). Turning the
 * feature on or off needs the network; a charge at a till arrives as a live event while
 * [WalletClient.startLiveEvents] runs.
 *
 * Call [resume] when the screen becomes visible again (the app came to the foreground, the
 * app lock was lifted): a code refused meanwhile (for example `APP_LOCKED`) comes back.
 * The holder's own state is only touched on [scope]'s dispatcher; core calls run on [io].
 */
class PaycodeViewModel(
    private val client: WalletClient,
    private val scope: CoroutineScope,
    private val io: CoroutineDispatcher = Dispatchers.IO,
    /** The wall clock in milliseconds (tests may pass another). */
    private val now: () -> Long = System::currentTimeMillis,
) : AutoCloseable {
    private val _state = MutableStateFlow(PaycodeState())
    val state: StateFlow<PaycodeState> = _state.asStateFlow()

    private val paycode = client.paycode()
    private var ticker: Job? = null
    @Volatile private var closed = false
    private val events = client.listen { batch ->
        batch.filterIsInstance<WalletEvent.PaycodeRedeemed>().lastOrNull()?.let { charged ->
            _state.update {
                it.copy(
                    lastCharge = PaycodeCharge(charged.amount, charged.merchantName, charged.at),
                    info = it.info?.copy(remainingToday = charged.remainingToday),
                )
            }
        }
    }

    init {
        resume()
    }

    /** Reads the cached state again and, when the payment code is on, shows a fresh code. */
    fun resume() {
        scope.launch {
            try {
                val info = withContext(io) { paycode.info() }
                _state.update { it.copy(info = info, error = null) }
                if (info.enabled) tick() else stopTicker()
            } catch (e: CoreException) {
                // Locked or signed out: no code on screen until the next resume().
                stopTicker()
                _state.update { it.copy(code = null, error = e.toUiError()) }
            }
        }
    }

    /** Turns the payment code on for this phone (online), then shows codes. */
    fun enable() = perform {
        val info = withContext(io) { paycode.enable() }
        _state.update { it.copy(info = info) }
        tick()
    }

    /** Turns it off: revoked on the server, forgotten here (online). */
    fun disable() = perform {
        withContext(io) { paycode.disable() }
        stopTicker()
        val info = withContext(io) { paycode.info() }
        _state.update { it.copy(info = info, code = null) }
    }

    /**
     * Asks the server what is left for today and whether the codes are still accepted; offline
     * the cached figures stay (no error shown for that).
     */
    fun refreshStatus() = perform {
        try {
            val info = withContext(io) { paycode.status() }
            _state.update { it.copy(info = info, code = if (info.enabled) it.code else null) }
            if (!info.enabled) stopTicker() else if (ticker?.isActive != true) tick()
        } catch (e: CoreException) {
            val code = e.toUiError().code
            if (code != ErrorCode.OFFLINE && code != ErrorCode.TIMEOUT) throw e
        }
    }

    private fun stopTicker() {
        ticker?.cancel()
        ticker = null
    }

    /** Shows the current code and replaces it once the wall clock passes its expiry. */
    private fun tick() {
        if (closed) return
        stopTicker()
        ticker = scope.launch {
            while (isActive && !closed) {
                val code = try {
                    withContext(io) { paycode.currentCode() }
                } catch (e: CoreException) {
                    // Shown until resume() (e.g. after unlocking) or refreshStatus() tries again.
                    _state.update { it.copy(code = null, error = e.toUiError()) }
                    return@launch
                }
                _state.update { it.copy(code = code, error = null) }
                val expires = now() + code.refreshInSecs.toLong() * 1000
                while (isActive && now() < expires) delay(minOf(1_000L, expires - now()).coerceAtLeast(1L))
            }
        }
    }

    private fun perform(call: suspend () -> Unit) {
        scope.launch {
            _state.update { it.copy(busy = true, error = null) }
            try {
                call()
            } catch (e: CoreException) {
                _state.update { it.copy(error = e.toUiError()) }
            } finally {
                _state.update { it.copy(busy = false) }
            }
        }
    }

    override fun close() {
        closed = true
        ticker?.cancel()
        events.close()
        paycode.close()
    }
}
