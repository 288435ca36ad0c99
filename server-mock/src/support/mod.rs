//! 24/7 support: the chat (idempotent message writes with gap-free `seq`, stored events with
//! their own `event_seq`, WebSocket and long-poll with exact resume, receipts, typing), the FAQ
//! bot and its handoff to humans, the agent console's API, tickets, ratings, screenshots and
//! transcripts. The protocol is specified in `docs/support-protocol.md`.

pub mod agents;
pub mod attachments;
pub mod bot;
pub mod chat;
pub mod console;
pub mod control;
pub mod customer;
pub mod engine;
pub mod hub;
pub mod image;
pub mod live;
pub mod seed;
pub mod store;
pub mod tickets;
pub mod transcript;

use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::control::MagicEntry;
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(chat::start_conversation, chat::list_conversations))
        .routes(routes!(chat::get_conversation))
        .routes(routes!(chat::send_message))
        .routes(routes!(chat::list_messages))
        .routes(routes!(chat::post_receipts))
        .routes(routes!(chat::post_typing))
        .routes(routes!(chat::close_conversation))
        .routes(routes!(live::user_socket))
        .routes(routes!(live::poll_events))
        .routes(routes!(transcript::transcript_json))
        .routes(routes!(transcript::transcript_text))
        .routes(routes!(tickets::create_ticket, tickets::list_tickets))
        .routes(routes!(tickets::get_ticket))
        .routes(routes!(tickets::comment_ticket))
        .routes(routes!(attachments::upload))
        .routes(routes!(attachments::download))
        .routes(routes!(attachments::metadata))
        .routes(routes!(agents::agent_login, agents::agent_logout))
        .routes(routes!(agents::agent_me))
        .routes(routes!(agents::agent_status))
        .routes(routes!(agents::agent_queue))
        .routes(routes!(agents::agent_conversation))
        .routes(routes!(agents::agent_pick))
        .routes(routes!(agents::agent_messages))
        .routes(routes!(agents::agent_send))
        .routes(routes!(agents::agent_typing))
        .routes(routes!(agents::agent_receipts))
        .routes(routes!(agents::agent_ticket))
        .routes(routes!(agents::agent_resolve))
        .routes(routes!(agents::agent_ticket_status))
        .routes(routes!(agents::agent_attachment))
        .routes(routes!(live::agent_socket))
}

pub fn control_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(control::mock_agents))
        .routes(routes!(control::mock_set_agent))
        .routes(routes!(control::mock_conversations))
        .routes(routes!(control::mock_agent_reply))
        .routes(routes!(control::mock_agent_typing))
        .routes(routes!(control::mock_get_bot, control::mock_set_bot))
        .routes(routes!(control::mock_ticket_status))
}

/// Entries of the magic-value catalogue (`GET /__mock/magic`).
pub fn magic_values() -> Vec<MagicEntry> {
    let mut out: Vec<MagicEntry> = seed::DEMO_AGENTS
        .iter()
        .map(|a| MagicEntry {
            input: "agent console sign-in (/console)".to_owned(),
            value: format!("{} / {}", a.agent_id, a.password),
            effect: format!("support agent {} (offline until signed in)", a.name),
        })
        .collect();
    for (value, effect) in [
        (
            "人工 / 转人工 / agent / human",
            "the bot hands the conversation to the human queue",
        ),
        (
            "诈骗, 被盗, 冻结, 锁定 / fraud, stolen, frozen, locked",
            "sensitive topic: the bot hands off at once",
        ),
        (
            "提交工单 / create a ticket",
            "the bot opens a ticket for the conversation",
        ),
    ] {
        out.push(MagicEntry {
            input: "support chat message".to_owned(),
            value: value.to_owned(),
            effect: effect.to_owned(),
        });
    }
    out
}

/// `n` random URL-safe characters.
pub fn random_token(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("system randomness");
    let mut s = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    s.retain(|c| c.is_ascii_alphanumeric());
    while s.len() < n {
        s.push('0');
    }
    s.truncate(n);
    s
}

/// `n` random decimal digits.
pub fn random_digits(n: usize) -> String {
    let mut out = String::with_capacity(n);
    let rng = SystemRandom::new();
    while out.len() < n {
        let mut b = [0u8; 1];
        rng.fill(&mut b).expect("system randomness");
        // 250 = 25 * 10: rejecting larger bytes keeps every digit equally likely.
        if b[0] < 250 {
            out.push(char::from(b'0' + b[0] % 10));
        }
    }
    out
}
