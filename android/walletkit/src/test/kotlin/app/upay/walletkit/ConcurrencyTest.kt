package app.upay.walletkit

import app.upay.walletkit.support.Mock
import app.upay.walletkit.support.TestWallet
import app.upay.walletkit.support.coroutineTest
import kotlinx.coroutines.asCoroutineDispatcher
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.launch
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.Executors
import java.util.concurrent.atomic.AtomicInteger
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertTrue

/** One client shared by many threads, mixing cache reads and network calls. */
class ConcurrencyTest {
    @Test
    fun `sixteen coroutines on sixteen threads share one client`() = coroutineTest(timeoutMs = 120_000) {
        val user = Mock.newUser(cnyMinor = 300_000, transactions = 120)
        TestWallet().use { w ->
            w.signIn(user)
            w.sync.syncNow()
            val expected = w.client.homeSnapshot()
            val threads = ConcurrentHashMap.newKeySet<String>()
            val calls = AtomicInteger()
            Executors.newFixedThreadPool(16).asCoroutineDispatcher().use { pool ->
                coroutineScope {
                    repeat(16) { worker ->
                        launch(pool) {
                            repeat(10) { round ->
                                threads += Thread.currentThread().name
                                val home = w.client.homeSnapshot()
                                assertEquals(expected.balances, home.balances)
                                assertEquals(expected.recent, home.recent)
                                val page = w.history.page(HistoryPager.NO_FILTER, null, 50u)
                                assertEquals(50, page.items.size)
                                if ((worker + round) % 2 == 0) {
                                    assertEquals(user.userId, w.session.refreshProfile().userId)
                                } else {
                                    w.sync.syncNow()
                                }
                                calls.addAndGet(3)
                            }
                        }
                    }
                }
            }
            assertEquals(16 * 10 * 3, calls.get())
            assertTrue(threads.size >= 8, "calls came from ${threads.size} threads")
            assertEquals(expected.balances, w.client.homeSnapshot().balances)
        }
    }
}
