//! The canonical payload a device signs to confirm a payment (PSD2 strong customer
//! authentication with dynamic linking).
//!
//! The signature must bind the exact amount, currency and payee the customer saw, plus the
//! server's one-time challenge, so a signature cannot be replayed for another operation or
//! re-used after the amount or payee was altered. That only holds if the signed bytes are an
//! unambiguous (injective) encoding of those fields; hence the fixed layout below rather than
//! JSON, whose key order and escaping vary between implementations.
//!
//! # Byte layout (version 1)
//!
//! All integers are big-endian. Strings are their UTF-8 bytes exactly as given: no
//! normalisation, no trimming, no terminator.
//!
//! | offset | size | content                                                        |
//! |--------|------|----------------------------------------------------------------|
//! | 0      | 12   | domain tag: ASCII `UPAY-SCA-v1` followed by one `0x00` byte    |
//! | 12     | 4    | `u32` byte length *L₁* of the operation id                     |
//! | 16     | L₁   | operation id                                                    |
//! | …      | 8    | amount in minor units, `i64` two's complement                  |
//! | …      | 3    | ISO 4217 alphabetic currency code, ASCII upper case (`CNY`)    |
//! | …      | 4    | `u32` byte length *L₂* of the payee                            |
//! | …      | L₂   | payee (the account or merchant id the money goes to)           |
//! | …      | 4    | `u32` byte length *L₃* of the challenge                        |
//! | …      | L₃   | challenge (as issued by the server, e.g. its base64url text)   |
//!
//! The domain tag keeps these bytes from ever being valid input to another signing context;
//! its version number changes if the layout does. Every variable-length field is
//! length-prefixed and every other field has a fixed size, so the bytes can be parsed back
//! field by field and distinct payloads always give distinct bytes.

use crate::money::Money;

/// Domain-separation prefix of version 1 of the layout.
pub const SCA_DOMAIN_V1: &[u8; 12] = b"UPAY-SCA-v1\0";

/// What the customer confirms: the server's operation, its amount, who is paid, and the
/// server's challenge for this confirmation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ScaPayload<'a> {
    pub operation_id: &'a str,
    pub amount: Money,
    pub payee: &'a str,
    pub challenge: &'a str,
}

impl ScaPayload<'_> {
    /// The exact bytes to sign, in the layout described in the module documentation.
    ///
    /// # Panics
    ///
    /// If a string is 4 GiB or longer, since its length would not fit the `u32` prefix. No
    /// caller can get there: request bodies are limited long before.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let strings = self.operation_id.len() + self.payee.len() + self.challenge.len();
        let mut out = Vec::with_capacity(SCA_DOMAIN_V1.len() + 3 * 4 + 8 + 3 + strings);
        out.extend_from_slice(SCA_DOMAIN_V1);
        put_str(&mut out, self.operation_id);
        out.extend_from_slice(&self.amount.minor.to_be_bytes());
        out.extend_from_slice(self.amount.currency.code().as_bytes());
        put_str(&mut out, self.payee);
        put_str(&mut out, self.challenge);
        out
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    let len = u32::try_from(s.len()).expect("SCA field longer than 4 GiB");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::{Currency, MAX_MINOR};
    use proptest::prelude::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn sample() -> ScaPayload<'static> {
        ScaPayload {
            operation_id: "op_1",
            amount: Money::new(1234, Currency::CNY).unwrap(),
            payee: "M0000000042",
            challenge: "c2Nh",
        }
    }

    /// Parses bytes back into their fields; only a test helper, to show the layout is
    /// unambiguous and to check injectivity independently of `canonical_bytes`.
    fn parse(bytes: &[u8]) -> Option<(String, i64, String, String, String)> {
        fn take<'b>(rest: &mut &'b [u8], n: usize) -> Option<&'b [u8]> {
            let (head, tail) = rest.split_at_checked(n)?;
            *rest = tail;
            Some(head)
        }
        fn take_str(rest: &mut &[u8]) -> Option<String> {
            let len = u32::from_be_bytes(take(rest, 4)?.try_into().ok()?) as usize;
            String::from_utf8(take(rest, len)?.to_vec()).ok()
        }
        let mut rest = bytes.strip_prefix(SCA_DOMAIN_V1.as_slice())?;
        let op = take_str(&mut rest)?;
        let minor = i64::from_be_bytes(take(&mut rest, 8)?.try_into().ok()?);
        let currency = String::from_utf8(take(&mut rest, 3)?.to_vec()).ok()?;
        let payee = take_str(&mut rest)?;
        let challenge = take_str(&mut rest)?;
        rest.is_empty()
            .then_some((op, minor, currency, payee, challenge))
    }

    #[test]
    fn fixed_test_vector() {
        let expected = concat!(
            "555041592d5343412d763100", // "UPAY-SCA-v1\0"
            "00000004",
            "6f705f31",         // "op_1"
            "00000000000004d2", // 1234
            "434e59",           // "CNY"
            "0000000b",
            "4d30303030303030303432", // "M0000000042"
            "00000004",
            "63324e68", // "c2Nh"
        );
        assert_eq!(hex(&sample().canonical_bytes()), expected);
    }

    #[test]
    fn utf8_and_negative_amounts_are_encoded_verbatim() {
        let p = ScaPayload {
            operation_id: "",
            amount: Money::new(-1, Currency::JPY).unwrap(),
            payee: "张",
            challenge: "",
        };
        let expected = concat!(
            "555041592d5343412d763100",
            "00000000",
            "ffffffffffffffff",
            "4a5059",
            "00000003",
            "e5bca0",
            "00000000",
        );
        assert_eq!(hex(&p.canonical_bytes()), expected);
    }

    #[test]
    fn every_field_changes_the_bytes() {
        let base = sample();
        let bytes = base.canonical_bytes();
        let variants = [
            ScaPayload {
                amount: Money::new(1235, Currency::CNY).unwrap(),
                ..base
            },
            ScaPayload {
                amount: Money::new(1233, Currency::CNY).unwrap(),
                ..base
            },
            ScaPayload {
                amount: Money::new(1234, Currency::HKD).unwrap(),
                ..base
            },
            ScaPayload {
                payee: "M0000000043",
                ..base
            },
            ScaPayload {
                operation_id: "op_2",
                ..base
            },
            ScaPayload {
                challenge: "c2Ni",
                ..base
            },
            // Moving a byte across a field boundary must change the bytes too.
            ScaPayload {
                operation_id: "op_1M",
                payee: "0000000042",
                ..base
            },
            ScaPayload {
                payee: "M0000000042c",
                challenge: "2Nh",
                ..base
            },
        ];
        for v in variants {
            assert_ne!(v.canonical_bytes(), bytes, "{v:?}");
        }
    }

    fn small_str() -> impl Strategy<Value = String> {
        // A tiny alphabet makes collisions between neighbouring fields likely to be tried.
        "[a\\x00\\x01张]{0,4}"
    }

    fn payload_parts() -> impl Strategy<Value = (String, i64, usize, String, String)> {
        (
            small_str(),
            prop_oneof![-2_i64..=2, -MAX_MINOR..=MAX_MINOR],
            0..3_usize,
            small_str(),
            small_str(),
        )
    }

    fn build(parts: &(String, i64, usize, String, String)) -> ScaPayload<'_> {
        let currency = [Currency::CNY, Currency::JPY, Currency::KWD][parts.2];
        ScaPayload {
            operation_id: &parts.0,
            amount: Money::new(parts.1, currency).unwrap(),
            payee: &parts.3,
            challenge: &parts.4,
        }
    }

    proptest! {
        #[test]
        fn distinct_payloads_give_distinct_bytes(a in payload_parts(), b in payload_parts()) {
            let (pa, pb) = (build(&a), build(&b));
            prop_assert_eq!(pa == pb, pa.canonical_bytes() == pb.canonical_bytes());
        }

        #[test]
        fn bytes_parse_back_to_the_fields(a in payload_parts()) {
            let p = build(&a);
            let parsed = parse(&p.canonical_bytes()).unwrap();
            prop_assert_eq!(
                parsed,
                (a.0.clone(), a.1, p.amount.currency.code().to_owned(), a.3.clone(), a.4.clone())
            );
        }
    }
}
