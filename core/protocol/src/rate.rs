//! Exact FX rates and the rounding rules for every amount derived from one.
//!
//! A [`Rate`] is a positive decimal with at most 12 decimal places, held as an integer mantissa
//! and a scale, so `7.1234` is `71234 × 10⁻⁴`. It never passes through a float. On the wire it is
//! a JSON string such as `"7.1234"`, because a JSON number would be read as an `f64` by most
//! clients and silently lose digits. A rate carries no currencies: whoever holds one (a quote, a
//! ledger entry) also holds the pair it applies to, read as "1 unit of `from` = rate units of
//! `to`", in major units.
//!
//! # Rounding rules
//!
//! Every derived amount is computed exactly (in `i128`/`u128`, scaled to integers) and then
//! rounded **once**, at the end, with an explicit [`Rounding`]. Intermediate results are never
//! rounded, so the result does not depend on the order of the internal arithmetic.
//!
//! * **Conversion amounts the customer receives round [`Rounding::Down`].** The wallet never
//!   credits value it has not covered; the customer loses strictly less than one minor unit.
//! * **Fees round [`Rounding::Up`].** A fee is never under-charged; the customer pays strictly
//!   less than one minor unit more than the exact fee.
//! * **[`Rounding::HalfEven`] is for display and statistics only** (e.g. showing an indicative
//!   amount, aggregating reports), where a systematic bias would accumulate. It must not be used
//!   to compute an amount that moves money.
//!
//! Rounding acts on the magnitude: `Down` is toward zero, `Up` is away from zero and `HalfEven`
//! goes to the nearest minor unit with ties to the even one. A negative amount (a refund, a
//! reversal) therefore rounds to exactly the negation of its positive counterpart, so reversing
//! an operation never creates or destroys a minor unit.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::money::{Currency, Money};

/// The most decimal places a rate may carry.
pub const MAX_RATE_SCALE: u8 = 12;

/// How a derived amount is rounded to a whole minor unit. See the module documentation for
/// which rule applies where.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rounding {
    /// Toward zero: for amounts the customer receives.
    Down,
    /// To the nearest, ties to even: for display and statistics only.
    HalfEven,
    /// Away from zero: for fees.
    Up,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RateError {
    #[error("rate is not a plain decimal number")]
    Invalid,
    #[error("rate has more than 12 decimal places")]
    TooPrecise,
    #[error("rate must be greater than zero")]
    NotPositive,
    #[error("rate or derived amount is out of range")]
    Overflow,
}

/// An exact, positive decimal FX rate: `mantissa × 10^-scale`.
///
/// Always normalised (no trailing zero in the mantissa when `scale > 0`), so two rates are equal
/// exactly when their values are, and `Display` gives one canonical text per value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    mantissa: u64,
    scale: u8,
}

const fn pow10(exp: u32) -> u128 {
    10_u128.pow(exp)
}

/// `num / den` rounded by `rounding`. `den` must be positive.
fn div_round(num: u128, den: u128, rounding: Rounding) -> u128 {
    let (q, r) = (num / den, num % den);
    let up = match rounding {
        Rounding::Down => false,
        Rounding::Up => r != 0,
        // `r < den`, so `2r` cannot overflow for any denominator this module builds (≤ 10^27).
        Rounding::HalfEven => match (2 * r).cmp(&den) {
            std::cmp::Ordering::Less => false,
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Equal => q % 2 == 1,
        },
    };
    q + u128::from(up)
}

/// Rounds `magnitude(num) / den` and re-applies the sign of the amount, checking the range.
fn signed_money(
    negative: bool,
    num: u128,
    den: u128,
    rounding: Rounding,
    to: Currency,
) -> Result<Money, RateError> {
    let magnitude = div_round(num, den, rounding);
    let magnitude = i64::try_from(magnitude).map_err(|_| RateError::Overflow)?;
    Money::new(if negative { -magnitude } else { magnitude }, to).map_err(|_| RateError::Overflow)
}

/// Re-checks an amount's range: `Money`'s fields are public, so one may have been built
/// without `Money::new`.
fn checked_input(amount: Money) -> Result<(bool, u128), RateError> {
    let amount = Money::new(amount.minor, amount.currency).map_err(|_| RateError::Overflow)?;
    Ok((amount.minor < 0, u128::from(amount.minor.unsigned_abs())))
}

impl Rate {
    /// The rate `mantissa × 10^-scale`, normalised.
    pub fn new(mantissa: u64, scale: u8) -> Result<Rate, RateError> {
        if scale > MAX_RATE_SCALE {
            return Err(RateError::TooPrecise);
        }
        if mantissa == 0 {
            return Err(RateError::NotPositive);
        }
        let (mut mantissa, mut scale) = (mantissa, scale);
        while scale > 0 && mantissa % 10 == 0 {
            mantissa /= 10;
            scale -= 1;
        }
        Ok(Rate { mantissa, scale })
    }

    /// Parses a plain positive decimal such as `"7.1234"` or `"150"`.
    ///
    /// Accepted: one or more digits without superfluous leading zeros, optionally followed by `.`
    /// and 1 to 12 digits. Trailing zeros are accepted (FX feeds often quote a fixed number of
    /// places) and normalised away. Rejected: empty text, signs, exponents, whitespace,
    /// separators, zero, more than 12 decimal places and values whose mantissa exceeds `u64`.
    pub fn parse(text: &str) -> Result<Rate, RateError> {
        let (int_part, frac_part) = match text.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (text, None),
        };
        let frac = frac_part.unwrap_or("");
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if int_part.is_empty() || !all_digits(int_part) || !all_digits(frac) {
            return Err(RateError::Invalid);
        }
        if frac_part.is_some() && frac.is_empty() {
            return Err(RateError::Invalid);
        }
        // A leading zero would give one value several spellings, e.g. "07.5".
        if int_part.len() > 1 && int_part.starts_with('0') {
            return Err(RateError::Invalid);
        }
        if frac.len() > usize::from(MAX_RATE_SCALE) {
            return Err(RateError::TooPrecise);
        }
        let mantissa = int_part
            .bytes()
            .chain(frac.bytes())
            .try_fold(0_u64, |acc, b| {
                acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
            })
            .ok_or(RateError::Overflow)?;
        // frac.len() ≤ 12 was checked above, so the cast is lossless.
        Rate::new(mantissa, frac.len() as u8)
    }

    /// The integer mantissa of the normalised rate.
    pub fn mantissa(&self) -> u64 {
        self.mantissa
    }

    /// The number of decimal places of the normalised rate (0 to 12).
    pub fn scale(&self) -> u8 {
        self.scale
    }

    /// Converts `from` into `to` at this rate ("1 `from.currency` = rate `to`"), exactly, then
    /// rounds once. Accounts for both currencies' minor-unit exponents, so 1 JPY at 0.048
    /// gives 4.8 fen before rounding.
    pub fn convert(
        &self,
        from: Money,
        to: Currency,
        rounding: Rounding,
    ) -> Result<Money, RateError> {
        let (negative, magnitude) = checked_input(from)?;
        // to_minor = from_minor × mantissa × 10^to_exp / 10^(scale + from_exp). With
        // |from_minor| ≤ 10^15, mantissa < 2^64 and to_exp ≤ 3 the numerator stays below 2^124;
        // the checks are for the day the table gains a larger exponent.
        let num = magnitude
            .checked_mul(u128::from(self.mantissa))
            .and_then(|v| v.checked_mul(pow10(u32::from(to.exponent()))))
            .ok_or(RateError::Overflow)?;
        let den = pow10(u32::from(self.scale) + u32::from(from.currency.exponent()));
        signed_money(negative, num, den, rounding, to)
    }

    /// `1 / self` with exactly `scale` decimal places, rounded once. The result must still be a
    /// valid rate: it fails with `NotPositive` if it rounds to zero and `Overflow` if its
    /// mantissa does not fit.
    pub fn inverse(&self, scale: u8, rounding: Rounding) -> Result<Rate, RateError> {
        if scale > MAX_RATE_SCALE {
            return Err(RateError::TooPrecise);
        }
        // 1 / (m × 10^-s) = 10^s / m; at `scale` places the new mantissa is 10^(s + scale) / m.
        let num = pow10(u32::from(self.scale) + u32::from(scale));
        let mantissa = div_round(num, u128::from(self.mantissa), rounding);
        let mantissa = u64::try_from(mantissa).map_err(|_| RateError::Overflow)?;
        Rate::new(mantissa, scale)
    }
}

/// `bps` basis points (1/100 of a percent) of `amount`, computed exactly then rounded once, in
/// the amount's currency. Fees use [`Rounding::Up`].
pub fn fee_bps(amount: Money, bps: u32, rounding: Rounding) -> Result<Money, RateError> {
    let (negative, magnitude) = checked_input(amount)?;
    let num = magnitude
        .checked_mul(u128::from(bps))
        .ok_or(RateError::Overflow)?;
    signed_money(negative, num, 10_000, rounding, amount.currency)
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.scale == 0 {
            return write!(f, "{}", self.mantissa);
        }
        let unit = 10_u64.pow(u32::from(self.scale));
        write!(
            f,
            "{}.{:0width$}",
            self.mantissa / unit,
            self.mantissa % unit,
            width = usize::from(self.scale)
        )
    }
}

impl FromStr for Rate {
    type Err = RateError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Rate::parse(s)
    }
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <Cow<'de, str>>::deserialize(d)?;
        Rate::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Pattern of the accepted text; positivity and the `u64` mantissa bound are stated in the
/// description because a regular expression cannot express them readably.
#[cfg(feature = "openapi")]
const RATE_PATTERN: &str = r"^(0|[1-9][0-9]{0,19})(\.[0-9]{1,12})?$";

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Rate {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(RATE_PATTERN))
            .description(Some(
                "Exact positive decimal FX rate as a string (never a JSON number): \
                 1 unit of the source currency = this many units of the target currency. \
                 At most 12 decimal places, no sign, no exponent, greater than zero.",
            ))
            .examples(["7.1234"])
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Rate {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::MAX_MINOR;
    use proptest::prelude::*;

    fn rate(s: &str) -> Rate {
        Rate::parse(s).unwrap()
    }

    fn money(minor: i64, currency: Currency) -> Money {
        Money::new(minor, currency).unwrap()
    }

    /// The minor units of `convert` under Down, HalfEven and Up.
    fn all_ways(r: &str, from: Money, to: Currency) -> [i64; 3] {
        [Rounding::Down, Rounding::HalfEven, Rounding::Up]
            .map(|mode| rate(r).convert(from, to, mode).unwrap().minor)
    }

    #[test]
    fn parses_and_normalises() {
        assert_eq!(
            rate("7.1234"),
            Rate {
                mantissa: 71234,
                scale: 4
            }
        );
        assert_eq!(
            rate("7.1000"),
            Rate {
                mantissa: 71,
                scale: 1
            }
        );
        assert_eq!(rate("7.1000").to_string(), "7.1");
        assert_eq!(rate("100").to_string(), "100");
        assert_eq!(rate("100.000").to_string(), "100");
        assert_eq!(rate("0.048").to_string(), "0.048");
        assert_eq!(
            rate("0.000000000001"),
            Rate {
                mantissa: 1,
                scale: 12
            }
        );
        assert_eq!(rate("18446744073709551615").mantissa(), u64::MAX);
        assert_eq!(rate("1844674407370.9551615").scale(), 7);
        assert_eq!(Rate::new(71_2340, 5).unwrap(), rate("7.1234"));
    }

    #[test]
    fn rejects_bad_text() {
        for bad in [
            "", ".", ".5", "5.", "-1", "+1", "1e3", "1E3", "1.5e-3", " 1", "1 ", "1_000", "1,5",
            "1.2.3", "07.5", "00", "NaN", "inf", "0x10", "\u{FF11}", "١",
        ] {
            assert_eq!(Rate::parse(bad), Err(RateError::Invalid), "{bad:?}");
        }
        for zero in ["0", "0.0", "0.000000000000"] {
            assert_eq!(Rate::parse(zero), Err(RateError::NotPositive), "{zero:?}");
        }
        assert_eq!(Rate::parse("0.0000000000001"), Err(RateError::TooPrecise));
        assert_eq!(Rate::parse("1.0000000000000"), Err(RateError::TooPrecise));
        assert_eq!(
            Rate::parse("18446744073709551616"),
            Err(RateError::Overflow)
        );
        assert_eq!(
            Rate::parse("99999999999999999999999"),
            Err(RateError::Overflow)
        );
        assert_eq!(Rate::new(1, 13), Err(RateError::TooPrecise));
        assert_eq!(Rate::new(0, 2), Err(RateError::NotPositive));
    }

    #[test]
    fn json_is_a_string() {
        let r: Rate = serde_json::from_str(r#""7.1234""#).unwrap();
        assert_eq!(r, rate("7.1234"));
        assert_eq!(serde_json::to_string(&r).unwrap(), r#""7.1234""#);
        assert_eq!(serde_json::to_string(&rate("7.10")).unwrap(), r#""7.1""#);
        for bad in [
            "7.1234", r#""7e0""#, r#""-7""#, r#""0""#, r#""""#, "null", r#""+7""#,
        ] {
            assert!(serde_json::from_str::<Rate>(bad).is_err(), "{bad}");
        }
        // Escaped strings arrive as owned text and must still parse.
        assert_eq!(
            serde_json::from_str::<Rate>(r#""\u0037.5""#).unwrap(),
            rate("7.5")
        );
    }

    #[test]
    fn converts_across_exponents() {
        let (usd, cny, jpy, kwd) = (Currency::USD, Currency::CNY, Currency::JPY, Currency::KWD);
        // 100.00 USD × 7.1234 = 712.34 CNY exactly.
        assert_eq!(all_ways("7.1234", money(10_000, usd), cny), [71_234; 3]);
        // 1.23 USD × 7.1234 = 8.761782 CNY = 876.1782 fen.
        assert_eq!(all_ways("7.1234", money(123, usd), cny), [876, 876, 877]);
        // 1000 JPY × 0.048 = 48.00 CNY; 1 JPY × 0.048 = 4.8 fen.
        assert_eq!(all_ways("0.048", money(1000, jpy), cny), [4800; 3]);
        assert_eq!(all_ways("0.048", money(1, jpy), cny), [4, 5, 5]);
        // 0.01 CNY × 20.85 = 0.2085 JPY; 1.00 CNY × 20.85 = 20.85 JPY.
        assert_eq!(all_ways("20.85", money(1, cny), jpy), [0, 0, 1]);
        assert_eq!(all_ways("20.85", money(100, cny), jpy), [20, 21, 21]);
        // 1.234 KWD × 3.2541 = 4.0155594 USD = 401.55594 cents.
        assert_eq!(all_ways("3.2541", money(1234, kwd), usd), [401, 402, 402]);
        // 10.00 USD × 0.3073 = 3.073 KWD = 3073 fils exactly.
        assert_eq!(all_ways("0.3073", money(1000, usd), kwd), [3073; 3]);
        // 0.001 KWD × 0.5 = 0.0005 KWD: half a fils, ties to even (0).
        assert_eq!(all_ways("0.5", money(1, kwd), kwd), [0, 0, 1]);
        // 0.000000000001 rate on the largest amount: 10^15 fen × 10^-12 = 1000 fen.
        assert_eq!(
            all_ways("0.000000000001", money(MAX_MINOR, cny), cny),
            [1000; 3]
        );
    }

    #[test]
    fn half_even_ties_and_negative_amounts() {
        let jpy = Currency::JPY;
        assert_eq!(all_ways("0.5", money(1, jpy), jpy), [0, 0, 1]);
        assert_eq!(all_ways("0.5", money(3, jpy), jpy), [1, 2, 2]);
        assert_eq!(all_ways("0.5", money(5, jpy), jpy), [2, 2, 3]);
        assert_eq!(all_ways("0.5", money(-3, jpy), jpy), [-1, -2, -2]);
        assert_eq!(all_ways("0.5", money(-5, jpy), jpy), [-2, -2, -3]);
        assert_eq!(
            all_ways("7.1234", money(-123, Currency::USD), Currency::CNY),
            [-876, -876, -877]
        );
        assert_eq!(
            all_ways("7.1234", money(0, Currency::USD), Currency::CNY),
            [0; 3]
        );
    }

    #[test]
    fn conversion_overflow_is_an_error() {
        let big = money(MAX_MINOR, Currency::CNY);
        assert_eq!(
            rate("1.01").convert(big, Currency::USD, Rounding::Down),
            Err(RateError::Overflow)
        );
        assert_eq!(
            rate("1").convert(big, Currency::USD, Rounding::Up),
            Ok(money(MAX_MINOR, Currency::USD))
        );
        // 10^15 fen into fils multiplies by 10 before the rate.
        assert_eq!(
            rate("1").convert(big, Currency::KWD, Rounding::Down),
            Err(RateError::Overflow)
        );
        let huge = rate("18446744073709551615");
        assert_eq!(
            huge.convert(money(1, Currency::JPY), Currency::KWD, Rounding::Down),
            Err(RateError::Overflow)
        );
        // An out-of-range amount built around `Money::new` is refused, not wrapped.
        let forged = Money {
            minor: i64::MIN,
            currency: Currency::JPY,
        };
        assert_eq!(
            rate("1").convert(forged, Currency::JPY, Rounding::Down),
            Err(RateError::Overflow)
        );
        assert_eq!(fee_bps(forged, 1, Rounding::Up), Err(RateError::Overflow));
    }

    #[test]
    fn fees_in_basis_points() {
        let cny = Currency::CNY;
        let fee = |minor, c, bps| {
            [Rounding::Down, Rounding::HalfEven, Rounding::Up]
                .map(|m| fee_bps(money(minor, c), bps, m).unwrap().minor)
        };
        // 0.30% of 100.00 CNY = 0.30 CNY.
        assert_eq!(fee(10_000, cny, 30), [30; 3]);
        // 0.30% of 12.34 CNY = 3.702 fen.
        assert_eq!(fee(1234, cny, 30), [3, 4, 4]);
        // 0.01% of 1 fen: the smallest fee still costs a fen when rounded up.
        assert_eq!(fee(1, cny, 1), [0, 0, 1]);
        // 0.25% of 1000 JPY = 2.5 yen: a tie.
        assert_eq!(fee(1000, Currency::JPY, 25), [2, 2, 3]);
        assert_eq!(fee(-1234, cny, 30), [-3, -4, -4]);
        assert_eq!(fee(1234, cny, 10_000), [1234; 3]);
        assert_eq!(fee(1234, cny, 0), [0; 3]);
        assert_eq!(
            fee_bps(money(MAX_MINOR, cny), 10_001, Rounding::Down),
            Err(RateError::Overflow)
        );
        assert_eq!(
            fee_bps(money(7, cny), 30, Rounding::Up).unwrap().currency,
            cny
        );
    }

    #[test]
    fn inverts() {
        // 10^10 / 71234 = 140382.40...
        assert_eq!(
            rate("7.1234").inverse(6, Rounding::Down),
            Ok(rate("0.140382"))
        );
        assert_eq!(
            rate("7.1234").inverse(6, Rounding::HalfEven),
            Ok(rate("0.140382"))
        );
        assert_eq!(
            rate("7.1234").inverse(6, Rounding::Up),
            Ok(rate("0.140383"))
        );
        assert_eq!(rate("0.5").inverse(0, Rounding::Down), Ok(rate("2")));
        assert_eq!(rate("3").inverse(2, Rounding::Down), Ok(rate("0.33")));
        assert_eq!(rate("3").inverse(2, Rounding::Up), Ok(rate("0.34")));
        // 1/8 = 0.125: a tie at two places goes to the even 0.12.
        assert_eq!(rate("8").inverse(2, Rounding::HalfEven), Ok(rate("0.12")));
        assert_eq!(
            rate("0.000000000001").inverse(12, Rounding::Down),
            Err(RateError::Overflow)
        );
        assert_eq!(
            rate("1000").inverse(2, Rounding::Down),
            Err(RateError::NotPositive)
        );
        assert_eq!(rate("1000").inverse(2, Rounding::Up), Ok(rate("0.01")));
        assert_eq!(
            rate("2").inverse(13, Rounding::Down),
            Err(RateError::TooPrecise)
        );
    }

    fn any_rate() -> impl Strategy<Value = Rate> {
        (1_u64.., 0_u8..=MAX_RATE_SCALE).prop_map(|(m, s)| Rate::new(m, s).unwrap())
    }

    /// Rates a wallet might plausibly see, so conversions mostly stay in range.
    fn realistic_rate() -> impl Strategy<Value = Rate> {
        (1_u64..1_000_000_000_000, 0_u8..=MAX_RATE_SCALE)
            .prop_map(|(m, s)| Rate::new(m, s).unwrap())
    }

    fn any_currency() -> impl Strategy<Value = Currency> {
        (0..Currency::all().count()).prop_map(|i| Currency::all().nth(i).unwrap())
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(r in any_rate()) {
            let text = r.to_string();
            prop_assert_eq!(Rate::parse(&text), Ok(r));
            let json = serde_json::to_string(&r).unwrap();
            prop_assert_eq!(serde_json::from_str::<Rate>(&json).unwrap(), r);
        }

        #[test]
        fn parse_is_canonical(text in "[0-9]{1,8}(\\.[0-9]{1,12})?") {
            if let Ok(r) = Rate::parse(&text) {
                prop_assert_eq!(Rate::parse(&r.to_string()), Ok(r));
                prop_assert!(!r.to_string().ends_with('0') || r.scale() == 0);
            }
        }

        #[test]
        fn parse_never_panics(text in "\\PC{0,30}") {
            let _ = Rate::parse(&text);
        }

        #[test]
        fn roundings_are_ordered_and_one_unit_apart(
            r in realistic_rate(),
            minor in -MAX_MINOR..=MAX_MINOR,
            from in any_currency(),
            to in any_currency(),
        ) {
            let amount = money(minor, from);
            let results = [Rounding::Down, Rounding::HalfEven, Rounding::Up].map(|m| r.convert(amount, to, m));
            if let [Ok(down), Ok(even), Ok(up)] = results {
                prop_assert_eq!(down.currency, to);
                let (d, e, u) = (down.minor.abs(), even.minor.abs(), up.minor.abs());
                prop_assert!(d <= e && e <= u && u - d <= 1);
                // The sign of the amount never flips.
                prop_assert!(down.minor * minor.signum() >= 0 && up.minor * minor.signum() >= 0);
                // Down is the exact quotient truncated: down ≤ exact < down + 1, checked in u128.
                let num = u128::from(minor.unsigned_abs()) * u128::from(r.mantissa()) * pow10(u32::from(to.exponent()));
                let den = pow10(u32::from(r.scale()) + u32::from(from.exponent()));
                prop_assert!(d as u128 * den <= num && num < (d as u128 + 1) * den);
                prop_assert_eq!(u == d, num % den == 0);
            }
            // Negation commutes with every rounding rule.
            for mode in [Rounding::Down, Rounding::HalfEven, Rounding::Up] {
                let pos = r.convert(amount, to, mode).map(|m| m.minor);
                let neg = r.convert(amount.negate(), to, mode).map(|m| -m.minor);
                prop_assert_eq!(pos, neg);
            }
        }

        #[test]
        fn fee_roundings_are_ordered(minor in -MAX_MINOR..=MAX_MINOR, bps in 0_u32..=10_000, c in any_currency()) {
            let amount = money(minor, c);
            let [d, e, u] = [Rounding::Down, Rounding::HalfEven, Rounding::Up].map(|m| fee_bps(amount, bps, m).unwrap().minor.abs());
            prop_assert!(d <= e && e <= u && u - d <= 1);
            prop_assert!(u <= minor.abs());
        }

        #[test]
        fn inverse_brackets_the_exact_value(r in realistic_rate(), scale in 0_u8..=MAX_RATE_SCALE) {
            if let (Ok(down), Ok(up)) = (r.inverse(scale, Rounding::Down), r.inverse(scale, Rounding::Up)) {
                // down ≤ 1/r ≤ up, i.e. down·r ≤ 1 ≤ up·r, compared as integers over a common scale.
                let one = pow10(u32::from(r.scale()) + u32::from(scale));
                let at_scale = |x: Rate| u128::from(x.mantissa()) * pow10(u32::from(scale - x.scale()));
                prop_assert!(at_scale(down) * u128::from(r.mantissa()) <= one);
                prop_assert!(at_scale(up) * u128::from(r.mantissa()) >= one);
                prop_assert!(at_scale(up) - at_scale(down) <= 1);
            }
        }
    }
}
