package app.upay.walletkit.support

import app.upay.core.Amount
import app.upay.core.ClientConfig
import app.upay.core.DevicePlatform
import app.upay.core.KeyStore
import app.upay.core.LoginResult
import app.upay.core.PayeeInput
import app.upay.core.PaymentOutcome
import app.upay.core.Profile
import app.upay.core.WalletClient
import app.upay.walletkit.SoftwareKeyStore
import java.io.File
import java.nio.file.Files
import java.security.SecureRandom
import kotlin.test.assertIs

/**
 * One device: a wallet client with its own cache directory and device id, over [baseUrl]
 * (the mock, or a [TcpProxy] in front of it). Closing releases every handle and, unless
 * [keepData], deletes the cache.
 */
class TestWallet(
    baseUrl: String = Mock.url,
    val keyStore: KeyStore = SoftwareKeyStore(),
    locale: String = "en",
    val dataDir: File = Files.createTempDirectory("upay-kt-").toFile(),
    val deviceId: String = newDeviceId(),
    private val keepData: Boolean = false,
) : AutoCloseable {
    val config = ClientConfig(
        baseUrl = baseUrl,
        dataDir = dataDir.path,
        locale = locale,
        deviceId = deviceId,
        deviceName = "JVM test device",
        platform = DevicePlatform.ANDROID,
        developerMode = true,
        spkiPins = emptyList(),
        extraCaPem = null,
        utcOffsetMinutes = 8 * 60,
        appLockAfterSecs = 0u,
    )
    val client = WalletClient(config, keyStore, null).also { DebugLog.install() }
    val session = client.session()
    val payments = client.payments()
    val history = client.history()
    val sync = client.sync()

    /** Signs in as [user], answering the SMS step with the code from the mock's outbox. */
    suspend fun signIn(user: TestUser): Profile =
        when (val first = session.login(user.phone, user.password)) {
            is LoginResult.SignedIn -> first.profile
            is LoginResult.CodeRequired -> session.submitLoginCode(Mock.latestSmsCode(user.phone))
        }

    /** A confirmed transfer to [payee], so later small transfers to them need no confirmation. */
    suspend fun payOnce(payee: TestUser, minor: Long = 100) {
        val outcome = payments.transfer(PayeeInput.AccountId(payee.userId), cny(minor), null)
        val waiting = assertIs<PaymentOutcome.ConfirmationRequired>(outcome)
        assertIs<PaymentOutcome.Completed>(payments.confirmPayment(waiting.item.id, "Confirm the payment"))
    }

    /** The CNY balance as the home screen shows it. */
    fun cnyBalance() = client.homeSnapshot().balances.single { it.currency == "CNY" }

    override fun close() {
        listOf(sync, history, payments, session, client).forEach(AutoCloseable::close)
        if (!keepData) dataDir.deleteRecursively()
    }

    companion object {
        private val random = SecureRandom()

        fun newDeviceId(): String = "kt-" + (1..16).joinToString("") { "%x".format(random.nextInt(16)) }
    }
}

fun cny(minor: Long) = Amount(minor, "CNY")

/** `UPAY_TEST_LOG=1` prints the core's log records (debug and above) while the suite runs. */
object DebugLog {
    private val enabled = System.getenv("UPAY_TEST_LOG") != null
    private var installed = false

    @Synchronized
    fun install() {
        if (!enabled || installed) return
        installed = true
        app.upay.core.setLogger(
            object : app.upay.core.Logger {
                override fun log(record: app.upay.core.LogRecord) =
                    System.err.println("[core ${record.level}] ${record.target}: ${record.message}")
            },
            app.upay.core.LogLevel.DEBUG,
        )
    }
}
