//! Linked bank cards. The mock plays the card vault: the number is checked (digits, length,
//! Luhn), its brand read from the BIN, and then only a random token, the last four digits, the
//! brand and the expiry are kept. The CVV is checked and dropped. Neither ever reaches a log,
//! an error body or the database.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use rusqlite::{Connection, OptionalExtension, params};
use upay_protocol::api::money::{Card, CardBrand, CardList, LinkCardRequest};
use upay_protocol::error::{ErrorCode, FieldError, Problem};

use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::faults::Scenario;

pub const MAX_CARDS: i64 = 10;

/// Magic card numbers and what they do (also listed by `GET /__mock/magic`).
pub const MAGIC_CARDS: &[(&str, &str)] = &[
    ("4242424242424242", "VISA that approves everything"),
    ("5555555555554444", "MASTERCARD that approves everything"),
    ("6200000000000005", "UNIONPAY that approves everything"),
    ("4000000000000002", "declined when linked (card_declined)"),
    (
        "4000000000009995",
        "links, but every top-up from it is declined (card_declined)",
    ),
    (
        "4000000000000077",
        "links, but every withdrawal to it fails at settlement (bank_rejected)",
    ),
];

/// How a linked card behaves in the mock, chosen from its number at link time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behavior {
    Approve,
    DeclineTopUps,
    FailWithdrawals,
}

impl Behavior {
    fn as_str(self) -> &'static str {
        match self {
            Behavior::Approve => "approve",
            Behavior::DeclineTopUps => "decline_top_ups",
            Behavior::FailWithdrawals => "fail_withdrawals",
        }
    }

    fn parse(text: &str) -> Behavior {
        match text {
            "decline_top_ups" => Behavior::DeclineTopUps,
            "fail_withdrawals" => Behavior::FailWithdrawals,
            _ => Behavior::Approve,
        }
    }
}

pub fn luhn_ok(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let d = u32::from(*d);
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum % 10 == 0
}

pub fn brand_of(digits: &[u8]) -> CardBrand {
    let prefix = |n: usize| {
        digits
            .iter()
            .take(n)
            .fold(0u32, |acc, d| acc * 10 + u32::from(*d))
    };
    match (prefix(1), prefix(2), prefix(4)) {
        (4, _, _) => CardBrand::Visa,
        (_, 51..=55, _) | (_, _, 2221..=2720) => CardBrand::Mastercard,
        (_, 62, _) => CardBrand::Unionpay,
        (_, 34 | 37, _) => CardBrand::Amex,
        (_, 35, _) => CardBrand::Jcb,
        _ => CardBrand::Other,
    }
}

fn card_error(errors: Vec<FieldError>) -> ApiError {
    let mut e = ApiError::new(ErrorCode::CardInvalid);
    e.errors = errors;
    e
}

fn field(field: &str, code: &str, message: &str) -> FieldError {
    FieldError {
        field: field.to_owned(),
        code: code.to_owned(),
        message: message.to_owned(),
    }
}

/// The checked card: digits and brand. Errors name the field, never its value.
fn check(req: &LinkCardRequest, now: i64) -> ApiResult<(Vec<u8>, CardBrand)> {
    let mut errors = Vec::new();
    let cleaned: Option<Vec<u8>> = req
        .number
        .chars()
        .filter(|c| *c != ' ' && *c != '-')
        .map(|c| c.to_digit(10).map(|d| d as u8))
        .collect();
    let digits = cleaned.unwrap_or_default();
    if !(12..=19).contains(&digits.len()) {
        errors.push(field("number", "invalid", "must be 12 to 19 digits"));
    } else if !luhn_ok(&digits) {
        errors.push(field("number", "checksum", "is not a valid card number"));
    }
    let brand = brand_of(&digits);
    if !(1..=12).contains(&req.expiry_month) {
        errors.push(field("expiry_month", "invalid", "must be 1 to 12"));
    } else if !(2000..=2099).contains(&req.expiry_year) {
        errors.push(field("expiry_year", "invalid", "must be a four-digit year"));
    } else {
        let (year, month) = china_year_month(now);
        if (i64::from(req.expiry_year), i64::from(req.expiry_month)) < (year, month) {
            errors.push(field("expiry_year", "expired", "the card has expired"));
        }
    }
    let name_len = req.holder_name.trim().chars().count();
    if !(1..=64).contains(&name_len) || req.holder_name.chars().any(char::is_control) {
        errors.push(field("holder_name", "invalid", "1 to 64 characters"));
    }
    if let Some(cvv) = &req.cvv {
        let len = if brand == CardBrand::Amex { 4 } else { 3 };
        if cvv.len() != len || !cvv.bytes().all(|b| b.is_ascii_digit()) {
            errors.push(field("cvv", "invalid", "3 digits (4 for AMEX)"));
        }
    }
    if errors.is_empty() {
        Ok((digits, brand))
    } else {
        Err(card_error(errors))
    }
}

/// (year, month) of `ms` in China time: cards expire at the end of their month there.
fn china_year_month(ms: i64) -> (i64, i64) {
    // Civil-from-days (Howard Hinnant's algorithm), on the China-time day number.
    let z = crate::risk::china_day(ms) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month)
}

fn number_text(digits: &[u8]) -> String {
    digits.iter().map(|d| char::from(b'0' + d)).collect()
}

/// Magic behaviour of a number; `Err` when the issuer declines linking it.
fn behavior_of(digits: &[u8], scenario: &Scenario) -> ApiResult<Behavior> {
    if scenario.card.as_deref() == Some("declined") {
        return Err(ErrorCode::CardDeclined.into());
    }
    Ok(match number_text(digits).as_str() {
        "4000000000000002" => return Err(ErrorCode::CardDeclined.into()),
        "4000000000009995" => Behavior::DeclineTopUps,
        "4000000000000077" => Behavior::FailWithdrawals,
        _ => Behavior::Approve,
    })
}

/// A linked card with its mock behaviour.
pub struct CardRow {
    pub card: Card,
    pub behavior: Behavior,
}

impl CardRow {
    /// e.g. `VISA ****4242`.
    pub fn label(&self) -> String {
        label(self.card.brand, &self.card.last4)
    }
}

pub fn label(brand: CardBrand, last4: &str) -> String {
    format!("{} ****{}", brand.label(), last4)
}

const CARD_COLUMNS: &str =
    "id, brand, last4, expiry_month, expiry_year, holder_name, is_default, created_at, behavior";

fn card_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<CardRow> {
    Ok(CardRow {
        card: Card {
            id: r.get(0)?,
            brand: CardBrand::parse(&r.get::<_, String>(1)?),
            last4: r.get(2)?,
            expiry_month: r.get(3)?,
            expiry_year: r.get(4)?,
            holder_name: r.get(5)?,
            is_default: r.get(6)?,
            created_at: r.get(7)?,
        },
        behavior: Behavior::parse(&r.get::<_, String>(8)?),
    })
}

/// The user's linked card `id`, or their default card when `id` is `None`.
pub fn find(conn: &Connection, user_id: &str, id: Option<&str>) -> ApiResult<CardRow> {
    let sql = format!(
        "SELECT {CARD_COLUMNS} FROM cards WHERE user_id = ?1 AND removed_at IS NULL
         AND (?2 IS NULL AND is_default = 1 OR id = ?2)"
    );
    conn.prepare_cached(&sql)?
        .query_row(params![user_id, id], card_row)
        .optional()?
        .ok_or_else(|| ErrorCode::CardNotFound.into())
}

fn list(conn: &Connection, user_id: &str) -> ApiResult<Vec<Card>> {
    let sql = format!(
        "SELECT {CARD_COLUMNS} FROM cards WHERE user_id = ?1 AND removed_at IS NULL
         ORDER BY is_default DESC, created_at DESC, id"
    );
    let rows = conn
        .prepare_cached(&sql)?
        .query_map([user_id], card_row)?
        .map(|r| r.map(|c| c.card))
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// A checked card to store: never its number, only what is derived from it here.
pub struct NewCard<'a> {
    pub digits: &'a [u8],
    pub brand: CardBrand,
    pub expiry: (u8, u16),
    pub holder_name: &'a str,
    pub behavior: Behavior,
}

/// Stores a checked card.
fn insert(conn: &Connection, user_id: &str, new: &NewCard<'_>, now: i64) -> ApiResult<Card> {
    let NewCard {
        digits,
        brand,
        expiry,
        holder_name,
        behavior,
    } = *new;
    let count: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM cards WHERE user_id = ?1 AND removed_at IS NULL")?
        .query_row([user_id], |r| r.get(0))?;
    if count >= MAX_CARDS {
        return Err(ApiError::new(ErrorCode::LimitExceeded).detail("at most 10 linked cards"));
    }
    let last4 = number_text(&digits[digits.len() - 4..]);
    let card = Card {
        id: super::new_id("card_"),
        brand,
        last4,
        expiry_month: expiry.0,
        expiry_year: expiry.1,
        holder_name: holder_name.trim().to_owned(),
        is_default: count == 0,
        created_at: now,
    };
    conn.prepare_cached(
        "INSERT INTO cards (id, user_id, brand, last4, expiry_month, expiry_year, holder_name, behavior, is_default, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        card.id,
        user_id,
        card.brand.as_str(),
        card.last4,
        card.expiry_month,
        card.expiry_year,
        card.holder_name,
        behavior.as_str(),
        card.is_default,
        now
    ])?;
    Ok(card)
}

/// Checks and links a card number for the demo seed; the number never leaves this call.
pub fn link_number(
    conn: &Connection,
    user_id: &str,
    number: &str,
    expiry: (u8, u16),
    holder_name: &str,
    now: i64,
) -> ApiResult<Card> {
    let req = LinkCardRequest {
        number: number.to_owned(),
        expiry_month: expiry.0,
        expiry_year: expiry.1,
        holder_name: holder_name.to_owned(),
        cvv: None,
    };
    let (digits, brand) = check(&req, now)?;
    let behavior = behavior_of(&digits, &Scenario::default())?;
    let new = NewCard {
        digits: &digits,
        brand,
        expiry,
        holder_name,
        behavior,
    };
    insert(conn, user_id, &new, now)
}

/// `POST /v1/cards`: links a card. The number and CVV are validated and never stored.
#[utoipa::path(post, path = "/v1/cards", tag = "money", security(("bearer" = [])),
    request_body = LinkCardRequest,
    responses((status = 201, body = Card), (status = 401, body = Problem),
        (status = 402, body = Problem, description = "card_declined"),
        (status = 422, body = Problem, description = "card_invalid (field errors), limit_exceeded"),
        (status = 423, body = Problem, description = "account_frozen")))]
pub async fn link(
    user: AuthUser,
    scenario: Scenario,
    ApiJson(req): ApiJson<LinkCardRequest>,
) -> ApiResult<(StatusCode, Json<Card>)> {
    user.require_active()?;
    let now = user.sandbox.clock.now_ms();
    let (digits, brand) = check(&req, now)?;
    let behavior = behavior_of(&digits, &scenario)?;
    let card = user.sandbox.write(|tx| {
        let new = NewCard {
            digits: &digits,
            brand,
            expiry: (req.expiry_month, req.expiry_year),
            holder_name: &req.holder_name,
            behavior,
        };
        insert(tx, &user.user_id, &new, now)
    })?;
    Ok((StatusCode::CREATED, Json(card)))
}

/// `GET /v1/cards`: linked cards, default first; masked (last four digits only).
#[utoipa::path(get, path = "/v1/cards", tag = "money", security(("bearer" = [])),
    responses((status = 200, body = CardList), (status = 401, body = Problem)))]
pub async fn list_cards(user: AuthUser) -> ApiResult<Json<CardList>> {
    let cards = user.sandbox.read(|c| list(c, &user.user_id))?;
    Ok(Json(CardList { cards }))
}

/// `DELETE /v1/cards/{id}`: removes a card; the newest remaining one becomes the default if it
/// was. A pending withdrawal to it fails at settlement (`card_removed`).
#[utoipa::path(delete, path = "/v1/cards/{id}", tag = "money", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 204), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn remove(user: AuthUser, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let now = user.sandbox.clock.now_ms();
    user.sandbox.write(|tx| {
        let card = find(tx, &user.user_id, Some(&id))?;
        tx.execute(
            "UPDATE cards SET removed_at = ?2, is_default = 0 WHERE id = ?1",
            params![id, now],
        )?;
        if card.card.is_default {
            tx.execute(
                "UPDATE cards SET is_default = 1 WHERE id = (SELECT id FROM cards
                 WHERE user_id = ?1 AND removed_at IS NULL ORDER BY created_at DESC, id LIMIT 1)",
                [&user.user_id],
            )?;
        }
        Ok(StatusCode::NO_CONTENT)
    })
}

/// `POST /v1/cards/{id}/default`: makes a card the default for top-ups and withdrawals.
#[utoipa::path(post, path = "/v1/cards/{id}/default", tag = "money", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = Card), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn make_default(user: AuthUser, Path(id): Path<String>) -> ApiResult<Json<Card>> {
    let card = user.sandbox.write(|tx| {
        let mut card = find(tx, &user.user_id, Some(&id))?.card;
        tx.execute(
            "UPDATE cards SET is_default = (id = ?2) WHERE user_id = ?1 AND removed_at IS NULL",
            params![user.user_id, id],
        )?;
        card.is_default = true;
        Ok(card)
    })?;
    Ok(Json(card))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digits(s: &str) -> Vec<u8> {
        s.bytes().map(|b| b - b'0').collect()
    }

    #[test]
    fn magic_numbers_pass_luhn_and_have_brands() {
        for (n, _) in MAGIC_CARDS {
            assert!(luhn_ok(&digits(n)), "{n}");
        }
        assert!(!luhn_ok(&digits("4242424242424241")));
        assert_eq!(brand_of(&digits("4242424242424242")), CardBrand::Visa);
        assert_eq!(brand_of(&digits("5555555555554444")), CardBrand::Mastercard);
        assert_eq!(brand_of(&digits("2223003122003222")), CardBrand::Mastercard);
        assert_eq!(brand_of(&digits("6200000000000005")), CardBrand::Unionpay);
        assert_eq!(brand_of(&digits("378282246310005")), CardBrand::Amex);
        assert_eq!(brand_of(&digits("3530111333300000")), CardBrand::Jcb);
        assert_eq!(brand_of(&digits("9999999999999995")), CardBrand::Other);
    }

    #[test]
    fn china_calendar() {
        // 2024-02-29T16:30:00Z is 2024-03-01 00:30 in China.
        assert_eq!(china_year_month(1_709_224_200_000), (2024, 3));
        assert_eq!(china_year_month(1_709_220_000_000), (2024, 2));
    }
}
