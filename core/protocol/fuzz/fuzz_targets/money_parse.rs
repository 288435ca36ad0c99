#![no_main]

use libfuzzer_sys::fuzz_target;
use upay_protocol::money::{Currency, MAX_MINOR, Money};
use upay_protocol::rate::{Rate, Rounding};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for currency in [Currency::JPY, Currency::CNY, Currency::KWD] {
        if let Ok(m) = Money::parse_decimal(text, currency) {
            assert!(m.minor.unsigned_abs() <= MAX_MINOR as u64);
            assert_eq!(
                Money::parse_decimal(&m.to_decimal_string(), currency),
                Ok(m)
            );
        }
    }
    if let Ok(rate) = Rate::parse(text) {
        assert_eq!(Rate::parse(&rate.to_string()), Ok(rate));
        // Conversions must fail cleanly, never overflow or panic, at any rate.
        let amount = Money::new(MAX_MINOR, Currency::CNY).unwrap();
        for to in [Currency::JPY, Currency::KWD] {
            let _ = rate.convert(amount, to, Rounding::Up);
            let _ = rate.convert(amount.negate(), to, Rounding::HalfEven);
        }
        let _ = rate.inverse(12, Rounding::Down);
    }
    if let Ok(m) = serde_json::from_str::<Money>(text) {
        assert!(m.minor.unsigned_abs() <= MAX_MINOR as u64);
    }
});
