// Binding-overhead micro-benchmark: what a Kotlin call into the core costs through the
// generated uniffi bindings and JNA, against the mock with 1,000 seeded transactions.
// Run with bindings/scripts/bench-kotlin.sh (release build of the core); not part of the tests.
package app.upay.bench

import app.upay.core.ClientConfig
import app.upay.core.DevicePlatform
import app.upay.core.HistoryFilter
import app.upay.core.LoginResult
import app.upay.core.WalletClient
import app.upay.core.coreVersion
import app.upay.walletkit.HistoryPager
import app.upay.walletkit.SoftwareKeyStore
import com.sun.jna.Library
import com.sun.jna.Native
import kotlinx.coroutines.runBlocking
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.nio.file.Files
import kotlin.random.Random

private interface CLib : Library {
    fun getpid(): Int
}

private val mock = System.getenv("UPAY_MOCK_URL") ?: error("run with bindings/scripts/bench-kotlin.sh")
private val http = HttpClient.newHttpClient()

private fun post(path: String, body: String): String {
    val request = HttpRequest.newBuilder(URI(mock + path))
        .header("content-type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(body))
        .build()
    return http.send(request, HttpResponse.BodyHandlers.ofString()).body()
}

private fun get(path: String): String =
    http.send(HttpRequest.newBuilder(URI(mock + path)).build(), HttpResponse.BodyHandlers.ofString()).body()

/** One measured operation: the median and fastest of [batches] batch means, in µs per call. */
private class Result(val name: String, val medianUs: Double, val bestUs: Double, val records: Int) {
    val perRecordUs: Double? get() = if (records > 0) medianUs / records else null
}

private inline fun measure(name: String, records: Int, callsPerBatch: Int, batches: Int = 15, op: () -> Unit): Result {
    repeat(callsPerBatch * 3) { op() } // warm-up: JIT, JNA structures, SQLite page cache
    val means = DoubleArray(batches) {
        val start = System.nanoTime()
        repeat(callsPerBatch) { op() }
        (System.nanoTime() - start) / 1_000.0 / callsPerBatch
    }.sorted()
    return Result(name, means[batches / 2], means.first(), records)
}

fun main() {
    runBlocking { run() }
}

private suspend fun run() {
    val phone = "16" + (1..9).joinToString("") { Random.nextInt(10).toString() }
    // 997 generated entries plus one opening credit per currency: 1,000 in the history.
    post(
        "/__mock/seed",
        """{"user":{"phone":"$phone","password":"Bench1234","full_name":"Bench"},
           "balances":[{"minor":5000000,"currency":"CNY"},{"minor":10000,"currency":"USD"},{"minor":20000,"currency":"HKD"}],
           "transactions":997}""",
    )
    val dir = Files.createTempDirectory("upay-bench-").toFile()
    val config = ClientConfig(
        baseUrl = mock, dataDir = dir.path, locale = "zh-CN", deviceId = "bench-" + Random.nextLong(1L shl 40).toString(16),
        deviceName = "JVM bench", platform = DevicePlatform.ANDROID, developerMode = true, spkiPins = emptyList(),
        extraCaPem = null, utcOffsetMinutes = 480, appLockAfterSecs = 0u,
    )
    val client = WalletClient(config, SoftwareKeyStore(), null)
    val session = client.session()
    val history = client.history()
    val sync = client.sync()
    if (session.login(phone, "Bench1234") is LoginResult.CodeRequired) {
        val code = Regex(""""code"\s*:\s*"(\d{6})"""").findAll(get("/__mock/sms?phone=$phone")).last().groupValues[1]
        session.submitLoginCode(code)
    }
    sync.syncNow()
    val all: HistoryFilter = HistoryPager.NO_FILTER
    val cached = generateSequence(history.page(all, null, 100u)) { p -> p.nextCursor?.let { history.page(all, it, 100u) } }
        .sumOf { it.items.size }
    check(cached == 1_000) { "expected 1,000 cached transactions, found $cached" }
    val home = client.homeSnapshot()
    check(home.recent.size == 20 && home.balances.size == 3)

    val libc = Native.load("c", CLib::class.java)
    val results = listOf(
        measure("JNA baseline: libc getpid()", 0, 20_000) { libc.getpid() },
        measure("core_version()", 0, 20_000) { coreVersion() },
        measure("home_snapshot(): 3 balances + 20 newest", 20, 500) { client.homeSnapshot() },
        measure("history.page(50)", 50, 300) { history.page(all, null, 50u) },
        measure("history.page(100)", 100, 200) { history.page(all, null, 100u) },
        measure("1,000 transactions as 10 pages of 100", 1_000, 20) {
            var cursor: String? = null
            var n = 0
            do {
                val page = history.page(all, cursor, 100u)
                n += page.items.size
                cursor = page.nextCursor
            } while (cursor != null)
            check(n == 1_000)
        },
    )
    val jvm = "${System.getProperty("java.vm.name")} ${System.getProperty("java.version")}"
    println("uPay Kotlin binding benchmark: $jvm, JNA ${Native.VERSION}, core ${coreVersion()} (release)")
    println("median (best) of 15 batch means")
    println("%-44s %14s %10s %16s".format("call", "µs per call", "best", "µs per record"))
    for (r in results) {
        println("%-44s %14.2f %10.2f %16s".format(r.name, r.medianUs, r.bestUs, r.perRecordUs?.let { "%.3f".format(it) } ?: "-"))
    }
    val homeUs = results[2].medianUs
    val pageUs = results[3].medianUs
    println()
    println("QUALITY.md: one screen (home) in 1 call: %.0f µs (target ≤ 1,000 µs) %s".format(homeUs, if (homeUs <= 1_000) "ok" else "OVER"))
    println("QUALITY.md: a page of 50 transactions: %.0f µs (target ≤ 1,000 µs) %s".format(pageUs, if (pageUs <= 1_000) "ok" else "OVER"))

    listOf(sync, history, session, client).forEach(AutoCloseable::close)
    dir.deleteRecursively()
}
