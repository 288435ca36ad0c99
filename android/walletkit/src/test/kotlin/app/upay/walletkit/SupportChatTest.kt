package app.upay.walletkit

import app.upay.core.ChatListener
import app.upay.core.ChatMessageState
import app.upay.core.ChatSender
import app.upay.core.ChatStatus
import app.upay.core.ChatUpdate
import app.upay.walletkit.support.Mock
import app.upay.walletkit.support.TestWallet
import app.upay.walletkit.support.awaitUntil
import app.upay.walletkit.support.coroutineTest
import java.util.concurrent.CopyOnWriteArrayList
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertTrue

/** Support chat: a message goes out, the bot and then a human agent answer over the live socket. */
class SupportChatTest {
    @Test
    fun `a chat message round trip with a bot answer and an agent reply over the live socket`() = coroutineTest {
        val user = Mock.newUser()
        TestWallet(locale = "zh-CN").use { w ->
            w.signIn(user)
            w.client.chat().use { chat ->
                val conversation = chat.open()
                assertEquals(ChatStatus.BOT, conversation.status)

                // Online, the local echo comes back as the server's copy, and the bot answers it.
                val question = chat.sendText("提现多久到账？")
                assertEquals(ChatMessageState.SENT, question.state)
                val asked = question.seq!!
                assertTrue(chat.messages(50u).any { it.sender == ChatSender.BOT && it.inReplyTo == asked })

                val updates = CopyOnWriteArrayList<ChatUpdate>()
                val live = chat.live(
                    object : ChatListener {
                        override fun onChatUpdate(update: ChatUpdate) {
                            updates += update
                        }
                    },
                )
                try {
                    chat.sendText("转人工")
                    awaitUntil(what = "the live socket to connect") { updates.any { it.connected } }
                    Mock.agentReply(conversation.id, "您好，我是小美，请问有什么可以帮您？")
                    awaitUntil(what = "the agent's reply") {
                        updates.any { u -> u.newMessages.any { it.sender == ChatSender.AGENT } }
                    }
                } finally {
                    live.stop()
                    live.close()
                }
                val reply = updates.flatMap { it.newMessages }.single { it.sender == ChatSender.AGENT }
                assertEquals("您好，我是小美，请问有什么可以帮您？", reply.text)
                assertEquals("小美", reply.senderName)

                // The conversation in the cache: ordered by the server's seq, the agent's last.
                val stored = chat.messages(50u)
                val seqs = stored.mapNotNull { it.seq }
                assertEquals(seqs.sorted(), seqs)
                assertEquals(reply.localId, stored.last().localId)
                assertEquals(ChatStatus.ASSIGNED, chat.conversation()!!.status)
            }
        }
    }
}
