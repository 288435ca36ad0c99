package app.upay.walletkit

import app.upay.core.CoreException
import app.upay.core.HistoryApi
import app.upay.core.HistoryFilter
import app.upay.core.TransactionView
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext

data class HistoryState(
    val filter: HistoryFilter = HistoryPager.NO_FILTER,
    val items: List<TransactionView> = emptyList(),
    val loading: Boolean = false,
    /** No older entries in the cache. */
    val endReached: Boolean = false,
    val error: UiError? = null,
)

/**
 * The history list's state holder: reads the cache in pages (one call per page, never per
 * row) as the list scrolls, newest first; works offline.
 */
class HistoryPager(
    private val history: HistoryApi,
    private val scope: CoroutineScope,
    private val pageSize: Int = 50,
    private val io: CoroutineDispatcher = Dispatchers.IO,
) {
    init {
        require(pageSize in 1..MAX_PAGE) { "a page holds 1 to $MAX_PAGE entries" }
    }

    private val _state = MutableStateFlow(HistoryState())
    val state: StateFlow<HistoryState> = _state.asStateFlow()
    private var cursor: String? = null
    private var job: Job? = null

    /** Starts again from the newest entry with [filter] (also after the core reports changes). */
    fun reload(filter: HistoryFilter = _state.value.filter) {
        job?.cancel()
        cursor = null
        _state.value = HistoryState(filter = filter)
        loadMore()
    }

    /** Appends the next older page, unless one is loading or the end was reached. */
    fun loadMore() {
        val current = _state.value
        if (current.loading || current.endReached) return
        _state.update { it.copy(loading = true, error = null) }
        job = scope.launch {
            try {
                val page = withContext(io) { history.page(current.filter, cursor, pageSize.toUInt()) }
                cursor = page.nextCursor
                _state.update {
                    it.copy(items = it.items + page.items, loading = false, endReached = page.nextCursor == null)
                }
            } catch (e: CoreException) {
                _state.update { it.copy(loading = false, error = e.toUiError()) }
            }
        }
    }

    companion object {
        /** The core's largest page. */
        const val MAX_PAGE = 100

        val NO_FILTER = HistoryFilter(
            kinds = emptyList(),
            statuses = emptyList(),
            categories = emptyList(),
            from = null,
            to = null,
            minMinor = null,
            maxMinor = null,
            currency = null,
            counterpartyId = null,
            query = null,
        )
    }
}
