package app.upay.walletkit

import app.upay.core.KeyStore
import app.upay.core.KeyStoreException
import java.math.BigInteger
import java.security.GeneralSecurityException
import java.security.KeyPair
import java.security.KeyPairGenerator
import java.security.SecureRandom
import java.security.Signature
import java.security.interfaces.ECPublicKey
import java.security.spec.ECGenParameterSpec
import javax.crypto.AEADBadTagException
import javax.crypto.Cipher
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec

/**
 * The core's [KeyStore] contract with the JVM's own crypto and keys held in memory: for tests,
 * previews and desktop tools. Phones use [app.upay.walletkit.android.AndroidKeyStore], whose
 * keys live in secure hardware.
 *
 * Keys last as long as this object, so a cache wrapped by one instance cannot be opened by
 * another: the core then reports `key_was_reset` and starts the cache again, exactly as after
 * a reinstall on a phone.
 *
 * @param confirmUser stands in for the PIN/biometric prompt before each payment signature:
 *   it receives the reason the platform would show and answers whether the user confirmed.
 */
class SoftwareKeyStore(
    private val confirmUser: (reason: String) -> Boolean = { true },
) : KeyStore {
    private val random = SecureRandom()
    private val wrappingKey: SecretKey =
        KeyGenerator.getInstance("AES").apply { init(256, random) }.generateKey()
    private val lock = Any()
    private var signingKey: KeyPair? = null

    override fun wrapDataKey(dataKey: ByteArray): ByteArray {
        val iv = ByteArray(GCM_IV_BYTES).also(random::nextBytes)
        val cipher = Cipher.getInstance(AES_GCM)
        cipher.init(Cipher.ENCRYPT_MODE, wrappingKey, GCMParameterSpec(GCM_TAG_BITS, iv))
        cipher.updateAAD(WRAP_AAD)
        return iv + cipher.doFinal(dataKey)
    }

    override fun unwrapDataKey(wrapped: ByteArray): ByteArray {
        if (wrapped.size < GCM_IV_BYTES + GCM_TAG_BITS / 8) throw KeyStoreException.KeyNotFound()
        val cipher = Cipher.getInstance(AES_GCM)
        cipher.init(
            Cipher.DECRYPT_MODE,
            wrappingKey,
            GCMParameterSpec(GCM_TAG_BITS, wrapped, 0, GCM_IV_BYTES),
        )
        cipher.updateAAD(WRAP_AAD)
        return try {
            cipher.doFinal(wrapped, GCM_IV_BYTES, wrapped.size - GCM_IV_BYTES)
        } catch (e: AEADBadTagException) {
            // Wrapped by another key: for this store that key is gone.
            throw KeyStoreException.KeyNotFound()
        }
    }

    override fun signingPublicKey(): ByteArray = synchronized(lock) {
        val pair = signingKey ?: KeyPairGenerator.getInstance("EC")
            .apply { initialize(ECGenParameterSpec("secp256r1"), random) }
            .generateKeyPair()
            .also { signingKey = it }
        uncompressedPoint(pair.public as ECPublicKey)
    }

    override fun sign(payload: ByteArray, reason: String): ByteArray {
        val pair = synchronized(lock) { signingKey } ?: throw KeyStoreException.KeyNotFound()
        if (!confirmUser(reason)) throw KeyStoreException.UserCancelled()
        return try {
            // SHA256withECDSA yields the ASN.1 DER signature the core and the server verify.
            Signature.getInstance("SHA256withECDSA").run {
                initSign(pair.private, random)
                update(payload)
                sign()
            }
        } catch (e: GeneralSecurityException) {
            throw KeyStoreException.Unavailable("signing failed")
        }
    }

    override fun deleteSigningKey() {
        synchronized(lock) { signingKey = null }
    }

    companion object {
        private const val AES_GCM = "AES/GCM/NoPadding"
        private const val GCM_IV_BYTES = 12
        private const val GCM_TAG_BITS = 128
        private val WRAP_AAD = "upay-software-keystore-wrap-v1".toByteArray()

        /** SEC1 uncompressed encoding `04 || X || Y` of a P-256 public key (65 bytes). */
        fun uncompressedPoint(key: ECPublicKey): ByteArray =
            byteArrayOf(4) + fixed32(key.w.affineX) + fixed32(key.w.affineY)

        /** A coordinate as exactly 32 big-endian bytes (BigInteger adds or drops leading zeros). */
        private fun fixed32(n: BigInteger): ByteArray {
            val raw = n.toByteArray()
            return when {
                raw.size == 32 -> raw
                raw.size > 32 -> raw.copyOfRange(raw.size - 32, raw.size)
                else -> ByteArray(32 - raw.size) + raw
            }
        }
    }
}
