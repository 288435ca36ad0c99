package app.upay.walletkit

import app.upay.core.CoreException
import app.upay.core.ErrorCode
import app.upay.core.OutboxState
import app.upay.core.PayeeInput
import app.upay.core.PaymentOutcome
import app.upay.walletkit.support.Mock
import app.upay.walletkit.support.TestKeyStore
import app.upay.walletkit.support.TestWallet
import app.upay.walletkit.support.cny
import app.upay.walletkit.support.coroutineTest
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertIs
import kotlin.test.assertTrue

/** Transfers confirmed by strong customer authentication, signed by the Kotlin key store. */
class PaymentsTest {
    @Test
    fun `a transfer to a new payee is confirmed with a signature from the Kotlin key store`() = coroutineTest {
        val payer = Mock.newUser(cnyMinor = 1_000_000)
        val payee = Mock.newUser(cnyMinor = 0)
        val keys = TestKeyStore()
        TestWallet(keyStore = keys).use { w ->
            w.signIn(payer)
            w.session.enablePaymentConfirmation()
            assertTrue(keys.publicKeyReads.get() >= 1, "the device key was registered")

            val outcome = w.payments.transfer(PayeeInput.AccountId(payee.userId), cny(10_00), "午饭")
            val waiting = assertIs<PaymentOutcome.ConfirmationRequired>(outcome)
            assertEquals(listOf("new_payee"), waiting.confirmation.reasons)
            assertEquals(OutboxState.QUEUED, waiting.item.state)
            assertTrue(keys.signReasons.isEmpty(), "nothing is signed before the user confirms")

            val done = assertIs<PaymentOutcome.Completed>(w.payments.confirmPayment(waiting.item.id, "向新收款人付款 ¥10.00"))
            assertEquals(OutboxState.SETTLED, done.item.state)
            assertEquals(-10_00L, done.transaction!!.amount.minor)
            assertEquals("午饭", done.transaction!!.note)
            assertEquals(listOf("向新收款人付款 ¥10.00"), keys.signReasons)

            // The server verified the signature and moved the money once.
            w.sync.syncNow()
            assertEquals(1_000_000L - 10_00, w.cnyBalance().serverAvailable.minor)
        }
    }

    @Test
    fun `a transfer of CNY 2,000 or more needs confirmation even to a known payee`() = coroutineTest {
        val payer = Mock.newUser(cnyMinor = 1_000_000)
        val payee = Mock.newUser(cnyMinor = 0)
        TestWallet().use { w ->
            w.signIn(payer)
            w.payOnce(payee)
            val small = w.payments.transfer(PayeeInput.AccountId(payee.userId), cny(1_999_99), null)
            assertIs<PaymentOutcome.Completed>(small)

            val large = w.payments.transfer(PayeeInput.AccountId(payee.userId), cny(2_000_00), null)
            val waiting = assertIs<PaymentOutcome.ConfirmationRequired>(large)
            assertEquals(listOf("high_amount"), waiting.confirmation.reasons)
            assertIs<PaymentOutcome.Completed>(w.payments.confirmPayment(waiting.item.id, "Pay ¥2,000.00"))
        }
    }

    @Test
    fun `a declined prompt is a typed error and the payment keeps waiting for confirmation`() = coroutineTest {
        val payer = Mock.newUser()
        val payee = Mock.newUser(cnyMinor = 0)
        val keys = TestKeyStore()
        TestWallet(keyStore = keys).use { w ->
            w.signIn(payer)
            val waiting = assertIs<PaymentOutcome.ConfirmationRequired>(
                w.payments.transfer(PayeeInput.Phone(payee.phone), cny(88_00), null),
            )

            keys.userConfirms = false
            val declined = assertFailsWith<CoreException.Client> { w.payments.confirmPayment(waiting.item.id, "Pay ¥88.00") }
            assertEquals(ErrorCode.AUTHENTICATION_CANCELLED, declined.code)
            val item = w.payments.outbox(10u).single { it.id == waiting.item.id }
            assertEquals(OutboxState.QUEUED, item.state)
            assertTrue(item.confirmation != null, "still waiting for the user")

            keys.userConfirms = true
            assertIs<PaymentOutcome.Completed>(w.payments.confirmPayment(waiting.item.id, "Pay ¥88.00"))
            assertEquals(2, keys.signReasons.size)
        }
    }
}
