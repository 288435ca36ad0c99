//! Transcript export (记录沟通内容): the whole conversation as plain text or JSON, with card
//! numbers, uPay account ids and phone numbers redacted, since a transcript is meant to be saved
//! and shared.

use axum::Json;
use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use upay_protocol::api::support::*;
use upay_protocol::error::Problem;

use super::store;
use crate::auth::AuthUser;
use crate::error::ApiResult;
use crate::help::kb::Locale;

pub const CARD: &str = "[card number removed]";
pub const ACCOUNT: &str = "[account id removed]";
pub const PHONE: &str = "[phone number removed]";

/// Replaces card numbers (13–19 digits, optionally grouped by spaces or dashes), uPay account
/// ids (`U` + 10 digits) and phone numbers (mainland mobiles, `+` international numbers).
pub fn redact(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let prev_alnum = i > 0 && chars[i - 1].is_ascii_alphanumeric();
        // uPay account id: U followed by exactly 10 digits, standing alone.
        if (c == 'U' || c == 'u') && !prev_alnum {
            let digits = chars[i + 1..]
                .iter()
                .take_while(|d| d.is_ascii_digit())
                .count();
            let after = chars.get(i + 1 + digits);
            if digits == 10 && !after.is_some_and(|a| a.is_ascii_alphanumeric()) {
                out.push_str(ACCOUNT);
                i += 11;
                continue;
            }
        }
        let plus = c == '+' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit());
        if (c.is_ascii_digit() && !prev_alnum) || plus {
            let start = if plus { i + 1 } else { i };
            let (end, digits) = digit_run(&chars, start);
            let first = chars[start];
            let phone = (plus && (8..=15).contains(&digits))
                || (digits == 11 && first == '1')
                || (digits == 13 && run_starts_with(&chars, start, "86"));
            let kind = if phone {
                Some(PHONE)
            } else if (13..=19).contains(&digits) && !plus {
                Some(CARD)
            } else {
                None
            };
            match kind {
                Some(label) => out.push_str(label),
                None => out.extend(&chars[i..end]),
            }
            i = end;
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

/// The end of a run of digits that may be grouped by single spaces or dashes, and its digit
/// count. A separator counts only when a digit follows it.
fn digit_run(chars: &[char], start: usize) -> (usize, usize) {
    let mut end = start;
    let mut digits = 0;
    while end < chars.len() {
        if chars[end].is_ascii_digit() {
            digits += 1;
            end += 1;
        } else if matches!(chars[end], ' ' | '-')
            && chars.get(end + 1).is_some_and(|d| d.is_ascii_digit())
            && digits > 0
        {
            end += 1;
        } else {
            break;
        }
    }
    // A letter glued to the end means this was part of a word or code, not a number.
    if chars.get(end).is_some_and(|c| c.is_ascii_alphabetic()) {
        return (end, 0);
    }
    (end, digits)
}

fn run_starts_with(chars: &[char], start: usize, prefix: &str) -> bool {
    chars[start..]
        .iter()
        .filter(|c| c.is_ascii_digit())
        .take(prefix.len())
        .copied()
        .eq(prefix.chars())
}

fn redact_message(mut m: ChatMessage) -> ChatMessage {
    m.text = redact(&m.text);
    if let Some(c) = &mut m.csat {
        c.comment = c.comment.as_deref().map(redact);
    }
    m
}

fn redact_ticket(mut t: Ticket) -> Ticket {
    t.subject = redact(&t.subject);
    for h in &mut t.history {
        h.note = h.note.as_deref().map(redact);
    }
    t
}

fn build(user: &AuthUser, id: &str) -> ApiResult<Transcript> {
    let now = user.sandbox.clock.now_ms();
    user.sandbox.read(|conn| {
        let c = store::user_conversation(conn, &user.user_id, id)?;
        let mut messages = Vec::new();
        let mut after = 0;
        loop {
            let (page, more) = store::messages(conn, &c.id, Some(after), None, 500)?;
            after = page.last().map_or(after, |m| m.seq);
            messages.extend(page.into_iter().map(redact_message));
            if !more {
                break;
            }
        }
        let tickets = store::conversation_tickets(conn, &c.id)?
            .into_iter()
            .map(redact_ticket)
            .collect();
        Ok(Transcript {
            conversation_id: c.id,
            exported_at: now,
            messages,
            tickets,
        })
    })
}

/// `GET /v1/support/conversations/{id}/transcript`: the conversation as JSON, redacted.
#[utoipa::path(get, path = "/v1/support/conversations/{id}/transcript", tag = "support", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = Transcript), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn transcript_json(
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Transcript>> {
    build(&user, &id).map(Json)
}

/// Civil date and time (UTC+8, the product's home time zone) from Unix milliseconds.
pub fn format_time(ms: i64) -> String {
    let secs = ms.div_euclid(1000) + 8 * 3600;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn sender_label(m: &ChatMessage, zh: bool) -> String {
    let name = m.sender_name.as_deref().unwrap_or("");
    match (m.sender, zh) {
        (SenderRole::User, true) => "我".to_owned(),
        (SenderRole::User, false) => "Me".to_owned(),
        (SenderRole::Bot, true) => format!("智能客服 {name}"),
        (SenderRole::Bot, false) => format!("Assistant ({name})"),
        (SenderRole::Agent, true) => format!("客服 {name}"),
        (SenderRole::Agent, false) => format!("Agent {name}"),
        (SenderRole::System, true) => "系统".to_owned(),
        (SenderRole::System, false) => "System".to_owned(),
    }
}

pub fn render_text(t: &Transcript, zh: bool) -> String {
    let mut out = String::new();
    if zh {
        out.push_str(&format!(
            "U钱包客服聊天记录\n会话：{}\n导出时间：{}（北京时间）\n卡号、账户号和手机号已隐藏。\n\n",
            t.conversation_id,
            format_time(t.exported_at)
        ));
    } else {
        out.push_str(&format!(
            "uPay support transcript\nConversation: {}\nExported: {} (UTC+8)\nCard numbers, account ids and phone numbers are hidden.\n\n",
            t.conversation_id,
            format_time(t.exported_at)
        ));
    }
    for m in &t.messages {
        let mut text = m.text.clone();
        if let Some(c) = &m.csat {
            let stars = if zh {
                format!("评价：{} 星", c.score)
            } else {
                format!("Rating: {}/5", c.score)
            };
            text = if text.is_empty() {
                stars
            } else {
                format!("{stars} — {text}")
            };
        }
        if !m.attachment_ids.is_empty() {
            let n = m.attachment_ids.len();
            text.push_str(&if zh {
                format!(" [截图 {n} 张]")
            } else {
                format!(" [{n} screenshot(s)]")
            });
        }
        out.push_str(&format!(
            "[{}] #{} {}：{}\n",
            format_time(m.created_at),
            m.seq,
            sender_label(m, zh),
            text.trim().replace('\n', "\n    ")
        ));
    }
    for tk in &t.tickets {
        out.push_str(&if zh {
            format!("\n工单 {}：{}（{:?}）\n", tk.id, tk.subject, tk.status)
        } else {
            format!("\nTicket {}: {} ({:?})\n", tk.id, tk.subject, tk.status)
        });
    }
    out
}

/// `GET /v1/support/conversations/{id}/transcript/text`: the conversation as a plain-text
/// document in the caller's language, redacted.
#[utoipa::path(get, path = "/v1/support/conversations/{id}/transcript/text", tag = "support", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, description = "text/plain; charset=utf-8", body = String, content_type = "text/plain"),
        (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn transcript_text(user: AuthUser, Path(id): Path<String>) -> ApiResult<Response> {
    let t = build(&user, &id)?;
    let body = render_text(&t, Locale::current().zh());
    let mut resp = body.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"upay-support-{}.txt\"",
        t.conversation_id
    )) {
        resp.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_cards_accounts_and_phones() {
        let cases = [
            (
                "卡号 6222 0212 3456 7890 123 扣款",
                "卡号 [card number removed] 扣款",
            ),
            ("card 4111-1111-1111-1111.", "card [card number removed]."),
            ("4111111111111111", CARD),
            ("转给 U0000000002 了", "转给 [account id removed] 了"),
            ("call 13800138000 now", "call [phone number removed] now"),
            ("电话138-0013-8000", "电话[phone number removed]"),
            ("+86 138 0013 8000", PHONE),
            ("+44 20 7946 0958", PHONE),
            (
                "金额 100.50 元，订单 20240101",
                "金额 100.50 元，订单 20240101",
            ),
            ("ticket T123456789", "ticket T123456789"),
        ];
        for (input, want) in cases {
            assert_eq!(redact(input), want, "{input}");
        }
    }

    #[test]
    fn formats_beijing_time() {
        assert_eq!(format_time(0), "1970-01-01 08:00:00");
        assert_eq!(format_time(1_700_000_000_000), "2023-11-15 06:13:20");
    }
}
