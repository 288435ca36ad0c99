import Observation
import UPayCore

/// The sign-in screen's view model: password first, then an SMS code when the server asks.
@MainActor
@Observable
public final class LoginModel {
    public enum Step: Equatable {
        case credentials
        /// A new device or a risky sign-in: the code sent to `destination` (masked) is needed.
        case code(destination: String)
        case signedIn(Profile)
    }

    public private(set) var step: Step
    public private(set) var busy = false
    public private(set) var error: UIError?

    @ObservationIgnored private let session: SessionApi

    @ObservationIgnored private var following: Task<Void, Never>?

    public init(session: SessionApi) {
        self.session = session
        self.step = session.profile().map(Step.signedIn) ?? .credentials
    }

    /// Also follows the session: a sign-out from anywhere (another screen, the server ending
    /// the session) brings the model back to the password step, until `stop()`.
    public convenience init(client: WalletClient) {
        self.init(session: client.session())
        let events = client.events()
        following = Task { [weak self] in
            for await batch in events where batch.contains(.sessionChanged(signedIn: false)) {
                guard let model = self else { return }
                if case .signedIn = model.step { model.step = .credentials }
            }
        }
    }

    /// Stops following the session.
    public func stop() {
        following?.cancel()
        following = nil
    }

    public func login(phone: String, password: String) async {
        await perform { session in
            switch try await session.login(phone: phone, password: password) {
            case let .signedIn(profile): return .signedIn(profile)
            case let .codeRequired(destination, _): return .code(destination: destination)
            }
        }
    }

    public func submit(code: String) async {
        await perform { session in .signedIn(try await session.submitLoginCode(code: code)) }
    }

    /// Turns of the flow: a call's answer counts only if no `restart()` came after it started.
    @ObservationIgnored private var turn = 0

    /// Back to the password step (e.g. the user wants another number). A call still running
    /// keeps the model busy until it ends, and its answer is then ignored.
    public func restart() {
        turn += 1
        step = .credentials
        error = nil
    }

    private func perform(_ call: @Sendable (SessionApi) async throws -> Step) async {
        guard !busy else { return }
        busy = true
        error = nil
        let mine = turn
        defer { busy = false }
        do {
            let next = try await call(session)
            if mine == turn { step = next }
        } catch let failure as CoreError {
            if mine == turn { error = UIError(failure) }
        } catch {}
    }
}
