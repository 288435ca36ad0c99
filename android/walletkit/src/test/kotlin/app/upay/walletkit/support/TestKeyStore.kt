package app.upay.walletkit.support

import app.upay.core.KeyStore
import app.upay.walletkit.SoftwareKeyStore
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.atomic.AtomicInteger

/**
 * The Kotlin [SoftwareKeyStore] as the core uses it, with a record of what the core asked for
 * and a switch standing in for the user's answer to the PIN/biometric prompt.
 */
class TestKeyStore : KeyStore {
    @Volatile var userConfirms = true
    val signReasons = CopyOnWriteArrayList<String>()
    val publicKeyReads = AtomicInteger()
    val unwraps = AtomicInteger()
    private val inner = SoftwareKeyStore { reason -> signReasons += reason; userConfirms }

    override fun wrapDataKey(dataKey: ByteArray) = inner.wrapDataKey(dataKey)

    override fun unwrapDataKey(wrapped: ByteArray): ByteArray {
        unwraps.incrementAndGet()
        return inner.unwrapDataKey(wrapped)
    }

    override fun signingPublicKey(): ByteArray {
        publicKeyReads.incrementAndGet()
        return inner.signingPublicKey()
    }

    override fun sign(payload: ByteArray, reason: String) = inner.sign(payload, reason)

    override fun deleteSigningKey() = inner.deleteSigningKey()
}
