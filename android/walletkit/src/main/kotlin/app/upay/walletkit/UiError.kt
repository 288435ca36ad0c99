package app.upay.walletkit

import app.upay.core.CoreException
import app.upay.core.ErrorCode

/**
 * An error as a screen shows it. Screens branch on [code] (stable across versions and
 * languages) and show [message], which the core already wrote in the client's language.
 */
data class UiError(
    val code: ErrorCode,
    val message: String,
    /** Wrong-password attempts left, to warn before the account locks. */
    val attemptsRemaining: Int? = null,
    /** How long the server asked the app to wait before trying again. */
    val retryAfterSecs: Long? = null,
    /** The server's request id, for support. */
    val requestId: String? = null,
)

/** The [UiError] of a core error. */
fun CoreException.toUiError(): UiError = when (this) {
    is CoreException.Server -> UiError(
        code = code,
        message = userMessage,
        attemptsRemaining = attemptsRemaining?.toInt(),
        retryAfterSecs = retryAfterSecs?.toLong(),
        requestId = requestId,
    )
    is CoreException.Client -> UiError(code = code, message = userMessage)
}
