package app.upay.walletkit

import app.upay.core.CoreException
import app.upay.core.LoginResult
import app.upay.core.Profile
import app.upay.core.SessionApi
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

/** The sign-in screen's state holder: password first, then an SMS code when the server asks. */
class LoginViewModel(
    private val session: SessionApi,
    private val scope: CoroutineScope,
    private val io: CoroutineDispatcher = Dispatchers.IO,
) {
    private val _state = MutableStateFlow(
        session.profile()?.let { LoginState(step = LoginStep.SignedIn(it)) } ?: LoginState(),
    )
    val state: StateFlow<LoginState> = _state.asStateFlow()

    fun login(phone: String, password: String) = perform {
        when (val result = session.login(phone, password)) {
            is LoginResult.SignedIn -> LoginStep.SignedIn(result.profile)
            is LoginResult.CodeRequired -> LoginStep.Code(result.destination)
        }
    }

    fun submitCode(code: String) = perform { LoginStep.SignedIn(session.submitLoginCode(code)) }

    /** Back to the password step (e.g. the user wants another number). */
    fun restart() = _state.update { LoginState() }

    private fun perform(call: suspend () -> LoginStep) {
        if (_state.value.busy) return
        _state.update { it.copy(busy = true, error = null) }
        scope.launch {
            try {
                val step = withContext(io) { call() }
                _state.update { LoginState(step = step) }
            } catch (e: CoreException) {
                _state.update { it.copy(busy = false, error = e.toUiError()) }
            }
        }
    }
}
