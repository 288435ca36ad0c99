package app.upay.walletkit.android

import android.content.Context
import android.net.ConnectivityManager
import android.net.Network
import android.os.Build
import app.upay.core.ClientConfig
import app.upay.core.DevicePlatform
import app.upay.core.KeyStore
import app.upay.core.Logger
import app.upay.core.WalletClient
import java.io.File
import java.security.SecureRandom
import java.util.TimeZone

/** Opening the core on Android: configuration from the platform, and connectivity reports. */
object AndroidWallet {
    /**
     * Opens the wallet client. Blocking (it opens the encrypted cache): call it off the main
     * thread, once per process.
     *
     * @param developerMode allows `http://` to this machine (the mock at `10.0.2.2` is not
     *   loopback for the core; use `adb reverse tcp:8080 tcp:8080` and `http://127.0.0.1:8080`).
     */
    fun open(
        context: Context,
        baseUrl: String,
        keyStore: KeyStore,
        developerMode: Boolean = false,
        extraCaPem: String? = null,
        spkiPins: List<String> = emptyList(),
        logger: Logger? = null,
    ): WalletClient = WalletClient(config(context, baseUrl, developerMode, extraCaPem, spkiPins), keyStore, logger)

    fun config(
        context: Context,
        baseUrl: String,
        developerMode: Boolean,
        extraCaPem: String?,
        spkiPins: List<String>,
    ): ClientConfig {
        // No-backup storage: the cache's key lives in this phone's Keystore, so a copy of the
        // cache restored elsewhere could never be opened, and a copied device id would make two
        // phones one device for the server.
        val root = File(context.noBackupFilesDir, "upay").apply { mkdirs() }
        val locale = context.resources.configuration.locales[0].toLanguageTag()
        return ClientConfig(
            baseUrl = baseUrl,
            dataDir = File(root, "wallet").path,
            locale = locale,
            deviceId = deviceId(File(root, "device-id")),
            deviceName = "${Build.MANUFACTURER} ${Build.MODEL}".trim().take(64).ifEmpty { "Android" },
            platform = DevicePlatform.ANDROID,
            developerMode = developerMode,
            spkiPins = spkiPins,
            extraCaPem = extraCaPem,
            utcOffsetMinutes = TimeZone.getDefault().getOffset(System.currentTimeMillis()) / 60_000,
            appLockAfterSecs = 300u,
        )
    }

    /**
     * Reports connectivity to the core until closed: regaining a network resumes the outbox at
     * once instead of at the next retry.
     */
    fun watchConnectivity(context: Context, client: WalletClient): AutoCloseable {
        val connectivity = context.getSystemService(ConnectivityManager::class.java)
        val callback = object : ConnectivityManager.NetworkCallback() {
            override fun onAvailable(network: Network) = client.networkChanged(true)

            override fun onLost(network: Network) = client.networkChanged(false)
        }
        connectivity.registerDefaultNetworkCallback(callback)
        return AutoCloseable { connectivity.unregisterNetworkCallback(callback) }
    }

    /** A random id made once per install (32 hex digits), as the core's config requires. */
    @Synchronized
    private fun deviceId(file: File): String {
        if (file.exists()) {
            val id = file.readText().trim()
            if (id.length in 8..64 && id.all { it.isLetterOrDigit() || it == '-' || it == '_' }) return id
        }
        val bytes = ByteArray(16).also(SecureRandom()::nextBytes)
        val id = bytes.joinToString("") { "%02x".format(it) }
        val tmp = File(file.path + ".tmp")
        tmp.writeText(id)
        check(tmp.renameTo(file)) { "cannot store the device id" }
        return id
    }
}
