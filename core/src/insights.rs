//! Insights computed from the cache (so they work offline): spending by category, merchant and
//! month, income against spending, monthly statements (账单), and reminders for recurring
//! bills on a local schedule. Spending is money out to merchants and people (settled or
//! pending, not failed); income is money in from people and refunds; top-ups, withdrawals and
//! conversions move the user's own money and count as neither. Months are calendar months in
//! the user's UTC offset.

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};
use upay_protocol::api::money as wire;
use upay_protocol::money::Currency;

use crate::core::Core;
use crate::crypto::Place;
use crate::error::{CoreError, CoreResult, ErrorCode};
use crate::model::{Amount, Category, now_ms};
use crate::store::mirror::{civil_from_days, days_from_civil};

const SPENDING: &str = "kind IN ('merchant_payment', 'transfer_out') AND status != 'failed'";

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CategoryTotal {
    pub category: Category,
    /// Positive: money spent.
    pub total: Amount,
    pub count: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct MerchantTotal {
    pub merchant_id: String,
    pub name: String,
    pub total: Amount,
    pub count: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct MonthSummary {
    /// `yyyymm`, e.g. 202405.
    pub month: i32,
    pub income: Amount,
    pub spending: Amount,
    pub fees: Amount,
    pub by_category: Vec<CategoryTotal>,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Statement {
    pub month: i32,
    pub currency: String,
    pub income: Amount,
    pub spending: Amount,
    pub fees: Amount,
    /// Top-ups into the wallet (own money).
    pub top_ups: Amount,
    /// Withdrawals out of the wallet (own money).
    pub withdrawals: Amount,
    pub transaction_count: u32,
    pub by_category: Vec<CategoryTotal>,
    pub top_merchants: Vec<MerchantTotal>,
}

/// Epoch ms of the first instant of month `yyyymm` in the user's offset.
pub fn month_start(month: i32, offset_ms: i64) -> Option<i64> {
    let (y, m) = (i64::from(month / 100), i64::from(month % 100));
    if !(1..=12).contains(&m) || !(1970..=9999).contains(&y) {
        return None;
    }
    Some(days_from_civil(y, m, 1) * 86_400_000 - offset_ms)
}

fn next_month(month: i32) -> i32 {
    if month % 100 == 12 {
        (month / 100 + 1) * 100 + 1
    } else {
        month + 1
    }
}

fn currency(core: &Core, c: &str) -> CoreResult<Currency> {
    Currency::parse(c).map_err(|_| CoreError::invalid("currency").localized(core.zh()))
}

fn amount(minor: i64, c: Currency) -> Amount {
    Amount {
        minor,
        currency: c.code().to_owned(),
    }
}

fn month_range(core: &Core, from_month: i32, to_month: i32) -> CoreResult<(i64, i64)> {
    let off = core.settings.utc_offset_ms;
    let start = month_start(from_month, off)
        .ok_or_else(|| CoreError::invalid("from_month").localized(core.zh()))?;
    let end = month_start(to_month, off)
        .and_then(|_| month_start(next_month(to_month), off))
        .ok_or_else(|| CoreError::invalid("to_month").localized(core.zh()))?;
    if end <= start {
        return Err(CoreError::invalid("to_month").localized(core.zh()));
    }
    Ok((start, end))
}

/// Spending per category between two instants.
pub fn by_category(
    core: &Core,
    from: i64,
    to: i64,
    currency_code: &str,
) -> CoreResult<Vec<CategoryTotal>> {
    // Signed out, the cache kept for the next sign-in is nobody's to analyse.
    core.unlocked_user()?;
    let cur = currency(core, currency_code)?;
    core.store.read(|c| {
        let mut stmt = c.prepare_cached(&format!(
            "SELECT category, -SUM(amount), COUNT(*) FROM transactions
             WHERE created_at >= ?1 AND created_at < ?2 AND currency = ?3 AND {SPENDING}
             GROUP BY category ORDER BY 2 DESC"
        ))?;
        let rows = stmt.query_map(params![from, to, cur.code()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (cat, total, count) = row?;
            if let Some(category) = wire::Category::parse(&cat) {
                out.push(CategoryTotal {
                    category: category.into(),
                    total: amount(total, cur),
                    count: count as u32,
                });
            }
        }
        Ok(out)
    })
}

/// Spending per merchant (the top `limit`) between two instants; names are decrypted only for
/// the merchants shown.
pub fn by_merchant(
    core: &Core,
    from: i64,
    to: i64,
    currency_code: &str,
    limit: u32,
) -> CoreResult<Vec<MerchantTotal>> {
    core.ensure_unlocked()?;
    let (user, _) = core.user()?;
    let cur = currency(core, currency_code)?;
    let zh = core.zh();
    core.store.read(|c| {
        let mut stmt = c.prepare_cached(&format!(
            "SELECT merchant_tag, -SUM(amount), COUNT(*), MAX(rowid) FROM transactions
             WHERE created_at >= ?1 AND created_at < ?2 AND currency = ?3 AND {SPENDING}
               AND merchant_tag IS NOT NULL
             GROUP BY merchant_tag ORDER BY 2 DESC LIMIT ?4"
        ))?;
        let rows: Vec<(i64, i64, i64)> = stmt
            .query_map(params![from, to, cur.code(), limit.min(100)], |r| {
                Ok((r.get(1)?, r.get(2)?, r.get(3)?))
            })?
            .collect::<Result<_, _>>()?;
        let mut one = c.prepare_cached(&format!(
            "SELECT {} FROM transactions WHERE rowid = ?1",
            crate::store::mirror::TX_COLUMNS
        ))?;
        let mut out = Vec::with_capacity(rows.len());
        for (total, count, rowid) in rows {
            let view = one
                .query_row([rowid], |r| {
                    crate::store::mirror::tx_from_row(&core.cipher, &user, zh, r)
                })
                .optional()?
                .flatten();
            let Some(view) = view else { continue };
            out.push(MerchantTotal {
                merchant_id: view.counterparty_id.clone().unwrap_or_default(),
                name: view
                    .merchant_name
                    .or(view.counterparty_name)
                    .unwrap_or_default(),
                total: amount(total, cur),
                count: count as u32,
            });
        }
        Ok(out)
    })
}

/// Income, spending, fees and spending by category for each month from `from_month` to
/// `to_month` (inclusive, `yyyymm`).
pub fn monthly(
    core: &Core,
    from_month: i32,
    to_month: i32,
    currency_code: &str,
) -> CoreResult<Vec<MonthSummary>> {
    core.unlocked_user()?;
    let cur = currency(core, currency_code)?;
    month_range(core, from_month, to_month)?;
    core.store.read(|c| {
        // Streams the analysis index in its own order: no sort, no table access.
        let mut stmt = c.prepare_cached(
            "SELECT month, kind, status, category, SUM(amount), SUM(fee), COUNT(*) FROM transactions
             WHERE currency = ?3 AND month >= ?1 AND month <= ?2
             GROUP BY month, category, kind, status",
        )?;
        let mut months: BTreeMap<i64, MonthSummary> = BTreeMap::new();
        let mut rows = stmt.query(params![from_month, to_month, cur.code()])?;
        while let Some(r) = rows.next()? {
            let month: i64 = r.get(0)?;
            let kind: String = r.get(1)?;
            let status: String = r.get(2)?;
            let category = wire::Category::parse(&r.get::<_, String>(3)?);
            let (sum, fees, count): (i64, i64, i64) = (r.get(4)?, r.get(5)?, r.get(6)?);
            let m = months.entry(month).or_insert_with(|| MonthSummary {
                month: month as i32,
                income: amount(0, cur),
                spending: amount(0, cur),
                fees: amount(0, cur),
                by_category: Vec::new(),
            });
            if status == "failed" {
                continue;
            }
            m.fees.minor += fees;
            match kind.as_str() {
                "merchant_payment" | "transfer_out" => {
                    m.spending.minor -= sum;
                    if let Some(cat) = category {
                        let cat: Category = cat.into();
                        match m.by_category.iter_mut().find(|t| t.category == cat) {
                            Some(t) => {
                                t.total.minor -= sum;
                                t.count += count as u32;
                            }
                            None => m.by_category.push(CategoryTotal {
                                category: cat,
                                total: amount(-sum, cur),
                                count: count as u32,
                            }),
                        }
                    }
                }
                "transfer_in" | "refund" => m.income.minor += sum,
                _ => {}
            }
        }
        let mut out: Vec<MonthSummary> = months.into_values().collect();
        for m in &mut out {
            m.by_category
                .sort_by_key(|t| std::cmp::Reverse(t.total.minor));
        }
        Ok(out)
    })
}

/// The statement (账单) of one month.
pub fn statement(core: &Core, month: i32, currency_code: &str) -> CoreResult<Statement> {
    let cur = currency(core, currency_code)?;
    let (start, end) = month_range(core, month, month)?;
    let summary = monthly(core, month, month, currency_code)?
        .into_iter()
        .next();
    let (top_ups, withdrawals, count): (i64, i64, i64) = core.store.read(|c| {
        Ok(c.query_row(
            "SELECT COALESCE(SUM(CASE WHEN kind = 'top_up' THEN amount END), 0),
                    COALESCE(-SUM(CASE WHEN kind = 'withdrawal' THEN amount END), 0),
                    COUNT(*)
             FROM transactions WHERE created_at >= ?1 AND created_at < ?2 AND currency = ?3
               AND status != 'failed'",
            params![start, end, cur.code()],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?)
    })?;
    let summary = summary.unwrap_or(MonthSummary {
        month,
        income: amount(0, cur),
        spending: amount(0, cur),
        fees: amount(0, cur),
        by_category: Vec::new(),
    });
    Ok(Statement {
        month,
        currency: cur.code().to_owned(),
        income: summary.income,
        spending: summary.spending,
        fees: summary.fees,
        top_ups: amount(top_ups, cur),
        withdrawals: amount(withdrawals, cur),
        transaction_count: count as u32,
        by_category: summary.by_category,
        top_merchants: by_merchant(core, start, end, currency_code, 5)?,
    })
}

/// A reminder for a recurring bill, on the device's own schedule.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Reminder {
    pub id: String,
    pub name: String,
    /// Day of the month it is due (the last day of shorter months).
    pub day_of_month: u8,
    pub amount: Option<Amount>,
    pub currency: String,
    pub next_due_at: i64,
    /// Whole days from now to the due date (negative when overdue).
    pub due_in_days: i32,
}

#[derive(Serialize, Deserialize)]
struct ReminderBody {
    name: String,
}

fn days_in_month(y: i64, m: i64) -> i64 {
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    days_from_civil(ny, nm, 1) - days_from_civil(y, m, 1)
}

/// The first due instant (local midnight of `day`, clamped to the month) at or after `after`.
pub fn next_due(day: u8, after: i64, offset_ms: i64) -> i64 {
    let local_day = (after + offset_ms).div_euclid(86_400_000);
    let (mut y, mut m, _) = civil_from_days(local_day);
    loop {
        let d = i64::from(day).min(days_in_month(y, m));
        let at = days_from_civil(y, m, d) * 86_400_000 - offset_ms;
        if at >= after - (after + offset_ms).rem_euclid(86_400_000) {
            return at;
        }
        if m == 12 {
            y += 1;
            m = 1;
        } else {
            m += 1;
        }
    }
}

fn reminder_place<'a>(id: &'a str, user: &'a str) -> Place<'a> {
    Place::new("reminders", "body", id, user)
}

pub fn add_reminder(
    core: &Core,
    name: &str,
    day_of_month: u8,
    amount: Option<Amount>,
    currency_code: &str,
) -> CoreResult<Reminder> {
    core.ensure_unlocked()?;
    let (user, owner) = core.user()?;
    let zh = core.zh();
    if !(1..=31).contains(&day_of_month) {
        return Err(CoreError::invalid("day_of_month").localized(zh));
    }
    if !(1..=64).contains(&name.chars().count()) {
        return Err(CoreError::invalid("name").localized(zh));
    }
    let cur = currency(core, currency_code)?;
    let amount = amount
        .map(|a| a.to_positive("amount"))
        .transpose()
        .map_err(|e| e.localized(zh))?;
    if amount.is_some_and(|a| a.currency != cur) {
        return Err(CoreError::client(ErrorCode::CurrencyMismatch).localized(zh));
    }
    let mut raw = [0u8; 12];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut raw)
        .map_err(|_| CoreError::client(ErrorCode::Storage))?;
    let id: String = std::iter::once("rm_".to_owned())
        .chain(raw.iter().map(|b| format!("{b:02x}")))
        .collect();
    let now = now_ms();
    let due = next_due(day_of_month, now, core.settings.utc_offset_ms);
    let body = core.cipher.seal_json(
        &reminder_place(&id, &user),
        &ReminderBody {
            name: name.to_owned(),
        },
    )?;
    core.store.write(|tx| {
        tx.execute(
            "INSERT INTO reminders (id, owner_tag, day, next_due_at, currency, amount, body, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![id, owner, day_of_month, due, cur.code(), amount.map(|a| a.minor), body, now],
        )?;
        Ok(())
    })?;
    reminders(core)?
        .into_iter()
        .find(|r| r.id == id)
        .ok_or_else(|| CoreError::client(ErrorCode::Storage))
}

/// Reminders, soonest first.
pub fn reminders(core: &Core) -> CoreResult<Vec<Reminder>> {
    let (user, owner) = core.unlocked_user()?;
    let now = now_ms();
    type Row = (String, u8, i64, String, Option<i64>, Vec<u8>);
    let rows: Vec<Row> = core.store.read(|c| {
        let mut stmt = c.prepare_cached(
            "SELECT id, day, next_due_at, currency, amount, body FROM reminders
             WHERE owner_tag = ?1 ORDER BY next_due_at",
        )?;
        let rows = stmt
            .query_map([owner], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    })?;
    let mut out = Vec::with_capacity(rows.len());
    for (id, day, due, cur, minor, body) in rows {
        let b: ReminderBody = core.cipher.open_json(&reminder_place(&id, &user), &body)?;
        out.push(Reminder {
            name: b.name,
            day_of_month: day,
            amount: minor.map(|m| Amount {
                minor: m,
                currency: cur.clone(),
            }),
            currency: cur,
            next_due_at: due,
            due_in_days: ((due - now).div_euclid(86_400_000)) as i32,
            id,
        });
    }
    Ok(out)
}

/// Marks this period's bill paid: the reminder moves to the next month's due date.
pub fn mark_reminder_paid(core: &Core, id: &str) -> CoreResult<Reminder> {
    let (_, owner) = core.unlocked_user()?;
    let off = core.settings.utc_offset_ms;
    core.store.write(|tx| {
        let row: Option<(u8, i64)> = tx
            .query_row(
                "SELECT day, next_due_at FROM reminders WHERE id = ?1 AND owner_tag = ?2",
                params![id, owner],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let (day, due) = row.ok_or_else(|| CoreError::client(ErrorCode::ItemNotFound))?;
        let next = next_due(day, due + 86_400_000, off);
        tx.execute(
            "UPDATE reminders SET next_due_at = ?2 WHERE id = ?1",
            params![id, next],
        )?;
        Ok(())
    })?;
    reminders(core)?
        .into_iter()
        .find(|r| r.id == id)
        .ok_or_else(|| CoreError::client(ErrorCode::ItemNotFound))
}

pub fn remove_reminder(core: &Core, id: &str) -> CoreResult<()> {
    let (_, owner) = core.unlocked_user()?;
    core.store.write(|tx| {
        tx.execute(
            "DELETE FROM reminders WHERE id = ?1 AND owner_tag = ?2",
            params![id, owner],
        )?;
        Ok(())
    })
}

/// Bills that look recurring: the same merchant in the `bills` category in at least three of
/// the last six months. Suggested as reminders, never added silently.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RecurringBill {
    pub merchant_name: String,
    pub typical_amount: Amount,
    pub day_of_month: u8,
    pub months_seen: u32,
}

pub fn recurring_bills(core: &Core, currency_code: &str) -> CoreResult<Vec<RecurringBill>> {
    core.ensure_unlocked()?;
    let (user, _) = core.user()?;
    let cur = currency(core, currency_code)?;
    let zh = core.zh();
    let now = now_ms();
    let since = now - 183 * 86_400_000;
    let off = core.settings.utc_offset_ms;
    core.store.read(|c| {
        let mut stmt = c.prepare_cached(
            "SELECT merchant_tag, COUNT(DISTINCT month), -SUM(amount) / COUNT(*), MAX(rowid)
             FROM transactions
             WHERE created_at >= ?1 AND currency = ?2 AND category = 'bills'
               AND merchant_tag IS NOT NULL AND kind = 'merchant_payment' AND status != 'failed'
             GROUP BY merchant_tag HAVING COUNT(DISTINCT month) >= 3 ORDER BY 2 DESC",
        )?;
        let rows: Vec<(i64, i64, i64)> = stmt
            .query_map(params![since, cur.code()], |r| {
                Ok((r.get(1)?, r.get(2)?, r.get(3)?))
            })?
            .collect::<Result<_, _>>()?;
        let mut one = c.prepare_cached(&format!(
            "SELECT {}, created_at FROM transactions WHERE rowid = ?1",
            crate::store::mirror::TX_COLUMNS
        ))?;
        let mut out = Vec::new();
        for (months, avg, rowid) in rows {
            let found = one
                .query_row([rowid], |r| {
                    let v = crate::store::mirror::tx_from_row(&core.cipher, &user, zh, r)?;
                    Ok(v.map(|v| (v, r.get::<_, i64>(10))))
                })
                .optional()?
                .flatten();
            let Some((view, at)) = found else { continue };
            let (_, _, day) = civil_from_days((at? + off).div_euclid(86_400_000));
            out.push(RecurringBill {
                merchant_name: view.merchant_name.unwrap_or_default(),
                typical_amount: amount(avg, cur),
                day_of_month: day as u8,
                months_seen: months as u32,
            });
        }
        Ok(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_dates_clamp_to_short_months_and_roll_over() {
        let off = 8 * 3_600_000;
        let at = |y, m, d| days_from_civil(y, m, d) * 86_400_000 - off;
        // Due on the 31st: February gives the 29th (2024 is a leap year).
        assert_eq!(next_due(31, at(2024, 2, 10) + 5_000, off), at(2024, 2, 29));
        // Later the same day still counts as due today; the day after rolls to next month.
        assert_eq!(
            next_due(15, at(2024, 3, 15) + 3_600_000, off),
            at(2024, 3, 15)
        );
        assert_eq!(next_due(15, at(2024, 3, 16), off), at(2024, 4, 15));
        assert_eq!(next_due(1, at(2024, 12, 2), off), at(2025, 1, 1));
        assert_eq!(month_start(202402, off), Some(at(2024, 2, 1)));
        assert_eq!(month_start(202413, off), None);
        assert_eq!(next_month(202412), 202501);
    }
}
