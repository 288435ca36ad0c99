//! Keeping the cache and the server in step: [`pull`] applies sync pages (each page and its
//! cursor in one SQLite transaction), [`push`] sends outbox items with their persisted
//! idempotency keys, [`worker`] resumes both on reconnect, on foreground and on a timer.

pub mod pull;
pub mod push;
pub mod worker;

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncReport {
    pub pages: u32,
    pub transactions: u64,
    /// The cursor expired and the mirror was rebuilt from scratch.
    pub restarted: bool,
    /// Outbox items whose outcome this sync learned.
    pub reconciled: u32,
}
