import Observation
import UPayCore

extension HistoryFilter {
    /// No condition: the whole history.
    public static var everything: HistoryFilter {
        HistoryFilter(
            kinds: [], statuses: [], categories: [], from: nil, to: nil, minMinor: nil, maxMinor: nil,
            currency: nil, counterpartyId: nil, query: nil
        )
    }
}

/// The history list's view model: reads the cache in pages (one call per page, never per row)
/// as the list scrolls, newest first; works offline.
@MainActor
@Observable
public final class HistoryModel {
    /// The core's largest page.
    public nonisolated static let maxPage: UInt32 = 100

    public private(set) var filter: HistoryFilter = .everything
    public private(set) var items: [TransactionView] = []
    public private(set) var loading = false
    /// No older entries in the cache.
    public private(set) var endReached = false
    public private(set) var error: UIError?

    @ObservationIgnored private let history: HistoryApi
    @ObservationIgnored private let pageSize: UInt32
    @ObservationIgnored private var cursor: String?
    /// Bumped by `reload`, so a page read for an older filter is dropped.
    @ObservationIgnored private var generation = 0

    public init(history: HistoryApi, pageSize: UInt32 = 50) {
        precondition((1...Self.maxPage).contains(pageSize), "a page holds 1 to 100 entries")
        self.history = history
        self.pageSize = pageSize
    }

    /// Starts again from the newest entry with `filter` (also after the core reports changes).
    public func reload(filter: HistoryFilter? = nil) async {
        generation += 1
        self.filter = filter ?? self.filter
        items = []
        cursor = nil
        endReached = false
        loading = false
        await loadMore()
    }

    /// Appends the next older page, unless one is loading or the end was reached.
    public func loadMore() async {
        guard !loading, !endReached else { return }
        loading = true
        error = nil
        let started = generation
        do {
            let page = try await Self.read(history, filter, cursor, pageSize)
            guard started == generation else { return }
            items += page.items
            cursor = page.nextCursor
            endReached = page.nextCursor == nil
        } catch let failure as CoreError {
            error = UIError(failure)
        } catch {}
        if started == generation { loading = false }
    }

    private nonisolated static func read(
        _ history: HistoryApi, _ filter: HistoryFilter, _ cursor: String?, _ limit: UInt32
    ) async throws -> HistoryPage {
        try history.page(filter: filter, cursor: cursor, limit: limit)
    }
}
