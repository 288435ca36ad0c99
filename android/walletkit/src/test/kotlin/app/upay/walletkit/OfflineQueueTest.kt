package app.upay.walletkit

import app.upay.core.HistoryFilter
import app.upay.core.OutboxState
import app.upay.core.PayeeInput
import app.upay.core.PaymentOutcome
import app.upay.core.WalletEvent
import app.upay.walletkit.support.EventRecorder
import app.upay.walletkit.support.Mock
import app.upay.walletkit.support.TcpProxy
import app.upay.walletkit.support.TestWallet
import app.upay.walletkit.support.cny
import app.upay.walletkit.support.coroutineTest
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertIs
import kotlin.test.assertTrue

/** The outbox: a payment made without a network waits, then arrives exactly once. */
class OfflineQueueTest {
    @Test
    fun `a transfer made offline waits in the outbox and is sent once when the network returns`() = coroutineTest {
        val payer = Mock.newUser(cnyMinor = 500_000)
        val payee = Mock.newUser(cnyMinor = 0)
        TcpProxy(Mock.port).use { network ->
            TestWallet(baseUrl = network.url).use { w ->
                w.signIn(payer)
                w.payOnce(payee)
                w.sync.syncNow()
                val before = w.cnyBalance().serverAvailable.minor
                val events = EventRecorder()
                w.client.listen(events::add).use {
                    network.goOffline()
                    val outcome = w.payments.transfer(PayeeInput.AccountId(payee.userId), cny(12_34), "离线转账")
                    val item = assertIs<PaymentOutcome.Queued>(outcome).item
                    // QUEUED, or UNKNOWN when an attempt went out on a connection the proxy was
                    // cutting (the core cannot know it was not read); either goes once, same key.
                    assertTrue(item.state == OutboxState.QUEUED || item.state == OutboxState.UNKNOWN, "${item.state}")
                    events.await { it is WalletEvent.ConnectivityChanged && !it.online }

                    // Offline, the home screen shows the payment as pending and the money as spoken for.
                    val home = w.client.homeSnapshot()
                    assertTrue(home.offline)
                    assertEquals(listOf(item.id), home.pending.map { it.id })
                    val cny = home.balances.single { it.currency == "CNY" }
                    assertEquals(12_34L, cny.unconfirmedOut.minor)
                    assertEquals(before - 12_34, cny.displayed.minor)

                    // The network returns: the core resumes its outbox by itself.
                    network.goOnline()
                    w.client.networkChanged(true)
                    events.await { e ->
                        e is WalletEvent.OutboxChanged &&
                            e.items.any { it.id == item.id && it.state == OutboxState.SETTLED }
                    }
                    events.await { it is WalletEvent.ConnectivityChanged && it.online }
                }

                w.sync.syncNow()
                val sent = w.history.page(toPayee(payee.userId, 12_34), null, 100u).items
                assertEquals(1, sent.size, "the transfer arrived exactly once")
                assertEquals(-12_34L, sent.single().amount.minor)
                val after = w.cnyBalance()
                assertEquals(before - 12_34, after.serverAvailable.minor)
                assertEquals(0L, after.unconfirmedOut.minor)
                assertEquals(after.serverAvailable, after.displayed)
                assertEquals(0u, w.sync.flushOutbox(), "nothing is left to send")
                assertTrue(!w.client.homeSnapshot().offline)
            }
        }
    }

    companion object {
        /** History entries with [payee] of exactly [minor] (either direction). */
        fun toPayee(payee: String, minor: Long): HistoryFilter =
            HistoryPager.NO_FILTER.copy(counterpartyId = payee, minMinor = minor, maxMinor = minor)
    }
}
