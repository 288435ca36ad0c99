//! The uPay QR payload codec, shared by the apps (which render and scan codes) and the mock
//! (which issues merchant codes), so both accept exactly the same texts.
//!
//! # Text format, version 1
//!
//! ```text
//! code   = "UPAY1:" kind *( ";" tag "=" value ) "*" crc
//! kind   = "P"                      ; personal receive code
//!        / "M"                      ; merchant code
//! tag    = "I" / "C" / "V" / "N"    ; id, currency, amount, name; in exactly this order
//! value  = escaped UTF-8 text
//! crc    = 8 upper-case hex digits
//! ```
//!
//! * `I`: the account id (`U` + 10 digits) for `P`, the merchant id (`M` + 10 digits) for `M`.
//!   Required.
//! * `C`: ISO 4217 code of a supported currency, upper case. `P`: present exactly when `V` is.
//!   `M`: required, the currency the merchant charges in.
//! * `V`: a fixed amount in currency `C`, written as `Money::to_decimal_string` writes it
//!   (exactly the currency's number of decimal places, no sign, no leading zeros: `12.30`,
//!   `500`, `0.125`). Must be positive and at most `MAX_MINOR` minor units. Optional.
//! * `N`: display name, 1 to 64 Unicode scalar values, no control characters, no line or
//!   paragraph separators, no invisible bidirectional-formatting or zero-width characters, no
//!   leading or trailing whitespace. Optional for `P`, required for `M`.
//! * Escaping, applied to every value: `%` is written `%25` and `;` is written `%3B`; every
//!   other character is written as itself. No other `%` sequence is valid, so each value has
//!   exactly one spelling.
//! * `crc`: CRC-32 (ISO-HDLC, the zlib/PNG/Ethernet one: reflected polynomial `0xEDB88320`,
//!   initial value and final XOR `0xFFFFFFFF`) of the UTF-8 bytes of everything before it,
//!   including the `*`. CRC-32 rather than EMVCo's CRC-16 because it detects every error
//!   burst up to 32 bits, so any substitution of one character, even a four-byte UTF-8 one, is
//!   always detected.
//! * The whole code is at most 512 bytes; every valid payload fits well within that.
//!
//! Exactly one text encodes each payload: fields appear in the fixed order, never twice, and
//! unknown fields are rejected, so `decode(encode(x)) == Ok(x)` for every valid `x` and
//! `decode(s) == Ok(x)` implies `encode(x) == s`. A different prefix version (`UPAY2:`) is
//! reported as such before anything else is checked, so an old app can ask to be updated.
//!
//! The checksum catches misreads and typos; it does not authenticate anything. Anyone can
//! print a QR code, so the app shows the resolved payee and the server checks that the id
//! exists before money moves.

use std::fmt::Write;

use serde::{Deserialize, Serialize};

use crate::money::{Currency, MAX_MINOR, Money};

/// Version prefix of the current format.
pub const QR_PREFIX: &str = "UPAY1:";
/// Longest accepted code, in bytes.
pub const MAX_QR_BYTES: usize = 512;
/// Longest display name, in Unicode scalar values.
pub const MAX_NAME_CHARS: usize = 64;

/// A code a customer shows to be paid: optionally for a fixed amount.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PersonalCode {
    /// uPay account id: `U` followed by 10 digits.
    pub account_id: String,
    /// Fixed amount to pay; absent when the payer enters it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Money>,
    /// Name to show the payer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A code a merchant displays at the till or prints at the counter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MerchantCode {
    /// Merchant id: `M` followed by 10 digits.
    pub merchant_id: String,
    /// Name to show the payer.
    pub name: String,
    /// Currency the merchant charges in.
    pub currency: Currency,
    /// Fixed amount to pay, in `currency`; absent when the payer enters it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Money>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum QrPayload {
    Personal(PersonalCode),
    Merchant(MerchantCode),
}

/// Why a text is not a valid uPay code. Each variant has a stable [`QrError::code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum QrError {
    #[error("the code is empty")]
    Empty,
    #[error("the code is longer than 512 bytes")]
    TooLong,
    #[error("not a uPay code")]
    NotUpay,
    #[error("the code uses a format version this app does not know")]
    UnknownVersion,
    #[error("the checksum is missing or does not match")]
    BadChecksum,
    #[error("the code is malformed")]
    Malformed,
    #[error("unknown kind of code")]
    UnknownKind,
    #[error("the code has an unknown field")]
    UnknownField,
    #[error("the code has a field more than once")]
    DuplicateField,
    #[error("the code lacks a required field")]
    MissingField,
    #[error("a value has an invalid escape sequence")]
    BadEscape,
    #[error("the code is not in canonical form")]
    NonCanonical,
    #[error("invalid account id")]
    BadAccountId,
    #[error("invalid merchant id")]
    BadMerchantId,
    #[error("unsupported currency")]
    BadCurrency,
    #[error("the amount must be a positive amount within range")]
    BadAmount,
    #[error("the amount is not in the merchant's currency")]
    CurrencyMismatch,
    #[error("invalid display name")]
    BadName,
}

impl QrError {
    /// A stable snake_case code for clients to map to messages; never changes meaning.
    pub fn code(&self) -> &'static str {
        match self {
            QrError::Empty => "qr_empty",
            QrError::TooLong => "qr_too_long",
            QrError::NotUpay => "qr_not_upay",
            QrError::UnknownVersion => "qr_unknown_version",
            QrError::BadChecksum => "qr_bad_checksum",
            QrError::Malformed => "qr_malformed",
            QrError::UnknownKind => "qr_unknown_kind",
            QrError::UnknownField => "qr_unknown_field",
            QrError::DuplicateField => "qr_duplicate_field",
            QrError::MissingField => "qr_missing_field",
            QrError::BadEscape => "qr_bad_escape",
            QrError::NonCanonical => "qr_non_canonical",
            QrError::BadAccountId => "qr_bad_account_id",
            QrError::BadMerchantId => "qr_bad_merchant_id",
            QrError::BadCurrency => "qr_bad_currency",
            QrError::BadAmount => "qr_bad_amount",
            QrError::CurrencyMismatch => "qr_currency_mismatch",
            QrError::BadName => "qr_bad_name",
        }
    }
}

/// `U` followed by exactly 10 ASCII digits.
pub fn is_account_id(s: &str) -> bool {
    is_prefixed_id(s, b'U')
}

/// `M` followed by exactly 10 ASCII digits.
pub fn is_merchant_id(s: &str) -> bool {
    is_prefixed_id(s, b'M')
}

fn is_prefixed_id(s: &str, prefix: u8) -> bool {
    let b = s.as_bytes();
    b.len() == 11 && b[0] == prefix && b[1..].iter().all(u8::is_ascii_digit)
}

/// Characters that could make a name display as something it is not, or break the layout
/// of the confirmation screen.
fn is_forbidden_name_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}' | '\u{200B}' | '\u{200E}' | '\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2060}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}'
        )
}

fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= MAX_NAME_CHARS
        && !name.chars().any(is_forbidden_name_char)
        && !name.starts_with(char::is_whitespace)
        && !name.ends_with(char::is_whitespace)
}

fn check_amount(amount: Money) -> Result<(), QrError> {
    if amount.minor > 0 && amount.minor <= MAX_MINOR {
        Ok(())
    } else {
        Err(QrError::BadAmount)
    }
}

impl PersonalCode {
    pub fn validate(&self) -> Result<(), QrError> {
        if !is_account_id(&self.account_id) {
            return Err(QrError::BadAccountId);
        }
        if let Some(amount) = self.amount {
            check_amount(amount)?;
        }
        match &self.name {
            Some(name) if !is_valid_name(name) => Err(QrError::BadName),
            _ => Ok(()),
        }
    }
}

impl MerchantCode {
    pub fn validate(&self) -> Result<(), QrError> {
        if !is_merchant_id(&self.merchant_id) {
            return Err(QrError::BadMerchantId);
        }
        if let Some(amount) = self.amount {
            check_amount(amount)?;
            if amount.currency != self.currency {
                return Err(QrError::CurrencyMismatch);
            }
        }
        if !is_valid_name(&self.name) {
            return Err(QrError::BadName);
        }
        Ok(())
    }
}

/// Field tags in their canonical order.
const TAGS: [&str; 4] = ["I", "C", "V", "N"];
const ID: usize = 0;
const CURRENCY: usize = 1;
const AMOUNT: usize = 2;
const NAME: usize = 3;

impl QrPayload {
    /// Checks everything `decode` checks about the content. `decode(encode(x)) == Ok(x)`
    /// exactly when this returns `Ok`, so validate data from outside before encoding it.
    pub fn validate(&self) -> Result<(), QrError> {
        match self {
            QrPayload::Personal(p) => p.validate(),
            QrPayload::Merchant(m) => m.validate(),
        }
    }

    /// The code text. Never fails and never lets a value break out of its field, but an
    /// invalid payload (see [`QrPayload::validate`]) yields a text that `decode` rejects.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(96);
        out.push_str(QR_PREFIX);
        match self {
            QrPayload::Personal(p) => {
                out.push('P');
                push_field(&mut out, ID, &p.account_id);
                if let Some(amount) = p.amount {
                    push_field(&mut out, CURRENCY, amount.currency.code());
                    push_field(&mut out, AMOUNT, &amount.to_decimal_string());
                }
                if let Some(name) = &p.name {
                    push_field(&mut out, NAME, name);
                }
            }
            QrPayload::Merchant(m) => {
                out.push('M');
                push_field(&mut out, ID, &m.merchant_id);
                push_field(&mut out, CURRENCY, m.currency.code());
                if let Some(amount) = m.amount {
                    push_field(&mut out, AMOUNT, &amount.to_decimal_string());
                }
                push_field(&mut out, NAME, &m.name);
            }
        }
        out.push('*');
        let crc = crc32(out.as_bytes());
        write!(out, "{crc:08X}").expect("writing to a String cannot fail");
        out
    }

    /// Parses and validates a scanned code. Accepts exactly the texts `encode` produces for
    /// valid payloads; see the module documentation for the format.
    pub fn decode(text: &str) -> Result<QrPayload, QrError> {
        if text.is_empty() {
            return Err(QrError::Empty);
        }
        if text.len() > MAX_QR_BYTES {
            return Err(QrError::TooLong);
        }
        let after_magic = text.strip_prefix("UPAY").ok_or(QrError::NotUpay)?;
        let version_len = after_magic.bytes().take_while(u8::is_ascii_digit).count();
        if version_len == 0 {
            return Err(QrError::NotUpay);
        }
        // The version is judged before the checksum: a later version may checksum differently.
        if &after_magic[..version_len] != "1" {
            return Err(QrError::UnknownVersion);
        }
        let inner = after_magic[version_len..]
            .strip_prefix(':')
            .ok_or(QrError::Malformed)?;

        let crc_at = text.len().checked_sub(8).ok_or(QrError::BadChecksum)?;
        let (checked, crc_text) = text.split_at_checked(crc_at).ok_or(QrError::BadChecksum)?;
        if !checked.ends_with('*')
            || !crc_text
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'A'..=b'F'))
        {
            return Err(QrError::BadChecksum);
        }
        let crc = u32::from_str_radix(crc_text, 16).map_err(|_| QrError::BadChecksum)?;
        if crc != crc32(checked.as_bytes()) {
            return Err(QrError::BadChecksum);
        }
        // `inner` starts within `checked`, which ends with the `*` just verified.
        let fields_text = inner
            .len()
            .checked_sub(9)
            .and_then(|n| inner.get(..n))
            .ok_or(QrError::Malformed)?;

        let mut segments = fields_text.split(';');
        let kind = segments.next().unwrap_or_default();
        if kind != "P" && kind != "M" {
            return Err(QrError::UnknownKind);
        }
        let mut values: [Option<String>; 4] = Default::default();
        let mut last = None;
        for segment in segments {
            let (tag, raw) = segment.split_once('=').ok_or(QrError::Malformed)?;
            if tag.is_empty() {
                return Err(QrError::Malformed);
            }
            let index = TAGS
                .iter()
                .position(|t| *t == tag)
                .ok_or(QrError::UnknownField)?;
            if values[index].is_some() {
                return Err(QrError::DuplicateField);
            }
            if last.is_some_and(|l| index < l) {
                return Err(QrError::NonCanonical);
            }
            last = Some(index);
            values[index] = Some(unescape(raw)?);
        }
        let [id, currency, amount, name] = values;
        let id = id.ok_or(QrError::MissingField)?;
        let currency = currency
            .map(|c| Currency::parse(&c).map_err(|_| QrError::BadCurrency))
            .transpose()?;

        let payload = if kind == "P" {
            let amount = match (currency, amount) {
                (None, None) => None,
                (Some(currency), Some(amount)) => Some(parse_amount(&amount, currency)?),
                _ => return Err(QrError::MissingField),
            };
            QrPayload::Personal(PersonalCode {
                account_id: id,
                amount,
                name,
            })
        } else {
            let currency = currency.ok_or(QrError::MissingField)?;
            let name = name.ok_or(QrError::MissingField)?;
            let amount = amount.map(|a| parse_amount(&a, currency)).transpose()?;
            QrPayload::Merchant(MerchantCode {
                merchant_id: id,
                name,
                currency,
                amount,
            })
        };
        payload.validate()?;
        Ok(payload)
    }
}

fn parse_amount(text: &str, currency: Currency) -> Result<Money, QrError> {
    let amount = Money::parse_decimal(text, currency).map_err(|_| QrError::BadAmount)?;
    check_amount(amount)?;
    // parse_decimal also takes "12.3" or "012.30"; only the spelling encode writes is valid.
    if amount.to_decimal_string() != text {
        return Err(QrError::NonCanonical);
    }
    Ok(amount)
}

fn push_field(out: &mut String, index: usize, value: &str) {
    out.push(';');
    out.push_str(TAGS[index]);
    out.push('=');
    for c in value.chars() {
        match c {
            '%' => out.push_str("%25"),
            ';' => out.push_str("%3B"),
            _ => out.push(c),
        }
    }
}

fn unescape(raw: &str) -> Result<String, QrError> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let escape = rest.get(at..at + 3).ok_or(QrError::BadEscape)?;
        out.push(match escape {
            "%25" => '%',
            "%3B" => ';',
            _ => return Err(QrError::BadEscape),
        });
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    Ok(out)
}

/// CRC-32/ISO-HDLC lookup table, built at compile time.
const CRC32_TABLE: [u32; 256] = {
    let mut table = [0_u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

fn crc32(bytes: &[u8]) -> u32 {
    !bytes.iter().fold(!0_u32, |crc, &b| {
        (crc >> 8) ^ CRC32_TABLE[usize::from((crc as u8) ^ b)]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Appends the `*` and a correct checksum, so tests reach the check they aim at.
    fn seal(body: &str) -> String {
        let mut s = format!("{body}*");
        let crc = crc32(s.as_bytes());
        write!(s, "{crc:08X}").unwrap();
        s
    }

    fn personal() -> QrPayload {
        QrPayload::Personal(PersonalCode {
            account_id: "U0123456789".into(),
            amount: Some(Money::new(1230, Currency::CNY).unwrap()),
            name: Some("张三".into()),
        })
    }

    fn merchant() -> QrPayload {
        QrPayload::Merchant(MerchantCode {
            merchant_id: "M0000000042".into(),
            name: "老王咖啡; 50% off".into(),
            currency: Currency::CNY,
            amount: None,
        })
    }

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn encodes_known_examples() {
        assert_eq!(
            personal().encode(),
            seal("UPAY1:P;I=U0123456789;C=CNY;V=12.30;N=张三")
        );
        assert_eq!(
            personal().encode(),
            "UPAY1:P;I=U0123456789;C=CNY;V=12.30;N=张三*CA892A7B"
        );
        assert_eq!(
            merchant().encode(),
            seal("UPAY1:M;I=M0000000042;C=CNY;N=老王咖啡%3B 50%25 off")
        );
        assert_eq!(
            merchant().encode(),
            "UPAY1:M;I=M0000000042;C=CNY;N=老王咖啡%3B 50%25 off*8683C541"
        );
        let bare = QrPayload::Personal(PersonalCode {
            account_id: "U0000000001".into(),
            amount: None,
            name: None,
        });
        assert_eq!(bare.encode(), seal("UPAY1:P;I=U0000000001"));
        let jpy = QrPayload::Merchant(MerchantCode {
            merchant_id: "M9999999999".into(),
            name: "Ramen*Bar=1".into(),
            currency: Currency::JPY,
            amount: Some(Money::new(980, Currency::JPY).unwrap()),
        });
        assert_eq!(
            jpy.encode(),
            seal("UPAY1:M;I=M9999999999;C=JPY;V=980;N=Ramen*Bar=1")
        );
        for p in [personal(), merchant(), bare, jpy] {
            assert_eq!(QrPayload::decode(&p.encode()), Ok(p));
        }
    }

    #[test]
    fn ids_are_validated() {
        assert!(is_account_id("U0123456789"));
        assert!(is_merchant_id("M0123456789"));
        for bad in [
            "",
            "U",
            "U012345678",
            "U01234567890",
            "u0123456789",
            "M0123456789",
            "U012345678a",
            "U０123456789",
        ] {
            assert!(!is_account_id(bad), "{bad:?}");
        }
        assert!(!is_merchant_id("U0123456789"));
    }

    #[test]
    fn names_are_validated() {
        assert!(is_valid_name("张三"));
        assert!(is_valid_name("Zhang San"));
        assert!(is_valid_name(&"张".repeat(64)));
        assert!(is_valid_name("👨\u{200D}👩\u{200D}👧"));
        for bad in [
            "",
            " x",
            "x ",
            "\u{3000}张三",
            "a\nb",
            "a\u{7}b",
            "a\u{85}b",
            "evil\u{202E}gpj.exe",
            "a\u{2028}b",
            "a\u{FEFF}",
            "a\u{200B}b",
        ] {
            assert!(!is_valid_name(bad), "{bad:?}");
        }
        assert!(!is_valid_name(&"张".repeat(65)));
    }

    #[test]
    fn rejects_each_kind_of_bad_code() {
        let cases: &[(String, QrError)] = &[
            (String::new(), QrError::Empty),
            (
                format!("{}{}", seal("UPAY1:P;I=U0123456789"), "x".repeat(512)),
                QrError::TooLong,
            ),
            ("https://example.com".into(), QrError::NotUpay),
            (seal("UPAYX:P;I=U0123456789"), QrError::NotUpay),
            (seal("UPAY2:P;I=U0123456789"), QrError::UnknownVersion),
            ("UPAY2:anything".into(), QrError::UnknownVersion),
            (seal("UPAY01:P;I=U0123456789"), QrError::UnknownVersion),
            (seal("UPAY1P;I=U0123456789"), QrError::Malformed),
            ("UPAY1:P;I=U0123456789".into(), QrError::BadChecksum),
            (
                "UPAY1:P;I=U0123456789*00000000".into(),
                QrError::BadChecksum,
            ),
            (
                "UPAY1:P;I=U0123456789*b9149441".into(),
                QrError::BadChecksum,
            ),
            ("UPAY1:P;I=U0123456789*B914944".into(), QrError::BadChecksum),
            (
                seal("UPAY1:P;I=U0123456789").replacen('*', "#", 1),
                QrError::BadChecksum,
            ),
            ("UPAY1:张张张".into(), QrError::BadChecksum),
            (seal("UPAY1:X;I=U0123456789"), QrError::UnknownKind),
            (seal("UPAY1:;I=U0123456789"), QrError::UnknownKind),
            (seal("UPAY1:PM;I=U0123456789"), QrError::UnknownKind),
            (seal("UPAY1:"), QrError::UnknownKind),
            (seal("UPAY1:P;I=U0123456789;X=1"), QrError::UnknownField),
            (seal("UPAY1:P;I=U0123456789;NN=x"), QrError::UnknownField),
            (seal("UPAY1:P;I=U0123456789;N"), QrError::Malformed),
            (seal("UPAY1:P;I=U0123456789;=x"), QrError::Malformed),
            (seal("UPAY1:P;I=U0123456789;"), QrError::Malformed),
            (seal("UPAY1:P;I=U0123456789;;N=x"), QrError::Malformed),
            (
                seal("UPAY1:P;I=U0123456789;I=U0123456789"),
                QrError::DuplicateField,
            ),
            (
                seal("UPAY1:P;I=U0123456789;N=a;N=a"),
                QrError::DuplicateField,
            ),
            (seal("UPAY1:P;N=a;I=U0123456789"), QrError::NonCanonical),
            (
                seal("UPAY1:P;I=U0123456789;V=1.00;C=CNY"),
                QrError::NonCanonical,
            ),
            (seal("UPAY1:P;N=a"), QrError::MissingField),
            (seal("UPAY1:P"), QrError::MissingField),
            (seal("UPAY1:P;I=U0123456789;C=CNY"), QrError::MissingField),
            (seal("UPAY1:P;I=U0123456789;V=1.00"), QrError::MissingField),
            (seal("UPAY1:M;I=M0123456789;N=Shop"), QrError::MissingField),
            (seal("UPAY1:M;I=M0123456789;C=CNY"), QrError::MissingField),
            (seal("UPAY1:P;I=U0123456789;N=50%"), QrError::BadEscape),
            (seal("UPAY1:P;I=U0123456789;N=50%2"), QrError::BadEscape),
            (seal("UPAY1:P;I=U0123456789;N=a%3bb"), QrError::BadEscape),
            (seal("UPAY1:P;I=U0123456789;N=a%41b"), QrError::BadEscape),
            (seal("UPAY1:P;I=U0123456789;N=a%2张"), QrError::BadEscape),
            (seal("UPAY1:P;I=U012345678"), QrError::BadAccountId),
            (seal("UPAY1:P;I=M0123456789"), QrError::BadAccountId),
            (seal("UPAY1:P;I=U01234%2556789"), QrError::BadAccountId),
            (
                seal("UPAY1:M;I=U0123456789;C=CNY;N=Shop"),
                QrError::BadMerchantId,
            ),
            (
                seal("UPAY1:P;I=U0123456789;C=XXX;V=1.00"),
                QrError::BadCurrency,
            ),
            (
                seal("UPAY1:P;I=U0123456789;C=cny;V=1.00"),
                QrError::BadCurrency,
            ),
            (
                seal("UPAY1:P;I=U0123456789;C=CNY;V=0.00"),
                QrError::BadAmount,
            ),
            (
                seal("UPAY1:P;I=U0123456789;C=CNY;V=-1.00"),
                QrError::BadAmount,
            ),
            (
                seal("UPAY1:P;I=U0123456789;C=CNY;V=1.005"),
                QrError::BadAmount,
            ),
            (
                seal("UPAY1:P;I=U0123456789;C=CNY;V=1e3"),
                QrError::BadAmount,
            ),
            (seal("UPAY1:P;I=U0123456789;C=CNY;V="), QrError::BadAmount),
            (
                seal("UPAY1:P;I=U0123456789;C=CNY;V=10000000000000.01"),
                QrError::BadAmount,
            ),
            (
                seal("UPAY1:P;I=U0123456789;C=CNY;V=1.0"),
                QrError::NonCanonical,
            ),
            (
                seal("UPAY1:P;I=U0123456789;C=CNY;V=01.00"),
                QrError::NonCanonical,
            ),
            (seal("UPAY1:P;I=U0123456789;N="), QrError::BadName),
            (seal("UPAY1:P;I=U0123456789;N= padded"), QrError::BadName),
            (
                seal("UPAY1:P;I=U0123456789;N=line\nbreak"),
                QrError::BadName,
            ),
            (
                seal(&format!("UPAY1:P;I=U0123456789;N={}", "x".repeat(65))),
                QrError::BadName,
            ),
            (seal("UPAY1:M;I=M0123456789;C=CNY;N="), QrError::BadName),
        ];
        for (text, expected) in cases {
            assert_eq!(QrPayload::decode(text), Err(*expected), "{text:?}");
        }
        // The largest amount is accepted.
        assert!(
            QrPayload::decode(&seal("UPAY1:P;I=U0123456789;C=CNY;V=10000000000000.00")).is_ok()
        );
    }

    #[test]
    fn invalid_payloads_are_caught_by_validate() {
        let cny = |minor| {
            Some(Money {
                minor,
                currency: Currency::CNY,
            })
        };
        let cases = [
            (
                PersonalCode {
                    account_id: "U1".into(),
                    amount: None,
                    name: None,
                }
                .validate(),
                QrError::BadAccountId,
            ),
            (
                PersonalCode {
                    account_id: "U0123456789".into(),
                    amount: cny(0),
                    name: None,
                }
                .validate(),
                QrError::BadAmount,
            ),
            (
                PersonalCode {
                    account_id: "U0123456789".into(),
                    amount: cny(-5),
                    name: None,
                }
                .validate(),
                QrError::BadAmount,
            ),
            (
                PersonalCode {
                    account_id: "U0123456789".into(),
                    amount: cny(MAX_MINOR + 1),
                    name: None,
                }
                .validate(),
                QrError::BadAmount,
            ),
            (
                PersonalCode {
                    account_id: "U0123456789".into(),
                    amount: None,
                    name: Some(String::new()),
                }
                .validate(),
                QrError::BadName,
            ),
            (
                MerchantCode {
                    merchant_id: "M0000000042".into(),
                    name: "Shop".into(),
                    currency: Currency::USD,
                    amount: cny(100),
                }
                .validate(),
                QrError::CurrencyMismatch,
            ),
        ];
        for (result, expected) in cases {
            assert_eq!(result, Err(expected));
        }
        // A mismatched amount encodes to a text that does not decode back to the same payload.
        let mismatched = QrPayload::Merchant(MerchantCode {
            merchant_id: "M0000000042".into(),
            name: "Shop".into(),
            currency: Currency::USD,
            amount: cny(100),
        });
        assert_ne!(QrPayload::decode(&mismatched.encode()), Ok(mismatched));
    }

    #[test]
    fn error_codes_are_stable_and_distinct() {
        let all = [
            QrError::Empty,
            QrError::TooLong,
            QrError::NotUpay,
            QrError::UnknownVersion,
            QrError::BadChecksum,
            QrError::Malformed,
            QrError::UnknownKind,
            QrError::UnknownField,
            QrError::DuplicateField,
            QrError::MissingField,
            QrError::BadEscape,
            QrError::NonCanonical,
            QrError::BadAccountId,
            QrError::BadMerchantId,
            QrError::BadCurrency,
            QrError::BadAmount,
            QrError::CurrencyMismatch,
            QrError::BadName,
        ];
        let codes: std::collections::HashSet<_> = all.iter().map(QrError::code).collect();
        assert_eq!(codes.len(), all.len());
        assert!(codes.iter().all(
            |c| c.starts_with("qr_") && c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        ));
        assert_eq!(QrError::BadChecksum.code(), "qr_bad_checksum");
    }

    #[test]
    fn json_shape() {
        let json = serde_json::to_value(personal()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "kind": "personal",
                "account_id": "U0123456789",
                "amount": {"minor": 1230, "currency": "CNY"},
                "name": "张三",
            })
        );
        assert_eq!(
            serde_json::from_value::<QrPayload>(json).unwrap(),
            personal()
        );
        let json = serde_json::to_value(merchant()).unwrap();
        assert_eq!(json["kind"], "merchant");
        assert_eq!(
            serde_json::from_value::<QrPayload>(json).unwrap(),
            merchant()
        );
    }

    #[test]
    fn the_largest_valid_code_fits() {
        // Four-byte characters and the largest amount: the worst case for length.
        let p = QrPayload::Merchant(MerchantCode {
            merchant_id: "M9999999999".into(),
            name: "😀".repeat(MAX_NAME_CHARS),
            currency: Currency::KWD,
            amount: Some(Money::new(MAX_MINOR, Currency::KWD).unwrap()),
        });
        let text = p.encode();
        assert!(text.len() <= MAX_QR_BYTES, "{}", text.len());
        assert_eq!(QrPayload::decode(&text), Ok(p));
    }

    const NAME_CHARS: &str = "[a-zA-Z0-9 ;%*=:#&'张三李四王老咖啡店😀é\u{200D}]";

    fn name() -> impl Strategy<Value = String> {
        proptest::string::string_regex(&format!("{NAME_CHARS}{{1,64}}"))
            .unwrap()
            .prop_map(|s| {
                let trimmed = s.trim();
                if trimmed.is_empty() {
                    "x".to_owned()
                } else {
                    trimmed.to_owned()
                }
            })
    }

    fn currency() -> impl Strategy<Value = Currency> {
        (0..Currency::all().count()).prop_map(|i| Currency::all().nth(i).unwrap())
    }

    fn amount_in(c: Currency) -> impl Strategy<Value = Money> {
        prop_oneof![1..=1_000_000_i64, 1..=MAX_MINOR].prop_map(move |m| Money::new(m, c).unwrap())
    }

    fn valid_payload() -> impl Strategy<Value = QrPayload> {
        let personal = (
            "[0-9]{10}",
            proptest::option::of(currency().prop_flat_map(amount_in)),
            proptest::option::of(name()),
        )
            .prop_map(|(digits, amount, name)| {
                QrPayload::Personal(PersonalCode {
                    account_id: format!("U{digits}"),
                    amount,
                    name,
                })
            });
        let merchant = ("[0-9]{10}", name(), currency())
            .prop_flat_map(|(digits, name, c)| {
                (
                    Just(digits),
                    Just(name),
                    Just(c),
                    proptest::option::of(amount_in(c)),
                )
            })
            .prop_map(|(digits, name, currency, amount)| {
                QrPayload::Merchant(MerchantCode {
                    merchant_id: format!("M{digits}"),
                    name,
                    currency,
                    amount,
                })
            });
        prop_oneof![personal, merchant]
    }

    /// Payloads that are often invalid: any id text, any amount, any name.
    fn any_payload() -> impl Strategy<Value = QrPayload> {
        let money =
            || (any::<i64>(), currency()).prop_map(|(minor, currency)| Money { minor, currency });
        let personal = (
            "[UM]?[0-9]{9,11}",
            proptest::option::of(money()),
            proptest::option::of("\\PC{0,70}|.{0,3}"),
        )
            .prop_map(|(account_id, amount, name)| {
                QrPayload::Personal(PersonalCode {
                    account_id,
                    amount,
                    name,
                })
            });
        let merchant = (
            "[UM]?[0-9]{9,11}",
            "\\PC{0,70}|.{0,3}",
            currency(),
            proptest::option::of(money()),
        )
            .prop_map(|(merchant_id, name, currency, amount)| {
                QrPayload::Merchant(MerchantCode {
                    merchant_id,
                    name,
                    currency,
                    amount,
                })
            });
        prop_oneof![personal, merchant]
    }

    /// A character from a mix of ASCII, syntax characters, CJK and astral-plane characters.
    fn any_char() -> impl Strategy<Value = char> {
        prop_oneof![
            any::<char>(),
            proptest::char::range(' ', '~'),
            proptest::sample::select(vec![';', '=', '%', '*', '张', '😀', '\0'])
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn valid_payloads_round_trip(p in valid_payload()) {
            let text = p.encode();
            prop_assert!(text.len() <= MAX_QR_BYTES);
            prop_assert_eq!(QrPayload::decode(&text), Ok(p));
        }

        #[test]
        fn round_trip_holds_exactly_for_valid_payloads(p in any_payload()) {
            let round_trips = QrPayload::decode(&p.encode()).as_ref() == Ok(&p);
            prop_assert_eq!(round_trips, p.validate().is_ok());
        }

        #[test]
        fn decode_never_panics(text in "\\PC{0,80}|.{0,80}|UPAY1:[PM];.{0,40}") {
            if let Ok(p) = QrPayload::decode(&text) {
                prop_assert_eq!(p.encode(), text);
            }
        }

        /// Edits the body and re-seals it, so the parser (not the checksum) sees the edit:
        /// whatever it then accepts must be canonical.
        #[test]
        fn accepted_texts_are_canonical(p in valid_payload(), index in any::<prop::sample::Index>(), c in any_char(), op in 0..3_u8) {
            let text = p.encode();
            let mut body: Vec<char> = text[..text.len() - 9].chars().collect();
            let at = index.index(body.len() + 1);
            match op {
                0 if at < body.len() => body[at] = c,
                1 if at < body.len() => { body.remove(at); }
                _ => body.insert(at, c),
            }
            let resealed = seal(&body.into_iter().collect::<String>());
            if let Ok(decoded) = QrPayload::decode(&resealed) {
                prop_assert_eq!(decoded.encode(), resealed);
            }
        }

        #[test]
        fn any_single_character_change_is_rejected(p in valid_payload(), index in any::<prop::sample::Index>(), c in any_char(), op in 0..3_u8) {
            let mut chars: Vec<char> = p.encode().chars().collect();
            let at = index.index(chars.len());
            match op {
                0 => {
                    prop_assume!(chars[at] != c);
                    chars[at] = c;
                }
                1 => { chars.remove(at); }
                _ => chars.insert(at, c),
            }
            let mutated: String = chars.into_iter().collect();
            prop_assert!(QrPayload::decode(&mutated).is_err(), "{mutated:?} was accepted");
        }
    }
}
