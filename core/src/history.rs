//! History from the cache, so it works offline: filters on clear columns, full-text search
//! through the blind index, keyset paging (newest first, at most 100 per page).

use rusqlite::types::Value;
use upay_protocol::money::Currency;

use crate::core::Core;
use crate::error::{CoreError, CoreResult};
use crate::model::{Category, TransactionKind, TransactionStatus, TransactionView};
use crate::store::{mirror, search};
use crate::text;

pub const MAX_PAGE: u32 = 100;

/// Every field optional; they combine with AND.
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct HistoryFilter {
    pub kinds: Vec<TransactionKind>,
    pub statuses: Vec<TransactionStatus>,
    pub categories: Vec<Category>,
    /// Created at or after (epoch ms).
    pub from: Option<i64>,
    /// Created before (epoch ms).
    pub to: Option<i64>,
    /// Smallest absolute amount in minor units.
    pub min_minor: Option<i64>,
    /// Largest absolute amount in minor units.
    pub max_minor: Option<i64>,
    pub currency: Option<String>,
    /// Account, merchant or card id of the other side, as `kind:id` is not needed: any id.
    pub counterparty_id: Option<String>,
    /// Free text in Chinese or English (names, merchants, notes).
    pub query: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HistoryPage {
    pub items: Vec<TransactionView>,
    /// Pass back for the next (older) page; `None` on the last page.
    pub next_cursor: Option<String>,
}

fn parse_cursor(c: &str) -> Option<(i64, i64)> {
    let (a, b) = c.split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// The SQL conditions of a filter on the clear columns (without the text query).
fn conditions(
    core: &Core,
    f: &HistoryFilter,
    sql: &mut String,
    args: &mut Vec<Value>,
) -> CoreResult<()> {
    fn list(sql: &mut String, args: &mut Vec<Value>, column: &str, values: Vec<&'static str>) {
        if values.is_empty() {
            return;
        }
        sql.push_str(&format!(
            " AND {column} IN ({})",
            vec!["?"; values.len()].join(",")
        ));
        args.extend(values.into_iter().map(|v| Value::Text(v.to_owned())));
    }
    use upay_protocol::api::money as wire;
    list(
        sql,
        args,
        "kind",
        f.kinds
            .iter()
            .map(|k| wire::TransactionKind::from(*k).as_str())
            .collect(),
    );
    list(
        sql,
        args,
        "status",
        f.statuses
            .iter()
            .map(|s| wire::TransactionStatus::from(*s).as_str())
            .collect(),
    );
    list(
        sql,
        args,
        "category",
        f.categories
            .iter()
            .map(|c| wire::Category::from(*c).as_str())
            .collect(),
    );
    if let Some(from) = f.from {
        sql.push_str(" AND created_at >= ?");
        args.push(Value::Integer(from));
    }
    if let Some(to) = f.to {
        sql.push_str(" AND created_at < ?");
        args.push(Value::Integer(to));
    }
    if let Some(min) = f.min_minor {
        sql.push_str(" AND abs(amount) >= ?");
        args.push(Value::Integer(min));
    }
    if let Some(max) = f.max_minor {
        sql.push_str(" AND abs(amount) <= ?");
        args.push(Value::Integer(max));
    }
    if let Some(c) = &f.currency {
        let c =
            Currency::parse(c).map_err(|_| CoreError::invalid("currency").localized(core.zh()))?;
        sql.push_str(" AND currency = ?");
        args.push(Value::Text(c.code().to_owned()));
    }
    if let Some(id) = &f.counterparty_id {
        // The tag covers the kind too; an id names one kind, so try them all.
        let tags = counterparty_tags(core, id);
        sql.push_str(&format!(
            " AND cp_tag IN ({})",
            vec!["?"; tags.len()].join(",")
        ));
        args.extend(tags.into_iter().map(Value::Integer));
    }
    Ok(())
}

/// The tag covers the kind too; an id names one kind, so try them all.
fn counterparty_tags(core: &Core, id: &str) -> Vec<i64> {
    ["user", "merchant", "card", "external", "own"]
        .iter()
        .map(|k| core.cipher.tag(mirror::CP_DOMAIN, &format!("{k}:{id}")))
        .collect()
}

/// Rows that may match the text query and/or the counterparty, newest first, from the search
/// index plus the rows it does not cover yet; `None` when the filter has neither (or when the
/// query has nothing searchable, an empty list).
fn candidates(
    core: &Core,
    c: &rusqlite::Connection,
    user: &str,
    query: Option<&str>,
    counterparty: Option<&str>,
) -> CoreResult<Option<Vec<(i64, i64)>>> {
    let mut found: Option<Vec<(i64, i64)>> = None;
    if let Some(q) = query {
        let tokens = text::query_tokens(q);
        if tokens.is_empty() {
            return Ok(Some(Vec::new()));
        }
        let tags: Vec<i64> = tokens
            .iter()
            .map(|(k, t)| core.cipher.tag(k.domain(), t))
            .collect();
        let mut set = search::matching(c, &tags)?;
        let unindexed = search::unindexed_matches(c, &core.cipher, user, &tokens)?;
        if !unindexed.is_empty() {
            set.extend(unindexed);
            set.sort_unstable_by(|a, b| b.cmp(a));
            set.dedup();
        }
        found = Some(set);
    }
    if let Some(id) = counterparty {
        // Unindexed rows are all candidates: the SQL condition on `cp_tag` decides.
        let mut set = search::matching_any(c, &counterparty_tags(core, id))?;
        set.extend(search::unindexed(c)?);
        set.sort_unstable_by(|a, b| b.cmp(a));
        set.dedup();
        found = Some(match found {
            None => set,
            Some(text) => text
                .into_iter()
                .filter(|e| set.binary_search_by(|x| e.cmp(x)).is_ok())
                .collect(),
        });
    }
    Ok(found)
}

/// One page of history, newest first.
pub fn page(
    core: &Core,
    filter: &HistoryFilter,
    cursor: Option<&str>,
    limit: u32,
) -> CoreResult<HistoryPage> {
    core.ensure_unlocked()?;
    let (user, _) = core.user()?;
    let limit = limit.clamp(1, MAX_PAGE) as usize;
    let after = cursor.and_then(parse_cursor);
    let zh = core.zh();
    let mut cond = String::new();
    let mut args = Vec::new();
    conditions(core, filter, &mut cond, &mut args)?;
    let query = filter
        .query
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty());
    let rows: Vec<(i64, i64, TransactionView)> = core.store.read(|c| {
        let mut out = Vec::with_capacity(limit + 1);
        if let Some(candidates) =
            candidates(core, c, &user, query, filter.counterparty_id.as_deref())?
        {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT created_at, rowid, {} FROM transactions WHERE rowid = ?{cond}",
                mirror::TX_COLUMNS
            ))?;
            // Postings keep whole seconds, so candidates come newest second first but, within
            // a second, by rowid, which need not follow the milliseconds. Each second is read
            // whole and put in the page's exact order (`created_at` desc, rowid desc), the
            // order the cursor compares in; seconds newer than the cursor's are skipped unread.
            let after_secs = after.map(|(a, _)| search::secs(a));
            let mut second: Vec<(i64, i64, TransactionView)> = Vec::new();
            let mut i = 0;
            while i < candidates.len() && out.len() <= limit {
                let at_secs = candidates[i].0;
                let end = i + candidates[i..].partition_point(|(s, _)| *s == at_secs);
                if after_secs.is_none_or(|a| at_secs <= a) {
                    second.clear();
                    for &(_, rowid) in &candidates[i..end] {
                        let mut params: Vec<Value> = vec![Value::Integer(rowid)];
                        params.extend(args.iter().cloned());
                        let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
                        if let Some(r) = rows.next()?
                            && let Some(view) = view_at(core, &user, zh, r)?
                            && after.is_none_or(|a| (view.0, view.1) < a)
                        {
                            second.push(view);
                        }
                    }
                    second.sort_unstable_by_key(|v| std::cmp::Reverse((v.0, v.1)));
                    out.append(&mut second);
                }
                i = end;
            }
        } else {
            let mut sql = format!(
                "SELECT created_at, rowid, {} FROM transactions WHERE 1 = 1{cond}",
                mirror::TX_COLUMNS
            );
            let mut params = args.clone();
            if let Some((at, rowid)) = after {
                sql.push_str(" AND (created_at, rowid) < (?, ?)");
                params.push(Value::Integer(at));
                params.push(Value::Integer(rowid));
            }
            sql.push_str(" ORDER BY created_at DESC, rowid DESC LIMIT ?");
            params.push(Value::Integer(limit as i64 + 1));
            let mut stmt = c.prepare_cached(&sql)?;
            let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
            while let Some(r) = rows.next()? {
                if let Some(view) = view_at(core, &user, zh, r)? {
                    out.push(view);
                }
            }
        }
        Ok(out)
    })?;
    let more = rows.len() > limit;
    let mut items: Vec<(i64, i64, TransactionView)> = rows;
    items.truncate(limit);
    let next_cursor = if more {
        items.last().map(|(at, rowid, _)| format!("{at}:{rowid}"))
    } else {
        None
    };
    Ok(HistoryPage {
        items: items.into_iter().map(|(_, _, v)| v).collect(),
        next_cursor,
    })
}

/// Reads (created_at, rowid, view) from a row of `created_at, rowid, TX_COLUMNS`.
fn view_at(
    core: &Core,
    user: &str,
    zh: bool,
    r: &rusqlite::Row<'_>,
) -> CoreResult<Option<(i64, i64, TransactionView)>> {
    let at: i64 = r.get(0)?;
    let rowid: i64 = r.get(1)?;
    let view = crate::store::mirror::tx_from_row_offset(&core.cipher, user, zh, r, 2)?;
    Ok(view.map(|v| (at, rowid, v)))
}

/// One transaction from the cache.
pub fn by_id(core: &Core, id: &str) -> CoreResult<Option<TransactionView>> {
    let (user, _) = core.unlocked_user()?;
    let zh = core.zh();
    core.store.read(|c| {
        let mut stmt = c.prepare_cached(&format!(
            "SELECT {} FROM transactions WHERE id = ?1",
            mirror::TX_COLUMNS
        ))?;
        let mut rows = stmt.query([id])?;
        match rows.next()? {
            Some(r) => Ok(mirror::tx_from_row(&core.cipher, &user, zh, r)?),
            None => Ok(None),
        }
    })
}

/// The newest `n` entries (home screen).
pub fn newest(core: &Core, n: u32) -> CoreResult<Vec<TransactionView>> {
    let (user, _) = core.user()?;
    core.store
        .read(|c| mirror::newest(c, &core.cipher, &user, core.zh(), n))
}
