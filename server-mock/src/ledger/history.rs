//! Reading money: balances, the history with its filters and cursor pages, one transaction,
//! and the reference lists (countries, currencies).

use axum::Json;
use axum::extract::Path;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rusqlite::types::Value;
use upay_protocol::api::money::{
    BalanceList, CountryList, CurrencyList, Transaction, TransactionPage, TransactionQuery,
};
use upay_protocol::error::Problem;

use super::records;
use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiQuery;

pub const DEFAULT_PAGE: u32 = 20;
pub const MAX_PAGE: u32 = 100;
const MAX_QUERY_CHARS: usize = 64;

/// `GET /v1/balances`: every balance of the wallet with its version.
#[utoipa::path(get, path = "/v1/balances", tag = "money", security(("bearer" = [])),
    responses((status = 200, body = BalanceList), (status = 401, body = Problem)))]
pub async fn balances(user: AuthUser) -> ApiResult<Json<BalanceList>> {
    let balances =
        super::read_settled(&user.sandbox, |c| super::store::balances(c, &user.user_id))?;
    Ok(Json(BalanceList { balances }))
}

/// A history cursor: the (created_at, id) of the last row of the previous page.
fn encode_cursor(t: &Transaction) -> String {
    URL_SAFE_NO_PAD.encode(format!("h1:{}:{}", t.created_at, t.id))
}

fn decode_cursor(text: &str) -> ApiResult<(i64, String)> {
    let bad = || ApiError::field("cursor", "invalid", "is not a cursor of this list");
    let raw = URL_SAFE_NO_PAD.decode(text).map_err(|_| bad())?;
    let raw = String::from_utf8(raw).map_err(|_| bad())?;
    let mut parts = raw.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("h1"), Some(at), Some(id)) if !id.is_empty() => {
            Ok((at.parse().map_err(|_| bad())?, id.to_owned()))
        }
        _ => Err(bad()),
    }
}

/// The SQL and arguments of a filtered page (newest first).
fn page_query(user_id: &str, q: &TransactionQuery, limit: u32) -> ApiResult<(String, Vec<Value>)> {
    let mut sql = format!(
        "SELECT {} FROM transactions WHERE user_id = ?1",
        records::COLUMNS
    );
    let mut args: Vec<Value> = vec![Value::Text(user_id.to_owned())];
    let mut add = |clause: &str, values: Vec<Value>| {
        let mut clause = clause.to_owned();
        for v in values {
            args.push(v);
            clause = clause.replacen('#', &format!("?{}", args.len()), 1);
        }
        sql.push_str(" AND ");
        sql.push_str(&clause);
    };
    if let Some(cursor) = &q.cursor {
        let (at, id) = decode_cursor(cursor)?;
        add(
            "(created_at < # OR (created_at = # AND id < #))",
            vec![Value::Integer(at), Value::Integer(at), Value::Text(id)],
        );
    }
    if let Some(kind) = q.kind {
        add("kind = #", vec![Value::Text(kind.as_str().into())]);
    }
    if let Some(status) = q.status {
        add("status = #", vec![Value::Text(status.as_str().into())]);
    }
    if let Some(category) = q.category {
        add("category = #", vec![Value::Text(category.as_str().into())]);
    }
    if let Some(from) = q.from {
        add("created_at >= #", vec![Value::Integer(from)]);
    }
    if let Some(to) = q.to {
        add("created_at < #", vec![Value::Integer(to)]);
    }
    if let Some(cp) = &q.counterparty {
        add("counterparty_id = #", vec![Value::Text(cp.clone())]);
    }
    if let Some(currency) = q.currency {
        add("currency = #", vec![Value::Text(currency.code().into())]);
    }
    if let Some(min) = q.min_minor {
        add("abs(amount) >= #", vec![Value::Integer(min)]);
    }
    if let Some(max) = q.max_minor {
        add("abs(amount) <= #", vec![Value::Integer(max)]);
    }
    if let Some(text) = &q.q {
        add(
            "instr(search_text, #) > 0",
            vec![Value::Text(text.trim().to_lowercase())],
        );
    }
    sql.push_str(&format!(
        " ORDER BY created_at DESC, id DESC LIMIT {}",
        limit + 1
    ));
    Ok((sql, args))
}

fn check_query(q: &TransactionQuery) -> ApiResult<u32> {
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::field("limit", "out_of_range", "must be 1 to 100"));
    }
    if let Some(text) = &q.q {
        let len = text.trim().chars().count();
        if !(1..=MAX_QUERY_CHARS).contains(&len) {
            return Err(ApiError::field(
                "q",
                "out_of_range",
                "must be 1 to 64 characters",
            ));
        }
    }
    if let (Some(min), Some(max)) = (q.min_minor, q.max_minor)
        && min > max
    {
        return Err(ApiError::field(
            "min_minor",
            "out_of_range",
            "must not exceed max_minor",
        ));
    }
    if q.min_minor.is_some_and(|m| m < 0) || q.max_minor.is_some_and(|m| m < 0) {
        return Err(ApiError::field(
            "min_minor",
            "out_of_range",
            "amount bounds are not negative",
        ));
    }
    Ok(limit)
}

/// `GET /v1/transactions`: the history, newest first, in cursor pages; filters combine.
#[utoipa::path(get, path = "/v1/transactions", tag = "money", security(("bearer" = [])),
    params(TransactionQuery),
    responses((status = 200, body = TransactionPage), (status = 401, body = Problem), (status = 422, body = Problem)))]
pub async fn list(
    user: AuthUser,
    ApiQuery(q): ApiQuery<TransactionQuery>,
) -> ApiResult<Json<TransactionPage>> {
    let limit = check_query(&q)?;
    let (sql, args) = page_query(&user.user_id, &q, limit)?;
    let mut items: Vec<Transaction> = super::read_settled(&user.sandbox, |c| {
        let rows = c
            .prepare_cached(&sql)?
            .query_map(rusqlite::params_from_iter(args.iter()), records::from_row)?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    })?;
    let more = items.len() > limit as usize;
    items.truncate(limit as usize);
    let next_cursor = if more {
        items.last().map(encode_cursor)
    } else {
        None
    };
    Ok(Json(TransactionPage { items, next_cursor }))
}

/// `GET /v1/transactions/{id}`
#[utoipa::path(get, path = "/v1/transactions/{id}", tag = "money", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = Transaction), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn detail(user: AuthUser, Path(id): Path<String>) -> ApiResult<Json<Transaction>> {
    super::read_settled(&user.sandbox, |c| records::get(c, &user.user_id, &id))?
        .map(Json)
        .ok_or_else(ApiError::not_found)
}

/// `GET /v1/countries`: countries and regions, with their currency and what works there.
#[utoipa::path(get, path = "/v1/countries", tag = "money",
    responses((status = 200, body = CountryList)))]
pub async fn countries() -> Json<CountryList> {
    Json(CountryList {
        countries: super::catalog::countries(),
    })
}

/// `GET /v1/currencies`: currencies the wallet knows, whether it can hold them and quote them.
#[utoipa::path(get, path = "/v1/currencies", tag = "money",
    responses((status = 200, body = CurrencyList)))]
pub async fn currencies() -> Json<CurrencyList> {
    Json(CurrencyList {
        currencies: super::catalog::currencies(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let c = URL_SAFE_NO_PAD.encode("h1:1700000000000:tx_abc");
        assert_eq!(
            decode_cursor(&c).unwrap(),
            (1_700_000_000_000, "tx_abc".to_owned())
        );
        for bad in [
            "",
            "!!",
            &URL_SAFE_NO_PAD.encode("h2:1:x"),
            &URL_SAFE_NO_PAD.encode("h1:x:y"),
        ] {
            assert!(decode_cursor(bad).is_err(), "{bad}");
        }
    }
}
