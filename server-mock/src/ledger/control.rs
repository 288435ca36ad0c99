//! The ledger's part of the control API (under `/__mock`): the conservation audit, money
//! arriving from outside, bulk seeding for benchmarks, risk review and unfreezing, and the
//! magic values of the catalogue.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};
use upay_protocol::api::money::{
    Balance, Category, Counterparty, CounterpartyKind, HoldStatus, RiskHold, Transaction,
    TransactionKind, TransactionStatus,
};
use upay_protocol::error::{ErrorCode, Problem};
use upay_protocol::money::{Currency, Money};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::records::{self, NewRow};
use super::store::{self, AccountKind, Leg, Phase};
use super::{catalog, holds, ops};
use crate::control::MagicEntry;
use crate::error::{ApiError, ApiResult, Validator};
use crate::extract::{ApiJson, ApiQuery, Sb};
use crate::state::{AppState, Sandbox};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(audit))
        .routes(routes!(incoming_transfer))
        .routes(routes!(seed))
        .routes(routes!(list_holds))
        .routes(routes!(release_hold))
        .routes(routes!(reject_hold))
        .routes(routes!(unfreeze))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CurrencyAudit {
    pub currency: Currency,
    /// Sum of every account's posted balance: must be 0.
    pub posted_sum: i64,
    /// Money reserved by pending postings (debit side) and awaiting them (credit side): equal.
    pub pending_debits: i64,
    pub pending_credits: i64,
    /// What the users hold (posted).
    pub wallets_posted: i64,
    pub accounts: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditReport {
    pub balanced: bool,
    pub currencies: Vec<CurrencyAudit>,
    pub postings: i64,
    pub legs: i64,
    /// At most 20 descriptions of what is wrong.
    pub problems: Vec<String>,
}

const MAX_PROBLEMS: usize = 20;

fn collect(conn: &Connection, sql: &str, problems: &mut Vec<String>, what: &str) -> ApiResult<()> {
    let mut stmt = conn.prepare(sql)?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    for row in rows.take(MAX_PROBLEMS) {
        if problems.len() < MAX_PROBLEMS {
            problems.push(format!("{what}: {}", row?));
        }
    }
    Ok(())
}

/// Recomputes everything from the legs; a full scan, for tests and developers.
pub fn run_audit(conn: &Connection) -> ApiResult<AuditReport> {
    let mut problems = Vec::new();
    let mut currencies = Vec::new();
    let mut stmt = conn.prepare(
        "SELECT currency, SUM(posted), SUM(pending_debit), SUM(pending_credit),
                SUM(CASE WHEN kind = 'wallet' THEN posted ELSE 0 END), COUNT(*)
         FROM ledger_accounts GROUP BY currency ORDER BY currency",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, i64>(4)?,
            r.get::<_, i64>(5)?,
        ))
    })?;
    for row in rows {
        let (code, posted_sum, pending_debits, pending_credits, wallets_posted, accounts) = row?;
        let Ok(currency) = Currency::parse(&code) else {
            problems.push(format!("unknown currency {code} in the ledger"));
            continue;
        };
        if posted_sum != 0 {
            problems.push(format!("{code}: accounts sum to {posted_sum}, not 0"));
        }
        if pending_debits != pending_credits {
            problems.push(format!(
                "{code}: pending debits {pending_debits} differ from pending credits {pending_credits}"
            ));
        }
        currencies.push(CurrencyAudit {
            currency,
            posted_sum,
            pending_debits,
            pending_credits,
            wallets_posted,
            accounts,
        });
    }
    collect(
        conn,
        "SELECT posting_id || ' ' || currency || ' sums to ' || SUM(amount) FROM legs
         GROUP BY posting_id, currency HAVING SUM(amount) <> 0",
        &mut problems,
        "unbalanced posting",
    )?;
    collect(
        conn,
        "SELECT owner || ' ' || currency || ' available ' || (posted - pending_debit) FROM ledger_accounts
         WHERE kind = 'wallet' AND (posted - pending_debit < 0 OR pending_debit < 0 OR pending_credit < 0)",
        &mut problems,
        "negative wallet",
    )?;
    collect(
        conn,
        "SELECT a.owner || ' ' || a.kind || ' ' || a.currency FROM ledger_accounts a
         LEFT JOIN (SELECT l.account_id,
                       SUM(CASE WHEN p.status = 'posted' THEN l.amount ELSE 0 END) AS posted,
                       SUM(CASE WHEN p.status = 'pending' AND l.amount < 0 THEN -l.amount ELSE 0 END) AS pd,
                       SUM(CASE WHEN p.status = 'pending' AND l.amount > 0 THEN l.amount ELSE 0 END) AS pc
                    FROM legs l JOIN postings p ON p.id = l.posting_id GROUP BY l.account_id) s
           ON s.account_id = a.id
         WHERE a.posted <> COALESCE(s.posted, 0) OR a.pending_debit <> COALESCE(s.pd, 0)
            OR a.pending_credit <> COALESCE(s.pc, 0)",
        &mut problems,
        "account totals differ from its legs",
    )?;
    collect(
        conn,
        "SELECT p.id FROM postings p WHERE (SELECT COUNT(*) FROM legs l WHERE l.posting_id = p.id) < 2",
        &mut problems,
        "posting with fewer than two legs",
    )?;
    collect(
        conn,
        "SELECT t.id || ' is ' || t.status || ', its posting ' || p.status FROM transactions t
         JOIN postings p ON p.id = t.posting_id
         WHERE NOT ((t.status = 'pending' AND p.status = 'pending') OR (t.status = 'settled' AND p.status = 'posted')
                    OR (t.status = 'failed' AND p.status = 'voided'))",
        &mut problems,
        "history row out of step with its posting",
    )?;
    let postings = conn.query_row("SELECT COUNT(*) FROM postings", [], |r| r.get(0))?;
    let legs = conn.query_row("SELECT COUNT(*) FROM legs", [], |r| r.get(0))?;
    Ok(AuditReport {
        balanced: problems.is_empty(),
        currencies,
        postings,
        legs,
        problems,
    })
}

/// `GET /__mock/audit`: checks conservation of money. `balanced` is false (with `problems`)
/// when any invariant of the ledger is broken.
#[utoipa::path(get, path = "/__mock/audit", tag = "control", responses((status = 200, body = AuditReport)))]
async fn audit(Sb(sb): Sb) -> ApiResult<Json<AuditReport>> {
    sb.read(run_audit).map(Json)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct IncomingTransfer {
    /// Account id (`U…`) or phone number of the receiving user.
    pub to: String,
    pub amount: Money,
    /// Who sent it, as the user's history shows it.
    pub sender_name: String,
    #[serde(default)]
    pub note: Option<String>,
}

fn find_user(conn: &Connection, to: &str) -> ApiResult<String> {
    let user = if upay_protocol::qr::is_account_id(to) {
        crate::auth::store::user_by_id(conn, to)?
    } else {
        match upay_protocol::api::auth::normalize_phone(to) {
            Some(phone) => crate::auth::store::user_by_phone(conn, &phone)?,
            None => None,
        }
    };
    user.map(|u| u.id)
        .ok_or_else(|| ErrorCode::PayeeNotFound.into())
}

/// Credits a wallet from outside uPay (an "External" sender) with a history row; returns it.
pub fn credit_from_outside(
    conn: &Connection,
    user_id: &str,
    amount: Money,
    sender: &str,
    note: Option<&str>,
    at: i64,
    events: &mut Vec<crate::events::ServerEvent>,
) -> ApiResult<Transaction> {
    let (posting_id, changes) = store::record(
        conn,
        "incoming_transfer",
        &[
            Leg::system(AccountKind::External, amount.negate()),
            Leg::wallet(user_id, amount),
        ],
        Phase::Posted,
        at,
    )?;
    let txn = records::insert(
        conn,
        &NewRow {
            user_id,
            posting_id,
            kind: TransactionKind::TransferIn,
            status: TransactionStatus::Settled,
            amount,
            fee: 0,
            counterparty: Some(Counterparty {
                kind: CounterpartyKind::External,
                id: format!("ext_{}", &super::new_id("")[..12]),
                name: sender.to_owned(),
            }),
            note,
            category: Category::Transfer,
            merchant: None,
            fx: None,
            hold_id: None,
            created_at: at,
        },
    )?;
    ops::push_changes(events, changes, &[(user_id.to_owned(), txn.clone())], true);
    Ok(txn)
}

/// `POST /__mock/incoming-transfer`: money arrives for a user from a sender outside uPay.
#[utoipa::path(post, path = "/__mock/incoming-transfer", tag = "control", request_body = IncomingTransfer,
    responses((status = 201, body = Transaction), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn incoming_transfer(
    Sb(sb): Sb,
    ApiJson(req): ApiJson<IncomingTransfer>,
) -> ApiResult<(StatusCode, Json<Transaction>)> {
    let mut v = Validator::new();
    v.text(&req.sender_name, "sender_name", 1, 64);
    if let Some(note) = &req.note {
        v.text(note, "note", 0, super::transfers::MAX_NOTE_CHARS);
    }
    v.finish()?;
    super::funding::check_amount("amount", req.amount)?;
    let now = sb.clock.now_ms();
    let (txn, events) = sb.write(|tx| {
        let user_id = find_user(tx, &req.to)?;
        let mut events = Vec::new();
        let txn = credit_from_outside(
            tx,
            &user_id,
            req.amount,
            &req.sender_name,
            req.note.as_deref().filter(|n| !n.is_empty()),
            now,
            &mut events,
        )?;
        Ok((txn, events))
    })?;
    holds::publish(&sb, events);
    Ok((StatusCode::CREATED, Json(txn)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SeedUser {
    pub phone: String,
    pub password: String,
    pub full_name: String,
    #[serde(default)]
    pub id_last4: Option<String>,
}

/// A new user and/or money and history for a user.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SeedRequest {
    /// Create this user (hashed with the sandbox's PBKDF2 iterations).
    #[serde(default)]
    pub user: Option<SeedUser>,
    /// Or seed an existing user.
    #[serde(default)]
    pub user_id: Option<String>,
    /// Balances the user ends with (after any generated history), from an outside sender.
    #[serde(default)]
    pub balances: Vec<Money>,
    /// How many CNY history entries to generate (0–1,000,000), ledger-backed, ending an hour
    /// before now: merchant payments and incoming transfers.
    #[serde(default)]
    pub transactions: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SeedResult {
    pub user_id: String,
    pub transactions_created: u32,
    pub balances: Vec<Balance>,
}

pub const MAX_SEED_TRANSACTIONS: u32 = 1_000_000;

/// `POST /__mock/seed`: adds a user and/or balances and generated history (in one database
/// transaction; 100,000 entries take well under a few seconds).
#[utoipa::path(post, path = "/__mock/seed", tag = "control", request_body = SeedRequest,
    responses((status = 201, body = SeedResult), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
async fn seed(
    Sb(sb): Sb,
    ApiJson(req): ApiJson<SeedRequest>,
) -> ApiResult<(StatusCode, Json<SeedResult>)> {
    let mut v = Validator::new();
    v.check(
        req.user.is_some() != req.user_id.is_some(),
        "user",
        "exactly_one",
        "give exactly one of `user` and `user_id`",
    );
    v.check(
        req.transactions <= MAX_SEED_TRANSACTIONS,
        "transactions",
        "out_of_range",
        "at most 1,000,000",
    );
    for (i, b) in req.balances.iter().enumerate() {
        v.check(
            b.minor >= 0 && catalog::wallet_supported(b.currency),
            &format!("balances[{i}]"),
            "invalid",
            "a non-negative amount in a wallet currency",
        );
    }
    let mut phone = None;
    if let Some(u) = &req.user {
        phone = upay_protocol::api::auth::normalize_phone(&u.phone);
        v.check(
            phone.is_some(),
            "user.phone",
            "invalid",
            "is not a valid mobile number",
        );
        v.text(&u.full_name, "user.full_name", 1, 64);
        v.text(&u.password, "user.password", 1, 128);
    }
    v.finish()?;
    let hash = match &req.user {
        Some(u) => {
            let (password, iterations) = (u.password.clone(), sb.settings().pbkdf2_iterations);
            Some(
                tokio::task::spawn_blocking(move || {
                    crate::auth::password::hash(&password, iterations)
                })
                .await
                .map_err(ApiError::internal)?,
            )
        }
        None => None,
    };
    let now = sb.clock.now_ms();
    // Off the async threads: a large seed takes a noticeable time.
    let result = tokio::task::spawn_blocking(move || {
        sb.write(|tx| {
            let user_id = match (&req.user, hash, phone) {
                (Some(u), Some(hash), Some(phone)) => {
                    if crate::auth::store::user_by_phone(tx, &phone)?.is_some() {
                        return Err(ErrorCode::PhoneTaken.into());
                    }
                    let id = crate::auth::new_user_id();
                    crate::auth::store::insert_user(
                        tx,
                        &crate::auth::store::UserRow {
                            id: id.clone(),
                            phone,
                            full_name: u.full_name.trim().to_owned(),
                            id_last4: u.id_last4.clone().unwrap_or_else(|| "0000".to_owned()),
                            password_hash: hash,
                            frozen: false,
                            created_at: now,
                        },
                    )?;
                    super::open_accounts(tx, &id, now)?;
                    id
                }
                _ => {
                    let id = req.user_id.clone().unwrap_or_default();
                    crate::auth::store::user_by_id(tx, &id)?.ok_or_else(ApiError::not_found)?;
                    id
                }
            };
            bulk_history(tx, &user_id, &req.balances, req.transactions, now)?;
            Ok(SeedResult {
                balances: store::balances(tx, &user_id)?,
                user_id,
                transactions_created: req.transactions,
            })
        })
    })
    .await
    .map_err(ApiError::internal)??;
    Ok((StatusCode::CREATED, Json(result)))
}

/// A small deterministic generator (xorshift64*): seeded data is reproducible.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as i64
    }
}

const SEED_SENDERS: &[&str] = &[
    "上海星辰科技有限公司",
    "Acme Payroll",
    "王芳",
    "Chen Jie",
    "家人",
];
const SEED_NOTES: &[&str] = &["午饭", "Team lunch", "打车回家", "groceries", "话费", ""];

/// Generated history, written with prepared statements and one balance update per account at
/// the end, so 100,000 entries are a single fast transaction. Ends with `balances`.
fn bulk_history(
    conn: &Connection,
    user_id: &str,
    balances: &[Money],
    count: u32,
    now: i64,
) -> ApiResult<()> {
    let mut targets: BTreeMap<Currency, i64> = BTreeMap::new();
    for b in balances {
        *targets.entry(b.currency).or_default() += b.minor;
    }
    let mut rng = Rng::new(0x5eed ^ u64::from(count));
    let merchants: Vec<_> = catalog::MERCHANTS
        .iter()
        .filter(|m| m.currency == Currency::CNY && m.status == catalog::MerchantStatus::Active)
        .collect();
    let newest = now - 3_600_000;
    let step = (365 * 24 * 3_600_000 / i64::from(count.max(1))).clamp(1_000, 86_400_000);
    let mut plan = Vec::with_capacity(count as usize);
    let (mut debits, mut credits) = (0i64, 0i64);
    for i in 0..i64::from(count) {
        let at = newest - (i64::from(count) - 1 - i) * step;
        let credit = rng.next_u64() % 5 == 0;
        let amount = rng.range(300, 50_000);
        // Keeping credits below debits makes the opening balance non-negative.
        if credit && credits + amount <= debits {
            credits += amount;
            plan.push((at, amount, None));
        } else {
            debits += amount;
            plan.push((
                at,
                -amount,
                Some(merchants[(rng.next_u64() % merchants.len() as u64) as usize]),
            ));
        }
    }
    let target_cny = targets.remove(&Currency::CNY).unwrap_or(0);
    let opening_cny = target_cny + debits - credits;
    let start = plan.first().map_or(newest, |p| p.0) - 60_000;
    let mut events = Vec::new();
    if opening_cny > 0 {
        let m = Money::new(opening_cny, Currency::CNY).map_err(|_| ErrorCode::LimitExceeded)?;
        credit_from_outside(
            conn,
            user_id,
            m,
            "uPay 测试资金 Test funds",
            None,
            start,
            &mut events,
        )?;
    }
    for (currency, minor) in targets.into_iter().filter(|(_, m)| *m > 0) {
        let m = Money::new(minor, currency).map_err(|_| ErrorCode::LimitExceeded)?;
        credit_from_outside(
            conn,
            user_id,
            m,
            "uPay 测试资金 Test funds",
            None,
            start,
            &mut events,
        )?;
    }
    if plan.is_empty() {
        return Ok(());
    }
    let first_seq = store::reserve_seqs(conn, plan.len() as i64)?;
    let mut posting = conn.prepare("INSERT INTO postings (kind, status, created_at, resolved_at) VALUES (?1, 'posted', ?2, ?2)")?;
    let mut leg = conn.prepare(
        "INSERT INTO legs (posting_id, account_id, currency, amount) VALUES (?1, ?2, 'CNY', ?3)",
    )?;
    let mut deltas: BTreeMap<(String, &'static str), i64> = BTreeMap::new();
    let account = |owner: &str, kind: AccountKind| -> ApiResult<i64> {
        store::ensure_account(conn, owner, kind, Currency::CNY, now)?;
        Ok(conn.query_row(
            "SELECT id FROM ledger_accounts WHERE owner = ?1 AND kind = ?2 AND currency = 'CNY'",
            params![owner, kind.as_str()],
            |r| r.get(0),
        )?)
    };
    let wallet = account(user_id, AccountKind::Wallet)?;
    let external = account(store::SYSTEM, AccountKind::External)?;
    let mut merchant_accounts: BTreeMap<&str, i64> = BTreeMap::new();
    for (i, (at, amount, merchant)) in plan.into_iter().enumerate() {
        let kind = if merchant.is_some() {
            "merchant_payment"
        } else {
            "incoming_transfer"
        };
        posting.execute(params![kind, at])?;
        let posting_id = conn.last_insert_rowid();
        let (other, other_key) = match merchant {
            Some(m) => {
                let id = match merchant_accounts.get(m.id) {
                    Some(id) => *id,
                    None => {
                        let id = account(m.id, AccountKind::Merchant)?;
                        merchant_accounts.insert(m.id, id);
                        id
                    }
                };
                (id, (m.id.to_owned(), AccountKind::Merchant.as_str()))
            }
            None => (
                external,
                (store::SYSTEM.to_owned(), AccountKind::External.as_str()),
            ),
        };
        leg.execute(params![posting_id, wallet, amount])?;
        leg.execute(params![posting_id, other, -amount])?;
        *deltas
            .entry((user_id.to_owned(), AccountKind::Wallet.as_str()))
            .or_default() += amount;
        *deltas.entry(other_key).or_default() -= amount;
        let money = Money {
            minor: amount,
            currency: Currency::CNY,
        };
        let counterparty = match merchant {
            Some(m) => Counterparty {
                kind: CounterpartyKind::Merchant,
                id: m.id.to_owned(),
                name: m.name.to_owned(),
            },
            None => Counterparty {
                kind: CounterpartyKind::External,
                id: format!("ext_seed{}", i % SEED_SENDERS.len()),
                name: SEED_SENDERS[i % SEED_SENDERS.len()].to_owned(),
            },
        };
        let note = SEED_NOTES[i % SEED_NOTES.len()];
        records::insert_with(
            conn,
            &NewRow {
                user_id,
                posting_id,
                kind: if merchant.is_some() {
                    TransactionKind::MerchantPayment
                } else {
                    TransactionKind::TransferIn
                },
                status: TransactionStatus::Settled,
                amount: money,
                fee: 0,
                counterparty: Some(counterparty),
                note: (!note.is_empty()).then_some(note),
                category: merchant.map_or(Category::Transfer, |m| m.category),
                merchant,
                fx: None,
                hold_id: None,
                created_at: at,
            },
            &super::new_id("tx_"),
            first_seq + i as i64,
        )?;
    }
    let mut update = conn.prepare(
        "UPDATE ledger_accounts SET posted = posted + ?3, version = version + 1, updated_at = ?4
         WHERE owner = ?1 AND kind = ?2 AND currency = 'CNY'",
    )?;
    for ((owner, kind), delta) in deltas {
        update.execute(params![owner, kind, delta, now])?;
    }
    Ok(())
}

#[derive(Debug, Deserialize, ToSchema, utoipa::IntoParams)]
pub struct HoldQuery {
    /// `pending` (default), `released` or `rejected`.
    pub status: Option<HoldStatus>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HoldList {
    pub holds: Vec<RiskHold>,
}

/// `GET /__mock/risk/holds`: operations held for review (pending ones by default), newest first.
#[utoipa::path(get, path = "/__mock/risk/holds", tag = "control", params(HoldQuery),
    responses((status = 200, body = HoldList)))]
async fn list_holds(Sb(sb): Sb, ApiQuery(q): ApiQuery<HoldQuery>) -> ApiResult<Json<HoldList>> {
    let status = q.status.unwrap_or(HoldStatus::Pending);
    let holds = sb.read(|c| {
        let ids: Vec<String> = c
            .prepare_cached("SELECT id FROM risk_holds WHERE status = ?1 ORDER BY created_at DESC, id LIMIT 200")?
            .query_map([status.as_str()], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        ids.iter()
            .filter_map(|id| holds::get(c, None, id).transpose())
            .collect::<ApiResult<Vec<_>>>()
    })?;
    Ok(Json(HoldList { holds }))
}

/// `POST /__mock/risk/holds/{id}/release`: the review passes; the operation completes.
#[utoipa::path(post, path = "/__mock/risk/holds/{id}/release", tag = "control", params(("id" = String, Path)),
    responses((status = 200, body = RiskHold), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn release_hold(Sb(sb): Sb, Path(id): Path<String>) -> ApiResult<Json<RiskHold>> {
    resolve(&sb, &id, true)
}

/// `POST /__mock/risk/holds/{id}/reject`: the review fails; the money goes back.
#[utoipa::path(post, path = "/__mock/risk/holds/{id}/reject", tag = "control", params(("id" = String, Path)),
    responses((status = 200, body = RiskHold), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn reject_hold(Sb(sb): Sb, Path(id): Path<String>) -> ApiResult<Json<RiskHold>> {
    resolve(&sb, &id, false)
}

fn resolve(sb: &Sandbox, id: &str, release: bool) -> ApiResult<Json<RiskHold>> {
    holds::resolve(sb, id, release).map(Json)
}

/// `POST /__mock/users/{id}/unfreeze`: what support does after a "this wasn't me" report.
#[utoipa::path(post, path = "/__mock/users/{id}/unfreeze", tag = "control", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
async fn unfreeze(Sb(sb): Sb, Path(id): Path<String>) -> ApiResult<StatusCode> {
    sb.write(|tx| {
        crate::auth::store::user_by_id(tx, &id)?.ok_or_else(ApiError::not_found)?;
        crate::auth::store::set_frozen(tx, &id, false)?;
        Ok(StatusCode::NO_CONTENT)
    })
}

fn entry(input: &str, value: &str, effect: &str) -> MagicEntry {
    MagicEntry {
        input: input.to_owned(),
        value: value.to_owned(),
        effect: effect.to_owned(),
    }
}

/// The ledger's magic values for `GET /__mock/magic`.
pub fn magic_values() -> Vec<MagicEntry> {
    let mut out: Vec<MagicEntry> = super::cards::MAGIC_CARDS
        .iter()
        .map(|(number, effect)| entry("card number", number, effect))
        .collect();
    out.extend([
        entry("amount", "666.66", "the risk engine holds the payment for review (release or reject it under /__mock/risk/holds)"),
        entry("amount", "444.44", "the risk engine blocks the payment (risk_blocked)"),
        entry("amount", "222.22", "the risk engine asks for a device confirmation (sca_required)"),
        entry("withdrawal amount", "x.13 (e.g. 100.13)", "the withdrawal fails at settlement (bank_rejected)"),
        entry("amount", "≥ CNY 2,000.00 equivalent", "needs a device confirmation (sca_required)"),
        entry("amount", "> CNY 50,000.00 equivalent per day", "limit_exceeded"),
        entry("transfer payee", "an account never paid before", "needs a device confirmation (sca_required)"),
        entry("clock", "POST /__mock/clock/advance {\"seconds\": 7200}", "pending withdrawals settle (they arrive 2 hours after they are made)"),
        entry("clock", "POST /__mock/clock/advance {\"seconds\": 31}", "FX quotes expire (quote_expired, with a fresh quote in data)"),
    ]);
    for m in catalog::MERCHANTS {
        let what = match m.status {
            catalog::MerchantStatus::Active => {
                format!("{} ({}, {}): payable", m.name, m.country, m.currency)
            }
            catalog::MerchantStatus::NotSupported => format!("{}: merchant_not_supported", m.name),
            catalog::MerchantStatus::Blocked => {
                format!("{}: payments blocked by risk (risk_blocked)", m.name)
            }
        };
        out.push(entry("merchant code", &m.qr(), &what));
    }
    out
}
