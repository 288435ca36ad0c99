//! Savings tables, the published rates and the daily accrual.
//!
//! The savings balance itself is a ledger account (`owner` = user, `kind` = `savings`), so the
//! audit covers it; these tables hold what the ledger does not: when interest was last
//! computed, the running total of yields and the daily yield history.
//!
//! Accrual is computed lazily and in order: every change of a savings balance (a deposit, a
//! withdrawal) and every rate change first credits all midnights that have passed, so when a
//! midnight is processed the ledger balance *is* the balance at that midnight. That is what
//! lets the mock catch up any number of missed days after `POST /__mock/clock/advance`, or on
//! the first read after real midnights went by, with the same result as a nightly batch.

use rusqlite::{Connection, OptionalExtension, params};
use upay_protocol::api::money::{
    Category, Counterparty, CounterpartyKind, Transaction, TransactionKind, TransactionStatus,
};
use upay_protocol::api::savings::{SavingsBalance, SavingsYield};
use upay_protocol::money::{Currency, MAX_MINOR, Money};
use upay_protocol::rate::Rate;

use crate::error::{ApiError, ApiResult};
use crate::events::{LiveEvent, ServerEvent};
use crate::ledger::records::{self, NewRow};
use crate::ledger::store::{self as ledger, AccountKind, Leg, Phase};

pub const SCHEMA: &str = "
-- Published annual rates that differ from the built-in ones (control API).
CREATE TABLE savings_rates (
    currency    TEXT PRIMARY KEY,
    annual_rate TEXT NOT NULL,           -- exact decimal, e.g. 0.0185
    updated_at  INTEGER NOT NULL
);
-- One row per user and currency that ever held savings.
CREATE TABLE savings_accounts (
    user_id          TEXT NOT NULL,
    currency         TEXT NOT NULL,
    opened_day       INTEGER NOT NULL,   -- China-time day number of the first deposit
    accrued_through  INTEGER NOT NULL,   -- last China-time day whose closing midnight was credited
    cumulative_yield INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, currency)
) WITHOUT ROWID;
CREATE INDEX savings_accounts_due ON savings_accounts(accrued_through);
-- The daily yield history: one row per day the balance was positive at its closing midnight.
CREATE TABLE savings_yields (
    user_id        TEXT NOT NULL,
    currency       TEXT NOT NULL,
    day            INTEGER NOT NULL,     -- China-time day number the interest is for
    balance        INTEGER NOT NULL,     -- savings balance at that day's closing midnight
    annual_rate    TEXT NOT NULL,
    amount         INTEGER NOT NULL,     -- floor(balance * annual_rate / 365)
    transaction_id TEXT,                 -- NULL when the yield rounded down to zero
    credited_at    INTEGER NOT NULL,
    PRIMARY KEY (user_id, currency, day)
) WITHOUT ROWID;
CREATE INDEX savings_yields_user_day ON savings_yields(user_id, day);
-- Backstop of the check made before every withdrawal: a savings balance never goes negative.
CREATE TRIGGER savings_not_negative BEFORE UPDATE ON ledger_accounts
WHEN NEW.kind = 'savings' AND NEW.posted - NEW.pending_debit < 0
BEGIN SELECT RAISE(ABORT, 'a savings balance never goes below zero'); END;
";

/// The savings products and their built-in annual rates (exact decimals).
pub const PRODUCTS: &[(Currency, &str)] = &[
    (Currency::CNY, "0.0185"),
    (Currency::USD, "0.04"),
    (Currency::HKD, "0.03"),
];

/// The highest annual rate the control API accepts (100 %).
pub const MAX_RATE: &str = "1";

const DAY_MS: i64 = 24 * 3600 * 1000;
const CHINA_OFFSET_MS: i64 = 8 * 3600 * 1000;
const DAYS_PER_YEAR: u128 = 365;

/// How the history shows the other side of a savings move or a yield.
pub const COUNTERPARTY_ID: &str = "savings";
pub const COUNTERPARTY_NAME: &str = "理财 Savings";

/// The China-time day number of `ms`.
pub fn china_day(ms: i64) -> i64 {
    crate::risk::china_day(ms)
}

/// The instant China-time day `day` begins (its opening midnight, Asia/Shanghai).
pub fn day_start(day: i64) -> i64 {
    day * DAY_MS - CHINA_OFFSET_MS
}

/// `YYYY-MM-DD` of a day number (days since 1970-01-01), proleptic Gregorian calendar.
pub fn date_text(day: i64) -> String {
    // Howard Hinnant's civil_from_days.
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

pub fn is_product(currency: Currency) -> bool {
    PRODUCTS.iter().any(|(c, _)| *c == currency)
}

/// One day's interest: `balance × rate / 365`, computed exactly and rounded down once.
pub fn daily_interest(balance: i64, rate: Rate) -> i64 {
    if balance <= 0 {
        return 0;
    }
    let num = u128::from(balance.unsigned_abs()) * u128::from(rate.mantissa());
    let den = DAYS_PER_YEAR * 10_u128.pow(u32::from(rate.scale()));
    // balance ≤ 10^15 and a rate ≤ 1 has a mantissa ≤ 10^12, so the quotient is ≤ balance.
    i64::try_from(num / den).unwrap_or(i64::MAX)
}

fn built_in_rate(currency: Currency) -> Option<Rate> {
    PRODUCTS
        .iter()
        .find(|(c, _)| *c == currency)
        .and_then(|(_, r)| Rate::parse(r).ok())
}

/// The published annual rate of a product.
pub fn rate(conn: &Connection, currency: Currency) -> ApiResult<Rate> {
    let stored: Option<String> = conn
        .prepare_cached("SELECT annual_rate FROM savings_rates WHERE currency = ?1")?
        .query_row([currency.code()], |r| r.get(0))
        .optional()?;
    stored
        .and_then(|t| Rate::parse(&t).ok())
        .or_else(|| built_in_rate(currency))
        .ok_or_else(|| ApiError::internal("no savings rate for a product"))
}

pub fn set_rate(conn: &Connection, currency: Currency, rate: Rate, now: i64) -> ApiResult<()> {
    conn.prepare_cached(
        "INSERT INTO savings_rates (currency, annual_rate, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (currency) DO UPDATE SET annual_rate = excluded.annual_rate, updated_at = excluded.updated_at",
    )?
    .execute(params![currency.code(), rate.to_string(), now])?;
    Ok(())
}

/// The posted savings balance (zero when the user never saved in that currency).
pub fn balance(conn: &Connection, user_id: &str, currency: Currency) -> ApiResult<i64> {
    Ok(conn
        .prepare_cached(
            "SELECT posted - pending_debit FROM ledger_accounts
             WHERE owner = ?1 AND kind = 'savings' AND currency = ?2",
        )?
        .query_row(params![user_id, currency.code()], |r| r.get(0))
        .optional()?
        .unwrap_or(0))
}

struct AccountRow {
    opened_day: i64,
    accrued_through: i64,
    cumulative_yield: i64,
}

fn account(conn: &Connection, user_id: &str, currency: Currency) -> ApiResult<Option<AccountRow>> {
    Ok(conn
        .prepare_cached(
            "SELECT opened_day, accrued_through, cumulative_yield FROM savings_accounts
             WHERE user_id = ?1 AND currency = ?2",
        )?
        .query_row(params![user_id, currency.code()], |r| {
            Ok(AccountRow {
                opened_day: r.get(0)?,
                accrued_through: r.get(1)?,
                cumulative_yield: r.get(2)?,
            })
        })
        .optional()?)
}

/// Opens the savings record of a first deposit: nothing is owed for days before today.
pub fn open(conn: &Connection, user_id: &str, currency: Currency, now: i64) -> ApiResult<()> {
    let today = china_day(now);
    conn.prepare_cached(
        "INSERT INTO savings_accounts (user_id, currency, opened_day, accrued_through)
         VALUES (?1, ?2, ?3, ?4) ON CONFLICT (user_id, currency) DO NOTHING",
    )?
    .execute(params![user_id, currency.code(), today, today - 1])?;
    Ok(())
}

/// Whether any account has a midnight to credit.
pub fn any_due(conn: &Connection, now: i64) -> ApiResult<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM savings_accounts WHERE accrued_through < ?1 LIMIT 1")?
        .exists([china_day(now) - 1])?)
}

/// Credits every passed midnight of every account.
pub fn accrue_all(conn: &Connection, now: i64, events: &mut Vec<ServerEvent>) -> ApiResult<()> {
    let due: Vec<(String, String)> = conn
        .prepare_cached(
            "SELECT user_id, currency FROM savings_accounts WHERE accrued_through < ?1
             ORDER BY user_id, currency",
        )?
        .query_map([china_day(now) - 1], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (user_id, code) in due {
        let currency = Currency::parse(&code)
            .map_err(|_| ApiError::internal("unknown currency in savings_accounts"))?;
        accrue(conn, &user_id, currency, now, events)?;
    }
    Ok(())
}

/// Credits every passed midnight of one account, oldest first, each on the balance left by
/// the previous one (interest compounds daily).
pub fn accrue(
    conn: &Connection,
    user_id: &str,
    currency: Currency,
    now: i64,
    events: &mut Vec<ServerEvent>,
) -> ApiResult<()> {
    let Some(acc) = account(conn, user_id, currency)? else {
        return Ok(());
    };
    let last_closed = china_day(now) - 1;
    if acc.accrued_through >= last_closed {
        return Ok(());
    }
    let rate = rate(conn, currency)?;
    let mut bal = balance(conn, user_id, currency)?;
    let mut cumulative = acc.cumulative_yield;
    for day in acc.accrued_through + 1..=last_closed {
        if bal <= 0 {
            // Nothing can change the balance inside this loop but interest, and interest on
            // nothing is nothing: the remaining days owe nothing either.
            break;
        }
        let credited_at = day_start(day + 1);
        // A balance at the wallet's ceiling stops earning rather than exceed what a value
        // may carry.
        let interest = daily_interest(bal, rate).min(MAX_MINOR - bal);
        let txn = if interest > 0 {
            Some(credit(
                conn,
                user_id,
                Money {
                    minor: interest,
                    currency,
                },
                credited_at,
                events,
            )?)
        } else {
            None
        };
        conn.prepare_cached(
            "INSERT INTO savings_yields (user_id, currency, day, balance, annual_rate, amount, transaction_id, credited_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute(params![
            user_id,
            currency.code(),
            day,
            bal,
            rate.to_string(),
            interest,
            txn.as_ref().map(|t| t.id.as_str()),
            credited_at
        ])?;
        bal += interest;
        cumulative += interest;
    }
    conn.prepare_cached(
        "UPDATE savings_accounts SET accrued_through = ?3, cumulative_yield = ?4
         WHERE user_id = ?1 AND currency = ?2",
    )?
    .execute(params![user_id, currency.code(), last_closed, cumulative])?;
    events.push(ServerEvent {
        user_id: user_id.to_owned(),
        event: LiveEvent::SavingsChanged {
            savings: view(conn, user_id, currency, now)?,
        },
    });
    Ok(())
}

/// One day's interest as a balanced posting (interest account → the user's savings) and its
/// history entry.
fn credit(
    conn: &Connection,
    user_id: &str,
    amount: Money,
    at: i64,
    events: &mut Vec<ServerEvent>,
) -> ApiResult<Transaction> {
    let (posting_id, _) = ledger::record(
        conn,
        "savings_interest",
        &[
            Leg::system(AccountKind::Interest, amount.negate()),
            Leg {
                owner: user_id,
                kind: AccountKind::Savings,
                amount,
            },
        ],
        Phase::Posted,
        at,
    )?;
    let txn = records::insert(
        conn,
        &NewRow {
            user_id,
            posting_id,
            kind: TransactionKind::Interest,
            status: TransactionStatus::Settled,
            amount,
            fee: 0,
            counterparty: Some(counterparty()),
            note: None,
            category: Category::Other,
            merchant: None,
            fx: None,
            hold_id: None,
            created_at: at,
        },
    )?;
    events.push(ServerEvent {
        user_id: user_id.to_owned(),
        event: LiveEvent::TransactionCreated {
            transaction: txn.clone(),
        },
    });
    Ok(txn)
}

pub fn counterparty() -> Counterparty {
    Counterparty {
        kind: CounterpartyKind::Own,
        id: COUNTERPARTY_ID.to_owned(),
        name: COUNTERPARTY_NAME.to_owned(),
    }
}

/// The savings balance of one product as the app shows it.
pub fn view(
    conn: &Connection,
    user_id: &str,
    currency: Currency,
    now: i64,
) -> ApiResult<SavingsBalance> {
    let today = china_day(now);
    let money = |minor| Money { minor, currency };
    let acc = account(conn, user_id, currency)?;
    let yesterday: i64 = conn
        .prepare_cached(
            "SELECT amount FROM savings_yields WHERE user_id = ?1 AND currency = ?2 AND day = ?3",
        )?
        .query_row(params![user_id, currency.code(), today - 1], |r| r.get(0))
        .optional()?
        .unwrap_or(0);
    Ok(SavingsBalance {
        currency,
        balance: money(balance(conn, user_id, currency)?),
        annual_rate: rate(conn, currency)?,
        yesterday_yield: money(yesterday),
        cumulative_yield: money(acc.as_ref().map_or(0, |a| a.cumulative_yield)),
        accrued_through: acc
            .filter(|a| a.accrued_through >= a.opened_day)
            .map(|a| date_text(a.accrued_through)),
        next_accrual_at: day_start(today + 1),
    })
}

/// A page of yields, newest day first (then by currency), after the cursor position.
pub fn yields(
    conn: &Connection,
    user_id: &str,
    currency: Option<Currency>,
    after: Option<(i64, Currency)>,
    limit: u32,
) -> ApiResult<Vec<SavingsYield>> {
    let (after_day, after_ccy) = match after {
        Some((d, c)) => (Some(d), Some(c.code())),
        None => (None, None),
    };
    let mut stmt = conn.prepare_cached(
        "SELECT day, currency, balance, annual_rate, amount, transaction_id, credited_at
         FROM savings_yields
         WHERE user_id = ?1 AND (?2 IS NULL OR currency = ?2)
           AND (?3 IS NULL OR day < ?3 OR (day = ?3 AND currency > ?4))
         ORDER BY day DESC, currency ASC LIMIT ?5",
    )?;
    let rows = stmt.query_map(
        params![
            user_id,
            currency.map(|c| c.code()),
            after_day,
            after_ccy,
            limit
        ],
        |r| {
            let bad = |what: &str| {
                rusqlite::Error::FromSqlConversionFailure(
                    0,
                    rusqlite::types::Type::Text,
                    format!("invalid {what} in savings_yields").into(),
                )
            };
            let currency = Currency::parse(&r.get::<_, String>(1)?).map_err(|_| bad("currency"))?;
            let money = |minor| Money { minor, currency };
            Ok(SavingsYield {
                date: date_text(r.get(0)?),
                currency,
                balance: money(r.get(2)?),
                annual_rate: Rate::parse(&r.get::<_, String>(3)?).map_err(|_| bad("rate"))?,
                amount: money(r.get(4)?),
                transaction_id: r.get(5)?,
                credited_at: r.get(6)?,
            })
        },
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interest_rounds_down_once() {
        let r = Rate::parse("0.0185").unwrap();
        // 10,000.00 CNY: 1,000,000 × 0.0185 / 365 = 50.684… fen.
        assert_eq!(daily_interest(1_000_000, r), 50);
        // 1,000,050 × 0.0185 / 365 = 50.687… fen.
        assert_eq!(daily_interest(1_000_050, r), 50);
        // 19,729.72 CNY is the largest balance earning under one yuan a day.
        assert_eq!(daily_interest(1_972_972, r), 99);
        assert_eq!(daily_interest(1_972_973, r), 100);
        assert_eq!(daily_interest(1, r), 0);
        assert_eq!(daily_interest(0, r), 0);
        assert_eq!(
            daily_interest(MAX_MINOR, Rate::parse("1").unwrap()),
            MAX_MINOR / 365
        );
    }

    #[test]
    fn china_days_and_dates() {
        // 2024-01-01T16:00:00Z is midnight 2024-01-02 in Shanghai.
        let midnight = 1_704_124_800_000;
        assert_eq!(day_start(china_day(midnight)), midnight);
        assert_eq!(china_day(midnight - 1), china_day(midnight) - 1);
        assert_eq!(date_text(china_day(midnight)), "2024-01-02");
        assert_eq!(date_text(0), "1970-01-01");
        assert_eq!(date_text(19_782), "2024-02-29");
        assert_eq!(date_text(-1), "1969-12-31");
    }
}
