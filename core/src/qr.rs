//! QR codes: the user's own receive code, and scanned codes parsed into a validated intent that
//! only pre-fills the payment screen: scanning never pays by itself.

use upay_protocol::qr::{MerchantCode, PersonalCode, QrPayload};

use crate::core::Core;
use crate::error::{CoreError, CoreResult, ErrorCode};
use crate::model::Amount;

/// What a scanned code asks for. The app shows it and lets the user confirm or edit.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum ScanIntent {
    /// Pay a person: pre-fill a transfer (`PayeeInput::Qr` with the same text).
    PayPerson {
        account_id: String,
        /// Display name from the code (not verified: confirm with a payee lookup).
        name: Option<String>,
        amount: Option<Amount>,
    },
    /// Pay a merchant: check support first, then `pay_merchant` with the same text.
    PayMerchant {
        merchant_id: String,
        /// Printed in the code (not trusted: `check_merchant` gives the registered name).
        name: String,
        currency: String,
        amount: Option<Amount>,
    },
}

/// Parses a scanned code. Every malformed, altered or unknown code is `QrInvalid`; the reason
/// (stable code such as `bad_checksum` or `unknown_version`) is in the message.
#[uniffi::export]
pub fn parse_scanned_code(text: String) -> Result<ScanIntent, CoreError> {
    match QrPayload::decode(text.trim()) {
        Ok(QrPayload::Personal(PersonalCode {
            account_id,
            amount,
            name,
        })) => Ok(ScanIntent::PayPerson {
            account_id,
            name,
            amount: amount.map(Amount::from),
        }),
        Ok(QrPayload::Merchant(MerchantCode {
            merchant_id,
            name,
            currency,
            amount,
        })) => Ok(ScanIntent::PayMerchant {
            merchant_id,
            name,
            currency: currency.code().to_owned(),
            amount: amount.map(Amount::from),
        }),
        Err(e) => Err(CoreError::Client {
            code: ErrorCode::QrInvalid,
            message: format!("{} ({})", ErrorCode::QrInvalid.message(false), e.code()),
        }),
    }
}

/// The signed-in user's receive code, optionally for a fixed amount. Works offline.
pub fn receive_code(core: &Core, amount: Option<Amount>) -> CoreResult<String> {
    core.ensure_unlocked()?;
    let auth = core
        .auth()
        .ok_or_else(|| CoreError::client(ErrorCode::NotSignedIn).localized(core.zh()))?;
    let amount = amount
        .map(|a| a.to_positive("amount"))
        .transpose()
        .map_err(|e| e.localized(core.zh()))?;
    let name = crate::payments::mask_name_for_display(&auth.session.user.full_name);
    let code = QrPayload::Personal(PersonalCode {
        account_id: auth.session.user.user_id.clone(),
        amount,
        name: (!name.is_empty()).then_some(name),
    });
    code.validate()
        .map_err(|_| CoreError::invalid("amount").localized(core.zh()))?;
    Ok(code.encode())
}

#[cfg(test)]
mod tests {
    use super::*;
    use upay_protocol::money::{Currency, Money};

    #[test]
    fn scanned_codes_become_intents_and_tampering_is_refused() {
        let text = QrPayload::Merchant(MerchantCode {
            merchant_id: "M0000000001".into(),
            name: "瑞幸咖啡".into(),
            currency: Currency::CNY,
            amount: Some(Money::new(1800, Currency::CNY).unwrap()),
        })
        .encode();
        match parse_scanned_code(text.clone()).unwrap() {
            ScanIntent::PayMerchant {
                merchant_id,
                amount,
                ..
            } => {
                assert_eq!(merchant_id, "M0000000001");
                assert_eq!(amount.unwrap().minor, 1800);
            }
            other => panic!("{other:?}"),
        }
        let tampered = text.replace("1800", "1900").replace("18.00", "19.00");
        let err = parse_scanned_code(tampered).unwrap_err();
        assert_eq!(err.code(), ErrorCode::QrInvalid);
        assert_eq!(
            parse_scanned_code("https://evil.example".into())
                .unwrap_err()
                .code(),
            ErrorCode::QrInvalid
        );
    }
}
