//! The risk engine: scores every money operation from a few indexed look-ups and answers
//! allow / step-up / hold / block with the deciding rule and reasons the user can read.
//!
//! Signals and what they weigh (score) or force (action):
//!
//! | rule               | signal                                                   | effect            |
//! |--------------------|----------------------------------------------------------|-------------------|
//! | `daily_limit`      | outgoing today + this > CNY 50,000.00 equivalent         | block (`limit_exceeded`) |
//! | `velocity`         | ≥ 10 outgoing operations in the last 10 minutes          | step-up, +30      |
//! |                    | ≥ 30                                                     | hold              |
//! | `amount_spike`     | > 10 × the median of the last 20 outgoing (≥ 5 of them)  | step-up, +40; hold on a new device |
//! | `new_payee`        | first transfer to this account                          | +25 (confirmation is required separately) |
//! | `new_device`       | the device was first seen < 24 h ago                     | +20               |
//! | `odd_hours`        | 01:00–05:00 China time (mock clock)                      | +15               |
//! | `foreign_currency` | the operation is not in CNY                              | +10               |
//! | score ≥ 90         |                                                          | hold              |
//! | `magic_amount`     | 222.22 / 666.66 / 444.44                                 | step-up / hold / block |
//! | `scenario`         | `X-Mock-Scenario: risk=…`                                | forced            |
//!
//! The decision logic ([`assess`]) is a pure function of the signals, tested below; gathering
//! them ([`gather`]) is five indexed statements.

use axum::Json;
use rusqlite::{Connection, OptionalExtension, params};
use upay_protocol::api::money::{
    NotMeRequest, NotMeResult, RiskAction, RiskAlert, RiskDecision, RiskHold, RiskReason,
};
use upay_protocol::error::{ErrorCode, Problem};
use upay_protocol::money::{Currency, Money};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult};
use crate::events::{LiveEvent, ServerEvent};
use crate::extract::ApiJson;
use crate::state::AppState;

pub const SCHEMA: &str = "
-- Outgoing money per user per China-time day, CNY equivalent, for the daily limit.
CREATE TABLE risk_daily_spend (
    user_id   TEXT NOT NULL,
    day       INTEGER NOT NULL,
    cny_minor INTEGER NOT NULL,
    PRIMARY KEY (user_id, day)
) WITHOUT ROWID;
";

pub const DAILY_LIMIT_CNY_MINOR: i64 = 5_000_000;
pub const VELOCITY_WINDOW_MS: i64 = 10 * 60 * 1000;
pub const VELOCITY_STEP_UP: u32 = 10;
pub const VELOCITY_HOLD: u32 = 30;
pub const SPIKE_FACTOR: i64 = 10;
pub const SPIKE_MIN_HISTORY: usize = 5;
pub const NEW_DEVICE_MS: i64 = 24 * 3600 * 1000;
pub const HOLD_SCORE: u32 = 90;
const CHINA_OFFSET_MS: i64 = 8 * 3600 * 1000;
const DAY_MS: i64 = 24 * 3600 * 1000;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(not_me))
        .routes(routes!(get_hold))
}

/// The China-time day number of `ms` (Unix epoch milliseconds).
pub fn china_day(ms: i64) -> i64 {
    (ms + CHINA_OFFSET_MS).div_euclid(DAY_MS)
}

/// The China-time hour (0–23) of `ms`.
pub fn china_hour(ms: i64) -> u32 {
    ((ms + CHINA_OFFSET_MS).rem_euclid(DAY_MS) / 3_600_000) as u32
}

/// The operation being scored.
pub struct Subject<'a> {
    pub user_id: &'a str,
    pub device_id: &'a str,
    /// The request's amount: compared with the user's usual amounts and the magic values.
    pub amount: Money,
    /// Everything the wallet gives (or, for top-ups, gets), fee included: counted against
    /// the limits.
    pub debit: Money,
    /// Money leaving the user's control (everything but top-ups).
    pub outgoing: bool,
    /// The account paid, for transfers: a first transfer to it is a new payee.
    pub payee: Option<&'a str>,
    /// Any currency of the operation is not CNY.
    pub foreign: bool,
}

/// What the engine looks at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Signals {
    pub amount_cny: i64,
    pub outgoing: bool,
    pub spent_today_cny: i64,
    pub recent_outgoing: u32,
    pub median_outgoing: Option<i64>,
    /// The amount in the operation's currency, to compare with the median.
    pub amount_minor: i64,
    pub new_device: bool,
    pub new_payee: bool,
    pub china_hour: u32,
    pub foreign: bool,
    pub magic: Option<RiskAction>,
}

pub fn gather(conn: &Connection, s: &Subject<'_>, now: i64) -> ApiResult<Signals> {
    let amount_cny = crate::sca::cny_equivalent(s.debit);
    let mut signals = Signals {
        amount_cny,
        outgoing: s.outgoing,
        amount_minor: s.amount.minor,
        china_hour: china_hour(now),
        foreign: s.foreign,
        magic: magic_amount(s.amount),
        ..Signals::default()
    };
    let first_seen: Option<i64> = conn
        .prepare_cached("SELECT first_seen_at FROM devices WHERE user_id = ?1 AND device_id = ?2")?
        .query_row(params![s.user_id, s.device_id], |r| r.get(0))
        .optional()?;
    signals.new_device = first_seen.is_none_or(|t| now - t < NEW_DEVICE_MS);
    if !s.outgoing {
        return Ok(signals);
    }
    signals.spent_today_cny = conn
        .prepare_cached("SELECT cny_minor FROM risk_daily_spend WHERE user_id = ?1 AND day = ?2")?
        .query_row(params![s.user_id, china_day(now)], |r| r.get(0))
        .optional()?
        .unwrap_or(0);
    // Bounded: counting stops as soon as the hold threshold is reached.
    signals.recent_outgoing = conn
        .prepare_cached(
            "SELECT COUNT(*) FROM (SELECT 1 FROM transactions
             WHERE user_id = ?1 AND created_at >= ?2 AND amount < 0 LIMIT ?3)",
        )?
        .query_row(
            params![s.user_id, now - VELOCITY_WINDOW_MS, VELOCITY_HOLD],
            |r| r.get(0),
        )?;
    let mut recent: Vec<i64> = conn
        .prepare_cached(
            "SELECT -amount FROM transactions
             WHERE user_id = ?1 AND currency = ?2 AND amount < 0 AND status <> 'failed'
             ORDER BY created_at DESC LIMIT 20",
        )?
        .query_map(params![s.user_id, s.amount.currency.code()], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    if recent.len() >= SPIKE_MIN_HISTORY {
        recent.sort_unstable();
        signals.median_outgoing = Some(recent[recent.len() / 2]);
    }
    if let Some(payee) = s.payee {
        signals.new_payee = !conn
            .prepare_cached(
                "SELECT 1 FROM transactions WHERE user_id = ?1 AND counterparty_id = ?2 AND status <> 'failed' LIMIT 1",
            )?
            .exists(params![s.user_id, payee])?;
    }
    Ok(signals)
}

/// The magic amounts of the catalogue, in any currency with two decimals.
fn magic_amount(amount: Money) -> Option<RiskAction> {
    match amount.to_decimal_string().as_str() {
        "222.22" => Some(RiskAction::StepUp),
        "666.66" => Some(RiskAction::Hold),
        "444.44" => Some(RiskAction::Block),
        _ => None,
    }
}

fn message(rule: &str, zh: bool) -> &'static str {
    match (rule, zh) {
        ("daily_limit", true) => "今日累计支付金额超出限额",
        ("daily_limit", false) => "This payment would exceed your daily limit",
        ("velocity", true) => "短时间内交易过于频繁",
        ("velocity", false) => "Many payments in a short time",
        ("amount_spike", true) => "金额远高于您平时的交易金额",
        ("amount_spike", false) => "The amount is much larger than your usual payments",
        ("new_payee", true) => "首次向该收款人付款",
        ("new_payee", false) => "First payment to this recipient",
        ("new_device", true) => "在新设备上付款",
        ("new_device", false) => "Payment from a recently added device",
        ("odd_hours", true) => "交易时间异常（凌晨）",
        ("odd_hours", false) => "Payment at an unusual hour",
        ("foreign_currency", true) => "外币交易",
        ("foreign_currency", false) => "Payment in a foreign currency",
        ("magic_amount", true) => "测试金额触发的风控结果",
        ("magic_amount", false) => "Risk outcome forced by a magic test amount",
        ("scenario", true) => "测试场景指定的风控结果",
        ("scenario", false) => "Risk outcome forced by the test scenario",
        ("merchant_blocked", true) => "该商户存在风险，已暂停向其付款",
        ("merchant_blocked", false) => "Payments to this merchant are suspended for your safety",
        ("score", true) => "多项风险信号同时出现",
        ("score", false) => "Several risk signals at once",
        (_, true) => "交易正常",
        (_, false) => "Nothing unusual",
    }
}

struct Hit {
    rule: &'static str,
    weight: u32,
    action: RiskAction,
}

/// Decides from the signals; `forced` (the request's scenario) wins over everything.
pub fn assess(s: &Signals, forced: Option<RiskAction>, zh: bool) -> RiskDecision {
    let mut hits: Vec<Hit> = Vec::new();
    let mut hit = |rule, weight, action| {
        hits.push(Hit {
            rule,
            weight,
            action,
        })
    };
    if let Some(action) = forced {
        hit("scenario", 0, action);
    }
    if let Some(action) = s.magic {
        hit("magic_amount", 0, action);
    }
    if s.outgoing {
        if s.spent_today_cny.saturating_add(s.amount_cny) > DAILY_LIMIT_CNY_MINOR {
            hit("daily_limit", 0, RiskAction::Block);
        }
        if s.recent_outgoing >= VELOCITY_HOLD {
            hit("velocity", 30, RiskAction::Hold);
        } else if s.recent_outgoing >= VELOCITY_STEP_UP {
            hit("velocity", 30, RiskAction::StepUp);
        }
        if let Some(median) = s.median_outgoing
            && s.amount_minor > median.saturating_mul(SPIKE_FACTOR)
        {
            let action = if s.new_device {
                RiskAction::Hold
            } else {
                RiskAction::StepUp
            };
            hit("amount_spike", 40, action);
        }
        if s.new_payee {
            hit("new_payee", 25, RiskAction::Allow);
        }
    }
    if s.new_device {
        hit("new_device", 20, RiskAction::Allow);
    }
    if (1..5).contains(&s.china_hour) {
        hit("odd_hours", 15, RiskAction::Allow);
    }
    if s.foreign {
        hit("foreign_currency", 10, RiskAction::Allow);
    }
    let score: u32 = hits.iter().map(|h| h.weight).sum();
    if score >= HOLD_SCORE {
        hits.push(Hit {
            rule: "score",
            weight: 0,
            action: RiskAction::Hold,
        });
    }
    // The forced outcome decides even when it is milder than what the signals say.
    let decider = if forced.is_some() {
        hits.first()
    } else {
        hits.iter().max_by_key(|h| (h.action, h.weight))
    };
    let (action, rule_id) = decider
        .filter(|h| h.action != RiskAction::Allow)
        .map_or((RiskAction::Allow, "none"), |h| (h.action, h.rule));
    hits.sort_by_key(|h| std::cmp::Reverse((h.action, h.weight)));
    RiskDecision {
        action,
        rule_id: rule_id.to_owned(),
        score,
        reasons: hits
            .iter()
            .filter(|h| h.rule != "scenario" || forced.is_some())
            .map(|h| RiskReason {
                rule_id: h.rule.to_owned(),
                message: message(h.rule, zh).to_owned(),
            })
            .collect(),
    }
}

/// The decision for a payment to a merchant reported for fraud.
pub fn blocked_merchant(zh: bool) -> RiskDecision {
    RiskDecision {
        action: RiskAction::Block,
        rule_id: "merchant_blocked".to_owned(),
        score: 100,
        reasons: vec![RiskReason {
            rule_id: "merchant_blocked".to_owned(),
            message: message("merchant_blocked", zh).to_owned(),
        }],
    }
}

/// The error a blocking decision answers with: `limit_exceeded` for the daily limit,
/// `risk_blocked` otherwise; the decision rides in `data`.
pub fn refusal(decision: &RiskDecision) -> ApiError {
    let code = if decision.rule_id == "daily_limit" {
        ErrorCode::LimitExceeded
    } else {
        ErrorCode::RiskBlocked
    };
    ApiError::new(code).data(decision)
}

pub fn alert(
    user_id: &str,
    decision: &RiskDecision,
    transaction_id: Option<&str>,
    at: i64,
) -> ServerEvent {
    ServerEvent {
        user_id: user_id.to_owned(),
        event: LiveEvent::RiskAlert {
            alert: RiskAlert {
                decision: decision.clone(),
                transaction_id: transaction_id.map(str::to_owned),
                at,
            },
        },
    }
}

/// Counts an accepted outgoing operation towards today's limit.
pub fn record_spend(conn: &Connection, user_id: &str, amount_cny: i64, now: i64) -> ApiResult<()> {
    conn.prepare_cached(
        "INSERT INTO risk_daily_spend (user_id, day, cny_minor) VALUES (?1, ?2, ?3)
         ON CONFLICT (user_id, day) DO UPDATE SET cny_minor = cny_minor + excluded.cny_minor",
    )?
    .execute(params![user_id, china_day(now), amount_cny])?;
    Ok(())
}

/// Gives back the limit an operation used when it fails or is rejected (on the day it counted).
pub fn refund_spend(
    conn: &Connection,
    user_id: &str,
    amount_cny: i64,
    created_at: i64,
) -> ApiResult<()> {
    conn.prepare_cached(
        "UPDATE risk_daily_spend SET cny_minor = max(0, cny_minor - ?3) WHERE user_id = ?1 AND day = ?2",
    )?
    .execute(params![user_id, china_day(created_at), amount_cny])?;
    Ok(())
}

/// The forced decision of the request's `X-Mock-Scenario: risk=…`.
pub fn forced(scenario: &crate::faults::Scenario) -> Option<RiskAction> {
    scenario.risk.as_deref().and_then(RiskAction::parse)
}

/// `POST /v1/risk/not-me`: "this wasn't me". Freezes the account at once (every money movement
/// then answers `account_frozen`) until support unfreezes it.
#[utoipa::path(post, path = "/v1/risk/not-me", tag = "money", security(("bearer" = [])),
    request_body = NotMeRequest,
    responses((status = 200, body = NotMeResult), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn not_me(
    user: AuthUser,
    ApiJson(req): ApiJson<NotMeRequest>,
) -> ApiResult<Json<NotMeResult>> {
    let sb = &user.sandbox;
    let now = sb.clock.now_ms();
    let zh = crate::ledger::zh();
    sb.write(|tx| {
        if let Some(id) = &req.transaction_id
            && crate::ledger::records::get(tx, &user.user_id, id)?.is_none()
        {
            return Err(ApiError::not_found());
        }
        crate::auth::store::set_frozen(tx, &user.user_id, true)
    })?;
    let decision = RiskDecision {
        action: RiskAction::Block,
        rule_id: "reported_by_user".to_owned(),
        score: 100,
        reasons: vec![RiskReason {
            rule_id: "reported_by_user".to_owned(),
            message: if zh {
                "您报告了非本人操作，账户已冻结"
            } else {
                "You reported activity that was not yours; the account is frozen"
            }
            .to_owned(),
        }],
    };
    sb.publish(alert(
        &user.user_id,
        &decision,
        req.transaction_id.as_deref(),
        now,
    ));
    Ok(Json(NotMeResult {
        frozen: true,
        message: if zh {
            "账户已冻结，资金不会再转出。客服将尽快联系您核实情况。"
        } else {
            "Your account is frozen: no money can leave it. Support will contact you shortly to sort this out."
        }
        .to_owned(),
    }))
}

/// `GET /v1/risk/holds/{id}`: a payment held for review.
#[utoipa::path(get, path = "/v1/risk/holds/{id}", tag = "money", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = RiskHold), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn get_hold(
    user: AuthUser,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> ApiResult<Json<RiskHold>> {
    user.sandbox
        .read(|c| crate::ledger::holds::get(c, Some(&user.user_id), &id))?
        .map(Json)
        .ok_or_else(ApiError::not_found)
}

/// The amount's currency is not CNY.
pub fn is_foreign(amount: Money) -> bool {
    amount.currency != Currency::CNY
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Signals {
        Signals {
            amount_cny: 10_000,
            outgoing: true,
            amount_minor: 10_000,
            china_hour: 12,
            ..Signals::default()
        }
    }

    #[test]
    fn quiet_operation_is_allowed() {
        let d = assess(&base(), None, false);
        assert_eq!(d.action, RiskAction::Allow);
        assert_eq!(d.rule_id, "none");
        assert_eq!(d.score, 0);
        assert!(d.reasons.is_empty());
    }

    #[test]
    fn daily_limit_blocks() {
        let s = Signals {
            spent_today_cny: DAILY_LIMIT_CNY_MINOR - 5_000,
            ..base()
        };
        let d = assess(&s, None, false);
        assert_eq!(
            (d.action, d.rule_id.as_str()),
            (RiskAction::Block, "daily_limit")
        );
        assert_eq!(refusal(&d).code, ErrorCode::LimitExceeded);
        let ok = Signals {
            spent_today_cny: DAILY_LIMIT_CNY_MINOR - 10_000,
            ..base()
        };
        assert_eq!(assess(&ok, None, false).action, RiskAction::Allow);
    }

    #[test]
    fn velocity_steps_up_then_holds() {
        let s = |n| Signals {
            recent_outgoing: n,
            ..base()
        };
        assert_eq!(
            assess(&s(VELOCITY_STEP_UP - 1), None, false).action,
            RiskAction::Allow
        );
        assert_eq!(
            assess(&s(VELOCITY_STEP_UP), None, false).action,
            RiskAction::StepUp
        );
        let d = assess(&s(VELOCITY_HOLD), None, true);
        assert_eq!(
            (d.action, d.rule_id.as_str()),
            (RiskAction::Hold, "velocity")
        );
        assert_eq!(d.reasons[0].message, "短时间内交易过于频繁");
    }

    #[test]
    fn spike_needs_history_and_holds_on_new_device() {
        let s = Signals {
            median_outgoing: Some(900),
            ..base()
        };
        assert_eq!(assess(&s, None, false).action, RiskAction::StepUp);
        let on_new = Signals {
            new_device: true,
            ..s.clone()
        };
        assert_eq!(assess(&on_new, None, false).action, RiskAction::Hold);
        let modest = Signals {
            median_outgoing: Some(1_000),
            ..base()
        };
        assert_eq!(assess(&modest, None, false).action, RiskAction::Allow);
        let no_history = Signals {
            median_outgoing: None,
            ..base()
        };
        assert_eq!(assess(&no_history, None, false).action, RiskAction::Allow);
    }

    #[test]
    fn soft_signals_add_up_to_a_hold() {
        let s = Signals {
            new_device: true,
            new_payee: true,
            china_hour: 3,
            foreign: true,
            ..base()
        };
        let d = assess(&s, None, false);
        assert_eq!(d.score, 70);
        assert_eq!(d.action, RiskAction::Allow);
        assert_eq!(d.reasons.len(), 4);
        let more = Signals {
            recent_outgoing: VELOCITY_STEP_UP,
            ..s
        };
        let d = assess(&more, None, false);
        assert_eq!(d.score, 100);
        assert_eq!((d.action, d.rule_id.as_str()), (RiskAction::Hold, "score"));
    }

    #[test]
    fn odd_hours_are_one_to_five_china_time() {
        // 2024-01-01T17:30:00Z is 01:30 in China.
        let t = 1_704_130_200_000;
        assert_eq!(china_hour(t), 1);
        assert_eq!(china_hour(t + 4 * 3_600_000), 5);
        let at = |h| Signals {
            china_hour: h,
            ..base()
        };
        assert_eq!(assess(&at(1), None, false).score, 15);
        assert_eq!(assess(&at(4), None, false).score, 15);
        assert_eq!(assess(&at(5), None, false).score, 0);
        assert_eq!(assess(&at(0), None, false).score, 0);
    }

    #[test]
    fn magic_and_forced_outcomes() {
        let m = |text| magic_amount(Money::parse_decimal(text, Currency::CNY).unwrap());
        assert_eq!(m("666.66"), Some(RiskAction::Hold));
        assert_eq!(m("444.44"), Some(RiskAction::Block));
        assert_eq!(m("222.22"), Some(RiskAction::StepUp));
        assert_eq!(m("666.67"), None);
        let s = Signals {
            recent_outgoing: VELOCITY_HOLD,
            ..base()
        };
        let d = assess(&s, Some(RiskAction::Allow), false);
        assert_eq!((d.action, d.rule_id.as_str()), (RiskAction::Allow, "none"));
        let d = assess(&base(), Some(RiskAction::Block), false);
        assert_eq!(
            (d.action, d.rule_id.as_str()),
            (RiskAction::Block, "scenario")
        );
        assert_eq!(refusal(&d).code, ErrorCode::RiskBlocked);
    }

    #[test]
    fn incoming_money_skips_spending_rules() {
        let s = Signals {
            outgoing: false,
            spent_today_cny: DAILY_LIMIT_CNY_MINOR,
            recent_outgoing: 100,
            ..base()
        };
        assert_eq!(assess(&s, None, false).action, RiskAction::Allow);
    }
}
