package app.upay.walletkit.support

import java.io.IOException
import java.io.InputStream
import java.io.OutputStream
import java.net.InetAddress
import java.net.InetSocketAddress
import java.net.ServerSocket
import java.net.Socket
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger
import java.util.concurrent.locks.ReentrantLock
import kotlinx.coroutines.delay
import kotlin.concurrent.thread
import kotlin.concurrent.withLock

/**
 * A loopback TCP proxy in front of the mock that one test owns, so it can cut the network or
 * hold answers without touching the mock's shared state:
 *
 * - [goOffline] stops listening and cuts every connection (connections are refused: the core
 *   sees "not sent"); [goOnline] listens again on the same port.
 * - [holdResponses] lets requests to one path reach the mock but holds their answers: the call
 *   is in flight from the client's point of view, with the server's work already done. Other
 *   requests (the core's background sync) pass, so they cannot be mistaken for the test's call.
 */
class TcpProxy(private val upstreamPort: Int) : AutoCloseable {
    private val loopback = InetAddress.getLoopbackAddress()
    private val links = ConcurrentHashMap.newKeySet<Link>()
    private val gate = ReentrantLock()
    private val gateChanged = gate.newCondition()
    private val held = AtomicInteger()
    private val abandoned = AtomicInteger()
    @Volatile private var holding = false
    @Volatile private var holdPath = ""
    @Volatile private var lastRequestAt = System.nanoTime()
    @Volatile private var server: ServerSocket? = listen(0)
    val port: Int = server!!.localPort
    val url = "http://127.0.0.1:$port"

    init {
        accept(server!!)
    }

    /** Open client connections. */
    val openLinks: Int get() = links.size

    /** Answers waiting at the gate. */
    val heldResponses: Int get() = held.get()

    /** Connections closed while their answer was held: calls the client gave up. */
    val abandonedCalls: Int get() = abandoned.get()

    /**
     * Waits until no request has passed for [quietMs]: the core's background worker (woken by
     * the test's earlier calls) has finished its rounds and sleeps until something wakes it.
     */
    suspend fun awaitIdle(quietMs: Long = 500, timeoutMs: Long = 10_000) {
        val deadline = System.nanoTime() + timeoutMs * 1_000_000
        while (System.nanoTime() - lastRequestAt < quietMs * 1_000_000) {
            check(System.nanoTime() < deadline) { "the client kept sending requests" }
            delay(20)
        }
    }

    override fun toString() = "TcpProxy(open=$openLinks, held=$heldResponses, abandoned=$abandonedCalls)"

    @Synchronized
    fun goOffline() {
        server?.close()
        server = null
        links.forEach(Link::close)
    }

    @Synchronized
    fun goOnline() {
        if (server == null) server = listen(port).also(::accept)
    }

    /** Holds the answers to requests whose path starts with [pathPrefix]. */
    fun holdResponses(pathPrefix: String) {
        holdPath = pathPrefix
        holding = true
    }

    fun releaseResponses() = gate.withLock {
        holding = false
        gateChanged.signalAll()
    }

    override fun close() {
        releaseResponses()
        goOffline()
    }

    private fun listen(port: Int) = ServerSocket().apply {
        reuseAddress = true
        bind(InetSocketAddress(loopback, port), 64)
    }

    private fun accept(socket: ServerSocket) = thread(isDaemon = true, name = "proxy-accept") {
        while (true) {
            val client = try {
                socket.accept()
            } catch (e: IOException) {
                return@thread
            }
            try {
                Link(client, Socket(loopback, upstreamPort)).start()
            } catch (e: IOException) {
                client.close()
            }
        }
    }

    private inner class Link(private val client: Socket, private val upstream: Socket) {
        @Volatile private var closed = false
        /** The path of the request in flight on this connection (HTTP/1.1: one at a time). */
        @Volatile private var path = ""

        fun start() {
            links += this
            thread(isDaemon = true, name = "proxy-up") { pump(client.getInputStream(), upstream.getOutputStream(), false) }
            thread(isDaemon = true, name = "proxy-down") { pump(upstream.getInputStream(), client.getOutputStream(), true) }
        }

        private fun pump(from: InputStream, to: OutputStream, answers: Boolean) {
            val buffer = ByteArray(16 * 1024)
            try {
                while (!closed) {
                    val n = from.read(buffer)
                    if (n < 0) break
                    if (answers) awaitGate() else noteRequest(buffer, n)
                    if (closed) break
                    to.write(buffer, 0, n)
                    to.flush()
                }
            } catch (e: IOException) {
                // The other side went away: close both.
            } finally {
                close()
            }
        }

        private fun noteRequest(buffer: ByteArray, n: Int) {
            val line = String(buffer, 0, minOf(n, 512), Charsets.ISO_8859_1).substringBefore("\r\n")
            REQUEST_LINE.matchEntire(line)?.let {
                path = it.groupValues[1]
                lastRequestAt = System.nanoTime()
            }
        }

        private fun awaitGate() {
            gate.withLock {
                if (!holding || !path.startsWith(holdPath)) return
                held.incrementAndGet()
                try {
                    while (holding && !closed) gateChanged.await(20, TimeUnit.MILLISECONDS)
                } finally {
                    held.decrementAndGet()
                }
            }
            // Closed while its answer was held: the client gave the call up.
            if (closed) abandoned.incrementAndGet()
        }

        fun close() {
            synchronized(this) {
                if (closed) return
                closed = true
            }
            links -= this
            runCatching { client.close() }
            runCatching { upstream.close() }
            gate.withLock { gateChanged.signalAll() }
        }
    }

    private companion object {
        val REQUEST_LINE = Regex("""(?:GET|POST|PUT|PATCH|DELETE) (\S+) HTTP/1\.1""")
    }
}
