import Foundation
import UPayCore
import UPayKit
import XCTest

/// Product feedback with a screenshot, a staff reply seen after a refresh, and a survey answer.
final class FeedbackTests: XCTestCase {
    /// A 1×1 PNG.
    private let png: Data = {
        let hex = "89504e470d0a1a0a0000000d49484452000000010000000108000000003a7e9b550000000949444154789c"
            + "630000000100015eff7df90000000049454e44ae426082"
        var bytes = [UInt8]()
        var i = hex.startIndex
        while i < hex.endIndex {
            let j = hex.index(i, offsetBy: 2)
            bytes.append(UInt8(hex[i..<j], radix: 16)!)
            i = j
        }
        return Data(bytes)
    }()

    func testFeedbackWithAScreenshotIsFiledAnsweredByStaffAndASurveyIsAnsweredOnce() async throws {
        let user = try await Mock.newUser()
        let w = try TestWallet(locale: "zh-CN")
        try await w.signIn(user)
        let fb = w.client.feedback()

        let filed = try await fb.submit(category: .bug, text: "扫码页面偶尔卡住", screenshots: [png])
        XCTAssertEqual(filed.sendState, .sent)
        XCTAssertEqual(filed.status, .received)
        XCTAssertEqual(filed.screenshots, 1)
        XCTAssertNil(filed.errorCode)

        try await Mock.feedbackStatus(user.userId, feedbackId: filed.id, status: "planned", reply: "感谢反馈，下个版本修复。")
        let refreshed = try await fb.refresh()
        let mine = try XCTUnwrap(refreshed.first { $0.id == filed.id })
        XCTAssertEqual(mine.status, .planned)
        XCTAssertEqual(mine.replies.last?.text, "感谢反馈，下个版本修复。")
        // The same item from the cache, without the network.
        XCTAssertEqual(try fb.list().first { $0.id == filed.id }, mine)

        let surveys = try await fb.surveys()
        let survey = try XCTUnwrap(surveys.first)
        let answers = survey.questions.map { q -> SurveyAnswerInput in
            switch q.kind {
            case .rating: return SurveyAnswerInput(questionId: q.id, value: 5, text: nil)
            case .scale: return SurveyAnswerInput(questionId: q.id, value: 10, text: nil)
            case .choice: return SurveyAnswerInput(questionId: q.id, value: 0, text: nil)
            case .text: return SurveyAnswerInput(questionId: q.id, value: nil, text: "更多商户")
            }
        }
        let receipt = try await fb.answerSurvey(surveyId: survey.id, answers: answers)
        XCTAssertEqual(receipt.surveyId, survey.id)
        let left = try await fb.surveys()
        XCTAssertFalse(left.contains { $0.id == survey.id })
    }
}
