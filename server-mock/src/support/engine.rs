//! Changes to a conversation inside one write transaction: appending messages and events,
//! moving through bot → queued → assigned → resolved, and keeping every queued user's position
//! current. Each change is collected as a hub message, published only after the transaction
//! committed, so a socket never sees something that was rolled back.

use rusqlite::Connection;
use upay_protocol::api::support::*;

use super::hub::HubMsg;
use super::store::{self, AgentRow, ConvRow, NewMessage};
use crate::error::ApiResult;

pub struct Writer<'a> {
    pub tx: &'a Connection,
    pub now: i64,
    pub out: Vec<HubMsg>,
}

/// The same sentence in both languages; the conversation's language picks one.
pub struct Text {
    pub zh: String,
    pub en: String,
}

impl Text {
    pub fn new(zh: impl Into<String>, en: impl Into<String>) -> Text {
        Text {
            zh: zh.into(),
            en: en.into(),
        }
    }

    pub fn pick(&self, zh: bool) -> &str {
        if zh { &self.zh } else { &self.en }
    }
}

impl<'a> Writer<'a> {
    pub fn new(tx: &'a Connection, now: i64) -> Writer<'a> {
        Writer {
            tx,
            now,
            out: Vec::new(),
        }
    }

    /// Stores an event with the next `event_seq` and queues it for the sockets.
    pub fn event(&mut self, c: &ConvRow, kind: ChatEventKind) -> ApiResult<ChatEvent> {
        let seq = store::next_event_seq(self.tx, &c.id)?;
        store::insert_event(self.tx, &c.id, seq, &kind, self.now)?;
        let event = ChatEvent {
            conversation_id: c.id.clone(),
            event_seq: Some(seq),
            at: self.now,
            event: kind,
        };
        self.out.push(HubMsg::Chat {
            user_id: c.user_id.clone(),
            agent_id: c.agent_id.clone(),
            event: event.clone(),
        });
        Ok(event)
    }

    /// Stores a message with the next `seq`, and its `message` event.
    pub fn message(&mut self, c: &mut ConvRow, m: NewMessage<'_>) -> ApiResult<ChatMessage> {
        let seq = store::next_seq(self.tx, &c.id)?;
        c.last_seq = seq;
        let message = store::insert_message(self.tx, &c.id, seq, &m, self.now)?;
        self.event(
            c,
            ChatEventKind::Message {
                message: message.clone(),
            },
        )?;
        Ok(message)
    }

    pub fn system(
        &mut self,
        c: &mut ConvRow,
        text: &Text,
        actions: &[ChatAction],
        in_reply_to: Option<u64>,
    ) -> ApiResult<ChatMessage> {
        let body = text.pick(c.zh).to_owned();
        self.message(
            c,
            NewMessage {
                client_msg_id: None,
                sender: SenderRole::System,
                sender_id: None,
                sender_name: None,
                text: &body,
                attachment_ids: &[],
                in_reply_to,
                bot: None,
                csat: None,
                actions,
                body_hash: None,
            },
        )
    }

    pub fn save(&mut self, c: &mut ConvRow) -> ApiResult<()> {
        c.updated_at = self.now;
        store::save_conversation(self.tx, c)
    }

    fn set_status(&mut self, c: &mut ConvRow, status: ConversationStatus) -> ApiResult<()> {
        c.status = status;
        self.save(c)?;
        self.event(c, ChatEventKind::Status { status })?;
        Ok(())
    }

    /// Forgets the queue place (and the announced one, so a later return announces afresh).
    fn leave_queue(&mut self, c: &mut ConvRow) -> ApiResult<()> {
        c.queue_order = None;
        c.queue_position = None;
        c.queue_agents_online = None;
        self.tx.execute(
            "UPDATE support_conversations SET queue_position = NULL, queue_agents_online = NULL
             WHERE id = ?1",
            [&c.id],
        )?;
        Ok(())
    }

    /// Announces a new place in the queue to every waiting user whose place (or the number of
    /// agents online) changed, and tells the agents the queue changed.
    pub fn refresh_queue(&mut self) -> ApiResult<()> {
        let online = store::agents_online(self.tx)?;
        let queued = store::queued(self.tx)?;
        let waiting = queued.len() as u32;
        for (i, c) in queued.into_iter().enumerate() {
            let position = i as u32 + 1;
            if c.queue_position == Some(position) && c.queue_agents_online == Some(online) {
                continue;
            }
            self.tx.execute(
                "UPDATE support_conversations SET queue_position = ?2, queue_agents_online = ?3
                 WHERE id = ?1",
                rusqlite::params![c.id, position, online],
            )?;
            self.event(
                &c,
                ChatEventKind::QueuePosition {
                    position,
                    agents_online: online,
                },
            )?;
        }
        self.out.push(HubMsg::QueueChanged { waiting });
        Ok(())
    }

    /// Bot → human: joins the queue and says where the user stands (and, with nobody online,
    /// says so and offers a ticket).
    pub fn enqueue(
        &mut self,
        c: &mut ConvRow,
        reason: HandoffReason,
        in_reply_to: Option<u64>,
    ) -> ApiResult<ChatMessage> {
        c.handoff_reason = Some(reason);
        self.leave_queue(c)?;
        c.queue_order = Some(store::next_queue_order(self.tx)?);
        self.set_status(c, ConversationStatus::Queued)?;
        self.refresh_queue()?;
        let fresh = store::conversation(self.tx, &c.id)?.unwrap_or_else(|| c.clone());
        let position = fresh.queue_position.unwrap_or(1);
        let online = fresh.queue_agents_online.unwrap_or(0);
        let (text, actions) = if online > 0 {
            (
                Text::new(
                    format!("已为您转接人工客服，您当前排在第 {position} 位，请稍候。"),
                    format!(
                        "You're in the queue for an agent: position {position}. Please stay here."
                    ),
                ),
                vec![],
            )
        } else {
            (
                Text::new(
                    format!(
                        "当前暂无人工客服在线。您仍在排队（第 {position} 位），客服上线后会第一时间回复您；您也可以提交工单，我们处理后会在这里通知您。"
                    ),
                    format!(
                        "No agent is online right now. You stay in the queue (position {position}) and an agent will answer as soon as one is available; you can also create a ticket and we'll update you here."
                    ),
                ),
                vec![ChatAction::CreateTicket],
            )
        };
        self.system(c, &text, &actions, in_reply_to)
    }

    /// An agent takes a conversation from the queue (or from the bot).
    pub fn assign(&mut self, c: &mut ConvRow, agent: &AgentRow) -> ApiResult<()> {
        c.agent_id = Some(agent.id.clone());
        self.leave_queue(c)?;
        self.set_status(c, ConversationStatus::Assigned)?;
        self.event(
            c,
            ChatEventKind::AgentJoined {
                agent: agent.public(),
            },
        )?;
        let text = Text::new(
            format!("客服{}已接入，正在为您服务。", agent.name),
            format!("{} has joined and will help you now.", agent.name),
        );
        self.system(c, &text, &[], None)?;
        self.refresh_queue()
    }

    /// Ends a conversation and asks for a rating of this resolution.
    pub fn resolve(&mut self, c: &mut ConvRow) -> ApiResult<u32> {
        let agent = match &c.agent_id {
            Some(id) => store::agent(self.tx, id)?,
            None => None,
        };
        let was_queued = c.status == ConversationStatus::Queued;
        c.resolutions += 1;
        let resolution = c.resolutions;
        self.leave_queue(c)?;
        if let Some(a) = &agent {
            self.event(c, ChatEventKind::AgentLeft { agent: a.public() })?;
        }
        c.agent_id = None;
        self.set_status(c, ConversationStatus::Resolved)?;
        let text = Text::new(
            "本次服务已结束，感谢您的耐心。请为本次服务打分（1–5 星），您的评价会帮助我们做得更好。",
            "This conversation is resolved. Thank you for your patience. Please rate our help (1–5 stars): it helps us improve.",
        );
        self.system(c, &text, &[ChatAction::Rate { resolution }], None)?;
        self.event(c, ChatEventKind::CsatRequest { resolution })?;
        if was_queued {
            self.refresh_queue()?;
        }
        Ok(resolution)
    }
}

/// The user-facing view of a conversation.
pub fn view(conn: &Connection, c: &ConvRow) -> ApiResult<Conversation> {
    let agent = match (&c.agent_id, c.status) {
        (Some(id), ConversationStatus::Assigned) => store::agent(conn, id)?.map(|a| a.public()),
        _ => None,
    };
    let csat_pending = if c.resolutions > 0 && !store::csat_given(conn, &c.id, c.resolutions)? {
        Some(c.resolutions)
    } else {
        None
    };
    Ok(Conversation {
        id: c.id.clone(),
        status: c.status,
        last_seq: c.last_seq,
        last_event_seq: c.last_event_seq,
        receipts: c.receipts,
        agent,
        queue_position: (c.status == ConversationStatus::Queued)
            .then_some(c.queue_position)
            .flatten(),
        handoff_reason: c.handoff_reason,
        resolutions: c.resolutions,
        csat_pending,
        created_at: c.created_at,
        updated_at: c.updated_at,
    })
}
