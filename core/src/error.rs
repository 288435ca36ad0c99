//! The one public error of the core. Apps branch and localise on [`ErrorCode`] only; the
//! `message` is a user-safe fallback in the client's locale. Internal errors (storage, crypto,
//! transport) convert into it here, and none of them carries personal data: SQLite and reqwest
//! messages can quote values or URLs, so they are logged by kind only and never forwarded.

use upay_protocol::error::{ErrorCode as WireCode, Problem};

macro_rules! error_codes {
    (server { $($s:ident),* $(,)? } client { $($c:ident = $en:literal, $zh:literal;)* }) => {
        /// Stable machine codes: every server code of the API (same names as the wire's
        /// snake_case codes) plus the failures that only a device can have.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
        pub enum ErrorCode {
            $( $s, )*
            $( $c, )*
            /// A server code this version of the core does not know.
            Unknown,
        }

        impl From<WireCode> for ErrorCode {
            fn from(code: WireCode) -> ErrorCode {
                match code {
                    $( WireCode::$s => ErrorCode::$s, )*
                    // A code added to the protocol after this list: the test below fails until
                    // it is mirrored here.
                    #[allow(unreachable_patterns)]
                    _ => ErrorCode::Unknown,
                }
            }
        }

        impl ErrorCode {
            /// The matching wire code, for server codes.
            pub fn wire(self) -> Option<WireCode> {
                match self {
                    $( ErrorCode::$s => Some(WireCode::$s), )*
                    _ => None,
                }
            }

            /// User-safe text in Simplified Chinese (`zh == true`) or English.
            pub fn message(self, zh: bool) -> String {
                if let Some(w) = self.wire() {
                    return if zh { w.title_zh() } else { w.title_en() }.to_owned();
                }
                match (self, zh) {
                    $( (ErrorCode::$c, false) => $en.to_owned(), (ErrorCode::$c, true) => $zh.to_owned(), )*
                    (_, false) => "Something went wrong".to_owned(),
                    (_, true) => "出了点问题".to_owned(),
                }
            }

            /// Every code, for tests and documentation.
            pub fn all() -> Vec<ErrorCode> {
                vec![$( ErrorCode::$s, )* $( ErrorCode::$c, )* ErrorCode::Unknown]
            }
        }
    };
}

error_codes! {
    server {
        InvalidRequest, ValidationFailed, PayloadTooLarge, UnsupportedMediaType, NotFound,
        MethodNotAllowed, RateLimited, Internal, ServiceUnavailable, Unauthorized, TokenExpired,
        InvalidCredentials, AccountLocked, AccountFrozen, OtpInvalid, OtpExpired, OtpExhausted,
        OtpThrottled, WeakPassword, PhoneTaken, IdentityMismatch, RefreshReused, Forbidden,
        InsufficientFunds, CurrencyMismatch, UnsupportedCurrency, InvalidAmount, LimitExceeded,
        PayeeNotFound, SelfTransfer, MerchantNotSupported, QrInvalid, CardInvalid, CardDeclined,
        CardNotFound, QuoteExpired, QuoteNotFound, QuoteUsed, HoldNotPending,
        IdempotencyKeyMissing, IdempotencyKeyReused, IdempotencyInFlight, ScaRequired, ScaInvalid,
        ChallengeExpired, DeviceKeyMissing, RiskBlocked, ConversationClosed, ConversationTaken,
        ClientIdReused, CsatNotRequested, CsatAlreadyGiven, ImageInvalid, TicketClosed,
        SurveyAlreadyAnswered, PaycodeMalformed, PaycodeExpired, PaycodeInvalid, PaycodeUsed,
        PaycodeRevoked, PaycodeLimitExceeded, TerminalUnauthorized, SavingsInsufficient,
        CursorExpired,
    }
    client {
        Offline = "No network connection; you can keep using the cached data", "网络未连接，可继续查看离线数据";
        Timeout = "The server did not answer in time", "服务器响应超时";
        TlsFailure = "A secure connection could not be established", "无法建立安全连接";
        InsecureConnection = "Plain HTTP is only allowed to this device in developer mode", "仅开发者模式下允许以明文 HTTP 连接本机";
        KeyLost = "The encryption key of this device changed; your data will be downloaded again", "本机加密密钥已变更，数据将重新同步";
        KeyStoreUnavailable = "The secure key storage is not available right now", "安全密钥存储暂不可用";
        AuthenticationCancelled = "Confirmation was cancelled", "已取消验证";
        Storage = "The local data could not be read or written", "本地数据读写失败";
        NotSignedIn = "Please sign in", "请先登录";
        AppLocked = "uPay is locked; unlock to continue", "应用已锁定，请解锁后继续";
        InvalidInput = "Some input is invalid", "输入内容有误";
        ItemNotFound = "The item was not found on this device", "本机未找到该项目";
        NotCancellable = "The payment was already sent and can no longer be cancelled", "该笔付款已发出，无法取消";
        BadResponse = "The server sent an answer this app does not understand", "服务器返回了无法识别的数据";
        PaycodeNotEnabled = "The payment code is not turned on for this phone; turn it on while online", "本机尚未开通付款码，请联网后开通";
    }
}

/// The error of every exported call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum CoreError {
    /// The server refused the request with a problem document.
    #[error("server error {code:?} ({status})")]
    Server {
        code: ErrorCode,
        message: String,
        status: u16,
        /// Wrong-password attempts left (with `InvalidCredentials`).
        attempts_remaining: Option<u32>,
        /// From `Retry-After`, when the server sent one.
        retry_after_secs: Option<u64>,
        /// Names of the invalid fields, for `ValidationFailed`.
        fields: Vec<String>,
        /// The server's request id, for support.
        request_id: Option<String>,
    },
    /// The device could not complete the call.
    #[error("client error {code:?}")]
    Client { code: ErrorCode, message: String },
}

impl CoreError {
    pub fn client(code: ErrorCode) -> CoreError {
        CoreError::Client {
            code,
            message: code.message(false),
        }
    }

    /// Invalid input found before anything was sent; `field` names the input, never its value.
    pub fn invalid(field: &str) -> CoreError {
        CoreError::Client {
            code: ErrorCode::InvalidInput,
            message: format!("{} ({field})", ErrorCode::InvalidInput.message(false)),
        }
    }

    pub fn from_problem(problem: &Problem, retry_after_secs: Option<u64>) -> CoreError {
        let code = ErrorCode::from(problem.code);
        CoreError::Server {
            code,
            message: code.message(false),
            status: problem.status,
            attempts_remaining: problem.attempts_remaining,
            retry_after_secs,
            fields: problem.errors.iter().map(|e| e.field.clone()).collect(),
            request_id: problem.request_id.clone(),
        }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            CoreError::Server { code, .. } | CoreError::Client { code, .. } => *code,
        }
    }

    /// The same error with its message in the client's language.
    pub fn localized(mut self, zh: bool) -> CoreError {
        match &mut self {
            CoreError::Server { code, message, .. } | CoreError::Client { code, message } => {
                let field = message
                    .rsplit_once(" (")
                    .filter(|_| *code == ErrorCode::InvalidInput)
                    .map(|(_, f)| f.trim_end_matches(')').to_owned());
                *message = code.message(zh);
                if let Some(f) = field {
                    message.push_str(&format!(" ({f})"));
                }
            }
        }
        self
    }
}

pub type CoreResult<T> = Result<T, CoreError>;

impl From<rusqlite::Error> for CoreError {
    fn from(e: rusqlite::Error) -> CoreError {
        // The SQLite message may quote a value; only the kind is logged.
        tracing::error!(kind = sqlite_kind(&e), "storage error");
        CoreError::client(ErrorCode::Storage)
    }
}

fn sqlite_kind(e: &rusqlite::Error) -> &'static str {
    match e {
        rusqlite::Error::SqliteFailure(f, _) => match f.code {
            rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked => "busy",
            rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase => "corrupt",
            rusqlite::ErrorCode::DiskFull => "disk_full",
            rusqlite::ErrorCode::ConstraintViolation => "constraint",
            rusqlite::ErrorCode::CannotOpen => "cannot_open",
            _ => "sqlite",
        },
        rusqlite::Error::QueryReturnedNoRows => "no_rows",
        rusqlite::Error::FromSqlConversionFailure(..) | rusqlite::Error::InvalidColumnType(..) => {
            "conversion"
        }
        _ => "other",
    }
}

impl From<crate::crypto::CryptoError> for CoreError {
    fn from(e: crate::crypto::CryptoError) -> CoreError {
        tracing::error!(kind = ?e, "crypto error");
        match e {
            crate::crypto::CryptoError::KeyLost => CoreError::client(ErrorCode::KeyLost),
            _ => CoreError::client(ErrorCode::Storage),
        }
    }
}

impl From<crate::keystore::KeyStoreError> for CoreError {
    fn from(e: crate::keystore::KeyStoreError) -> CoreError {
        use crate::keystore::KeyStoreError as K;
        match e {
            K::UserCancelled | K::AuthenticationFailed => {
                CoreError::client(ErrorCode::AuthenticationCancelled)
            }
            K::KeyNotFound => CoreError::client(ErrorCode::KeyLost),
            K::Unavailable { .. } => {
                tracing::warn!("key store unavailable");
                CoreError::client(ErrorCode::KeyStoreUnavailable)
            }
        }
    }
}

/// User-safe text for an error code in `locale` (`zh…` gives Simplified Chinese, anything else
/// English), for apps that render a code they stored.
#[uniffi::export]
pub fn error_message(code: ErrorCode, locale: String) -> String {
    code.message(crate::config::is_chinese(&locale))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_wire_code_maps_to_the_same_name_and_has_texts() {
        for wire in WireCode::all() {
            let core = ErrorCode::from(*wire);
            assert_eq!(core.wire(), Some(*wire));
            assert_eq!(format!("{core:?}"), format!("{wire:?}"));
        }
        for code in ErrorCode::all() {
            assert!(!code.message(true).is_empty() && !code.message(false).is_empty());
            assert_ne!(code.message(true), code.message(false), "{code:?}");
        }
    }

    #[test]
    fn localizing_keeps_the_field_name() {
        let e = CoreError::invalid("amount").localized(true);
        match e {
            CoreError::Client { message, .. } => assert_eq!(message, "输入内容有误 (amount)"),
            other => panic!("{other:?}"),
        }
    }
}
