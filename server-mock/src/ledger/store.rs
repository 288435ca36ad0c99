//! The double-entry core: ledger accounts, postings and their legs, and the sandbox-wide change
//! sequence. Every movement of money is one posting whose legs sum to zero per currency;
//! account balances are running totals of those legs, updated in the same statement that checks
//! the wallet rules, so a balance can never be observed half-applied or below zero.
//!
//! A posting is either `posted` at once, or `pending` (a hold: debits reserve money, credits are
//! not spendable yet) and later `posted` or `voided`. Legs never change; a posting changes only
//! once, out of `pending` (a trigger refuses anything else).

use rusqlite::{Connection, OptionalExtension, params};
use upay_protocol::api::money::Balance;
use upay_protocol::error::ErrorCode;
use upay_protocol::money::{Currency, MAX_MINOR, Money};

use crate::error::{ApiError, ApiResult};

pub const SCHEMA: &str = "
-- One row: the sandbox's sync epoch and the last change sequence number handed out.
CREATE TABLE ledger_meta (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    epoch      TEXT NOT NULL,             -- random; a reset starts a new one, expiring old cursors
    change_seq INTEGER NOT NULL
);
CREATE TABLE ledger_accounts (
    id             INTEGER PRIMARY KEY,
    owner          TEXT NOT NULL,         -- user id, merchant id, or 'system'
    kind           TEXT NOT NULL,         -- wallet, merchant, card_network, withdrawal_clearing, fees, fx, external
    currency       TEXT NOT NULL,
    posted         INTEGER NOT NULL DEFAULT 0,
    pending_debit  INTEGER NOT NULL DEFAULT 0,  -- magnitude of the pending negative legs
    pending_credit INTEGER NOT NULL DEFAULT 0,  -- sum of the pending positive legs
    version        INTEGER NOT NULL DEFAULT 0,
    updated_at     INTEGER NOT NULL,
    UNIQUE (owner, kind, currency),
    CHECK (pending_debit >= 0 AND pending_credit >= 0),
    -- Backstops of the checks made where legs are applied.
    CONSTRAINT wallet_not_negative CHECK (kind <> 'wallet' OR posted - pending_debit >= 0),
    CONSTRAINT wallet_cap CHECK (kind <> 'wallet' OR posted + pending_credit <= 1000000000000000)
);
CREATE TABLE postings (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,            -- the operation kind, for the audit trail
    status      TEXT NOT NULL,            -- pending, posted, voided
    created_at  INTEGER NOT NULL,
    resolved_at INTEGER
);
CREATE TRIGGER postings_resolve_once BEFORE UPDATE ON postings
WHEN OLD.status <> 'pending' OR NEW.status NOT IN ('posted', 'voided')
     OR NEW.kind IS NOT OLD.kind OR NEW.created_at IS NOT OLD.created_at
BEGIN SELECT RAISE(ABORT, 'a posting changes only once, out of pending'); END;
CREATE TABLE legs (
    posting_id INTEGER NOT NULL REFERENCES postings(id),
    account_id INTEGER NOT NULL REFERENCES ledger_accounts(id),
    currency   TEXT NOT NULL,
    amount     INTEGER NOT NULL CHECK (amount <> 0)
);
CREATE INDEX legs_posting ON legs(posting_id);
CREATE TRIGGER legs_immutable BEFORE UPDATE ON legs
BEGIN SELECT RAISE(ABORT, 'legs are immutable'); END;

-- The user-facing history: one row per user per operation.
CREATE TABLE transactions (
    id                TEXT PRIMARY KEY,
    user_id           TEXT NOT NULL,
    posting_id        INTEGER NOT NULL REFERENCES postings(id),
    kind              TEXT NOT NULL,
    status            TEXT NOT NULL,      -- pending, settled, failed
    amount            INTEGER NOT NULL,   -- signed effect on the wallet
    currency          TEXT NOT NULL,
    fee               INTEGER NOT NULL DEFAULT 0,
    counterparty_kind TEXT,
    counterparty_id   TEXT,
    counterparty_name TEXT,
    note              TEXT,
    category          TEXT NOT NULL,
    merchant_id       TEXT,
    fx_rate           TEXT,
    fx_amount         INTEGER,
    fx_currency       TEXT,
    hold_id           TEXT,
    failure_code      TEXT,
    search_text       TEXT NOT NULL,      -- lower-cased counterparty, merchant names and note
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    change_seq        INTEGER NOT NULL
);
CREATE INDEX transactions_user_time ON transactions(user_id, created_at, id);
CREATE UNIQUE INDEX transactions_user_seq ON transactions(user_id, change_seq);
CREATE INDEX transactions_user_counterparty ON transactions(user_id, counterparty_id);
CREATE INDEX transactions_posting ON transactions(posting_id);

-- Linked cards: a random token and what can be shown; never the number or the CVV.
CREATE TABLE cards (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL,
    brand        TEXT NOT NULL,
    last4        TEXT NOT NULL,
    expiry_month INTEGER NOT NULL,
    expiry_year  INTEGER NOT NULL,
    holder_name  TEXT NOT NULL,
    behavior     TEXT NOT NULL,           -- magic test behaviour chosen at link time
    is_default   INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    removed_at   INTEGER
);
CREATE INDEX cards_user ON cards(user_id, created_at);

CREATE TABLE withdrawals (
    id             TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL,
    transaction_id TEXT NOT NULL,
    posting_id     INTEGER NOT NULL,
    card_id        TEXT NOT NULL,
    card_label     TEXT NOT NULL,
    amount         INTEGER NOT NULL,
    currency       TEXT NOT NULL,
    fee            INTEGER NOT NULL,
    status         TEXT NOT NULL,         -- pending, settled, failed
    due_at         INTEGER NOT NULL,      -- expected arrival: the mock clock settles it then
    fails          INTEGER NOT NULL,      -- decided at creation (magic amount, card, scenario)
    on_hold        INTEGER NOT NULL DEFAULT 0,
    failure_code   TEXT,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    settled_at     INTEGER
);
CREATE INDEX withdrawals_user ON withdrawals(user_id, created_at);
CREATE INDEX withdrawals_due ON withdrawals(due_at) WHERE status = 'pending';

CREATE TABLE fx_quotes (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL,
    from_ccy    TEXT NOT NULL,
    to_ccy      TEXT NOT NULL,
    rate        TEXT NOT NULL,
    sell        INTEGER NOT NULL,
    fee         INTEGER NOT NULL,
    buy         INTEGER NOT NULL,
    fixed_side  TEXT NOT NULL,            -- sell or buy: what a fresh quote keeps
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
);

CREATE TABLE risk_holds (
    id             TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL,
    transaction_id TEXT NOT NULL,
    posting_id     INTEGER NOT NULL,
    status         TEXT NOT NULL,         -- pending, released, rejected
    decision       TEXT NOT NULL,         -- JSON RiskDecision
    created_at     INTEGER NOT NULL,
    resolved_at    INTEGER
);
CREATE INDEX risk_holds_user ON risk_holds(user_id, created_at);
";

/// Largest magnitude a system account may reach; far below `i64::MAX`, so a leg (at most
/// `MAX_MINOR`) applied to an account within it can never overflow.
const SYSTEM_ACCOUNT_LIMIT: i64 = 4_000_000_000_000_000_000;

/// What a ledger account is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountKind {
    /// A user's balance in one currency: never negative.
    Wallet,
    /// What a merchant has been paid.
    Merchant,
    /// Money from and to card issuers (top-ups come from here).
    CardNetwork,
    /// Withdrawals between the user's debit and the bank's acknowledgement.
    WithdrawalClearing,
    /// Fees earned.
    Fees,
    /// The FX desk's position per currency.
    Fx,
    /// Senders outside uPay (incoming transfers, demo opening balances).
    External,
    /// A user's savings (理财) balance in one currency: never negative (a trigger of the
    /// savings migration refuses it).
    Savings,
    /// Interest paid out on savings.
    Interest,
}

impl AccountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::Wallet => "wallet",
            AccountKind::Merchant => "merchant",
            AccountKind::CardNetwork => "card_network",
            AccountKind::WithdrawalClearing => "withdrawal_clearing",
            AccountKind::Fees => "fees",
            AccountKind::Fx => "fx",
            AccountKind::External => "external",
            AccountKind::Savings => "savings",
            AccountKind::Interest => "interest",
        }
    }
}

pub const SYSTEM: &str = "system";

/// One side of a posting.
#[derive(Debug, Clone, Copy)]
pub struct Leg<'a> {
    pub owner: &'a str,
    pub kind: AccountKind,
    /// Signed: negative takes money out of the account.
    pub amount: Money,
}

impl<'a> Leg<'a> {
    pub fn wallet(user_id: &'a str, amount: Money) -> Leg<'a> {
        Leg {
            owner: user_id,
            kind: AccountKind::Wallet,
            amount,
        }
    }

    pub fn system(kind: AccountKind, amount: Money) -> Leg<'a> {
        Leg {
            owner: SYSTEM,
            kind,
            amount,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Posted,
    Pending,
}

/// A wallet balance after a change, for the live event.
#[derive(Debug, Clone)]
pub struct WalletChange {
    pub user_id: String,
    pub balance: Balance,
}

fn balance_of(
    currency: Currency,
    posted: i64,
    pending_debit: i64,
    pending_credit: i64,
    version: i64,
    updated_at: i64,
) -> Balance {
    let money = |minor| Money { minor, currency };
    Balance {
        currency,
        available: money(posted - pending_debit),
        pending_out: money(pending_debit),
        pending_in: money(pending_credit),
        version,
        updated_at,
    }
}

fn currency_of(code: &str) -> rusqlite::Result<Currency> {
    Currency::parse(code).map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            "unknown currency in the ledger".into(),
        )
    })
}

/// Hands out the next number of the sandbox-wide change order (creating the epoch on first use).
pub fn next_seq(conn: &Connection) -> ApiResult<i64> {
    reserve_seqs(conn, 1)
}

/// Reserves `n` consecutive change numbers; returns the first.
pub fn reserve_seqs(conn: &Connection, n: i64) -> ApiResult<i64> {
    let last: Option<i64> = conn
        .prepare_cached(
            "UPDATE ledger_meta SET change_seq = change_seq + ?1 WHERE id = 1 RETURNING change_seq",
        )?
        .query_row([n], |r| r.get(0))
        .optional()?;
    match last {
        Some(last) => Ok(last - n + 1),
        None => {
            conn.execute(
                "INSERT INTO ledger_meta (id, epoch, change_seq) VALUES (1, ?1, ?2)",
                params![new_epoch(), n],
            )?;
            Ok(1)
        }
    }
}

fn new_epoch() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// (epoch, last change number); a fresh sandbox gets its epoch here.
pub fn sync_position(conn: &Connection) -> ApiResult<(String, i64)> {
    let row = conn
        .prepare_cached("SELECT epoch, change_seq FROM ledger_meta WHERE id = 1")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    match row {
        Some(row) => Ok(row),
        None => {
            let epoch = new_epoch();
            conn.execute(
                "INSERT INTO ledger_meta (id, epoch, change_seq) VALUES (1, ?1, 0)",
                [&epoch],
            )?;
            Ok((epoch, 0))
        }
    }
}

/// Opens an account if it does not exist yet.
pub fn ensure_account(
    conn: &Connection,
    owner: &str,
    kind: AccountKind,
    currency: Currency,
    now: i64,
) -> ApiResult<()> {
    conn.prepare_cached(
        "INSERT INTO ledger_accounts (owner, kind, currency, updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (owner, kind, currency) DO NOTHING",
    )?
    .execute(params![owner, kind.as_str(), currency.code(), now])?;
    Ok(())
}

/// Records a balanced posting and applies its legs. A wallet that would go below zero fails the
/// whole call with `insufficient_funds` (the caller's transaction rolls back).
pub fn record(
    conn: &Connection,
    kind: &str,
    legs: &[Leg<'_>],
    phase: Phase,
    now: i64,
) -> ApiResult<(i64, Vec<WalletChange>)> {
    check_balanced(legs)?;
    let status = match phase {
        Phase::Posted => "posted",
        Phase::Pending => "pending",
    };
    let resolved_at = (phase == Phase::Posted).then_some(now);
    conn.prepare_cached(
        "INSERT INTO postings (kind, status, created_at, resolved_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![kind, status, now, resolved_at])?;
    let posting_id = conn.last_insert_rowid();
    let mut changes = Vec::new();
    for leg in legs {
        let (account_id, change) = apply_leg(conn, leg, phase, now)?;
        conn.prepare_cached(
            "INSERT INTO legs (posting_id, account_id, currency, amount) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![
            posting_id,
            account_id,
            leg.amount.currency.code(),
            leg.amount.minor
        ])?;
        changes.extend(change);
    }
    Ok((posting_id, changes))
}

fn check_balanced(legs: &[Leg<'_>]) -> ApiResult<()> {
    let mut sums: Vec<(Currency, i128)> = Vec::new();
    for leg in legs {
        if leg.amount.minor == 0 || leg.amount.minor.unsigned_abs() > MAX_MINOR as u64 {
            return Err(ApiError::internal("a leg is zero or out of range"));
        }
        match sums.iter_mut().find(|(c, _)| *c == leg.amount.currency) {
            Some((_, s)) => *s += i128::from(leg.amount.minor),
            None => sums.push((leg.amount.currency, i128::from(leg.amount.minor))),
        }
    }
    if sums.iter().any(|(_, s)| *s != 0) {
        return Err(ApiError::internal("unbalanced posting"));
    }
    Ok(())
}

/// Applies one leg in one statement whose `WHERE` carries the rules: a wallet's available
/// money never below zero, a wallet never above `MAX_MINOR`, a system account far from
/// overflow. No row changed means a rule (or a missing account) said no.
fn apply_leg(
    conn: &Connection,
    leg: &Leg<'_>,
    phase: Phase,
    now: i64,
) -> ApiResult<(i64, Option<WalletChange>)> {
    let amount = leg.amount.minor;
    let pending = phase == Phase::Pending;
    let mut stmt = conn.prepare_cached(
        "UPDATE ledger_accounts SET
             posted = posted + CASE WHEN ?1 THEN 0 ELSE ?2 END,
             pending_debit = pending_debit + CASE WHEN ?1 AND ?2 < 0 THEN -?2 ELSE 0 END,
             pending_credit = pending_credit + CASE WHEN ?1 AND ?2 > 0 THEN ?2 ELSE 0 END,
             version = version + 1, updated_at = ?3
         WHERE owner = ?4 AND kind = ?5 AND currency = ?6
           AND CASE WHEN kind = 'wallet'
                    THEN (?2 > 0 OR posted - pending_debit + ?2 >= 0)
                     AND (?2 < 0 OR posted + pending_credit + ?2 <= ?7)
                    ELSE abs(posted) <= ?8 AND pending_debit <= ?8 AND pending_credit <= ?8 END
         RETURNING id, posted, pending_debit, pending_credit, version",
    )?;
    let args = params![
        pending,
        amount,
        now,
        leg.owner,
        leg.kind.as_str(),
        leg.amount.currency.code(),
        MAX_MINOR,
        SYSTEM_ACCOUNT_LIMIT
    ];
    let row = stmt
        .query_row(args, |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .optional()?;
    let (id, posted, pd, pc, version): (i64, i64, i64, i64, i64) = match row {
        Some(row) => row,
        None => {
            let exists = conn
                .prepare_cached(
                    "SELECT 1 FROM ledger_accounts WHERE owner = ?1 AND kind = ?2 AND currency = ?3",
                )?
                .exists(params![
                    leg.owner,
                    leg.kind.as_str(),
                    leg.amount.currency.code()
                ])?;
            if exists || (leg.kind == AccountKind::Wallet && amount < 0) {
                return Err(if amount < 0 && leg.kind == AccountKind::Wallet {
                    ErrorCode::InsufficientFunds.into()
                } else {
                    ApiError::new(ErrorCode::LimitExceeded)
                        .detail("the balance would exceed the largest amount the wallet holds")
                });
            }
            ensure_account(conn, leg.owner, leg.kind, leg.amount.currency, now)?;
            return apply_leg(conn, leg, phase, now);
        }
    };
    let change = (leg.kind == AccountKind::Wallet).then(|| WalletChange {
        user_id: leg.owner.to_owned(),
        balance: balance_of(leg.amount.currency, posted, pd, pc, version, now),
    });
    Ok((id, change))
}

/// Moves a pending posting to `posted` (`post = true`) or `voided`.
pub fn resolve(
    conn: &Connection,
    posting_id: i64,
    post: bool,
    now: i64,
) -> ApiResult<Vec<WalletChange>> {
    let changed = conn
        .prepare_cached(
            "UPDATE postings SET status = ?2, resolved_at = ?3 WHERE id = ?1 AND status = 'pending'",
        )?
        .execute(params![
            posting_id,
            if post { "posted" } else { "voided" },
            now
        ])?;
    if changed != 1 {
        return Err(ErrorCode::HoldNotPending.into());
    }
    let legs: Vec<(i64, i64)> = conn
        .prepare_cached("SELECT account_id, amount FROM legs WHERE posting_id = ?1")?
        .query_map([posting_id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut changes = Vec::new();
    for (account_id, amount) in legs {
        let (owner, kind, currency, posted, pd, pc, version): (
            String,
            String,
            String,
            i64,
            i64,
            i64,
            i64,
        ) = conn
            .prepare_cached(
                "UPDATE ledger_accounts SET
                     posted = posted + CASE WHEN ?2 THEN ?3 ELSE 0 END,
                     pending_debit = pending_debit - CASE WHEN ?3 < 0 THEN -?3 ELSE 0 END,
                     pending_credit = pending_credit - CASE WHEN ?3 > 0 THEN ?3 ELSE 0 END,
                     version = version + 1, updated_at = ?4
                 WHERE id = ?1
                 RETURNING owner, kind, currency, posted, pending_debit, pending_credit, version",
            )?
            .query_row(params![account_id, post, amount, now], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            })?;
        if kind == AccountKind::Wallet.as_str() {
            changes.push(WalletChange {
                user_id: owner,
                balance: balance_of(currency_of(&currency)?, posted, pd, pc, version, now),
            });
        }
    }
    Ok(changes)
}

/// Every wallet balance of a user, in currency order.
pub fn balances(conn: &Connection, user_id: &str) -> ApiResult<Vec<Balance>> {
    let mut stmt = conn.prepare_cached(
        "SELECT currency, posted, pending_debit, pending_credit, version, updated_at
         FROM ledger_accounts WHERE owner = ?1 AND kind = 'wallet' ORDER BY currency",
    )?;
    let rows = stmt.query_map([user_id], |r| {
        Ok(balance_of(
            currency_of(&r.get::<_, String>(0)?)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
        ))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Money a wallet can spend now (zero when it has no account in that currency).
pub fn available(conn: &Connection, user_id: &str, currency: Currency) -> ApiResult<i64> {
    Ok(conn
        .prepare_cached(
            "SELECT posted - pending_debit FROM ledger_accounts
             WHERE owner = ?1 AND kind = 'wallet' AND currency = ?2",
        )?
        .query_row(params![user_id, currency.code()], |r| r.get(0))
        .optional()?
        .unwrap_or(0))
}
