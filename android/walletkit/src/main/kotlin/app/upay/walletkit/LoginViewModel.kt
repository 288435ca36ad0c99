package app.upay.walletkit

import app.upay.core.CoreException
import app.upay.core.LoginResult
import app.upay.core.Profile
import app.upay.core.SessionApi
import app.upay.core.WalletClient
import app.upay.core.WalletEvent
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext

/** Where the sign-in flow is. */
sealed interface LoginStep {
    data object Credentials : LoginStep

    /** A new device or a risky sign-in: the SMS code sent to [destination] (masked) is needed. */
    data class Code(val destination: String) : LoginStep

    data class SignedIn(val profile: Profile) : LoginStep
}

data class LoginState(
    val step: LoginStep = LoginStep.Credentials,
    val busy: Boolean = false,
    val error: UiError? = null,
)

/**
 * The sign-in screen's state holder: password first, then an SMS code when the server asks.
 * Given the [client], a sign-out from anywhere (another screen, the server ending the session)
 * brings it back to the password step; [close] stops following.
 */
class LoginViewModel(
    private val session: SessionApi,
    private val scope: CoroutineScope,
    private val io: CoroutineDispatcher = Dispatchers.IO,
    client: WalletClient? = null,
) : AutoCloseable {
    private val _state = MutableStateFlow(
        session.profile()?.let { LoginState(step = LoginStep.SignedIn(it)) } ?: LoginState(),
    )
    val state: StateFlow<LoginState> = _state.asStateFlow()

    private val following = client?.listen { batch ->
        val signedOut = batch.any { it is WalletEvent.SessionChanged && !it.signedIn }
        if (signedOut) _state.update { if (it.step is LoginStep.SignedIn) LoginState(busy = it.busy) else it }
    }

    override fun close() {
        following?.close()
    }

    fun login(phone: String, password: String) = perform {
        when (val result = session.login(phone, password)) {
            is LoginResult.SignedIn -> LoginStep.SignedIn(result.profile)
            is LoginResult.CodeRequired -> LoginStep.Code(result.destination)
        }
    }

    fun submitCode(code: String) = perform { LoginStep.SignedIn(session.submitLoginCode(code)) }

    /** Turns of the flow: a call's answer counts only if no restart() came after it started. */
    @Volatile private var turn = 0

    /**
     * Back to the password step (e.g. the user wants another number). A call still running
     * keeps the holder busy until it ends, and its answer is then ignored.
     */
    fun restart() {
        turn++
        _state.update { LoginState(busy = it.busy) }
    }

    private fun perform(call: suspend () -> LoginStep) {
        if (_state.value.busy) return
        val mine = turn
        _state.update { it.copy(busy = true, error = null) }
        scope.launch {
            try {
                val step = withContext(io) { call() }
                _state.update { if (mine == turn) LoginState(step = step) else it.copy(busy = false) }
            } catch (e: CoreException) {
                _state.update { if (mine == turn) it.copy(busy = false, error = e.toUiError()) else it.copy(busy = false) }
            }
        }
    }
}
