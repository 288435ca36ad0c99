//! The FAQ bot (智能客服 小U): answers a user's message from the knowledge base when it is
//! confident enough, and hands the conversation to a human when it is not, when asked to, or
//! when the topic is one a bot must never handle alone (fraud, missing money, a locked or frozen
//! account). The decision is a pure function of the text, so it is tested without a server.

use upay_protocol::api::support::*;

use super::engine::{Text, Writer};
use super::store::{self, ConvRow, NewMessage};
use crate::error::ApiResult;
use crate::help::kb::{Locale, kb};

pub const BOT_NAME_ZH: &str = "小U";
pub const BOT_NAME_EN: &str = "uPay Assistant";
/// Answers below this confidence go to a human. Tuned on the table in `tests/help.rs`; the
/// control API changes it per sandbox.
pub const DEFAULT_THRESHOLD: f64 = 0.3;
pub const THRESHOLD_KEY: &str = "bot_threshold";

/// What the bot makes of one message.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Index of the best article in the locale's list.
    pub best: Option<usize>,
    pub confidence: f64,
    pub handoff: Option<HandoffReason>,
    pub related: Vec<usize>,
    /// Nothing to search for ("你好", "hi"): greet and ask.
    pub greeting: bool,
    /// The user asked for a ticket.
    pub wants_ticket: bool,
}

const ZH_HUMAN: &[&str] = &["人工", "真人", "转客服", "客服人员", "找客服"];
const EN_HUMAN: &[&str] = &[
    "agent",
    "human",
    "representative",
    "operator",
    "real person",
    "a person",
    "talk to someone",
    "speak to someone",
];
const ZH_SENSITIVE: &[&str] = &[
    "诈骗",
    "被骗",
    "骗子",
    "骗了",
    "盗刷",
    "被盗",
    "盗号",
    "钱不见",
    "钱没了",
    "余额少了",
    "少了钱",
    "钱丢了",
    "冻结",
    "锁定",
    "被锁",
    "锁住",
    "锁了",
    "不是我本人",
    "不是本人",
    "非本人",
];
const EN_SENSITIVE: &[&str] = &[
    "fraud",
    "scam",
    "scammed",
    "scammer",
    "stolen",
    "hacked",
    "unauthorized",
    "unauthorised",
    "missing money",
    "money missing",
    "money is missing",
    "money disappeared",
    "didn t make",
    "did not make",
    "locked",
    "lock out",
    "locked out",
    "frozen",
    "freeze",
];
const ZH_TICKET: &[&str] = &["提交工单", "创建工单", "开工单", "开个工单", "提工单"];
const EN_TICKET: &[&str] = &[
    "create a ticket",
    "open a ticket",
    "submit a ticket",
    "file a ticket",
    "raise a ticket",
];

/// Lower-case words joined by single spaces with a space at each end, so phrases match on word
/// boundaries (" locked " does not match inside " unlocked ").
fn en_words(text: &str) -> String {
    let mut out = String::from(" ");
    for w in text
        .to_lowercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        out.push_str(w);
        out.push(' ');
    }
    out
}

fn mentions(text: &str, zh: &[&str], en: &[&str]) -> bool {
    let words = en_words(text);
    zh.iter().any(|p| text.contains(p)) || en.iter().any(|p| words.contains(&format!(" {p} ")))
}

pub fn wants_ticket(text: &str) -> bool {
    mentions(text, ZH_TICKET, EN_TICKET)
}

pub fn decide(locale: Locale, text: &str, threshold: f64) -> Decision {
    let m = crate::help::find(locale, text, false);
    let greeting = !crate::help::has_terms(locale, text);
    let confidence = if greeting { 0.0 } else { m.confidence };
    let best = m.ranked.first().filter(|_| !greeting).map(|r| r.doc);
    let related = m
        .ranked
        .iter()
        .skip(1)
        .filter(|r| r.coverage >= 0.3)
        .take(2)
        .map(|r| r.doc)
        .collect();
    let handoff = if mentions(text, ZH_HUMAN, EN_HUMAN) {
        Some(HandoffReason::Requested)
    } else if mentions(text, ZH_SENSITIVE, EN_SENSITIVE) {
        Some(HandoffReason::SensitiveTopic)
    } else if !greeting && (confidence < threshold || threshold >= 1.0) {
        Some(HandoffReason::LowConfidence)
    } else {
        None
    };
    Decision {
        best,
        confidence,
        handoff,
        related,
        greeting,
        wants_ticket: wants_ticket(text),
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn bot_message(
    w: &mut Writer<'_>,
    c: &mut ConvRow,
    text: &str,
    answer: Option<&BotAnswer>,
    actions: &[ChatAction],
    in_reply_to: u64,
) -> ApiResult<ChatMessage> {
    let name = if c.zh { BOT_NAME_ZH } else { BOT_NAME_EN };
    w.message(
        c,
        NewMessage {
            client_msg_id: None,
            sender: SenderRole::Bot,
            sender_id: None,
            sender_name: Some(name),
            text,
            attachment_ids: &[],
            in_reply_to: Some(in_reply_to),
            bot: answer,
            csat: None,
            actions,
            body_hash: None,
        },
    )
}

/// Answers a user message in a conversation the bot is handling; returns what it wrote.
pub fn respond(
    w: &mut Writer<'_>,
    c: &mut ConvRow,
    user_msg: &ChatMessage,
    threshold: f64,
) -> ApiResult<Vec<ChatMessage>> {
    let locale = if c.zh { Locale::Zh } else { Locale::En };
    let lk = kb().get(locale);
    let d = decide(locale, &user_msg.text, threshold);
    let seq = user_msg.seq;
    if d.wants_ticket {
        let ticket = super::tickets::open_for(w, c, SenderRole::Bot, None)?;
        let text = Text::new(
            format!(
                "已为您提交工单 {}，我们处理后会在这里通知您，也可以在「客服中心 - 我的工单」查看进度。",
                ticket.id
            ),
            format!(
                "I've created ticket {} for you. We'll update you here, and you can follow it in Support > My tickets.",
                ticket.id
            ),
        );
        return Ok(vec![bot_message(w, c, text.pick(c.zh), None, &[], seq)?]);
    }
    if d.greeting {
        let text = Text::new(
            "您好，我是U钱包智能客服小U。请直接描述您遇到的问题，例如“提现多久到账”；需要人工服务请回复“转人工”。",
            "Hi, I'm the uPay Assistant. Tell me what went wrong, for example \"how long does a withdrawal take\". To talk to a person, reply \"agent\".",
        );
        return Ok(vec![bot_message(
            w,
            c,
            text.pick(c.zh),
            None,
            &[ChatAction::TalkToAgent],
            seq,
        )?]);
    }
    let article = |i: usize| &lk.articles[i];
    let related: Vec<ArticleRef> = d
        .related
        .iter()
        .map(|&i| ArticleRef {
            article_id: article(i).id.clone(),
            title: article(i).title.clone(),
        })
        .collect();
    // Low confidence: the best article is a guess, shown as a suggestion rather than an answer.
    let shown = d
        .best
        .filter(|_| d.handoff != Some(HandoffReason::Requested));
    let answer = BotAnswer {
        article_id: shown.map(|i| article(i).id.clone()),
        confidence: round3(d.confidence),
        handoff: d.handoff,
        related,
    };
    let mut actions: Vec<ChatAction> = shown
        .map(|i| ChatAction::OpenArticle {
            article_id: article(i).id.clone(),
        })
        .into_iter()
        .collect();
    let see = |i: usize| {
        Text::new(
            format!("您也可以先看看《{}》。", article(i).title),
            format!(" Meanwhile, \"{}\" may help.", article(i).title),
        )
    };
    let mut out = Vec::new();
    match d.handoff {
        None => {
            let i = d.best.unwrap_or(0);
            let a = article(i);
            let text = Text::new(
                format!(
                    "{}\n\n详细步骤请查看《{}》。如果没有解决您的问题，可以回复“转人工”。",
                    a.summary, a.title
                ),
                format!(
                    "{}\n\nSee \"{}\" for the steps. Not solved? Reply \"agent\" to talk to a person.",
                    a.summary, a.title
                ),
            );
            actions.push(ChatAction::TalkToAgent);
            out.push(bot_message(
                w,
                c,
                text.pick(c.zh),
                Some(&answer),
                &actions,
                seq,
            )?);
        }
        Some(reason) => {
            let mut text = match reason {
                HandoffReason::Requested => Text::new(
                    "好的，正在为您转接人工客服。",
                    "Sure, I'm connecting you with a support agent.",
                ),
                HandoffReason::SensitiveTopic => Text::new(
                    "您的问题涉及账户和资金安全，我马上为您转接人工客服。请不要向任何人透露密码、验证码或付款码。",
                    "This concerns the safety of your account and money, so I'm connecting you with a support agent now. Never share your password, codes or payment code with anyone.",
                ),
                HandoffReason::LowConfidence => Text::new(
                    "抱歉，我没能完全理解您的问题，正在为您转接人工客服。",
                    "Sorry, I'm not sure I understood. I'm connecting you with a support agent.",
                ),
            };
            if let Some(i) = shown {
                let s = see(i);
                text.zh.push_str(&s.zh);
                text.en.push_str(&s.en);
            }
            out.push(bot_message(
                w,
                c,
                text.pick(c.zh),
                Some(&answer),
                &actions,
                seq,
            )?);
            out.push(w.enqueue(c, reason, Some(seq))?);
        }
    }
    Ok(out)
}

/// The sandbox's threshold (control API), or the default.
pub fn threshold(conn: &rusqlite::Connection) -> ApiResult<f64> {
    Ok(store::setting(conn, THRESHOLD_KEY)?
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_THRESHOLD))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asking_for_a_person_hands_off() {
        let d = decide(Locale::Zh, "转人工", DEFAULT_THRESHOLD);
        assert_eq!(d.handoff, Some(HandoffReason::Requested));
        let d = decide(Locale::En, "I want to talk to a human", DEFAULT_THRESHOLD);
        assert_eq!(d.handoff, Some(HandoffReason::Requested));
    }

    #[test]
    fn sensitive_topics_hand_off_but_keep_the_article() {
        let d = decide(Locale::Zh, "我的账户被冻结了", DEFAULT_THRESHOLD);
        assert_eq!(d.handoff, Some(HandoffReason::SensitiveTopic));
        assert!(d.best.is_some());
        let d = decide(Locale::En, "my money was stolen", DEFAULT_THRESHOLD);
        assert_eq!(d.handoff, Some(HandoffReason::SensitiveTopic));
        // Word boundaries: "unlocked" is not "locked".
        assert!(!mentions("it unlocked", ZH_SENSITIVE, EN_SENSITIVE));
    }

    #[test]
    fn greetings_are_not_questions() {
        let d = decide(Locale::Zh, "你好", DEFAULT_THRESHOLD);
        assert!(d.greeting);
        assert_eq!(d.handoff, None);
    }

    #[test]
    fn nonsense_is_low_confidence() {
        let d = decide(
            Locale::En,
            "purple elephants dancing tonight",
            DEFAULT_THRESHOLD,
        );
        assert_eq!(d.handoff, Some(HandoffReason::LowConfidence));
    }
}
