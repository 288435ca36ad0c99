//! Money: integer minor units plus an ISO 4217 currency. Never a float.
//!
//! On the wire a `Money` is `{"minor": 1234, "currency": "CNY"}`: `minor` is a JSON integer
//! counting the currency's minor unit (fen for CNY, yen for JPY, fils for KWD).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The largest absolute amount any single value may carry, in minor units.
///
/// 10^15 minor units is 10 trillion CNY: far above any wallet balance, yet far enough below
/// `i64::MAX` that a sum of a few thousand such values cannot overflow before it is checked.
pub const MAX_MINOR: i64 = 1_000_000_000_000_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("unsupported currency code")]
    UnknownCurrency,
    #[error("amount is not a valid decimal number")]
    InvalidAmount,
    #[error("amount has more decimal places than the currency allows")]
    TooPrecise,
    #[error("amount is out of range")]
    Overflow,
    #[error("currencies do not match")]
    CurrencyMismatch,
}

/// (code, minor-unit exponent, numeric code) of every currency the wallet supports.
const CURRENCIES: &[(&str, u8, u16)] = &[
    ("AUD", 2, 36),
    ("BHD", 3, 48),
    ("CAD", 2, 124),
    ("CHF", 2, 756),
    ("CNY", 2, 156),
    ("EUR", 2, 978),
    ("GBP", 2, 826),
    ("HKD", 2, 344),
    ("JPY", 0, 392),
    ("KRW", 0, 410),
    ("KWD", 3, 414),
    ("MOP", 2, 446),
    ("MYR", 2, 458),
    ("NZD", 2, 554),
    ("SGD", 2, 702),
    ("THB", 2, 764),
    ("TWD", 2, 901),
    ("USD", 2, 840),
];

/// A supported ISO 4217 currency. Only codes in the table above can be constructed, so every
/// `Currency` has a known exponent.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency(u8);

impl Currency {
    pub const CNY: Currency = Currency::known("CNY");
    pub const USD: Currency = Currency::known("USD");
    pub const EUR: Currency = Currency::known("EUR");
    pub const HKD: Currency = Currency::known("HKD");
    pub const JPY: Currency = Currency::known("JPY");
    pub const GBP: Currency = Currency::known("GBP");
    pub const KWD: Currency = Currency::known("KWD");

    const fn known(code: &str) -> Currency {
        let c = code.as_bytes();
        let mut i = 0;
        while i < CURRENCIES.len() {
            let k = CURRENCIES[i].0.as_bytes();
            if k[0] == c[0] && k[1] == c[1] && k[2] == c[2] {
                return Currency(i as u8);
            }
            i += 1;
        }
        panic!("currency missing from the table");
    }

    /// Parses an upper-case three-letter code of a supported currency.
    pub fn parse(code: &str) -> Result<Currency, MoneyError> {
        CURRENCIES
            .iter()
            .position(|(c, _, _)| *c == code)
            .map(|i| Currency(i as u8))
            .ok_or(MoneyError::UnknownCurrency)
    }

    pub fn code(self) -> &'static str {
        CURRENCIES[self.0 as usize].0
    }

    /// Number of decimal places of the minor unit (CNY 2, JPY 0, KWD 3).
    pub fn exponent(self) -> u8 {
        CURRENCIES[self.0 as usize].1
    }

    pub fn numeric_code(self) -> u16 {
        CURRENCIES[self.0 as usize].2
    }

    /// Minor units in one major unit (100 for CNY).
    pub fn minor_per_major(self) -> i64 {
        10_i64.pow(u32::from(self.exponent()))
    }

    pub fn all() -> impl Iterator<Item = Currency> {
        (0..CURRENCIES.len()).map(|i| Currency(i as u8))
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Currency {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::parse(s)
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Currency::parse(&s).map_err(|_| serde::de::Error::custom("unsupported currency code"))
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Currency {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(CURRENCIES.iter().map(|(c, _, _)| *c)))
            .description(Some("ISO 4217 currency code"))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Currency {}

/// An amount of money: integer minor units of one currency, within `±MAX_MINOR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Money {
    /// Amount in the currency's minor unit (e.g. fen).
    pub minor: i64,
    pub currency: Currency,
}

#[derive(Deserialize)]
struct RawMoney {
    minor: i64,
    currency: Currency,
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Only the object form: a derived struct would also take `[minor, currency]`, which the
        // documented wire format does not allow.
        struct ObjectOnly;
        impl<'de> serde::de::Visitor<'de> for ObjectOnly {
            type Value = RawMoney;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object with `minor` and `currency`")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<RawMoney, A::Error> {
                RawMoney::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }
        let raw = d.deserialize_map(ObjectOnly)?;
        Money::new(raw.minor, raw.currency).map_err(serde::de::Error::custom)
    }
}

impl Money {
    pub fn new(minor: i64, currency: Currency) -> Result<Money, MoneyError> {
        if minor.unsigned_abs() > MAX_MINOR as u64 {
            return Err(MoneyError::Overflow);
        }
        Ok(Money { minor, currency })
    }

    pub fn zero(currency: Currency) -> Money {
        Money { minor: 0, currency }
    }

    pub fn is_positive(self) -> bool {
        self.minor > 0
    }

    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let sum = self
            .minor
            .checked_add(other.minor)
            .ok_or(MoneyError::Overflow)?;
        Money::new(sum, self.currency)
    }

    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let diff = self
            .minor
            .checked_sub(other.minor)
            .ok_or(MoneyError::Overflow)?;
        Money::new(diff, self.currency)
    }

    pub fn negate(self) -> Money {
        // Range is symmetric, so negation always stays inside it.
        Money {
            minor: -self.minor,
            currency: self.currency,
        }
    }

    fn same_currency(self, other: Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch)
        }
    }

    /// Parses a plain decimal such as `"12.34"`, `"-0.5"` or `"1000"` exactly. At most the
    /// currency's exponent of decimal places; no exponent notation, no grouping separators.
    pub fn parse_decimal(text: &str, currency: Currency) -> Result<Money, MoneyError> {
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (int_part, frac_part) = match digits.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (digits, None),
        };
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if int_part.is_empty() || !all_digits(int_part) || int_part.len() > 18 {
            return Err(MoneyError::InvalidAmount);
        }
        let frac = frac_part.unwrap_or("");
        if frac_part.is_some() && frac.is_empty() || !all_digits(frac) {
            return Err(MoneyError::InvalidAmount);
        }
        let exp = usize::from(currency.exponent());
        if frac.len() > exp {
            return Err(MoneyError::TooPrecise);
        }
        let int: i64 = int_part.parse().map_err(|_| MoneyError::Overflow)?;
        let mut frac_value: i64 = if frac.is_empty() {
            0
        } else {
            frac.parse().map_err(|_| MoneyError::InvalidAmount)?
        };
        frac_value *= 10_i64.pow((exp - frac.len()) as u32);
        let minor = int
            .checked_mul(currency.minor_per_major())
            .and_then(|v| v.checked_add(frac_value))
            .ok_or(MoneyError::Overflow)?;
        Money::new(if negative { -minor } else { minor }, currency)
    }

    /// The exact decimal text of the amount with exactly the currency's decimal places,
    /// e.g. `"12.30"` for 1230 fen, `"500"` for 500 yen.
    pub fn to_decimal_string(self) -> String {
        let exp = u32::from(self.currency.exponent());
        let abs = self.minor.unsigned_abs();
        let sign = if self.minor < 0 { "-" } else { "" };
        if exp == 0 {
            return format!("{sign}{abs}");
        }
        let unit = 10_u64.pow(exp);
        format!(
            "{sign}{}.{:0width$}",
            abs / unit,
            abs % unit,
            width = exp as usize
        )
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.currency, self.to_decimal_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn exponents_follow_iso_4217() {
        assert_eq!(Currency::CNY.exponent(), 2);
        assert_eq!(Currency::JPY.exponent(), 0);
        assert_eq!(Currency::KWD.exponent(), 3);
        assert_eq!(Currency::parse("cny"), Err(MoneyError::UnknownCurrency));
        assert_eq!(Currency::parse("XXX"), Err(MoneyError::UnknownCurrency));
    }

    #[test]
    fn parses_and_formats_exactly() {
        let m = Money::parse_decimal("12.3", Currency::CNY).unwrap();
        assert_eq!(m.minor, 1230);
        assert_eq!(m.to_decimal_string(), "12.30");
        assert_eq!(
            Money::parse_decimal("500", Currency::JPY).unwrap().minor,
            500
        );
        assert_eq!(
            Money::parse_decimal("1.5", Currency::JPY),
            Err(MoneyError::TooPrecise)
        );
        assert_eq!(
            Money::parse_decimal("0.001", Currency::KWD)
                .unwrap()
                .to_decimal_string(),
            "0.001"
        );
        assert_eq!(
            Money::parse_decimal("-0.05", Currency::USD).unwrap().minor,
            -5
        );
        for bad in ["", ".5", "1.", "1e3", "1,000", "+1", "--1", " 1", "١"] {
            assert_eq!(
                Money::parse_decimal(bad, Currency::CNY),
                Err(MoneyError::InvalidAmount),
                "{bad:?}"
            );
        }
        assert_eq!(
            Money::parse_decimal("99999999999999999", Currency::CNY),
            Err(MoneyError::Overflow)
        );
    }

    #[test]
    fn json_shape_is_integer_minor_units() {
        let m: Money = serde_json::from_str(r#"{"minor":1234,"currency":"CNY"}"#).unwrap();
        assert_eq!(m, Money::new(1234, Currency::CNY).unwrap());
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"minor":1234,"currency":"CNY"}"#
        );
        assert!(serde_json::from_str::<Money>(r#"{"minor":1.5,"currency":"CNY"}"#).is_err());
        assert!(serde_json::from_str::<Money>(r#"{"minor":"1","currency":"CNY"}"#).is_err());
        assert!(serde_json::from_str::<Money>(r#"{"minor":1,"currency":"ABC"}"#).is_err());
        assert!(serde_json::from_str::<Money>(r#"[1,"CNY"]"#).is_err());
        assert!(
            serde_json::from_str::<Money>(r#"{"minor":9223372036854775807,"currency":"CNY"}"#)
                .is_err()
        );
    }

    #[test]
    fn arithmetic_is_checked() {
        let a = Money::new(MAX_MINOR, Currency::CNY).unwrap();
        assert_eq!(
            a.checked_add(Money::new(1, Currency::CNY).unwrap()),
            Err(MoneyError::Overflow)
        );
        assert_eq!(
            a.checked_add(Money::zero(Currency::USD)),
            Err(MoneyError::CurrencyMismatch)
        );
    }

    proptest! {
        #[test]
        fn decimal_text_round_trips(minor in -MAX_MINOR..=MAX_MINOR, idx in 0usize..CURRENCIES.len()) {
            let currency = Currency::all().nth(idx).unwrap();
            let m = Money::new(minor, currency).unwrap();
            prop_assert_eq!(Money::parse_decimal(&m.to_decimal_string(), currency), Ok(m));
        }

        #[test]
        fn parse_never_panics(text in "\\PC{0,24}") {
            let _ = Money::parse_decimal(&text, Currency::KWD);
        }
    }
}
