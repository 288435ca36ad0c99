package app.upay.walletkit

import app.upay.core.FeedbackCategory
import app.upay.core.FeedbackSendState
import app.upay.core.FeedbackStatus
import app.upay.core.SurveyAnswerInput
import app.upay.core.SurveyQuestionKindView
import app.upay.walletkit.support.Mock
import app.upay.walletkit.support.TestWallet
import app.upay.walletkit.support.coroutineTest
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertNull
import kotlin.test.assertTrue

/** Product feedback with a screenshot, a staff reply seen after a refresh, and a survey answer. */
class FeedbackTest {
    private val png = (
        "89504e470d0a1a0a0000000d49484452000000010000000108000000003a7e9b550000000949444154789c" +
            "630000000100015eff7df90000000049454e44ae426082"
        ).chunked(2).map { it.toInt(16).toByte() }.toByteArray()

    @Test
    fun `feedback with a screenshot is filed, answered by staff, and a survey is answered once`() = coroutineTest {
        val user = Mock.newUser()
        TestWallet(locale = "zh-CN").use { w ->
            w.signIn(user)
            w.client.feedback().use { fb ->
                val filed = fb.submit(FeedbackCategory.BUG, "扫码页面偶尔卡住", listOf(png))
                assertEquals(FeedbackSendState.SENT, filed.sendState)
                assertEquals(FeedbackStatus.RECEIVED, filed.status)
                assertEquals(1u, filed.screenshots)
                assertNull(filed.errorCode)

                Mock.feedbackStatus(user.userId, filed.id, "planned", "感谢反馈，下个版本修复。")
                val mine = fb.refresh().single { it.id == filed.id }
                assertEquals(FeedbackStatus.PLANNED, mine.status)
                assertEquals("感谢反馈，下个版本修复。", mine.replies.last().text)
                // The same list from the cache, without the network.
                assertEquals(mine, fb.list().single { it.id == filed.id })

                val survey = fb.surveys().first()
                val answers = survey.questions.map { q ->
                    when (q.kind) {
                        SurveyQuestionKindView.RATING -> SurveyAnswerInput(q.id, 5u, null)
                        SurveyQuestionKindView.SCALE -> SurveyAnswerInput(q.id, 10u, null)
                        SurveyQuestionKindView.CHOICE -> SurveyAnswerInput(q.id, 0u, null)
                        SurveyQuestionKindView.TEXT -> SurveyAnswerInput(q.id, null, "更多商户")
                    }
                }
                assertEquals(survey.id, fb.answerSurvey(survey.id, answers).surveyId)
                assertTrue(fb.surveys().none { it.id == survey.id })
            }
        }
    }
}
