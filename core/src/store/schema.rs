//! The cache's schema as an append-only list of migrations. `PRAGMA user_version` counts the
//! steps applied; each step runs in its own transaction. Rules for new steps:
//!
//! * mirror tables (server truth: balances, transactions, postings, cards, quotes, sync
//!   cursor) may be dropped and rebuilt; clearing the cursor makes the next sync refill them;
//! * the outbox (the user's intent) and reminders are copied row for row, never dropped; a test
//!   migrates a database created by the first released schema and checks every item survives;
//! * clear columns are limited to what queries need (time, amount, status, kind, category,
//!   currency, server ids, blind tags); everything else is an encrypted envelope.

/// Schema version 1, as first released. Kept verbatim (a test fixture holds a copy).
pub const V1: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE session (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    user_tag   INTEGER NOT NULL,
    body       BLOB NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TABLE sync_state (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    cursor    TEXT,
    synced_at INTEGER
);
CREATE TABLE balances (
    currency    TEXT PRIMARY KEY,
    available   INTEGER NOT NULL,
    pending_out INTEGER NOT NULL,
    pending_in  INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE transactions (
    id         TEXT PRIMARY KEY,
    change_seq INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    status     TEXT NOT NULL,
    category   TEXT NOT NULL,
    currency   TEXT NOT NULL,
    amount     INTEGER NOT NULL,
    fee        INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    body       BLOB NOT NULL
);
CREATE INDEX transactions_by_time ON transactions(created_at);
CREATE TABLE cards (
    row        TEXT PRIMARY KEY,
    is_default INTEGER NOT NULL,
    position   INTEGER NOT NULL,
    body       BLOB NOT NULL
);
CREATE TABLE outbox (
    id              TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    kind            TEXT NOT NULL,
    state           TEXT NOT NULL,
    currency        TEXT NOT NULL,
    amount          INTEGER NOT NULL,
    body            BLOB NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    transaction_id  TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
";

/// Version 2: who owns each outbox item, retry schedule, reasons and required actions, the
/// typed state check; transactions get blind tags and a month for analysis plus a covering
/// index; the blind search index; payees, quotes and reminders.
pub const V2: &str = "
CREATE TABLE outbox_v2 (
    id              TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    owner_tag       INTEGER NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('transfer', 'merchant_payment', 'top_up',
                        'withdrawal', 'fx_conversion')),
    state           TEXT NOT NULL CHECK (state IN ('queued', 'sending', 'accepted', 'settled',
                        'failed', 'unknown', 'cancelled', 'expired')),
    currency        TEXT NOT NULL,
    amount          INTEGER NOT NULL,
    body            BLOB NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    transaction_id  TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    error_code      TEXT,
    action          BLOB,
    reconciled      INTEGER NOT NULL DEFAULT 0
);
INSERT INTO outbox_v2 (id, idempotency_key, owner_tag, kind, state, currency, amount, body,
                       attempts, transaction_id, created_at, updated_at)
    SELECT id, idempotency_key, COALESCE((SELECT user_tag FROM session WHERE id = 1), 0),
           kind, state, currency, amount, body, attempts, transaction_id, created_at, updated_at
    FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_v2 RENAME TO outbox;
CREATE INDEX outbox_by_owner ON outbox(owner_tag, state, created_at);
CREATE INDEX outbox_by_transaction ON outbox(transaction_id) WHERE transaction_id IS NOT NULL;

DROP TABLE transactions;
CREATE TABLE transactions (
    id           TEXT NOT NULL UNIQUE,
    change_seq   INTEGER NOT NULL,
    kind         TEXT NOT NULL,
    status       TEXT NOT NULL,
    category     TEXT NOT NULL,
    currency     TEXT NOT NULL,
    amount       INTEGER NOT NULL,
    fee          INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    month        INTEGER NOT NULL,
    cp_tag       INTEGER,
    merchant_tag INTEGER,
    body         BLOB NOT NULL
);
CREATE INDEX transactions_by_time ON transactions(created_at);
-- Covering, in GROUP BY order: month x category analysis streams without a sort.
CREATE INDEX transactions_analysis ON transactions(currency, month, category, kind, status,
    amount, fee, merchant_tag);
CREATE INDEX transactions_by_counterparty ON transactions(cp_tag) WHERE cp_tag IS NOT NULL;
CREATE TABLE search_postings (
    tag      INTEGER NOT NULL,
    chunk    INTEGER NOT NULL,
    postings BLOB NOT NULL,
    PRIMARY KEY (tag, chunk)
) WITHOUT ROWID;
UPDATE sync_state SET cursor = NULL;
DELETE FROM balances;

CREATE TABLE payees (
    tag          INTEGER PRIMARY KEY,
    last_used_at INTEGER NOT NULL,
    body         BLOB NOT NULL
);
CREATE TABLE quotes (
    id             TEXT PRIMARY KEY,
    expires_at     INTEGER NOT NULL,
    local_deadline INTEGER NOT NULL,
    body           BLOB NOT NULL
);
CREATE TABLE reminders (
    id          TEXT PRIMARY KEY,
    owner_tag   INTEGER NOT NULL,
    day         INTEGER NOT NULL CHECK (day BETWEEN 1 AND 31),
    next_due_at INTEGER NOT NULL,
    currency    TEXT NOT NULL,
    amount      INTEGER,
    body        BLOB NOT NULL,
    created_at  INTEGER NOT NULL
);
";

/// Version 3: the help center's offline bundles and the notices cache. Public content (the
/// same for every user, served without sign-in), so stored clear and kept across sign-outs;
/// only the set of dismissed notices is the user's, and it says nothing sensitive.
pub const V3: &str = "
CREATE TABLE help_bundles (
    locale     TEXT PRIMARY KEY,
    version    TEXT NOT NULL,
    etag       TEXT,
    body       BLOB NOT NULL,
    fetched_at INTEGER NOT NULL,
    checked_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE notice_cache (
    kind       TEXT NOT NULL,
    locale     TEXT NOT NULL,
    body       BLOB NOT NULL,
    fetched_at INTEGER NOT NULL,
    PRIMARY KEY (kind, locale)
) WITHOUT ROWID;
CREATE TABLE dismissed_notices (
    id           TEXT PRIMARY KEY,
    dismissed_at INTEGER NOT NULL
) WITHOUT ROWID;
";

/// Version 4: the search index in its compact form (varint postings) under a new name, also
/// holding each row's counterparty tag (which replaces the counterparty index: a B-tree keyed
/// by random tags dirtied a page per counterparty on every sync commit). It is rebuilt from the
/// cached rows by the next sync (`meta.index_upto` starts again at 0); until then history scans
/// the unindexed rows.
pub const V4: &str = "
DROP INDEX transactions_by_counterparty;
DROP TABLE search_postings;
CREATE TABLE search_index (
    tag      INTEGER NOT NULL,
    chunk    INTEGER NOT NULL,
    postings BLOB NOT NULL,
    PRIMARY KEY (tag, chunk)
) WITHOUT ROWID;
DELETE FROM meta WHERE key IN ('postings_chunk', 'index_upto');
";

/// Version 5: support chat. Message text and the conversation state are sealed envelopes
/// bound to their row and user; clear columns are what ordering and the send queue need
/// (`seq`, state, sender, time). Own unsent messages are the user's intent, like the outbox:
/// a future step copies them, never drops them.
pub const V5: &str = "
CREATE TABLE chat_messages (
    conversation_id TEXT NOT NULL,
    local_id        TEXT NOT NULL,
    owner_tag       INTEGER NOT NULL,
    seq             INTEGER,
    sender          TEXT NOT NULL CHECK (sender IN ('user', 'bot', 'agent', 'system')),
    state           TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'sent',
                        'failed_retryable', 'failed_permanent')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    error_code      TEXT,
    created_at      INTEGER NOT NULL,
    body            BLOB NOT NULL,
    PRIMARY KEY (conversation_id, local_id)
);
CREATE UNIQUE INDEX chat_messages_by_seq ON chat_messages(conversation_id, seq)
    WHERE seq IS NOT NULL;
CREATE INDEX chat_messages_queue ON chat_messages(owner_tag, state) WHERE seq IS NULL;
CREATE TABLE chat_state (
    conversation_id TEXT PRIMARY KEY,
    owner_tag       INTEGER NOT NULL,
    last_event_seq  INTEGER NOT NULL DEFAULT 0,
    read_sent_seq   INTEGER NOT NULL DEFAULT 0,
    body            BLOB NOT NULL,
    updated_at      INTEGER NOT NULL
);
";

/// Version 6: the in-store payment code and savings. The payment-code secret is wrapped by the
/// platform `KeyStore` and that wrapped blob is sealed again in the row's envelope, so neither
/// the file nor a copy of the data key alone yields it. Savings are a mirror of the server
/// (overview and daily yields), sealed per row, refilled by the next online read. The outbox
/// takes the two savings moves as kinds: SQLite cannot widen a CHECK in place, so the table is
/// rebuilt, every row copied.
pub const V6: &str = "
CREATE TABLE outbox_v6 (
    id              TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    owner_tag       INTEGER NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('transfer', 'merchant_payment', 'top_up',
                        'withdrawal', 'fx_conversion', 'savings_deposit', 'savings_withdrawal')),
    state           TEXT NOT NULL CHECK (state IN ('queued', 'sending', 'accepted', 'settled',
                        'failed', 'unknown', 'cancelled', 'expired')),
    currency        TEXT NOT NULL,
    amount          INTEGER NOT NULL,
    body            BLOB NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    transaction_id  TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    error_code      TEXT,
    action          BLOB,
    reconciled      INTEGER NOT NULL DEFAULT 0
);
INSERT INTO outbox_v6 (id, idempotency_key, owner_tag, kind, state, currency, amount, body,
                       attempts, transaction_id, created_at, updated_at, next_attempt_at,
                       error_code, action, reconciled)
    SELECT id, idempotency_key, owner_tag, kind, state, currency, amount, body, attempts,
           transaction_id, created_at, updated_at, next_attempt_at, error_code, action,
           reconciled
    FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_v6 RENAME TO outbox;
CREATE INDEX outbox_by_owner ON outbox(owner_tag, state, created_at);
CREATE INDEX outbox_by_transaction ON outbox(transaction_id) WHERE transaction_id IS NOT NULL;
CREATE TABLE paycode (
    owner_tag      INTEGER PRIMARY KEY,
    provisioned_at INTEGER NOT NULL,
    body           BLOB NOT NULL
);
CREATE TABLE savings_cache (
    owner_tag  INTEGER PRIMARY KEY,
    fetched_at INTEGER NOT NULL,
    body       BLOB NOT NULL
);
CREATE TABLE savings_yields (
    owner_tag   INTEGER NOT NULL,
    currency    TEXT NOT NULL,
    day         TEXT NOT NULL,
    credited_at INTEGER NOT NULL,
    body        BLOB NOT NULL,
    PRIMARY KEY (owner_tag, currency, day)
) WITHOUT ROWID;
";

/// Version 7: support screenshots, tickets, delivered markers, feedback. Screenshot bytes,
/// tickets and feedback (text, replies) are sealed envelopes bound to their row and user; clear
/// columns are queue order and state, sizes, server ids and statuses. `screenshots` holds the
/// images of queued chat messages and feedback (`parent` is `chat:<conversation>/<local id>`
/// or `feedback:<id>`) and, once sent, the user's own chat screenshots for their bubbles.
/// `feedback_outbox` is the user's intent (never dropped; a row leaves it only in the
/// transaction that stores the server's copy in `feedback_cache`, a mirror).
pub const V7: &str = "
CREATE TABLE screenshots (
    parent        TEXT NOT NULL,
    idx           INTEGER NOT NULL,
    owner_tag     INTEGER NOT NULL,
    content_type  TEXT NOT NULL,
    size_bytes    INTEGER NOT NULL,
    attachment_id TEXT,
    body          BLOB NOT NULL,
    PRIMARY KEY (parent, idx)
);
CREATE TABLE chat_tickets (
    ticket_id       TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    owner_tag       INTEGER NOT NULL,
    status          TEXT NOT NULL,
    updated_at      INTEGER NOT NULL,
    body            BLOB NOT NULL
);
CREATE INDEX chat_tickets_by_conversation ON chat_tickets(conversation_id, updated_at);
ALTER TABLE chat_state ADD COLUMN delivered_sent_seq INTEGER NOT NULL DEFAULT 0;
CREATE TABLE feedback_outbox (
    id         TEXT PRIMARY KEY,
    owner_tag  INTEGER NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'failed_retryable',
                   'failed_permanent')),
    attempts   INTEGER NOT NULL DEFAULT 0,
    error_code TEXT,
    created_at INTEGER NOT NULL,
    body       BLOB NOT NULL
);
CREATE TABLE feedback_cache (
    id         TEXT PRIMARY KEY,
    owner_tag  INTEGER NOT NULL,
    status     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    body       BLOB NOT NULL
);
CREATE INDEX feedback_cache_by_owner ON feedback_cache(owner_tag, created_at);
";

/// Version 8: chat reads that stay O(log n) as a conversation grows. The newest stored `seq`
/// and the newest agent message (delivered markers) come from indexes instead of a scan of the
/// conversation on every send; the unsent messages of a conversation have their own index.
pub const V8: &str = "
CREATE INDEX chat_messages_by_sender ON chat_messages(conversation_id, sender, seq)
    WHERE seq IS NOT NULL;
CREATE INDEX chat_messages_unsent ON chat_messages(conversation_id) WHERE seq IS NULL;
";

pub const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5, V6, V7, V8];
