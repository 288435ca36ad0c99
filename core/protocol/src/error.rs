//! The error body of every API failure: RFC 9457 `application/problem+json` with a stable
//! machine `code`. Clients branch and localise on `code` only; `title`/`detail` are user-safe
//! text for logs and fallbacks and never contain personal data.

use serde::{Deserialize, Serialize};

/// Media type of error bodies.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

macro_rules! error_codes {
    ($( $variant:ident = $status:literal, $en:literal, $zh:literal; )*) => {
        /// Stable machine-readable error codes. New codes may be added; a client that does not
        /// know a code sees `Unknown` and falls back to the HTTP status.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(rename_all = "snake_case")]
        pub enum ErrorCode {
            $( $variant, )*
            #[serde(other)]
            Unknown,
        }

        impl ErrorCode {
            /// The HTTP status this code is always sent with.
            pub fn status(self) -> u16 {
                match self { $( ErrorCode::$variant => $status, )* ErrorCode::Unknown => 500 }
            }

            /// Short user-safe English text.
            pub fn title_en(self) -> &'static str {
                match self { $( ErrorCode::$variant => $en, )* ErrorCode::Unknown => "Something went wrong" }
            }

            /// Short user-safe Simplified Chinese text.
            pub fn title_zh(self) -> &'static str {
                match self { $( ErrorCode::$variant => $zh, )* ErrorCode::Unknown => "出了点问题" }
            }

            pub fn all() -> &'static [ErrorCode] {
                &[ $( ErrorCode::$variant, )* ]
            }
        }
    };
}

error_codes! {
    // Request shape.
    InvalidRequest = 400, "The request is malformed", "请求格式有误";
    ValidationFailed = 422, "Some fields are invalid", "部分信息填写有误";
    PayloadTooLarge = 413, "The request is too large", "请求内容过大";
    UnsupportedMediaType = 415, "Unsupported content type", "不支持的内容类型";
    NotFound = 404, "Not found", "未找到";
    MethodNotAllowed = 405, "Method not allowed", "不支持该操作";
    RateLimited = 429, "Too many requests, try again later", "请求过于频繁，请稍后再试";
    Internal = 500, "Internal error", "系统内部错误";
    ServiceUnavailable = 503, "Service temporarily unavailable", "服务暂时不可用";
    // Authentication and account.
    Unauthorized = 401, "Please sign in", "请先登录";
    TokenExpired = 401, "Your session has expired", "登录已过期";
    InvalidCredentials = 401, "Wrong phone number or password", "手机号或密码错误";
    AccountLocked = 423, "The account is locked after too many wrong passwords", "密码错误次数过多，账户已锁定";
    AccountFrozen = 423, "The account is frozen for your protection", "为保护资金安全，账户已冻结";
    OtpInvalid = 401, "The verification code is wrong", "验证码错误";
    OtpExpired = 401, "The verification code has expired", "验证码已过期";
    OtpExhausted = 401, "Too many wrong codes; request a new one", "验证码错误次数过多，请重新获取";
    OtpThrottled = 429, "Please wait before requesting another code", "请稍后再获取验证码";
    WeakPassword = 422, "The password does not meet the rules", "密码不符合规则";
    PhoneTaken = 409, "This phone number is already registered", "该手机号已注册";
    IdentityMismatch = 422, "The identity details do not match", "身份信息不匹配";
    RefreshReused = 401, "This session was revoked; please sign in again", "会话已失效，请重新登录";
    Forbidden = 403, "You cannot do this", "无权执行该操作";
    // Money.
    InsufficientFunds = 422, "Insufficient balance", "余额不足";
    CurrencyMismatch = 422, "The currency does not match", "币种不匹配";
    UnsupportedCurrency = 422, "This currency is not supported", "不支持该币种";
    InvalidAmount = 422, "The amount is invalid", "金额无效";
    LimitExceeded = 422, "The amount exceeds your limit", "超出限额";
    PayeeNotFound = 404, "The recipient was not found", "未找到收款人";
    SelfTransfer = 422, "You cannot transfer to yourself", "不能向自己转账";
    MerchantNotSupported = 422, "This merchant is not supported", "暂不支持该商户";
    QrInvalid = 422, "This QR code is not a valid uPay code", "无效的二维码";
    CardInvalid = 422, "The card details are invalid", "银行卡信息无效";
    CardDeclined = 402, "The card was declined", "银行卡被拒绝";
    CardNotFound = 404, "The card was not found", "未找到该银行卡";
    QuoteExpired = 409, "The rate has expired; get a new quote", "汇率已过期，请重新报价";
    QuoteNotFound = 404, "The quote was not found", "未找到该报价";
    QuoteUsed = 409, "This quote was already used", "该报价已使用";
    HoldNotPending = 409, "This payment was already reviewed", "该笔交易已完成审核";
    // Idempotency.
    IdempotencyKeyMissing = 400, "An Idempotency-Key header is required", "缺少幂等键";
    IdempotencyKeyReused = 422, "This Idempotency-Key was used for a different request", "幂等键已用于其他请求";
    IdempotencyInFlight = 409, "The same request is still being processed", "相同请求正在处理中";
    // Strong customer authentication and risk.
    ScaRequired = 403, "Please confirm this payment on your device", "请在设备上确认该笔支付";
    ScaInvalid = 403, "The payment confirmation is invalid", "支付确认无效";
    ChallengeExpired = 403, "The confirmation expired; try again", "确认已过期，请重试";
    DeviceKeyMissing = 409, "This device is not set up for payment confirmation", "该设备尚未开通支付确认";
    RiskBlocked = 403, "This payment was blocked for your security", "为保障安全，该笔支付已被拦截";
    // Support, help and engagement.
    ConversationClosed = 409, "This conversation has ended; start a new one", "该会话已结束，请发起新的会话";
    ConversationTaken = 409, "Another agent has taken this conversation", "该会话已由其他客服接待";
    ClientIdReused = 409, "This id was already used for different content", "该编号已用于其他内容";
    CsatNotRequested = 409, "There is nothing to rate", "暂无可评价的服务";
    CsatAlreadyGiven = 409, "You have already rated this", "您已评价过本次服务";
    ImageInvalid = 422, "The image is damaged or its size is not allowed", "图片已损坏或尺寸不符合要求";
    TicketClosed = 409, "This ticket is already resolved", "该工单已解决";
    SurveyAlreadyAnswered = 409, "You have already answered this survey", "您已参与过本次调查";
    // Payment code (付款码) and savings (理财).
    PaycodeMalformed = 422, "This is not a uPay payment code", "不是有效的付款码";
    PaycodeExpired = 422, "The payment code has expired; ask for the current one", "付款码已过期，请刷新后重试";
    PaycodeInvalid = 422, "The payment code is wrong", "付款码错误";
    PaycodeUsed = 409, "This payment code was already used; ask for the current one", "该付款码已使用，请刷新后重试";
    PaycodeRevoked = 422, "This payment code is no longer valid", "付款码已失效";
    PaycodeLimitExceeded = 422, "The amount exceeds the payment code limit", "超出付款码支付限额";
    TerminalUnauthorized = 401, "The terminal is not recognised", "收款终端认证失败";
    SavingsInsufficient = 422, "Your savings balance is not enough", "理财余额不足";
    // Sync.
    CursorExpired = 410, "The sync position expired; sync again from the start", "同步位置已失效，请重新同步";
}

impl ErrorCode {
    /// The RFC 9457 `type` URI of this code.
    pub fn type_uri(self) -> String {
        let code = serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned));
        format!(
            "urn:upay:error:{}",
            code.unwrap_or_else(|| "unknown".to_owned())
        )
    }
}

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldError {
    /// JSON pointer-like path of the field, e.g. `amount.minor`.
    pub field: String,
    /// Stable snake_case reason, e.g. `required`, `too_long`, `not_positive`.
    pub code: String,
    pub message: String,
}

/// An RFC 9457 problem document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    pub code: ErrorCode,
    /// Echo of the `Request-Id` response header, for support.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Wrong-password attempts left before the account locks (sent with `invalid_credentials`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts_remaining: Option<u32>,
    /// Code-specific details (e.g. the risk decision of `risk_blocked`, the SCA challenge of
    /// `sca_required`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
}

impl Problem {
    pub fn new(code: ErrorCode, locale_zh: bool) -> Problem {
        Problem {
            type_uri: code.type_uri(),
            title: if locale_zh {
                code.title_zh()
            } else {
                code.title_en()
            }
            .to_owned(),
            status: code.status(),
            detail: None,
            code,
            request_id: None,
            errors: Vec::new(),
            attempts_remaining: None,
            data: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_snake_case() {
        assert_eq!(
            serde_json::to_string(&ErrorCode::InsufficientFunds).unwrap(),
            "\"insufficient_funds\""
        );
        assert_eq!(
            ErrorCode::IdempotencyKeyReused.type_uri(),
            "urn:upay:error:idempotency_key_reused"
        );
        let unknown: ErrorCode = serde_json::from_str("\"brand_new_code\"").unwrap();
        assert_eq!(unknown, ErrorCode::Unknown);
    }

    #[test]
    fn every_code_has_a_client_or_server_error_status_and_both_titles() {
        for code in ErrorCode::all() {
            assert!((400..600).contains(&code.status()), "{code:?}");
            assert!(!code.title_en().is_empty() && !code.title_zh().is_empty());
        }
    }

    #[test]
    fn problem_round_trips() {
        let mut p = Problem::new(ErrorCode::InvalidCredentials, true);
        p.attempts_remaining = Some(1);
        let text = serde_json::to_string(&p).unwrap();
        assert!(text.contains("\"type\":\"urn:upay:error:invalid_credentials\""));
        assert_eq!(serde_json::from_str::<Problem>(&text).unwrap(), p);
    }
}
