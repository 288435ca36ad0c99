//! The help center (articles, categories, the offline bundle with ETag, search, suggestions) and
//! the FAQ bot answering the seeds' common questions in both languages.

mod common;
mod support_kit;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use support_kit::*;

/// (language, question, expected article, expected handoff). The questions are the ones the
/// product articles (shared/seeds) say users ask, phrased as users type them.
const BOT_TABLE: &[(&str, &str, &str, Option<&str>)] = &[
    ("zh-CN", "支付失败了怎么办？", "payment-failed", None),
    ("zh-CN", "为什么我付款一直不成功", "payment-failed", None),
    ("zh-CN", "转账怎么操作", "transfer-how", None),
    ("zh-CN", "如何进行资金转账", "transfer-how", None),
    ("zh-CN", "忘记密码了怎么找回", "password-reset", None),
    (
        "zh-CN",
        "账户被锁定了怎么办",
        "account-locked",
        Some("sensitive_topic"),
    ),
    ("zh-CN", "怎么充值", "topup-how", None),
    ("zh-CN", "提现多久到账", "withdraw-how", None),
    ("zh-CN", "提现失败了，钱退回来了吗", "withdraw-failed", None),
    ("zh-CN", "如何保护账户安全", "security-tips", None),
    ("zh-CN", "APP闪退怎么办", "app-crash", None),
    (
        "zh-CN",
        "U钱包支持哪些国家和地区",
        "international-countries",
        None,
    ),
    ("zh-CN", "货币转换要收手续费吗", "international-fx", None),
    ("zh-CN", "客服电话是多少", "contact-support", None),
    ("zh-CN", "收不到短信验证码", "sms-code", None),
    ("zh-CN", "账户登录失败", "login-failed", None),
    ("zh-CN", "怎么开启双重认证", "security-tips", None),
    (
        "zh-CN",
        "商户不支持U钱包怎么办",
        "merchant-not-supported",
        None,
    ),
    ("zh-CN", "怎么提交产品反馈", "feedback", None),
    ("zh-CN", "怎样保存和客服的聊天记录", "chat-transcript", None),
    ("zh-CN", "有没有视频教程", "tutorials-community", None),
    ("zh-CN", "系统维护公告在哪看", "announcements", None),
    (
        "zh-CN",
        "没网的时候能用付款码吗",
        "payment-code-offline",
        None,
    ),
    ("zh-CN", "理财收益怎么算", "savings", None),
    ("zh-CN", "怎么设置账单支付提醒", "bills", None),
    (
        "zh-CN",
        "发现一笔不是我本人操作的交易",
        "suspicious-transaction",
        Some("sensitive_topic"),
    ),
    ("en", "Why did my payment fail?", "payment-failed", None),
    (
        "en",
        "How do I transfer money to a friend?",
        "transfer-how",
        None,
    ),
    ("en", "I forgot my password", "password-reset", None),
    (
        "en",
        "My account is locked",
        "account-locked",
        Some("sensitive_topic"),
    ),
    (
        "en",
        "How long does a withdrawal take to arrive?",
        "withdraw-how",
        None,
    ),
    ("en", "How do I top up my wallet?", "topup-how", None),
    ("en", "The app keeps crashing", "app-crash", None),
    (
        "en",
        "Which countries can I use uPay in?",
        "international-countries",
        None,
    ),
    (
        "en",
        "What fee do you charge for currency exchange?",
        "international-fx",
        None,
    ),
    (
        "en",
        "How can I keep my account secure?",
        "security-tips",
        None,
    ),
    (
        "en",
        "I'm not receiving the verification code",
        "sms-code",
        None,
    ),
    (
        "en",
        "How do I contact customer service?",
        "contact-support",
        None,
    ),
    ("en", "When will I get my refund?", "refund", None),
    ("en", "How do I link a bank card?", "bank-card", None),
    (
        "en",
        "There is a payment I didn't make",
        "suspicious-transaction",
        Some("sensitive_topic"),
    ),
    (
        "en",
        "How do I export my chat history?",
        "chat-transcript",
        None,
    ),
    (
        "en",
        "Is there a video tutorial?",
        "tutorials-community",
        None,
    ),
    (
        "en",
        "My top-up failed but the card was charged",
        "topup-failed",
        None,
    ),
];

#[tokio::test]
async fn the_bot_answers_the_common_questions_in_both_languages() {
    assert!(BOT_TABLE.len() >= 30);
    let s = TestServer::start().await;
    let token = s.login(ZHANG).await;
    let mut wrong = Vec::new();
    for (i, (lang, question, want, handoff)) in BOT_TABLE.iter().enumerate() {
        let conv = open_conversation(&s, &token, lang).await;
        let r = say(&s, &token, &conv, &format!("q{i}"), lang, question).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let reply = &r.body["replies"][0];
        assert_eq!(reply["sender"], "bot", "{question}: {}", r.body);
        let bot = &reply["bot"];
        let got = bot["article_id"].as_str().unwrap_or("-");
        let got_handoff = bot["handoff"].as_str();
        if got != *want || got_handoff != *handoff {
            wrong.push(format!(
                "{question}: got {got} handoff {got_handoff:?} (confidence {}), want {want} {handoff:?}",
                bot["confidence"]
            ));
        }
        // The answer is in the asker's language.
        let zh_text = reply["text"]
            .as_str()
            .unwrap()
            .chars()
            .any(|c| c > '\u{2e80}');
        assert_eq!(zh_text, *lang == "zh-CN", "{question}: {}", reply["text"]);
        let close = call(
            &s,
            Method::POST,
            &format!("/v1/support/conversations/{conv}/close"),
            Some(&token),
            lang,
            None,
        )
        .await;
        assert_eq!(close.status, StatusCode::OK, "{}", close.body);
    }
    assert!(
        wrong.is_empty(),
        "{} of {} wrong:\n{}",
        wrong.len(),
        BOT_TABLE.len(),
        wrong.join("\n")
    );
}

#[tokio::test]
async fn articles_exist_in_both_languages_with_categories_and_links() {
    let s = TestServer::start().await;
    for locale in ["zh-CN", "en"] {
        let cats = s
            .get(&format!("/v1/help/categories?locale={locale}"), None)
            .await;
        assert_eq!(cats.status, StatusCode::OK);
        let cats = cats.body["categories"].as_array().unwrap().clone();
        assert!(cats.len() >= 8);
        let list = s
            .get(&format!("/v1/help/articles?locale={locale}"), None)
            .await;
        let articles = list.body["articles"].as_array().unwrap();
        assert!(articles.len() >= 40, "{locale}: {}", articles.len());
        let total: u64 = cats
            .iter()
            .map(|c| c["article_count"].as_u64().unwrap())
            .sum();
        assert_eq!(total as usize, articles.len());
        let security = s
            .get(
                &format!("/v1/help/articles?locale={locale}&category=security"),
                None,
            )
            .await;
        assert!(security.body["articles"].as_array().unwrap().len() >= 4);
    }
    let zh = s
        .get("/v1/help/articles/password-reset?locale=zh-CN", None)
        .await;
    let en = s
        .get("/v1/help/articles/password-reset?locale=en", None)
        .await;
    assert_eq!(zh.body["title"], "忘记密码怎么办？如何找回密码");
    assert_eq!(en.body["title"], "I forgot my password");
    assert_eq!(zh.body["links"][0]["kind"], "video");
    // The locale follows Accept-Language when not given.
    let by_header = call(
        &s,
        Method::GET,
        "/v1/help/articles/refund",
        None,
        "zh-CN",
        None,
    )
    .await;
    assert_eq!(by_header.body["locale"], "zh-CN");
    assert_eq!(
        s.get("/v1/help/articles/nope", None).await.code(),
        "not_found"
    );
    assert_eq!(
        s.get("/v1/help/articles?category=nope", None).await.code(),
        "not_found"
    );
    let forum = s
        .get("/v1/help/articles/tutorials-community?locale=en", None)
        .await;
    let kinds: Vec<&str> = forum.body["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["video", "forum"]);
}

#[tokio::test]
async fn the_bundle_is_versioned_and_revalidates_with_etag() {
    let s = TestServer::start().await;
    let first = s.get("/v1/help/bundle?locale=zh-CN", None).await;
    assert_eq!(first.status, StatusCode::OK);
    let etag = first.headers["etag"].to_str().unwrap().to_owned();
    let version = first.body["version"].as_str().unwrap();
    assert_eq!(etag, format!("\"{version}\""));
    assert!(first.body["articles"].as_array().unwrap().len() >= 40);
    assert!(first.body["articles"][0]["body"].as_str().unwrap().len() > 100);
    let again = s
        .send(
            s.req(Method::GET, "/v1/help/bundle?locale=zh-CN")
                .header("If-None-Match", &etag),
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert_eq!(again.body, Value::Null);
    assert_eq!(again.headers["etag"].to_str().unwrap(), etag);
    // Another language is another bundle with another version.
    let en = s
        .send(
            s.req(Method::GET, "/v1/help/bundle?locale=en")
                .header("If-None-Match", &etag),
        )
        .await;
    assert_eq!(en.status, StatusCode::OK);
    assert_ne!(en.body["version"], first.body["version"]);
    let stale = s
        .send(
            s.req(Method::GET, "/v1/help/bundle?locale=zh-CN")
                .header("If-None-Match", "\"zh-CN-0000000000000000\""),
        )
        .await;
    assert_eq!(stale.status, StatusCode::OK);
}

#[tokio::test]
async fn search_and_suggestions_for_a_partial_question() {
    let s = TestServer::start().await;
    let r = call(
        &s,
        Method::GET,
        "/v1/help/search?q=%E6%8F%90%E7%8E%B0%E6%B2%A1%E5%88%B0%E8%B4%A6",
        None,
        "zh-CN",
        None,
    )
    .await; // 提现没到账
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["hits"][0]["article"]["id"], "withdraw-failed");
    let scores: Vec<f64> = r.body["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["score"].as_f64().unwrap())
        .collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]) && scores[0] <= 1.0);

    // A question still being typed: the unfinished word is completed.
    let r = s
        .get(
            "/v1/help/suggestions?q=how%20do%20I%20withdr&locale=en",
            None,
        )
        .await;
    let ids: Vec<&str> = r.body["suggestions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"withdraw-how"), "{ids:?}");
    let r = s
        .get(
            "/v1/help/suggestions?q=%E5%BF%98%E8%AE%B0%E5%AF%86&locale=zh-CN",
            None,
        )
        .await; // 忘记密
    assert_eq!(r.body["suggestions"][0]["id"], "password-reset");
    // Nothing relevant, nothing suggested.
    let r = s
        .get(
            "/v1/help/suggestions?q=zebra%20quantum%20tango&locale=en",
            None,
        )
        .await;
    assert_eq!(r.body["suggestions"].as_array().unwrap().len(), 0);
    let empty = s.get("/v1/help/search?q=", None).await;
    assert_eq!(empty.code(), "validation_failed");
    let bad_limit = s.get("/v1/help/search?q=pay&limit=99", None).await;
    assert_eq!(bad_limit.code(), "validation_failed");
}
