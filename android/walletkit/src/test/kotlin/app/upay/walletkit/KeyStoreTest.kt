package app.upay.walletkit

import app.upay.core.CoreException
import app.upay.core.ErrorCode
import app.upay.core.fileKeyStore
import app.upay.walletkit.support.Mock
import app.upay.walletkit.support.TestKeyStore
import app.upay.walletkit.support.TestWallet
import app.upay.walletkit.support.coroutineTest
import java.math.BigInteger
import java.nio.file.Files
import java.security.AlgorithmParameters
import java.security.KeyFactory
import java.security.Signature
import java.security.spec.ECGenParameterSpec
import java.security.spec.ECParameterSpec
import java.security.spec.ECPoint
import java.security.spec.ECPublicKeySpec
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertNull
import kotlin.test.assertTrue

/** The Kotlin key store behind the core's encrypted cache, payment key and app lock. */
class KeyStoreTest {
    @Test
    fun `the Kotlin key store speaks the same formats as the core's own`() {
        val kotlin = SoftwareKeyStore()
        val dir = Files.createTempDirectory("upay-keys-").toFile()
        try {
            val rust = fileKeyStore(dir.path)
            for (public in listOf(kotlin.signingPublicKey(), rust.signingPublicKey())) {
                assertEquals(65, public.size)
                assertEquals(4.toByte(), public[0])
            }
            val payload = "upay payload".toByteArray()
            val signature = kotlin.sign(payload, "test")
            assertEquals(0x30.toByte(), signature[0], "ASN.1 DER sequence")
            assertTrue(verify(kotlin.signingPublicKey(), payload, signature))
            assertTrue(verify(rust.signingPublicKey(), payload, rust.sign(payload, "test")))

            val wrapped = kotlin.wrapDataKey(ByteArray(32) { it.toByte() })
            assertEquals(ByteArray(32) { it.toByte() }.toList(), kotlin.unwrapDataKey(wrapped).toList())
            assertFailsWith<app.upay.core.KeyStoreException.KeyNotFound> { SoftwareKeyStore().unwrapDataKey(wrapped) }
            (rust as AutoCloseable).close()
        } finally {
            dir.deleteRecursively()
        }
    }

    @Test
    fun `the core checks the app lock with a signature from the Kotlin key store`() = coroutineTest {
        val user = Mock.newUser()
        val keys = TestKeyStore()
        TestWallet(keyStore = keys).use { w ->
            w.signIn(user)
            w.session.lockApp()
            assertTrue(w.session.isAppLocked())
            assertEquals(ErrorCode.APP_LOCKED, assertFailsWith<CoreException.Client> { w.client.homeSnapshot() }.code)

            keys.userConfirms = false
            val declined = assertFailsWith<CoreException.Client> { w.session.unlockApp("解锁U钱包") }
            assertEquals(ErrorCode.AUTHENTICATION_CANCELLED, declined.code)
            assertTrue(w.session.isAppLocked())

            keys.userConfirms = true
            w.session.unlockApp("解锁U钱包")
            assertFalse(w.session.isAppLocked())
            assertTrue(w.client.homeSnapshot().signedIn)
            assertEquals(listOf("解锁U钱包", "解锁U钱包"), keys.signReasons)
        }
    }

    @Test
    fun `the cache opens again with its key store and starts afresh with another`() = coroutineTest {
        val user = Mock.newUser(cnyMinor = 100_000, transactions = 12)
        val keys = TestKeyStore()
        val dir = Files.createTempDirectory("upay-kt-").toFile()
        try {
            val device = TestWallet.newDeviceId()
            TestWallet(keyStore = keys, dataDir = dir, deviceId = device, keepData = true).use { w ->
                w.signIn(user)
                w.sync.syncNow()
            }
            TestWallet(keyStore = keys, dataDir = dir, deviceId = device, keepData = true).use { w ->
                assertFalse(w.client.keyWasReset())
                assertEquals(user.userId, w.session.profile()?.userId)
                // Read offline from the encrypted cache: 12 generated entries and the opening credit.
                assertEquals(13, w.history.page(HistoryPager.NO_FILTER, null, 100u).items.size)
                assertEquals(100_000L, w.cnyBalance().serverAvailable.minor)
            }
            assertTrue(keys.unwraps.get() >= 1)

            // Another key store is another phone (or a reinstall): the key is lost, the cache
            // starts again and the user signs in again.
            TestWallet(keyStore = TestKeyStore(), dataDir = dir, deviceId = device, keepData = true).use { w ->
                assertTrue(w.client.keyWasReset())
                assertNull(w.session.profile())
                val home = w.client.homeSnapshot()
                assertFalse(home.signedIn)
                assertTrue(home.balances.isEmpty())
            }
        } finally {
            dir.deleteRecursively()
        }
    }

    private fun verify(point: ByteArray, payload: ByteArray, signature: ByteArray): Boolean {
        val params = AlgorithmParameters.getInstance("EC").apply { init(ECGenParameterSpec("secp256r1")) }
        val spec = ECPublicKeySpec(
            ECPoint(BigInteger(1, point.copyOfRange(1, 33)), BigInteger(1, point.copyOfRange(33, 65))),
            params.getParameterSpec(ECParameterSpec::class.java),
        )
        val key = KeyFactory.getInstance("EC").generatePublic(spec)
        return Signature.getInstance("SHA256withECDSA").run {
            initVerify(key)
            update(payload)
            verify(signature)
        }
    }
}
