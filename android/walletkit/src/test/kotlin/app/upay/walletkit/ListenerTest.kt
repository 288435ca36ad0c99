package app.upay.walletkit

import app.upay.core.LogLevel
import app.upay.core.LogRecord
import app.upay.core.Logger
import app.upay.core.LoginResult
import app.upay.core.PayeeInput
import app.upay.core.WalletEvent
import app.upay.core.setLogger
import app.upay.walletkit.support.EventRecorder
import app.upay.walletkit.support.Mock
import app.upay.walletkit.support.TestWallet
import app.upay.walletkit.support.awaitUntil
import app.upay.walletkit.support.cny
import app.upay.walletkit.support.coroutineTest
import java.util.concurrent.CopyOnWriteArrayList
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertIs
import kotlin.test.assertTrue

/** Foreign traits implemented in Kotlin: the wallet listener and the logger. */
class ListenerTest {
    @Test
    fun `a Kotlin listener receives batched events until its subscription is cancelled`() = coroutineTest {
        val user = Mock.newUser(cnyMinor = 200_000, transactions = 30)
        TestWallet().use { w ->
            val events = EventRecorder()
            val registration = w.client.listen(events::add)
            w.signIn(user)
            events.await { it == WalletEvent.SessionChanged(signedIn = true) }

            // The core syncs by itself after sign-in; an explicit sync may find nothing left.
            w.sync.syncNow()
            // One sync, one batch: balances, progress and the history change arrive together.
            awaitUntil(what = "the batch of the sync that brought the history") { events.batches.any(::isHistorySync) }
            val batch = events.batches.first(::isHistorySync)
            val balances = batch.filterIsInstance<WalletEvent.BalancesChanged>().single().balances
            assertEquals(200_000L, balances.single { it.currency == "CNY" }.serverAvailable.minor)

            registration.close()
            val seen = events.events.size
            Mock.incomingTransfer(user.userId, 1_00)
            w.sync.syncNow()
            assertEquals(seen, events.events.size, "no delivery after cancel")
        }
    }

    private fun isHistorySync(batch: List<WalletEvent>) =
        batch.any { it is WalletEvent.SyncProgress && it.done } &&
            batch.any { it is WalletEvent.TransactionsChanged && it.count >= 30u }

    @Test
    fun `a Kotlin logger receives the core's records and never a secret`() = coroutineTest {
        val records = CopyOnWriteArrayList<LogRecord>()
        setLogger(
            object : Logger {
                override fun log(record: LogRecord) {
                    records += record
                }
            },
            LogLevel.DEBUG,
        )
        try {
            val user = Mock.newUser(fullName = "王秘密")
            val payee = Mock.newUser(cnyMinor = 0)
            val note = "私人备注-7319"
            var code: String
            TestWallet().use { w ->
                assertIs<LoginResult.CodeRequired>(w.session.login(user.phone, user.password))
                code = Mock.latestSmsCode(user.phone)
                w.session.submitLoginCode(code)
                w.sync.syncNow()
                w.payments.transfer(PayeeInput.Phone(payee.phone), cny(1_00), note)
            }
            assertTrue(records.any { it.message.contains("signed in") }, "records arrive: $records")
            assertTrue(records.all { it.target.startsWith("upay_core") })
            val secrets = listOf(user.password, code, user.phone, "+86" + user.phone, payee.phone, user.fullName, note)
            for (record in records) {
                for (secret in secrets) {
                    assertTrue(secret !in record.message, "a log record carries personal data: ${record.target}")
                }
            }
        } finally {
            setLogger(
                object : Logger {
                    override fun log(record: LogRecord) = Unit
                },
                LogLevel.ERROR,
            )
        }
    }
}
