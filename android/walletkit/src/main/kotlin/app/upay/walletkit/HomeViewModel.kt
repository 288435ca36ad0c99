package app.upay.walletkit

import app.upay.core.CoreException
import app.upay.core.HomeSnapshot
import app.upay.core.WalletClient
import app.upay.core.WalletEvent
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext

/** What the home screen renders. */
data class HomeState(
    /** `null` until the first snapshot is read from the cache. */
    val snapshot: HomeSnapshot? = null,
    val refreshing: Boolean = false,
    val error: UiError? = null,
)

/**
 * The home screen's state holder: one `home_snapshot` call per change (balances, pending
 * payments and the 20 newest entries come together), re-read whenever the core reports a change
 * that the screen shows. Plain Kotlin: the Android app wraps it in a `ViewModel` whose scope it
 * passes in; tests pass their own.
 */
class HomeViewModel(
    private val client: WalletClient,
    private val scope: CoroutineScope,
    private val io: CoroutineDispatcher = Dispatchers.IO,
) : AutoCloseable {
    private val _state = MutableStateFlow(HomeState())
    val state: StateFlow<HomeState> = _state.asStateFlow()

    private val sync = client.sync()
    // Conflated: a burst of events causes one reload, never a queue of them.
    private val reloads = Channel<Unit>(Channel.CONFLATED)
    private val events = client.listen { batch -> if (batch.any(::shownOnHome)) reloads.trySend(Unit) }
    private val loader = scope.launch(io) { for (tick in reloads) load() }

    init {
        reloads.trySend(Unit)
    }

    /** Pull-to-refresh: syncs with the server; the sync's events trigger the reload. */
    fun refresh() {
        scope.launch {
            _state.update { it.copy(refreshing = true, error = null) }
            try {
                withContext(io) { sync.syncNow() }
            } catch (e: CoreException) {
                _state.update { it.copy(error = e.toUiError()) }
            } finally {
                _state.update { it.copy(refreshing = false) }
                reloads.trySend(Unit)
            }
        }
    }

    /**
     * The app came to the foreground (or the app lock was lifted): the core resumes its outbox
     * and syncs by itself, and the screen reads its snapshot again at once.
     */
    fun onForeground() {
        client.setForeground(true)
        reloads.trySend(Unit)
    }

    private fun load() {
        try {
            val snapshot = client.homeSnapshot()
            // A good read ends whatever error the last one showed (e.g. the app was locked).
            _state.update { it.copy(snapshot = snapshot, error = null) }
        } catch (e: CoreException) {
            _state.update { it.copy(error = e.toUiError()) }
        }
    }

    override fun close() {
        events.close()
        reloads.close()
        loader.cancel()
        sync.close()
    }

    private companion object {
        fun shownOnHome(event: WalletEvent): Boolean = when (event) {
            is WalletEvent.SyncProgress -> event.done
            is WalletEvent.RiskAlert, WalletEvent.AppLocked -> false
            else -> true
        }
    }
}
