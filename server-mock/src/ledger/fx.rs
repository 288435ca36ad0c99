//! FX: customer rates from the fixed mid rates (with a spread), quotes that hold for 30 seconds
//! of mock time, and conversions between the user's own balances. Amounts follow the protocol's
//! rounding rules: what the customer receives rounds down, fees round up.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use rusqlite::{Connection, OptionalExtension, params};
use upay_protocol::api::money::{
    Category, Counterparty, CounterpartyKind, FxConversionRequest, FxDetail, FxQuote,
    FxQuoteRequest, ScaOperation, Transaction, TransactionKind,
};
use upay_protocol::error::{ErrorCode, Problem};
use upay_protocol::money::{Currency, MAX_MINOR, Money};
use upay_protocol::rate::{Rate, Rounding, fee_bps};

use super::catalog;
use super::ops::{self, OpCtx, Screen};
use super::records::{self, NewRow};
use super::store::{self, AccountKind, Leg};
use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult};
use crate::events::ServerEvent;
use crate::extract::ApiJson;
use crate::faults::Scenario;
use crate::idempotency::{self, Done, IdempotencyKey, OpResult};

pub const QUOTE_TTL_MS: i64 = 30_000;
/// The customer's rate is this much below the cross mid rate.
pub const SPREAD_BPS: u128 = 20;
/// Charged on top of the amount sold, rounded up.
pub const FEE_BPS: u32 = 30;
const RATE_SCALE: u8 = 10;

fn pow10(e: u32) -> u128 {
    10u128.pow(e)
}

/// The customer's rate for `from → to`: cross of the mid rates, less the spread, truncated to
/// 10 decimal places (never in the customer's favour by more than the spread).
pub fn customer_rate(from: Currency, to: Currency) -> ApiResult<Rate> {
    let (Some(f), Some(t)) = (catalog::mid_rate_to_cny(from), catalog::mid_rate_to_cny(to)) else {
        return Err(ErrorCode::UnsupportedCurrency.into());
    };
    // cross = (mf·10^-sf) / (mt·10^-st) = mf·10^st / (mt·10^sf).
    let num = u128::from(f.mantissa())
        * pow10(u32::from(t.scale()))
        * pow10(u32::from(RATE_SCALE))
        * (10_000 - SPREAD_BPS);
    let den = u128::from(t.mantissa()) * pow10(u32::from(f.scale())) * 10_000;
    let mantissa = u64::try_from(num / den).map_err(|_| ApiError::internal("rate overflow"))?;
    Rate::new(mantissa, RATE_SCALE).map_err(ApiError::internal)
}

/// (sell, fee, buy) of a quote with a fixed `sell` or a fixed `buy`.
pub fn amounts(
    rate: Rate,
    from: Currency,
    to: Currency,
    fixed: Money,
) -> ApiResult<(Money, Money, Money)> {
    let too_small =
        || ApiError::new(ErrorCode::InvalidAmount).detail("the amount is too small to convert");
    let out_of_range =
        || ApiError::new(ErrorCode::LimitExceeded).detail("the amount is too large to convert");
    let sell = if fixed.currency == from {
        fixed
    } else {
        // The smallest sell whose conversion (rounded down) reaches `buy`:
        // ceil(buy · 10^(scale + from_exp) / (mantissa · 10^to_exp)).
        let num = u128::from(fixed.minor.unsigned_abs())
            * pow10(u32::from(rate.scale()) + u32::from(from.exponent()));
        let den = u128::from(rate.mantissa()) * pow10(u32::from(to.exponent()));
        let minor = i64::try_from(num.div_ceil(den)).map_err(|_| out_of_range())?;
        Money::new(minor, from).map_err(|_| out_of_range())?
    };
    let converted = rate
        .convert(sell, to, Rounding::Down)
        .map_err(|_| out_of_range())?;
    let buy = if fixed.currency == to {
        fixed
    } else {
        converted
    };
    if buy.minor <= 0 || converted.minor < buy.minor {
        return Err(too_small());
    }
    let fee = fee_bps(sell, FEE_BPS, Rounding::Up).map_err(|_| out_of_range())?;
    if sell.minor + fee.minor > MAX_MINOR {
        return Err(out_of_range());
    }
    Ok((sell, fee, buy))
}

pub struct QuoteRow {
    pub quote: FxQuote,
    pub user_id: String,
    pub fixed_buy: bool,
    pub used: bool,
}

/// Prices and stores a quote for `user_id`.
pub fn create_quote(
    conn: &Connection,
    user_id: &str,
    from: Currency,
    to: Currency,
    fixed: Money,
    now: i64,
) -> ApiResult<FxQuote> {
    let rate = customer_rate(from, to)?;
    let (sell, fee, buy) = amounts(rate, from, to, fixed)?;
    let quote = FxQuote {
        id: super::new_id("q_"),
        from,
        to,
        rate,
        sell,
        fee,
        total_debit: Money {
            minor: sell.minor + fee.minor,
            currency: from,
        },
        buy,
        created_at: now,
        expires_at: now + QUOTE_TTL_MS,
    };
    conn.prepare_cached(
        "INSERT INTO fx_quotes (id, user_id, from_ccy, to_ccy, rate, sell, fee, buy, fixed_side, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        quote.id,
        user_id,
        from.code(),
        to.code(),
        rate.to_string(),
        sell.minor,
        fee.minor,
        buy.minor,
        if fixed.currency == to { "buy" } else { "sell" },
        now,
        quote.expires_at
    ])?;
    Ok(quote)
}

fn load(conn: &Connection, user_id: &str, id: &str) -> ApiResult<Option<QuoteRow>> {
    let row = conn
        .prepare_cached(
            "SELECT id, user_id, from_ccy, to_ccy, rate, sell, fee, buy, fixed_side, created_at, expires_at, used_at IS NOT NULL
             FROM fx_quotes WHERE id = ?1 AND user_id = ?2",
        )?
        .query_row(params![id, user_id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                [r.get::<_, i64>(5)?, r.get(6)?, r.get(7)?],
                r.get::<_, String>(8)?,
                [r.get::<_, i64>(9)?, r.get(10)?],
                r.get::<_, bool>(11)?,
            ))
        })
        .optional()?;
    let Some((
        id,
        user_id,
        from,
        to,
        rate,
        [sell, fee, buy],
        fixed,
        [created_at, expires_at],
        used,
    )) = row
    else {
        return Ok(None);
    };
    let bad = |_| ApiError::internal("bad quote row");
    let (from, to) = (
        Currency::parse(&from).map_err(bad)?,
        Currency::parse(&to).map_err(bad)?,
    );
    Ok(Some(QuoteRow {
        quote: FxQuote {
            id,
            from,
            to,
            rate: Rate::parse(&rate).map_err(|_| ApiError::internal("bad quote rate"))?,
            sell: Money {
                minor: sell,
                currency: from,
            },
            fee: Money {
                minor: fee,
                currency: from,
            },
            total_debit: Money {
                minor: sell + fee,
                currency: from,
            },
            buy: Money {
                minor: buy,
                currency: to,
            },
            created_at,
            expires_at,
        },
        user_id,
        fixed_buy: fixed == "buy",
        used,
    }))
}

/// Takes the user's quote for an operation: `quote_not_found`, `quote_used`, or — when it
/// expired — `quote_expired` with a fresh quote for the same fixed amount in `data` (kept even
/// though the operation fails, so the client can offer it).
pub fn claim(
    conn: &Connection,
    user_id: &str,
    quote_id: &str,
    now: i64,
) -> ApiResult<Result<FxQuote, ApiError>> {
    let row = load(conn, user_id, quote_id)?.ok_or(ErrorCode::QuoteNotFound)?;
    debug_assert_eq!(row.user_id, user_id);
    if row.used {
        return Err(ErrorCode::QuoteUsed.into());
    }
    if row.quote.expires_at <= now {
        let q = &row.quote;
        let fixed = if row.fixed_buy { q.buy } else { q.sell };
        let fresh = create_quote(conn, user_id, q.from, q.to, fixed, now)?;
        return Ok(Err(ApiError::new(ErrorCode::QuoteExpired).data(fresh)));
    }
    conn.prepare_cached("UPDATE fx_quotes SET used_at = ?2 WHERE id = ?1")?
        .execute(params![quote_id, now])?;
    Ok(Ok(row.quote))
}

/// The legs of selling `q.sell + q.fee` from the wallet for `q.buy` paid to `(owner, kind)`.
pub fn conversion_legs<'a>(user_id: &'a str, q: &FxQuote, payee: Leg<'a>) -> Vec<Leg<'a>> {
    let mut legs = vec![
        Leg::wallet(user_id, q.total_debit.negate()),
        Leg::system(AccountKind::Fx, q.sell),
        Leg::system(AccountKind::Fx, q.buy.negate()),
        payee,
    ];
    if q.fee.minor > 0 {
        legs.push(Leg::system(AccountKind::Fees, q.fee));
    }
    legs
}

/// `POST /v1/fx/quotes`: the rate, fee and amount received, fixed for 30 seconds (mock clock).
#[utoipa::path(post, path = "/v1/fx/quotes", tag = "money", security(("bearer" = [])),
    request_body = FxQuoteRequest,
    responses((status = 201, body = FxQuote), (status = 401, body = Problem), (status = 422, body = Problem)))]
pub async fn quote(
    user: AuthUser,
    ApiJson(req): ApiJson<FxQuoteRequest>,
) -> ApiResult<(StatusCode, Json<FxQuote>)> {
    let fixed = match (req.sell, req.buy) {
        (Some(sell), None) if sell.currency == req.from => sell,
        (None, Some(buy)) if buy.currency == req.to => buy,
        (Some(_), None) => {
            return Err(ApiError::field(
                "sell.currency",
                "mismatch",
                "must be the `from` currency",
            ));
        }
        (None, Some(_)) => {
            return Err(ApiError::field(
                "buy.currency",
                "mismatch",
                "must be the `to` currency",
            ));
        }
        _ => {
            return Err(ApiError::field(
                "sell",
                "exactly_one",
                "give exactly one of `sell` and `buy`",
            ));
        }
    };
    if req.from == req.to {
        return Err(ApiError::field(
            "to",
            "same_currency",
            "must differ from `from`",
        ));
    }
    if fixed.minor <= 0 {
        return Err(ApiError::new(ErrorCode::InvalidAmount));
    }
    let now = user.sandbox.clock.now_ms();
    let q = user
        .sandbox
        .write(|tx| create_quote(tx, &user.user_id, req.from, req.to, fixed, now))?;
    Ok((StatusCode::CREATED, Json(q)))
}

/// `GET /v1/fx/quotes/{id}`
#[utoipa::path(get, path = "/v1/fx/quotes/{id}", tag = "money", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = FxQuote), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn get_quote(user: AuthUser, Path(id): Path<String>) -> ApiResult<Json<FxQuote>> {
    user.sandbox
        .read(|c| load(c, &user.user_id, &id))?
        .map(|r| Json(r.quote))
        .ok_or_else(|| ErrorCode::QuoteNotFound.into())
}

/// `POST /v1/fx/conversions`: converts between the user's own balances at a quote. An expired
/// quote is refused with `quote_expired` and a fresh quote in `data`.
#[utoipa::path(post, path = "/v1/fx/conversions", tag = "money", security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header)),
    request_body = FxConversionRequest,
    responses((status = 201, body = Transaction), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem, description = "quote_not_found"),
        (status = 409, body = Problem, description = "quote_expired (fresh quote in data), quote_used, idempotency_in_flight"),
        (status = 422, body = Problem), (status = 423, body = Problem)))]
pub async fn convert(
    user: AuthUser,
    key: IdempotencyKey,
    scenario: Scenario,
    ApiJson(req): ApiJson<FxConversionRequest>,
) -> Response {
    idempotency::execute(&user, &key, "fx_conversions", &req, |tx, events| {
        let ctx = OpCtx::new(&user, &key.0, &scenario);
        convert_op(tx, &ctx, &req, events)
    })
}

fn convert_op(
    tx: &Connection,
    ctx: &OpCtx<'_>,
    req: &FxConversionRequest,
    events: &mut Vec<ServerEvent>,
) -> OpResult<Transaction> {
    ops::require_active(ctx)?;
    let q = match claim(tx, ctx.user_id(), &req.quote_id, ctx.now)? {
        Ok(q) => q,
        Err(e) => return Ok(Err(e)),
    };
    if !catalog::wallet_supported(q.to) || !catalog::wallet_supported(q.from) {
        return Err(ErrorCode::UnsupportedCurrency.into());
    }
    ops::require_funds(tx, ctx.user_id(), q.total_debit)?;
    let cleared = ops::screen(
        tx,
        ctx,
        &Screen {
            amount: q.sell,
            debit: q.total_debit,
            outgoing: true,
            new_payee_check: None,
            foreign: true,
            operation: ScaOperation::FxConversion,
            sca_amount: q.total_debit,
            sca_payee: ctx.user_id(),
            proof: req.sca.as_ref(),
        },
        events,
    )?;
    let legs = conversion_legs(ctx.user_id(), &q, Leg::wallet(ctx.user_id(), q.buy));
    let (posting_id, changes) =
        store::record(tx, "fx_conversion", &legs, cleared.phase(), ctx.now)?;
    let txn = records::insert(
        tx,
        &NewRow {
            user_id: ctx.user_id(),
            posting_id,
            kind: TransactionKind::FxConversion,
            status: cleared.status(),
            amount: q.sell.negate(),
            fee: q.fee.minor,
            counterparty: Some(Counterparty {
                kind: CounterpartyKind::Own,
                id: ctx.user_id().to_owned(),
                name: format!("{} → {}", q.from, q.to),
            }),
            note: None,
            category: Category::Exchange,
            merchant: None,
            fx: Some(FxDetail {
                rate: q.rate,
                counter_amount: q.buy,
            }),
            hold_id: cleared.hold_id.as_deref(),
            created_at: ctx.now,
        },
    )?;
    let created = [(ctx.user_id().to_owned(), txn.clone())];
    ops::finish(tx, ctx, &cleared, posting_id, &created, changes, events)?;
    Ok(Ok(Done {
        status: StatusCode::CREATED,
        transaction_id: Some(txn.id.clone()),
        body: txn,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn krw() -> Currency {
        Currency::parse("KRW").unwrap()
    }

    #[test]
    fn rates_include_the_spread() {
        // USD → CNY mid 7.1234, less 0.2%.
        assert_eq!(
            customer_rate(Currency::USD, Currency::CNY)
                .unwrap()
                .to_string(),
            "7.1091532"
        );
        let r = customer_rate(Currency::CNY, Currency::HKD).unwrap();
        // 1 / 0.9123 = 1.09613066..., less 0.2% = 1.09393840...
        assert!(r.to_string().starts_with("1.093938"), "{r}");
        assert!(customer_rate(krw(), Currency::KWD).is_ok());
        assert!(customer_rate(Currency::KWD, krw()).is_ok());
    }

    #[test]
    fn buy_side_quotes_receive_exactly_and_pay_the_least() {
        let rate = customer_rate(Currency::CNY, Currency::HKD).unwrap();
        let buy = Money::new(10_000, Currency::HKD).unwrap();
        let (sell, fee, got) = amounts(rate, Currency::CNY, Currency::HKD, buy).unwrap();
        assert_eq!(got, buy);
        assert!(
            rate.convert(sell, Currency::HKD, Rounding::Down)
                .unwrap()
                .minor
                >= buy.minor
        );
        let less = Money::new(sell.minor - 1, Currency::CNY).unwrap();
        assert!(
            rate.convert(less, Currency::HKD, Rounding::Down)
                .unwrap()
                .minor
                < buy.minor
        );
        assert_eq!(fee, fee_bps(sell, FEE_BPS, Rounding::Up).unwrap());
    }

    #[test]
    fn sell_side_quotes_round_down_and_refuse_dust() {
        let rate = customer_rate(Currency::USD, Currency::CNY).unwrap();
        let (sell, fee, buy) = amounts(
            rate,
            Currency::USD,
            Currency::CNY,
            Money::new(123, Currency::USD).unwrap(),
        )
        .unwrap();
        assert_eq!(sell.minor, 123);
        assert_eq!(buy.minor, 874); // 1.23 × 7.1091532 = 8.744...
        assert_eq!(fee.minor, 1);
        let rate = customer_rate(krw(), Currency::USD).unwrap();
        assert!(amounts(rate, krw(), Currency::USD, Money::new(1, krw()).unwrap()).is_err());
        let huge = Money::new(MAX_MINOR, Currency::USD).unwrap();
        let rate = customer_rate(Currency::USD, krw()).unwrap();
        assert!(amounts(rate, Currency::USD, krw(), huge).is_err());
    }
}
