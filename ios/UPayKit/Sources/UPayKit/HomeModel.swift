import Observation
import UPayCore

/// The home screen's view model: one `homeSnapshot()` call per change (balances, pending
/// payments and the 20 newest entries come together), re-read whenever the core reports a
/// change the screen shows. Core calls run off the main actor; state changes on it.
@MainActor
@Observable
public final class HomeModel {
    /// `nil` until the first snapshot is read from the cache.
    public private(set) var snapshot: HomeSnapshot?
    public private(set) var refreshing = false
    public private(set) var error: UIError?

    @ObservationIgnored private let client: WalletClient
    @ObservationIgnored private let sync: SyncApi
    @ObservationIgnored private var following: Task<Void, Never>?

    public init(client: WalletClient) {
        self.client = client
        self.sync = client.sync()
    }

    /// Reads the snapshot now and again after every change the core reports, until `stop()`.
    public func start() {
        guard following == nil else { return }
        let events = client.events()
        following = Task { [weak self] in
            await self?.load()
            for await batch in events where batch.contains(where: Self.shownOnHome) {
                // A model released without stop() ends its listening here.
                guard let model = self else { return }
                await model.load()
            }
        }
    }

    public func stop() {
        following?.cancel()
        following = nil
    }

    /// Pull-to-refresh: syncs with the server; the sync's events trigger the reload.
    public func refresh() async {
        refreshing = true
        error = nil
        do {
            _ = try await sync.syncNow()
        } catch let failure as CoreError {
            error = UIError(failure)
        } catch {
            // Cancelled with the screen: nothing to show.
        }
        refreshing = false
        await load()
    }

    /// The app came to the foreground (or the app lock was lifted): the core resumes its outbox
    /// and syncs by itself, and the screen reads its snapshot again at once.
    public func didEnterForeground() async {
        client.setForeground(foreground: true)
        await load()
    }

    private func load() async {
        do {
            snapshot = try await Self.read(client)
            // A good read ends whatever error the last one showed (e.g. the app was locked).
            error = nil
        } catch let failure as CoreError {
            error = UIError(failure)
        } catch {}
    }

    private nonisolated static func read(_ client: WalletClient) async throws -> HomeSnapshot {
        try client.homeSnapshot()
    }

    private nonisolated static func shownOnHome(_ event: WalletEvent) -> Bool {
        switch event {
        case let .syncProgress(_, done): return done
        case .riskAlert, .appLocked: return false
        default: return true
        }
    }
}
