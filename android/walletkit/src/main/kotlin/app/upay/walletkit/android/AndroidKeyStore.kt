package app.upay.walletkit.android

import android.os.Build
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyPermanentlyInvalidatedException
import android.security.keystore.KeyProperties
import android.security.keystore.StrongBoxUnavailableException
import app.upay.core.KeyStore
import app.upay.core.KeyStoreException
import app.upay.walletkit.SoftwareKeyStore
import java.security.GeneralSecurityException
import java.security.KeyPairGenerator
import java.security.PrivateKey
import java.security.Signature
import java.security.UnrecoverableKeyException
import java.security.interfaces.ECPublicKey
import java.security.spec.ECGenParameterSpec
import javax.crypto.AEADBadTagException
import javax.crypto.Cipher
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec

/**
 * The core's [KeyStore] on Android Keystore: keys are created inside the TEE (StrongBox when the
 * phone has one) and never leave it.
 *
 * - `upay.wrap`: AES-256-GCM, wraps the cache's data key; usable without user authentication
 *   so the app can open its cache at start.
 * - `upay.payment`: ECDSA P-256 payment key; every signature needs the user's PIN or
 *   biometrics ([UserPresence]), and enrolling a new fingerprint invalidates it.
 *
 * The core calls this synchronously from its own threads (never the main thread); [sign]
 * blocks its caller while the prompt is shown.
 */
class AndroidKeyStore(
    private val userPresence: UserPresence,
    private val aliasPrefix: String = "upay",
) : KeyStore {
    private val wrapAlias = "$aliasPrefix.wrap"
    private val paymentAlias = "$aliasPrefix.payment"
    private val keyStore = java.security.KeyStore.getInstance(ANDROID_KEYSTORE).apply { load(null) }

    override fun wrapDataKey(dataKey: ByteArray): ByteArray = guarded {
        val cipher = Cipher.getInstance(AES_GCM)
        // Android Keystore chooses the IV itself (randomized encryption is required).
        cipher.init(Cipher.ENCRYPT_MODE, wrappingKey(create = true))
        val iv = cipher.iv
        check(iv.size == GCM_IV_BYTES)
        iv + cipher.doFinal(dataKey)
    }

    override fun unwrapDataKey(wrapped: ByteArray): ByteArray = guarded {
        if (wrapped.size < GCM_IV_BYTES + GCM_TAG_BITS / 8) throw KeyStoreException.KeyNotFound()
        val cipher = Cipher.getInstance(AES_GCM)
        cipher.init(
            Cipher.DECRYPT_MODE,
            wrappingKey(create = false),
            GCMParameterSpec(GCM_TAG_BITS, wrapped, 0, GCM_IV_BYTES),
        )
        try {
            cipher.doFinal(wrapped, GCM_IV_BYTES, wrapped.size - GCM_IV_BYTES)
        } catch (e: AEADBadTagException) {
            // Wrapped by a key this phone no longer has (restored backup, reinstall).
            throw KeyStoreException.KeyNotFound()
        }
    }

    override fun signingPublicKey(): ByteArray = guarded {
        if (!keyStore.containsAlias(paymentAlias)) createPaymentKey()
        val certificate = keyStore.getCertificate(paymentAlias) ?: throw KeyStoreException.KeyNotFound()
        SoftwareKeyStore.uncompressedPoint(certificate.publicKey as ECPublicKey)
    }

    override fun sign(payload: ByteArray, reason: String): ByteArray = guarded {
        val key = keyStore.getKey(paymentAlias, null) as? PrivateKey ?: throw KeyStoreException.KeyNotFound()
        val signature = Signature.getInstance("SHA256withECDSA")
        try {
            signature.initSign(key)
        } catch (e: KeyPermanentlyInvalidatedException) {
            // New biometrics enrolled or the screen lock removed: the key is gone for good.
            throw KeyStoreException.KeyNotFound()
        }
        // Per-use authentication: the prompt unlocks exactly this Signature object.
        val unlocked = userPresence.authorize(signature, reason)
        unlocked.update(payload)
        unlocked.sign()
    }

    override fun deleteSigningKey() = guarded {
        if (keyStore.containsAlias(paymentAlias)) keyStore.deleteEntry(paymentAlias)
    }

    private fun wrappingKey(create: Boolean): SecretKey {
        (keyStore.getKey(wrapAlias, null) as? SecretKey)?.let { return it }
        if (!create) throw KeyStoreException.KeyNotFound()
        return withStrongBoxFallback { strongBox ->
            val spec = KeyGenParameterSpec.Builder(
                wrapAlias,
                KeyProperties.PURPOSE_ENCRYPT or KeyProperties.PURPOSE_DECRYPT,
            )
                .setKeySize(256)
                .setBlockModes(KeyProperties.BLOCK_MODE_GCM)
                .setEncryptionPaddings(KeyProperties.ENCRYPTION_PADDING_NONE)
                .setRandomizedEncryptionRequired(true)
                .setIsStrongBoxBacked(strongBox)
                .build()
            KeyGenerator.getInstance(KeyProperties.KEY_ALGORITHM_AES, ANDROID_KEYSTORE)
                .apply { init(spec) }
                .generateKey()
        }
    }

    private fun createPaymentKey() {
        withStrongBoxFallback { strongBox ->
            val builder = KeyGenParameterSpec.Builder(
                paymentAlias,
                KeyProperties.PURPOSE_SIGN or KeyProperties.PURPOSE_VERIFY,
            )
                .setAlgorithmParameterSpec(ECGenParameterSpec("secp256r1"))
                .setDigests(KeyProperties.DIGEST_SHA256)
                .setUserAuthenticationRequired(true)
                .setInvalidatedByBiometricEnrollment(true)
                .setIsStrongBoxBacked(strongBox)
            if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.R) {
                // Timeout 0: one authentication per signature, by strong biometrics or the PIN.
                builder.setUserAuthenticationParameters(
                    0,
                    KeyProperties.AUTH_BIOMETRIC_STRONG or KeyProperties.AUTH_DEVICE_CREDENTIAL,
                )
            }
            KeyPairGenerator.getInstance(KeyProperties.KEY_ALGORITHM_EC, ANDROID_KEYSTORE)
                .apply { initialize(builder.build()) }
                .generateKeyPair()
        }
    }

    /** Tries StrongBox first; phones without it (or without the algorithm there) use the TEE. */
    private fun <T> withStrongBoxFallback(generate: (strongBox: Boolean) -> T): T =
        if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.P) {
            try {
                generate(true)
            } catch (e: StrongBoxUnavailableException) {
                generate(false)
            }
        } else {
            generate(false)
        }

    /** Maps platform failures to the core's error; messages name no key material or user data. */
    private inline fun <T> guarded(block: () -> T): T = try {
        block()
    } catch (e: KeyStoreException) {
        throw e
    } catch (e: KeyPermanentlyInvalidatedException) {
        throw KeyStoreException.KeyNotFound()
    } catch (e: UnrecoverableKeyException) {
        throw KeyStoreException.KeyNotFound()
    } catch (e: GeneralSecurityException) {
        throw KeyStoreException.Unavailable(e.javaClass.simpleName)
    } catch (e: IllegalStateException) {
        // The Keystore daemon refuses work while the device is locked or busy.
        throw KeyStoreException.Unavailable("keystore not ready")
    }

    private companion object {
        const val ANDROID_KEYSTORE = "AndroidKeyStore"
        const val AES_GCM = "AES/GCM/NoPadding"
        const val GCM_IV_BYTES = 12
        const val GCM_TAG_BITS = 128
    }
}
