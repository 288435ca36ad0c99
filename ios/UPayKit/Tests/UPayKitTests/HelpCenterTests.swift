import UPayCore
import UPayKit
import XCTest

/// The help center: the article bundle is downloaded once, then searched on the device.
final class HelpCenterTests: XCTestCase {
    func testHelpSearchAnswersInChineseAndEnglishOfflineOnceTheBundleIsCached() async throws {
        let network = try TCPProxy(upstreamPort: Mock.port)
        defer { network.close() }
        let w = try TestWallet(baseURL: network.url, locale: "zh-CN")
        let help = w.client.help()
        // Public: no sign-in needed.
        let zh = try await help.syncBundle(locale: nil)
        XCTAssertEqual(zh.locale, "zh-CN")
        XCTAssertGreaterThan(zh.articleCount, 10)
        let en = try await help.syncBundle(locale: "en")
        XCTAssertGreaterThan(en.articleCount, 10)
        // Unchanged bundles cost a 304 and keep the cache.
        let again = try await help.syncBundle(locale: nil)
        XCTAssertFalse(again.updated)

        network.goOffline()
        let hits = try help.search(question: "付款一直不成功怎么办", limit: 5, locale: nil)
        XCTAssertEqual(hits.first?.article.id, "payment-failed")
        XCTAssertTrue(zip(hits, hits.dropFirst()).allSatisfy { $0.score >= $1.score })
        let english = try help.search(question: "I was charged twice for one order", limit: 5, locale: "en")
        XCTAssertEqual(english.first?.article.id, "duplicate-charge")
        let article = try XCTUnwrap(try help.article(id: "duplicate-charge", locale: "en"))
        XCTAssertFalse(article.body.isEmpty)
        XCTAssertFalse(try help.suggest(partial: "转账限", limit: 5, locale: nil).isEmpty)
    }
}
