import Foundation
import Observation
import UPayCore

/// A charge at a till, as the payment-code screen announces it ("paid ¥23.50 at 全家便利店").
public struct PaycodeCharge: Equatable, Sendable {
    public let amount: Amount
    public let merchantName: String
    public let at: Int64
}

/// The payment-code screen's (付款码) view model. Codes are derived by the core with no
/// network: the model asks for the current one and again once it expires, so the screen always
/// shows a code the till accepts. Expiry is checked every second against the wall clock, which
/// keeps running while the phone sleeps (a sleep alone would wake late and leave a stale code
/// up). Turning the feature on or off needs the network; a charge at a till arrives as a live
/// event while `startLiveEvents()` runs.
///
/// Call `start()` when the screen appears and `stop()` when it goes; call `resume()` when it
/// becomes active again (`scenePhase == .active`, the app lock lifted): a code refused meanwhile
/// (for example `appLocked`) comes back. The model's tasks hold it weakly, so a model dropped
/// without `stop()` ends its code timer too.
@MainActor
@Observable
public final class PaycodeModel {
    /// `nil` until read from the cache.
    public private(set) var info: PaycodeInfo?
    /// The code to draw (QR + barcode); `nil` while the payment code is off.
    public private(set) var code: PaycodeView?
    /// The last charge announced while the screen was open.
    public private(set) var lastCharge: PaycodeCharge?
    public private(set) var busy = false
    public private(set) var error: UIError?

    @ObservationIgnored private let client: WalletClient
    @ObservationIgnored private let paycode: PaycodeApi
    @ObservationIgnored private var ticker: Task<Void, Never>?
    @ObservationIgnored private var following: Task<Void, Never>?
    /// Set by `stop()`: a call still on its way (e.g. `enable()`) then starts no timer.
    @ObservationIgnored private var stopped = true
    @ObservationIgnored private let now: () -> Date

    /// `now` is the wall clock (tests may pass another).
    public init(client: WalletClient, now: @escaping () -> Date = Date.init) {
        self.client = client
        self.paycode = client.paycode()
        self.now = now
    }

    /// Reads the state, shows codes if the feature is on, and follows charges until `stop()`.
    public func start() {
        guard following == nil else { return }
        stopped = false
        let events = client.events()
        following = Task { [weak self] in
            await self?.load()
            for await batch in events {
                for case let .paycodeRedeemed(_, amount, merchantName, _, remainingToday, at) in batch {
                    self?.charged(PaycodeCharge(amount: amount, merchantName: merchantName, at: at), remainingToday)
                }
            }
        }
    }

    public func stop() {
        stopped = true
        following?.cancel()
        following = nil
        ticker?.cancel()
        ticker = nil
    }

    /// Turns the payment code on for this phone (online), then shows codes.
    public func enable() async {
        await perform {
            self.info = try await self.paycode.enable()
            self.tick()
        }
    }

    /// Turns it off: revoked on the server, forgotten here (online).
    public func disable() async {
        await perform {
            try await self.paycode.disable()
            self.stopTicker()
            self.code = nil
            self.info = try self.paycode.info()
        }
    }

    /// Asks the server what is left for today and whether the codes are still accepted;
    /// offline the cached figures stay (no error shown for that).
    public func refreshStatus() async {
        await perform {
            do {
                let fresh = try await self.paycode.status()
                self.info = fresh
                if !fresh.enabled {
                    self.stopTicker()
                    self.code = nil
                } else if self.ticker == nil {
                    self.tick()
                }
            } catch let failure as CoreError where failure.code == .offline || failure.code == .timeout {
                // Keep what the cache says.
            }
        }
    }

    /// Reads the cached state again and, when the payment code is on, shows a fresh code.
    public func resume() {
        Task { await load() }
    }

    private func load() async {
        do {
            let cached = try paycode.info()
            info = cached
            error = nil
            if cached.enabled { tick() } else { stopTicker() }
        } catch let failure as CoreError {
            // Locked or signed out: no code on screen until the next resume().
            stopTicker()
            code = nil
            error = UIError(failure)
        } catch {}
    }

    private func stopTicker() {
        ticker?.cancel()
        ticker = nil
    }

    private func charged(_ charge: PaycodeCharge, _ remaining: Amount) {
        lastCharge = charge
        if var current = info {
            current.remainingToday = remaining
            info = current
        }
    }

    /// Shows the current code and replaces it once the wall clock passes its expiry.
    private func tick() {
        guard !stopped else { return }
        stopTicker()
        ticker = Task { [weak self] in
            // `self` is held only inside each step, never across a sleep.
            while !Task.isCancelled, let expires = self?.showCurrentCode() {
                while !Task.isCancelled, let left = self?.secondsUntil(expires), left > 0 {
                    try? await Task.sleep(nanoseconds: UInt64(min(left, 1) * 1_000_000_000))
                }
            }
        }
    }

    /// Shows the current code; returns when it expires by the wall clock, or `nil` after an
    /// error (shown until `resume()` or `refreshStatus()` tries again).
    private func showCurrentCode() -> Date? {
        do {
            let next = try paycode.currentCode()
            code = next
            error = nil
            return now().addingTimeInterval(TimeInterval(next.refreshInSecs))
        } catch let failure as CoreError {
            code = nil
            error = UIError(failure)
        } catch {}
        ticker = nil
        return nil
    }

    private func secondsUntil(_ moment: Date) -> TimeInterval {
        moment.timeIntervalSince(now())
    }

    private func perform(_ body: @escaping () async throws -> Void) async {
        busy = true
        error = nil
        do {
            try await body()
        } catch let failure as CoreError {
            error = UIError(failure)
        } catch {
            // Cancelled with the screen: nothing to show.
        }
        busy = false
    }
}
