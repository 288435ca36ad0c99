package app.upay.walletkit

import app.upay.core.CoreException
import app.upay.core.ErrorCode
import app.upay.core.OutboxState
import app.upay.core.PaymentOutcome
import app.upay.walletkit.support.Mock
import app.upay.walletkit.support.TestWallet
import app.upay.walletkit.support.cny
import app.upay.walletkit.support.coroutineTest
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertIs
import kotlin.test.assertNotNull
import kotlin.test.assertTrue

/** The in-store payment code and savings, driven from Kotlin over the real core and mock. */
class PaycodeSavingsTest {
    @Test
    fun `a payment code shown by the core pays once at the till and the payment syncs`() = coroutineTest {
        val user = Mock.newUser(cnyMinor = 500_00)
        TestWallet().use { w ->
            w.signIn(user)
            val paycode = w.client.paycode()
            val off = assertFailsWith<CoreException.Client> { paycode.currentCode() }
            assertEquals(ErrorCode.PAYCODE_NOT_ENABLED, off.code)

            val info = paycode.enable()
            assertTrue(info.enabled)
            assertEquals(1_000_00L, info.perCodeLimit!!.minor)
            val shown = paycode.currentCode()
            assertEquals(18, shown.code.length)
            assertTrue(shown.code.startsWith("28"))
            assertEquals(shown.code, shown.display.replace(" ", ""))
            assertTrue(shown.refreshInSecs in 1u..60u)

            val (paid, receipt) = Mock.redeemPaymentCode(shown.code, 23_50, "kt-till-${w.deviceId}-1")
            assertEquals(201, paid, receipt)
            val (again, refusal) = Mock.redeemPaymentCode(shown.code, 23_50, "kt-till-${w.deviceId}-2")
            assertEquals(409, again)
            assertTrue("paycode_used" in refusal, refusal)

            w.sync.syncNow()
            assertEquals(500_00L - 23_50, w.cnyBalance().displayed.minor)
            assertEquals(2_000_00L - 23_50, paycode.status().remainingToday!!.minor)

            // Signing out forgets the secret; the server stops accepting its codes.
            w.session.logout()
            val (revoked, body) = Mock.redeemPaymentCode(shown.code, 1_00, "kt-till-${w.deviceId}-3")
            assertEquals(422, revoked, body)
            paycode.close()
        }
    }

    @Test
    fun `savings moves queue through the outbox and the overview is cached`() = coroutineTest {
        val user = Mock.newUser(cnyMinor = 1_000_00)
        TestWallet().use { w ->
            w.signIn(user)
            val savings = w.client.savings()
            val first = savings.refresh()
            assertFalse(first.fromCache)
            val cnyBefore = first.accounts.single { it.currency == "CNY" }
            assertTrue(cnyBefore.annualRatePercent.isNotEmpty())

            val moved = assertIs<PaymentOutcome.Completed>(savings.deposit(cny(300_00)))
            assertEquals(OutboxState.SETTLED, moved.item.state)
            val cached = assertNotNull(savings.cached())
            assertEquals(cnyBefore.balance.minor + 300_00, cached.accounts.single { it.currency == "CNY" }.balance.minor)
            assertEquals(1_000_00L - 300_00, w.cnyBalance().displayed.minor)

            assertIs<PaymentOutcome.Completed>(savings.withdraw(cny(100_00)))
            val after = savings.refresh().accounts.single { it.currency == "CNY" }
            assertEquals(cnyBefore.balance.minor + 200_00, after.balance.minor)
            w.sync.syncNow()
            assertEquals(1_000_00L - 200_00, w.cnyBalance().displayed.minor)

            val bad = assertFailsWith<CoreException.Client> { savings.deposit(cny(-5)) }
            assertEquals(ErrorCode.INVALID_INPUT, bad.code)
            savings.close()
        }
    }
}
