package app.upay.walletkit.android

import android.os.Build
import android.os.Handler
import android.os.Looper
import androidx.biometric.BiometricManager.Authenticators.BIOMETRIC_STRONG
import androidx.biometric.BiometricManager.Authenticators.DEVICE_CREDENTIAL
import androidx.biometric.BiometricPrompt
import androidx.core.content.ContextCompat
import androidx.fragment.app.FragmentActivity
import app.upay.core.KeyStoreException
import java.security.Signature
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit

/** Proves the user is present (PIN or biometrics) before the payment key signs. */
fun interface UserPresence {
    /**
     * Shows the platform prompt with [reason] and returns [signature] unlocked for one use.
     * Blocks the calling thread (never the main thread) until the user answers; throws
     * [KeyStoreException.UserCancelled] or [KeyStoreException.AuthenticationFailed].
     */
    fun authorize(signature: Signature, reason: String): Signature
}

/**
 * [UserPresence] with AndroidX `BiometricPrompt` over the activity in front.
 *
 * @param activity the resumed activity that hosts the prompt, or `null` when none is
 *   (the app is in the background: the payment stays waiting for confirmation).
 * @param title the prompt's title in the app's language; [authorize]'s `reason` is its subtitle.
 * @param cancelLabel the negative button's text, needed when only biometrics are allowed.
 */
class BiometricUserPresence(
    private val activity: () -> FragmentActivity?,
    private val title: String,
    private val cancelLabel: String,
) : UserPresence {
    private val main = Handler(Looper.getMainLooper())

    override fun authorize(signature: Signature, reason: String): Signature {
        check(Looper.myLooper() != Looper.getMainLooper()) { "authorize blocks: call it off the main thread" }
        val done = CountDownLatch(1)
        var unlocked: Signature? = null
        var failure: KeyStoreException = KeyStoreException.UserCancelled()
        main.post {
            val host = activity()
            if (host == null || host.isFinishing) {
                done.countDown()
                return@post
            }
            val callback = object : BiometricPrompt.AuthenticationCallback() {
                override fun onAuthenticationSucceeded(result: BiometricPrompt.AuthenticationResult) {
                    unlocked = result.cryptoObject?.signature
                    done.countDown()
                }

                override fun onAuthenticationError(errorCode: Int, errString: CharSequence) {
                    failure = when (errorCode) {
                        BiometricPrompt.ERROR_USER_CANCELED,
                        BiometricPrompt.ERROR_NEGATIVE_BUTTON,
                        BiometricPrompt.ERROR_CANCELED,
                        -> KeyStoreException.UserCancelled()
                        else -> KeyStoreException.AuthenticationFailed()
                    }
                    done.countDown()
                }
                // onAuthenticationFailed (one unrecognised finger) keeps the prompt open.
            }
            val info = BiometricPrompt.PromptInfo.Builder()
                .setTitle(title)
                .setSubtitle(reason)
                .setConfirmationRequired(true)
                .apply {
                    if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.R) {
                        // The PIN is allowed together with a CryptoObject from Android 11 on.
                        setAllowedAuthenticators(BIOMETRIC_STRONG or DEVICE_CREDENTIAL)
                    } else {
                        setAllowedAuthenticators(BIOMETRIC_STRONG)
                        setNegativeButtonText(cancelLabel)
                    }
                }
                .build()
            BiometricPrompt(host, ContextCompat.getMainExecutor(host), callback)
                .authenticate(info, BiometricPrompt.CryptoObject(signature))
        }
        // A prompt left open forever must not pin a core thread forever.
        if (!done.await(PROMPT_TIMEOUT_MINUTES, TimeUnit.MINUTES)) throw KeyStoreException.UserCancelled()
        return unlocked ?: throw failure
    }

    private companion object {
        const val PROMPT_TIMEOUT_MINUTES = 5L
    }
}
