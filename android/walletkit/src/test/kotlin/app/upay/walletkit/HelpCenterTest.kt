package app.upay.walletkit

import app.upay.walletkit.support.Mock
import app.upay.walletkit.support.TcpProxy
import app.upay.walletkit.support.TestWallet
import app.upay.walletkit.support.coroutineTest
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertTrue

/** The help center: the article bundle is downloaded once, then searched on the device. */
class HelpCenterTest {
    @Test
    fun `help search answers in Chinese and English, offline once the bundle is cached`() = coroutineTest {
        TcpProxy(Mock.port).use { network ->
            TestWallet(baseUrl = network.url, locale = "zh-CN").use { w ->
                w.client.help().use { help ->
                    // Public: no sign-in needed.
                    val zh = help.syncBundle(null)
                    assertEquals("zh-CN", zh.locale)
                    assertTrue(zh.articleCount > 10u)
                    val en = help.syncBundle("en")
                    assertTrue(en.articleCount > 10u)
                    // Unchanged bundles cost a 304 and keep the cache.
                    assertFalse(help.syncBundle(null).updated)

                    network.goOffline()
                    val hits = help.search("付款一直不成功怎么办", 5u, null)
                    assertEquals("payment-failed", hits.first().article.id)
                    assertTrue(hits.zipWithNext().all { (a, b) -> a.score >= b.score })
                    val english = help.search("I was charged twice for one order", 5u, "en")
                    assertEquals("duplicate-charge", english.first().article.id)
                    val article = help.article(english.first().article.id, "en")!!
                    assertTrue(article.body.isNotBlank())
                    assertTrue(help.suggest("转账限", 5u, null).isNotEmpty())
                }
            }
        }
    }
}
