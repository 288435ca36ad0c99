import UPayCore

/// An error as a screen shows it. Screens branch on `code` (stable across versions and
/// languages) and show `message`, which the core already wrote in the client's language.
public struct UIError: Error, Equatable, Sendable {
    public let code: ErrorCode
    public let message: String
    /// Wrong-password attempts left, to warn before the account locks.
    public let attemptsRemaining: Int?
    /// How long the server asked the app to wait before trying again.
    public let retryAfterSecs: UInt64?
    /// The server's request id, for support.
    public let requestId: String?

    public init(_ error: CoreError) {
        switch error {
        case let .Server(code, message, _, attemptsRemaining, retryAfterSecs, _, requestId):
            self.code = code
            self.message = message
            self.attemptsRemaining = attemptsRemaining.map(Int.init)
            self.retryAfterSecs = retryAfterSecs
            self.requestId = requestId
        case let .Client(code, message):
            self.code = code
            self.message = message
            self.attemptsRemaining = nil
            self.retryAfterSecs = nil
            self.requestId = nil
        }
    }
}

extension CoreError {
    /// The stable machine code, whichever side found the error.
    public var code: ErrorCode {
        switch self {
        case let .Server(code, _, _, _, _, _, _), let .Client(code, _): return code
        }
    }
}
