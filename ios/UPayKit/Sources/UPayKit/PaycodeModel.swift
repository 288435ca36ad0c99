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
/// network: the model asks for the current one and again when it expires (`refreshInSecs`), so
/// the screen always shows a code the till accepts. Turning the feature on or off needs the
/// network; a charge at a till arrives as a live event while `startLiveEvents()` runs.
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

    public init(client: WalletClient) {
        self.client = client
        self.paycode = client.paycode()
    }

    /// Reads the state, shows codes if the feature is on, and follows charges until `stop()`.
    public func start() {
        guard following == nil else { return }
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
            self.ticker?.cancel()
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
                    self.ticker?.cancel()
                    self.code = nil
                }
            } catch let failure as CoreError where failure.code == .offline || failure.code == .timeout {
                // Keep what the cache says.
            }
        }
    }

    private func load() async {
        do {
            let cached = try paycode.info()
            info = cached
            if cached.enabled { tick() }
        } catch let failure as CoreError {
            error = UIError(failure)
        } catch {}
    }

    private func charged(_ charge: PaycodeCharge, _ remaining: Amount) {
        lastCharge = charge
        if var current = info {
            current.remainingToday = remaining
            info = current
        }
    }

    private func tick() {
        ticker?.cancel()
        ticker = Task { [weak self] in
            while !Task.isCancelled {
                guard let self else { return }
                let next: PaycodeView
                do {
                    next = try self.paycode.currentCode()
                } catch let failure as CoreError {
                    self.code = nil
                    self.error = UIError(failure)
                    return
                } catch {
                    return
                }
                self.code = next
                self.error = nil
                try? await Task.sleep(nanoseconds: UInt64(next.refreshInSecs) * 1_000_000_000)
            }
        }
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
