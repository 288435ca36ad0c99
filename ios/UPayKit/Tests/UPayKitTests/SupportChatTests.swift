import Foundation
import UPayCore
import UPayKit
import XCTest

/// Support chat: a message goes out, the bot and then a human agent answer over the live socket.
final class SupportChatTests: XCTestCase {
    func testAChatMessageRoundTripWithABotAnswerAndAnAgentReplyOverTheLiveSocket() async throws {
        let user = try await Mock.newUser()
        let w = try TestWallet(locale: "zh-CN")
        try await w.signIn(user)
        let chat = w.client.chat()
        let conversation = try await chat.open()
        XCTAssertEqual(conversation.status, .bot)

        // Online, the local echo comes back as the server's copy, and the bot answers it.
        let question = try await chat.sendText(text: "提现多久到账？")
        XCTAssertEqual(question.state, .sent)
        let asked = try XCTUnwrap(question.seq)
        XCTAssertTrue(try chat.messages(limit: 50).contains { $0.sender == .bot && $0.inReplyTo == asked })

        let updates = ChatUpdates()
        let live = chat.live(listener: updates)
        defer { live.stop() }
        _ = try await chat.sendText(text: "转人工")
        try await until("the live socket to connect") { updates.all.contains { $0.connected } }
        try await Mock.agentReply(conversation.id, text: "您好，我是小美，请问有什么可以帮您？")
        try await until("the agent's reply") {
            updates.all.contains { $0.newMessages.contains { $0.sender == .agent } }
        }
        live.stop()

        let replies = updates.all.flatMap(\.newMessages).filter { $0.sender == .agent }
        XCTAssertEqual(replies.count, 1)
        XCTAssertEqual(replies.first?.text, "您好，我是小美，请问有什么可以帮您？")
        XCTAssertEqual(replies.first?.senderName, "小美")

        // The conversation in the cache: ordered by the server's seq, the agent's last.
        let stored = try chat.messages(limit: 50)
        let seqs = stored.compactMap(\.seq)
        XCTAssertEqual(seqs, seqs.sorted())
        XCTAssertEqual(stored.last?.localId, replies.first?.localId)
        XCTAssertEqual(try chat.conversation()?.status, .assigned)
    }
}

/// A `ChatListener` in Swift: only records, as listeners must not call back into the core.
private final class ChatUpdates: ChatListener, @unchecked Sendable {
    private let lock = NSLock()
    private var updates: [ChatUpdate] = []

    var all: [ChatUpdate] { lock.synchronized { updates } }

    func onChatUpdate(update: ChatUpdate) {
        lock.synchronized { updates.append(update) }
    }
}
