package app.upay.walletkit

import app.upay.core.OutboxState
import app.upay.core.PayeeInput
import app.upay.walletkit.support.Mock
import app.upay.walletkit.support.TcpProxy
import app.upay.walletkit.support.TestWallet
import app.upay.walletkit.support.awaitUntil
import app.upay.walletkit.support.cny
import app.upay.walletkit.support.coroutineTest
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.TimeoutCancellationException
import kotlinx.coroutines.cancelAndJoin
import kotlinx.coroutines.launch
import kotlinx.coroutines.withTimeout
import java.io.File
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertTrue

/**
 * Cancelling a coroutine drops the Rust future half-way (uniffi frees it): the request is
 * abandoned, nothing leaks, a payment in flight stays safe, and the client keeps working.
 */
class CancellationTest {
    @Test
    fun `cancelling a coroutine drops the pending call and closes its connection`() = coroutineTest {
        val user = Mock.newUser()
        TcpProxy(Mock.port).use { network ->
            TestWallet(baseUrl = network.url).use { w ->
                w.signIn(user)
                network.holdResponses("/v1/me")
                val call = launch(Dispatchers.IO) { w.session.refreshProfile() }
                awaitUntil(what = "the call to be in flight") { network.heldResponses == 1 }

                val started = System.nanoTime()
                call.cancelAndJoin()
                assertTrue(call.isCancelled)
                assertTrue(System.nanoTime() - started < 1_000_000_000, "cancellation does not wait for the answer")
                // The dropped future dropped its HTTP request: the connection is closed.
                awaitUntil(what = "the connection to close") { network.abandonedCalls == 1 && network.heldResponses == 0 }

                network.releaseResponses()
                assertEquals(user.userId, w.session.refreshProfile().userId)
                assertTrue(w.client.homeSnapshot().signedIn)
            }
        }
    }

    @Test
    fun `a timeout cancels the call the same way`() = coroutineTest {
        val user = Mock.newUser()
        TcpProxy(Mock.port).use { network ->
            TestWallet(baseUrl = network.url).use { w ->
                w.signIn(user)
                network.holdResponses("/v1/devices")
                assertFailsWith<TimeoutCancellationException> { withTimeout(300) { w.session.devices() } }
                awaitUntil(what = "the connection to close") { network.abandonedCalls == 1 }
                network.releaseResponses()
                assertEquals(w.deviceId, w.session.devices().single { it.current }.deviceId)
            }
        }
    }

    @Test
    fun `a transfer cancelled in flight becomes unknown and is then applied exactly once`() = coroutineTest {
        val payer = Mock.newUser(cnyMinor = 500_000)
        val payee = Mock.newUser(cnyMinor = 0)
        TcpProxy(Mock.port).use { network ->
            TestWallet(baseUrl = network.url).use { w ->
                w.signIn(payer)
                w.payOnce(payee)
                w.sync.syncNow()
                val before = w.cnyBalance().serverAvailable.minor
                // The worker sends due items too; once it sleeps, the held send is this call's.
                network.awaitIdle()

                network.holdResponses("/v1/transfers")
                val call = launch(Dispatchers.IO) {
                    w.payments.transfer(PayeeInput.AccountId(payee.userId), cny(5_55), null)
                }
                // The server has executed the transfer; only its answer is missing.
                awaitUntil(what = "the transfer to be in flight") { network.heldResponses == 1 }
                call.cancelAndJoin()
                val item = w.payments.outbox(20u).single { it.amount.minor == 5_55L }
                assertEquals(OutboxState.UNKNOWN, item.state, "it may have been applied: only a keyed retry is safe")

                network.releaseResponses()
                w.sync.flushOutbox()
                awaitUntil(what = "the retry to settle") {
                    w.payments.outbox(20u).single { it.id == item.id }.state == OutboxState.SETTLED
                }
                w.sync.syncNow()
                val sent = w.history.page(OfflineQueueTest.toPayee(payee.userId, 5_55), null, 100u).items
                assertEquals(1, sent.size, "the retry replayed the first answer instead of paying twice")
                assertEquals(before - 5_55, w.cnyBalance().serverAvailable.minor)
            }
        }
    }

    @Test
    fun `fifty cancelled calls leave no sockets, threads or pending work behind`() = coroutineTest {
        val user = Mock.newUser()
        TcpProxy(Mock.port).use { network ->
            TestWallet(baseUrl = network.url).use { w ->
                w.signIn(user)
                w.session.refreshProfile()
                val fds = openFileDescriptors()
                val threads = Thread.activeCount()

                network.holdResponses("/v1/me")
                repeat(50) { i ->
                    val call = launch(Dispatchers.IO) { w.session.refreshProfile() }
                    awaitUntil(what = "call $i in flight") { network.heldResponses == 1 }
                    call.cancelAndJoin()
                    awaitUntil(what = "call $i to be dropped: $network") { network.abandonedCalls == i + 1 }
                }
                network.releaseResponses()
                assertEquals(user.userId, w.session.refreshProfile().userId)

                // Each abandoned call closed its socket (both ends live in this process).
                awaitUntil(what = "descriptors to return to the baseline") { openFileDescriptors() <= fds + 4 }
                awaitUntil(what = "proxy threads to end") { Thread.activeCount() <= threads + 4 }
            }
        }
    }

    private fun openFileDescriptors(): Int = File("/proc/self/fd").list()!!.size
}
