import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A loopback TCP proxy in front of the mock that one test owns, so it can cut the network or
/// hold answers without touching the mock's shared state:
///
/// - `goOffline()` stops listening and cuts every connection (connections are refused: the core
///   sees "not sent"); `goOnline()` listens again on the same port.
/// - `holdResponses(path:)` lets requests to one path reach the mock but holds their answers:
///   the call is in flight from the client's point of view, with the server's work done. Other
///   requests (the core's background sync) pass, so they cannot be mistaken for the test's call.
final class TCPProxy: @unchecked Sendable, CustomStringConvertible {
    private let upstreamPort: UInt16
    private(set) var port: UInt16 = 0
    private let state = NSCondition()
    private var listener: Int32 = -1
    private var links: [ObjectIdentifier: Link] = [:]
    private var holding = false
    private var holdPath = ""
    private var held = 0
    private var abandoned = 0
    private var lastRequestAt = Date()

    var url: String { "http://127.0.0.1:\(port)" }

    init(upstreamPort: UInt16) throws {
        self.upstreamPort = upstreamPort
        listener = try Self.listen(port: 0)
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        port = UInt16(bigEndian: address.sin_port)
        accept(on: listener)
    }

    deinit { close() }

    var openLinks: Int { state.synchronized { links.count } }
    /// Answers waiting at the gate.
    var heldResponses: Int { state.synchronized { held } }
    /// Connections closed while their answer was held: calls the client gave up.
    var abandonedCalls: Int { state.synchronized { abandoned } }
    var description: String { "TCPProxy(open=\(openLinks), held=\(heldResponses), abandoned=\(abandonedCalls))" }

    /// Waits until no request has passed for `quiet` seconds: the core's background worker
    /// (woken by the test's earlier calls) has finished its rounds and sleeps until woken.
    func awaitIdle(quiet: TimeInterval = 0.5, timeout: TimeInterval = 10) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date().timeIntervalSince(state.synchronized { lastRequestAt }) < quiet {
            guard Date() < deadline else { throw MockError(description: "the client kept sending requests") }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
    }

    fileprivate func noteRequest() {
        state.synchronized { lastRequestAt = Date() }
    }

    func goOffline() {
        let (fd, open): (Int32, [Link]) = state.synchronized {
            defer { listener = -1 }
            return (listener, Array(links.values))
        }
        if fd >= 0 {
            // shutdown wakes the thread blocked in accept(); close alone does not on Linux.
            shutdown(fd, Int32(SHUT_RDWR))
            Glibc_close(fd)
        }
        open.forEach { $0.cut() }
    }

    func goOnline() throws {
        let fd = try Self.listen(port: port)
        state.synchronized { listener = fd }
        accept(on: fd)
    }

    func holdResponses(path: String) {
        state.synchronized {
            holdPath = path
            holding = true
        }
    }

    func releaseResponses() {
        state.synchronized {
            holding = false
            state.broadcast()
        }
    }

    func close() {
        releaseResponses()
        goOffline()
    }

    // MARK: - Sockets

    private static func listen(port: UInt16) throws -> Int32 {
        let fd = socket(AF_INET, streamType, 0)
        guard fd >= 0 else { throw MockError(description: "socket failed") }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = loopback(port)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, Glibc_listen(fd, 64) == 0 else {
            Glibc_close(fd)
            throw MockError(description: "cannot listen on port \(port)")
        }
        return fd
    }

    private static func connectUpstream(_ port: UInt16) -> Int32? {
        let fd = socket(AF_INET, streamType, 0)
        guard fd >= 0 else { return nil }
        var address = loopback(port)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            Glibc_close(fd)
            return nil
        }
        return fd
    }

    private static func loopback(_ port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = in_addr_t(0x7F00_0001).bigEndian
        return address
    }

    private func accept(on fd: Int32) {
        let thread = Thread { [weak self] in
            while true {
                let client = Glibc_accept(fd)
                guard client >= 0 else { return }
                guard let self, let upstream = Self.connectUpstream(self.upstreamPort) else {
                    Glibc_close(client)
                    continue
                }
                let link = Link(proxy: self, client: client, upstream: upstream)
                self.state.synchronized { self.links[ObjectIdentifier(link)] = link }
                link.start()
            }
        }
        thread.start()
    }

    /// Called by a link's answer pump before it forwards `path`'s answer.
    fileprivate func awaitGate(for link: Link, path: String) {
        state.synchronized {
            guard holding, path.hasPrefix(holdPath) else { return }
            held += 1
            while holding && !link.isCut { _ = state.wait(until: Date().addingTimeInterval(0.02)) }
            held -= 1
            // Cut while its answer was held: the client gave the call up.
            if link.isCut { abandoned += 1 }
        }
    }

    fileprivate func remove(_ link: Link) {
        state.synchronized {
            links[ObjectIdentifier(link)] = nil
            state.broadcast()
        }
    }

    /// One client connection and its connection to the mock, pumped by two threads.
    fileprivate final class Link: @unchecked Sendable {
        private let proxy: TCPProxy
        private let client: Int32
        private let upstream: Int32
        private let lock = NSLock()
        private var closed = false
        private var pumpsRunning = 2
        /// The path of the request in flight on this connection (HTTP/1.1: one at a time).
        private var path = ""

        init(proxy: TCPProxy, client: Int32, upstream: Int32) {
            self.proxy = proxy
            self.client = client
            self.upstream = upstream
        }

        var isCut: Bool { lock.synchronized { closed } }

        func start() {
            Thread { self.pump(from: self.client, to: self.upstream, answers: false) }.start()
            Thread { self.pump(from: self.upstream, to: self.client, answers: true) }.start()
        }

        /// The path of an HTTP/1.1 request line at the start of `bytes`, if there is one.
        private static func requestPath(_ bytes: ArraySlice<UInt8>) -> String? {
            guard let end = bytes.firstIndex(of: UInt8(ascii: "\r")) else { return nil }
            let parts = bytes[bytes.startIndex..<end].split(separator: UInt8(ascii: " "))
            guard parts.count == 3, Array(parts[2]) == Array("HTTP/1.1".utf8) else { return nil }
            return String(decoding: parts[1], as: UTF8.self)
        }

        /// Ends both directions; the file descriptors are closed by the last pump to stop, so
        /// no thread ever reads a descriptor number that was reused.
        func cut() {
            let first: Bool = lock.synchronized {
                defer { closed = true }
                return !closed
            }
            guard first else { return }
            shutdown(client, Int32(SHUT_RDWR))
            shutdown(upstream, Int32(SHUT_RDWR))
            proxy.remove(self)
        }

        private func pump(from source: Int32, to sink: Int32, answers: Bool) {
            var buffer = [UInt8](repeating: 0, count: 16 * 1024)
            loop: while !isCut {
                let n = buffer.withUnsafeMutableBytes { recv(source, $0.baseAddress, $0.count, 0) }
                if n <= 0 { break }
                if answers {
                    proxy.awaitGate(for: self, path: lock.synchronized { path })
                } else if let requested = Self.requestPath(buffer[0..<n]) {
                    lock.synchronized { path = requested }
                    proxy.noteRequest()
                }
                if isCut { break }
                var sent = 0
                while sent < n {
                    let m = buffer.withUnsafeBytes { send(sink, $0.baseAddress! + sent, n - sent, Int32(MSG_NOSIGNAL)) }
                    if m <= 0 { break loop }
                    sent += m
                }
            }
            cut()
            let last: Bool = lock.synchronized {
                pumpsRunning -= 1
                return pumpsRunning == 0
            }
            if last {
                Glibc_close(client)
                Glibc_close(upstream)
            }
        }
    }
}

private let streamType: Int32 = {
    #if canImport(Glibc)
    return Int32(SOCK_STREAM.rawValue)
    #else
    return SOCK_STREAM
    #endif
}()

// The socket functions whose names clash with methods of this file.
private func Glibc_close(_ fd: Int32) { _ = close(fd) }
private func Glibc_listen(_ fd: Int32, _ backlog: Int32) -> Int32 { listen(fd, backlog) }
private func Glibc_accept(_ fd: Int32) -> Int32 { accept(fd, nil, nil) }
