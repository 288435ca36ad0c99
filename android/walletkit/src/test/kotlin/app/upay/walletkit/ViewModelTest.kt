package app.upay.walletkit

import app.upay.core.ErrorCode
import app.upay.core.PayeeInput
import app.upay.walletkit.support.Mock
import app.upay.walletkit.support.TestWallet
import app.upay.walletkit.support.cny
import app.upay.walletkit.support.coroutineTest
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancel
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.withTimeout
import kotlin.test.AfterTest
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertIs
import kotlin.test.assertTrue

/** The plain-Kotlin state holders the Compose screens render, driven by the real core. */
class ViewModelTest {
    private val scope = CoroutineScope(SupervisorJob() + Dispatchers.Default)

    @AfterTest
    fun stopScope() = scope.cancel()

    private suspend fun <T> StateFlow<T>.awaitState(predicate: (T) -> Boolean): T =
        withTimeout(10_000) { first(predicate) }

    @Test
    fun `the login state holder walks through the password and SMS steps`() = coroutineTest {
        val user = Mock.newUser()
        TestWallet().use { w ->
            val login = LoginViewModel(w.session, scope, client = w.client)
            assertEquals(LoginStep.Credentials, login.state.value.step)

            login.login(user.phone, "Wrong0000")
            val refused = login.state.awaitState { it.error != null }
            assertEquals(ErrorCode.INVALID_CREDENTIALS, refused.error!!.code)
            assertEquals(4, refused.error!!.attemptsRemaining)
            assertEquals(LoginStep.Credentials, refused.step)

            // "Another number" while a sign-in is on its way: the holder stays busy until it
            // ends, and its answer (here a refusal) is not shown.
            login.login(user.phone, "Wrong0000")
            login.restart()
            val restarted = login.state.awaitState { !it.busy }
            assertEquals(LoginStep.Credentials, restarted.step)
            kotlinx.coroutines.delay(300)
            assertEquals(null, login.state.value.error)

            login.login(user.phone, user.password)
            val code = login.state.awaitState { it.step is LoginStep.Code }
            assertTrue((code.step as LoginStep.Code).destination.endsWith(user.phone.takeLast(4)))

            login.submitCode(Mock.latestSmsCode(user.phone))
            val signedIn = login.state.awaitState { it.step is LoginStep.SignedIn }
            assertEquals(user.userId, (signedIn.step as LoginStep.SignedIn).profile.userId)
            assertEquals(null, signedIn.error)

            // Signed out elsewhere: the holder goes back to the password step.
            w.session.logout()
            login.state.awaitState { it.step == LoginStep.Credentials }
            login.close()
        }
    }

    @Test
    fun `the home state holder follows the core's events with one snapshot per change`() = coroutineTest {
        val user = Mock.newUser(cnyMinor = 150_000, transactions = 25)
        TestWallet().use { w ->
            w.signIn(user)
            HomeViewModel(w.client, scope).use { home ->
                home.state.awaitState { it.snapshot?.signedIn == true }

                home.refresh()
                val synced = home.state.awaitState { s ->
                    !s.refreshing && s.snapshot?.balances?.any { it.serverAvailable.minor == 150_000L } == true
                }
                assertEquals(20, synced.snapshot!!.recent.size)
                assertTrue(synced.snapshot!!.syncedAt > 0)

                // A change made elsewhere (the core's background sync, another screen) reaches
                // the state holder through the core's events.
                Mock.incomingTransfer(user.userId, 5_00)
                w.sync.syncNow()
                val updated = home.state.awaitState { s ->
                    s.snapshot?.balances?.any { it.serverAvailable.minor == 150_500L } == true
                }
                assertEquals(5_00L, updated.snapshot!!.recent.first().amount.minor)

                // Back from the background locked: the reason shows; unlocked, it goes away.
                w.session.lockApp()
                home.onForeground()
                home.state.awaitState { it.error?.code == ErrorCode.APP_LOCKED }
                w.session.unlockApp("解锁U钱包")
                home.onForeground()
                home.state.awaitState { it.error == null && it.snapshot?.signedIn == true }
            }
        }
    }

    @Test
    fun `the transfer state holder asks for confirmation and then completes`() = coroutineTest {
        val payer = Mock.newUser()
        val payee = Mock.newUser(cnyMinor = 0)
        TestWallet().use { w ->
            w.signIn(payer)
            val transfer = TransferViewModel(w.payments, scope, client = w.client)
            transfer.send(PayeeInput.AccountId(payee.userId), cny(-5), null)
            val invalid = transfer.state.awaitState { it.error != null }
            assertEquals(ErrorCode.INVALID_INPUT, invalid.error!!.code)
            assertEquals(TransferPhase.Editing, invalid.phase)

            transfer.send(PayeeInput.AccountId(payee.userId), cny(66_00), "房租")
            val first = transfer.state.awaitState { it.phase is TransferPhase.NeedsConfirmation }
            // Cancelled elsewhere (another screen, the outbox list): the holder follows.
            w.payments.cancel((first.phase as TransferPhase.NeedsConfirmation).item.id)
            transfer.state.awaitState { it.phase == TransferPhase.Editing }

            transfer.send(PayeeInput.AccountId(payee.userId), cny(66_00), "房租")
            val waiting = transfer.state.awaitState { it.phase is TransferPhase.NeedsConfirmation }
            assertEquals(listOf("new_payee"), (waiting.phase as TransferPhase.NeedsConfirmation).reasons)

            transfer.confirm("Pay ¥66.00")
            val done = transfer.state.awaitState { it.phase is TransferPhase.Done }
            assertEquals(-66_00L, assertIs<TransferPhase.Done>(done.phase).transaction!!.amount.minor)
            transfer.close()
        }
    }

    @Test
    fun `the history pager reads the cache page by page to the end`() = coroutineTest {
        val user = Mock.newUser(cnyMinor = 400_000, transactions = 249)
        TestWallet().use { w ->
            w.signIn(user)
            w.sync.syncNow()
            val pager = HistoryPager(w.history, scope, pageSize = 100)
            pager.reload()
            assertEquals(100, pager.state.awaitState { !it.loading && it.items.isNotEmpty() }.items.size)
            pager.loadMore()
            assertEquals(200, pager.state.awaitState { !it.loading && it.items.size > 100 }.items.size)
            pager.loadMore()
            val last = pager.state.awaitState { !it.loading && it.endReached }
            // 249 generated entries and the opening credit, newest first, none twice.
            assertEquals(250, last.items.size)
            assertEquals(250, last.items.map { it.id }.toSet().size)
            assertTrue(last.items.zipWithNext().all { (a, b) -> a.createdAt >= b.createdAt })

            pager.reload(HistoryPager.NO_FILTER.copy(minMinor = 40_000))
            val filtered = pager.state.awaitState { !it.loading && it.endReached }
            assertTrue(filtered.items.all { kotlin.math.abs(it.amount.minor) >= 40_000 })
        }
    }

    @Test
    fun `the payment-code state holder shows codes, announces a charge and turns off`() = coroutineTest {
        val user = Mock.newUser(cnyMinor = 300_00)
        TestWallet().use { w ->
            w.signIn(user)
            val live = w.client.startLiveEvents()
            PaycodeViewModel(w.client, scope).use { vm ->
                val off = vm.state.awaitState { it.info != null }
                assertEquals(false, off.info!!.enabled)
                assertEquals(null, off.code)

                vm.enable()
                val on = vm.state.awaitState { it.code != null }
                val code = on.code!!.code
                assertEquals(18, code.length)

                val (status, body) = Mock.redeemPaymentCode(code, 12_80, "kt-vm-${w.deviceId}")
                assertEquals(201, status, body)
                val charged = vm.state.awaitState { it.lastCharge != null }
                assertEquals(12_80L, charged.lastCharge!!.amount.minor)
                assertEquals("全家便利店", charged.lastCharge!!.merchantName)
                assertEquals(2_000_00L - 12_80, charged.info!!.remainingToday!!.minor)

                // Locked, the code leaves the screen with the reason; unlocked, it comes back.
                w.session.lockApp()
                vm.resume()
                val locked = vm.state.awaitState { it.error?.code == ErrorCode.APP_LOCKED }
                assertEquals(null, locked.code)
                w.session.unlockApp("解锁U钱包")
                vm.resume()
                val back = vm.state.awaitState { it.code != null && it.error == null }
                assertEquals(18, back.code!!.code.length)

                vm.disable()
                val disabled = vm.state.awaitState { !it.busy && it.info?.enabled == false }
                assertEquals(null, disabled.code)
            }
            live.stop()
            live.close()
        }
    }
}
