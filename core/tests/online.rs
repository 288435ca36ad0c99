//! Every flow against the live mock, online: session, transfers (with confirmation on this
//! device), merchant payments, top-up, withdrawal, cards, FX, risk decisions, "this wasn't me".

mod common;

use common::*;
use upay_core::ErrorCode;
use upay_core::model::{OutboxState, RiskAction};
use upay_core::payments::{PayeeInput, PaymentOutcome};
use upay_core::session::LoginResult;

#[tokio::test(flavor = "multi_thread")]
async fn session_login_otp_refresh_devices_password_and_logout() {
    let mock = Mock::start().await;
    let dir = tempfile::tempdir().unwrap();
    let client = open_client(&mock.base, dir.path(), "device-session-1");
    let s = client.session();

    // Wrong password: a typed error with the attempts left.
    let err = s.login(ZHANG.into(), "Wrong1234".into()).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidCredentials);
    match &err {
        upay_core::CoreError::Server {
            attempts_remaining, ..
        } => assert_eq!(*attempts_remaining, Some(4)),
        other => panic!("{other:?}"),
    }

    // A new device needs the SMS code.
    let r = s.login(ZHANG.into(), PASSWORD.into()).await.unwrap();
    assert!(matches!(r, LoginResult::CodeRequired { .. }), "{r:?}");
    let bad = s.submit_login_code("000000".into()).await.unwrap_err();
    assert_eq!(bad.code(), ErrorCode::OtpInvalid);
    let profile = s
        .submit_login_code(mock.last_code(ZHANG).await)
        .await
        .unwrap();
    assert_eq!(profile.user_id, ZHANG_ID);

    // The access token expires after 15 minutes: the next call refreshes it once.
    mock.advance_clock(16 * 60).await;
    let p = s.refresh_profile().await.unwrap();
    assert_eq!(p.user_id, ZHANG_ID);
    let devices = s.devices().await.unwrap();
    assert!(
        devices
            .iter()
            .any(|d| d.current && d.device_id == "device-session-1")
    );

    // The session survives a restart of the app (tokens sealed in the cache).
    drop(s);
    drop(client);
    let client = open_client(&mock.base, dir.path(), "device-session-1");
    let s = client.session();
    assert_eq!(s.profile().unwrap().user_id, ZHANG_ID);
    s.refresh_profile().await.unwrap();

    // Change the password, sign in again with it, then forget it and reset by SMS.
    assert_eq!(
        s.change_password(PASSWORD.into(), "short".into())
            .await
            .unwrap_err()
            .code(),
        ErrorCode::WeakPassword
    );
    s.change_password(PASSWORD.into(), "NewPass123".into())
        .await
        .unwrap();
    client.sync().sync_now().await.unwrap();
    assert!(!client.home_snapshot().unwrap().balances.is_empty());
    s.logout().await.unwrap();
    assert!(s.profile().is_none());
    // Signed out, the home screen shows nobody's money (the cache stays for the next sign-in).
    let home = client.home_snapshot().unwrap();
    assert!(!home.signed_in);
    assert!(home.balances.is_empty(), "{:?}", home.balances);
    assert!(home.recent.is_empty() && home.pending.is_empty());
    assert!(
        client
            .session()
            .login(ZHANG.into(), PASSWORD.into())
            .await
            .is_err()
    );
    s.send_reset_code(ZHANG.into()).await.unwrap();
    s.reset_password(
        ZHANG.into(),
        mock.last_code(ZHANG).await,
        "Another123".into(),
    )
    .await
    .unwrap();
    let r = s.login(ZHANG.into(), "Another123".into()).await.unwrap();
    assert!(
        matches!(r, LoginResult::SignedIn { .. }),
        "trusted device: {r:?}"
    );

    // Sign out other devices.
    s.sign_out_other_devices().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn register_lockout_and_unlock_by_identity() {
    let mock = Mock::start().await;
    let dir = tempfile::tempdir().unwrap();
    let client = open_client(&mock.base, dir.path(), "device-register-1");
    let s = client.session();
    let phone = "19900000042";
    let sent = s.send_register_code(phone.into()).await.unwrap();
    assert_eq!(sent.destination, "199****0042");
    let profile = s
        .register(
            phone.into(),
            "246810".into(),
            "Secret123".into(),
            "王小明".into(),
            "123X".into(),
        )
        .await
        .unwrap();
    assert!(profile.user_id.starts_with('U'));
    s.logout().await.unwrap();
    // Five wrong passwords lock the account; identity verification unlocks it.
    let mut last = None;
    for _ in 0..5 {
        last = Some(
            s.login(phone.into(), "Wrong1234".into())
                .await
                .unwrap_err()
                .code(),
        );
    }
    assert_eq!(last, Some(ErrorCode::AccountLocked));
    s.send_unlock_code(phone.into()).await.unwrap();
    s.unlock_account(
        phone.into(),
        "246810".into(),
        "王小明".into(),
        "123X".into(),
    )
    .await
    .unwrap();
    assert!(s.login(phone.into(), "Secret123".into()).await.is_ok());
}

#[tokio::test(flavor = "multi_thread")]
async fn transfer_needs_device_confirmation_for_a_new_payee_then_completes() {
    let mock = Mock::start().await;
    let dir = tempfile::tempdir().unwrap();
    let client = open_client(&mock.base, dir.path(), "device-transfer-1");
    sign_in(&client, &mock, ZHANG).await;
    client.sync().sync_now().await.unwrap();
    let before = client.home_snapshot().unwrap();
    let cny_before = before
        .balances
        .iter()
        .find(|b| b.currency == "CNY")
        .unwrap()
        .displayed
        .minor;

    let p = client.payments();
    // A payee Zhang never paid: a freshly registered account.
    let new_id = mock.register_magic("19900000077").await;
    let payee = p
        .lookup_payee(PayeeInput::Phone {
            phone: "19900000077".into(),
        })
        .await
        .unwrap();
    assert_eq!(payee.account_id, new_id);
    let out = p
        .transfer(
            PayeeInput::AccountId {
                account_id: new_id.clone(),
            },
            Some(cny(1234)),
            Some("午饭 lunch".into()),
        )
        .await
        .unwrap();
    let item = match &out {
        PaymentOutcome::ConfirmationRequired { item, confirmation } => {
            assert!(
                confirmation.reasons.iter().any(|r| r == "new_payee"),
                "{confirmation:?}"
            );
            item.clone()
        }
        other => panic!("expected a confirmation step: {other:?}"),
    };
    // While waiting, the money already counts as going out.
    let waiting = client.home_snapshot().unwrap();
    let bal = waiting
        .balances
        .iter()
        .find(|b| b.currency == "CNY")
        .unwrap();
    assert_eq!(bal.displayed.minor, cny_before - 1234);
    assert_eq!(waiting.pending.len(), 1);

    let done = p
        .confirm_payment(item.id.clone(), "Confirm".into())
        .await
        .unwrap();
    match &done {
        PaymentOutcome::Completed { item, transaction } => {
            assert!(matches!(
                item.state,
                OutboxState::Settled | OutboxState::Accepted
            ));
            let t = transaction.as_ref().expect("the server's transaction");
            assert_eq!(t.amount.minor, -1234);
            assert_eq!(t.note.as_deref(), Some("午饭 lunch"));
        }
        other => panic!("{other:?}"),
    }
    // After a sync the server balance includes it and it is not subtracted twice.
    client.sync().sync_now().await.unwrap();
    let after = client.home_snapshot().unwrap();
    let bal = after.balances.iter().find(|b| b.currency == "CNY").unwrap();
    assert_eq!(bal.displayed.minor, cny_before - 1234);
    assert_eq!(bal.unconfirmed_out.minor, 0);
    assert!(after.pending.is_empty(), "{:?}", after.pending);

    // The second transfer to the same payee needs no confirmation; the receive code of Li
    // pre-fills a third one.
    let out = p
        .transfer(
            PayeeInput::Phone {
                phone: "19900000077".into(),
            },
            Some(cny(100)),
            None,
        )
        .await
        .unwrap();
    assert!(matches!(out, PaymentOutcome::Completed { .. }), "{out:?}");
    let recent = p.recent_payees(10).unwrap();
    assert!(recent.iter().any(|r| r.account_id == new_id));
    mock.assert_audit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn merchant_payments_topup_withdrawal_and_cards() {
    let mock = Mock::start().await;
    let dir = tempfile::tempdir().unwrap();
    let client = open_client(&mock.base, dir.path(), "device-merchant-1");
    sign_in(&client, &mock, ZHANG).await;
    let p = client.payments();

    // Merchant codes from the catalogue (the mock's magic values).
    let magic = mock
        .control(reqwest::Method::GET, "/__mock/magic", None)
        .await;
    let codes: Vec<(String, String)> = magic["values"]
        .as_array()
        .expect("magic list")
        .iter()
        .filter(|e| e["input"] == "merchant code")
        .map(|e| {
            (
                e["value"].as_str().unwrap().to_owned(),
                e["effect"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let payable = codes
        .iter()
        .find(|(_, e)| e.contains("payable") && e.contains("CNY"))
        .unwrap()
        .0
        .clone();
    let unsupported = codes
        .iter()
        .find(|(_, e)| e.contains("merchant_not_supported"))
        .unwrap()
        .0
        .clone();

    let info = p.check_merchant(payable.clone()).await.unwrap();
    assert!(info.supported);
    let info = p.check_merchant(unsupported.clone()).await.unwrap();
    assert!(!info.supported && info.reason.is_some());
    assert_eq!(
        p.check_merchant("UPAY1:garbage".into())
            .await
            .unwrap_err()
            .code(),
        ErrorCode::QrInvalid
    );

    let out = p
        .pay_merchant(payable.clone(), Some(cny(1800)), None, Some("咖啡".into()))
        .await
        .unwrap();
    assert!(matches!(out, PaymentOutcome::Completed { .. }), "{out:?}");
    let out = p
        .pay_merchant(unsupported, Some(cny(100)), None, None)
        .await
        .unwrap();
    match out {
        PaymentOutcome::Failed { code, item, .. } => {
            assert_eq!(code, ErrorCode::MerchantNotSupported);
            assert_eq!(item.state, OutboxState::Failed);
        }
        other => panic!("{other:?}"),
    }

    // Cards: list, link (number never kept), set default, top up, withdraw, remove.
    let cards = p.cards(true).await.unwrap();
    assert!(!cards.is_empty());
    let card = p
        .link_card(
            "6200 0000 0000 0005".into(),
            3,
            2031,
            "ZHANG WEI".into(),
            Some("123".into()),
        )
        .await
        .unwrap();
    assert_eq!(card.last4, "0005");
    assert_eq!(
        p.link_card(
            "4000000000000002".into(),
            1,
            2030,
            "ZHANG WEI".into(),
            Some("123".into())
        )
        .await
        .unwrap_err()
        .code(),
        ErrorCode::CardDeclined
    );
    p.set_default_card(card.id.clone()).await.unwrap();
    assert!(
        p.cards(false)
            .await
            .unwrap()
            .iter()
            .any(|c| c.id == card.id && c.is_default)
    );
    let out = p.top_up(Some(card.id.clone()), cny(50_000)).await.unwrap();
    assert!(
        matches!(
            out,
            PaymentOutcome::Completed { .. } | PaymentOutcome::ConfirmationRequired { .. }
        ),
        "{out:?}"
    );
    let out = p
        .withdraw(Some(card.id.clone()), cny(10_000))
        .await
        .unwrap();
    let out = match out {
        PaymentOutcome::ConfirmationRequired { item, .. } => {
            p.confirm_payment(item.id, "ok".into()).await.unwrap()
        }
        other => other,
    };
    assert!(matches!(out, PaymentOutcome::Completed { .. }), "{out:?}");
    let ws = p.withdrawals().await.unwrap();
    assert!(ws.iter().any(|w| w.amount.minor == 10_000));
    p.remove_card(card.id.clone()).await.unwrap();
    assert!(
        !p.cards(false)
            .await
            .unwrap()
            .iter()
            .any(|c| c.id == card.id)
    );
    mock.assert_audit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn fx_quote_convert_and_expired_quote_offers_the_new_rate() {
    let mock = Mock::start().await;
    let dir = tempfile::tempdir().unwrap();
    let client = open_client(&mock.base, dir.path(), "device-fx-1");
    sign_in(&client, &mock, ZHANG).await;
    let p = client.payments();

    let q = p
        .fx_quote("CNY".into(), "USD".into(), Some(cny(10_000)), None)
        .await
        .unwrap();
    assert_eq!(q.total_debit.minor, q.sell.minor + q.fee.minor);
    assert!(q.buy.minor > 0 && q.valid_for_secs > 0);
    let out = p.convert(q.id.clone()).await.unwrap();
    let out = match out {
        PaymentOutcome::ConfirmationRequired { item, .. } => {
            p.confirm_payment(item.id, "ok".into()).await.unwrap()
        }
        other => other,
    };
    assert!(matches!(out, PaymentOutcome::Completed { .. }), "{out:?}");
    // Using the same quote twice is refused.
    let again = p.convert(q.id.clone()).await.unwrap();
    assert!(
        matches!(
            again,
            PaymentOutcome::Failed {
                code: ErrorCode::QuoteUsed,
                ..
            }
        ),
        "{again:?}"
    );

    // A quote that expired is refused and the new rate is offered.
    let q = p
        .fx_quote("CNY".into(), "USD".into(), Some(cny(5_000)), None)
        .await
        .unwrap();
    mock.advance_clock(q.valid_for_secs as i64 + 1).await;
    let out = p.convert(q.id.clone()).await.unwrap();
    let fresh = match out {
        PaymentOutcome::QuoteExpired { item, new_quote } => {
            assert_eq!(item.state, OutboxState::Expired);
            new_quote.expect("a new quote")
        }
        other => panic!("{other:?}"),
    };
    assert_ne!(fresh.id, q.id);
    let out = p.convert(fresh.id).await.unwrap();
    let out = match out {
        PaymentOutcome::ConfirmationRequired { item, .. } => {
            p.confirm_payment(item.id, "ok".into()).await.unwrap()
        }
        other => other,
    };
    assert!(matches!(out, PaymentOutcome::Completed { .. }), "{out:?}");

    // International merchant payment: pay a USD merchant from CNY with a quote for the amount.
    let magic = mock
        .control(reqwest::Method::GET, "/__mock/magic", None)
        .await;
    let foreign = magic["values"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| {
            e["input"] == "merchant code"
                && e["effect"].as_str().unwrap().contains("payable")
                && e["effect"].as_str().unwrap().contains("USD")
        })
        .map(|e| e["value"].as_str().unwrap().to_owned());
    if let Some(code) = foreign {
        let q = p
            .fx_quote(
                "CNY".into(),
                "USD".into(),
                None,
                Some(upay_core::model::Amount {
                    minor: 500,
                    currency: "USD".into(),
                }),
            )
            .await
            .unwrap();
        let out = p
            .pay_merchant(
                code,
                Some(upay_core::model::Amount {
                    minor: 500,
                    currency: "USD".into(),
                }),
                Some(q.id),
                None,
            )
            .await
            .unwrap();
        let out = match out {
            PaymentOutcome::ConfirmationRequired { item, .. } => {
                p.confirm_payment(item.id, "ok".into()).await.unwrap()
            }
            other => other,
        };
        assert!(matches!(out, PaymentOutcome::Completed { .. }), "{out:?}");
        assert_eq!(out.item().amount.currency, "CNY");
    }
    mock.assert_audit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn risk_hold_block_step_up_and_not_me() {
    let mock = Mock::start().await;
    let dir = tempfile::tempdir().unwrap();
    let client = open_client(&mock.base, dir.path(), "device-risk-1");
    sign_in(&client, &mock, ZHANG).await;
    let p = client.payments();
    let li = || PayeeInput::AccountId {
        account_id: LI_ID.into(),
    };
    // Pay Li once so later transfers are not "new payee".
    let first = p.transfer(li(), Some(cny(100)), None).await.unwrap();
    if let PaymentOutcome::ConfirmationRequired { item, .. } = first {
        p.confirm_payment(item.id, "ok".into()).await.unwrap();
    }

    let held = p.transfer(li(), Some(cny(66_666)), None).await.unwrap();
    match &held {
        PaymentOutcome::Held { item, risk } => {
            assert_eq!(item.state, OutboxState::Accepted);
            let risk = risk.as_ref().expect("the reason");
            assert_eq!(risk.action, RiskAction::Hold);
            assert!(!risk.reasons.is_empty());
        }
        other => panic!("{other:?}"),
    }
    let blocked = p.transfer(li(), Some(cny(44_444)), None).await.unwrap();
    match &blocked {
        PaymentOutcome::Blocked { item, risk } => {
            assert_eq!(item.state, OutboxState::Failed);
            assert_eq!(risk.as_ref().unwrap().action, RiskAction::Block);
        }
        other => panic!("{other:?}"),
    }
    let step = p.transfer(li(), Some(cny(22_222)), None).await.unwrap();
    match step {
        PaymentOutcome::ConfirmationRequired { item, confirmation } => {
            assert!(
                confirmation.reasons.iter().any(|r| r == "risk_step_up"),
                "{confirmation:?}"
            );
            // The user can still cancel it: it never executed.
            let cancelled = p.cancel(item.id).unwrap();
            assert_eq!(cancelled.state, OutboxState::Cancelled);
        }
        other => panic!("{other:?}"),
    }
    let r = p.report_not_me(None).await.unwrap();
    assert!(r.frozen);
    let frozen = p.transfer(li(), Some(cny(100)), None).await.unwrap();
    assert!(
        matches!(
            frozen,
            PaymentOutcome::Failed {
                code: ErrorCode::AccountFrozen,
                ..
            }
        ),
        "{frozen:?}"
    );
    mock.assert_audit().await;
}

type Ks = dyn upay_core::keystore::KeyStore;
type KsResult<T> = Result<T, upay_core::keystore::KeyStoreError>;
type SignFn = dyn Fn(&Ks, Vec<u8>, String) -> KsResult<Vec<u8>> + Send + Sync;

/// The test key store with `sign` replaced by `sign` (which may call the real one) and
/// `on_delete` told when the payment key is deleted: the platform behaviours these tests need.
struct SignHooked {
    inner: std::sync::Arc<Ks>,
    sign: Box<SignFn>,
    on_delete: Box<dyn Fn() + Send + Sync>,
}

impl upay_core::keystore::KeyStore for SignHooked {
    fn wrap_data_key(&self, k: Vec<u8>) -> KsResult<Vec<u8>> {
        self.inner.wrap_data_key(k)
    }
    fn unwrap_data_key(&self, w: Vec<u8>) -> KsResult<Vec<u8>> {
        self.inner.unwrap_data_key(w)
    }
    fn signing_public_key(&self) -> KsResult<Vec<u8>> {
        self.inner.signing_public_key()
    }
    fn sign(&self, payload: Vec<u8>, reason: String) -> KsResult<Vec<u8>> {
        (self.sign)(self.inner.as_ref(), payload, reason)
    }
    fn delete_signing_key(&self) -> KsResult<()> {
        (self.on_delete)();
        self.inner.delete_signing_key()
    }
}

// One runtime thread, like a busy app runtime: a prompt held on it would stall every task,
// including the one that answers the prompt here.
#[tokio::test(flavor = "current_thread")]
async fn a_confirmation_prompt_does_not_block_the_runtime() {
    let mock = Mock::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (answer, prompt) = std::sync::mpsc::channel::<()>();
    // `sign` waits, like a biometric prompt, until the test answers it (and gives up as
    // "cancelled" after a few seconds).
    let asked = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let prompt = std::sync::Mutex::new(prompt);
    let keys = std::sync::Arc::new(SignHooked {
        inner: key_store(dir.path()),
        sign: Box::new({
            let asked = asked.clone();
            move |inner, payload, reason| {
                asked.store(true, std::sync::atomic::Ordering::SeqCst);
                match prompt
                    .lock()
                    .unwrap()
                    .recv_timeout(std::time::Duration::from_secs(5))
                {
                    Ok(()) => inner.sign(payload, reason),
                    Err(_) => Err(upay_core::keystore::KeyStoreError::UserCancelled),
                }
            }
        }),
        on_delete: Box::new(|| {}),
    });
    let client = upay_core::WalletClient::with_settings(
        settings(&mock.base, dir.path(), "device-prompt-1"),
        keys,
    )
    .unwrap();
    sign_in(&client, &mock, ZHANG).await;
    let new_id = mock.register_magic("19900000078").await;
    let p = client.payments();
    let out = p
        .transfer(
            PayeeInput::AccountId { account_id: new_id },
            Some(cny(500)),
            None,
        )
        .await
        .unwrap();
    let PaymentOutcome::ConfirmationRequired { item, .. } = out else {
        panic!("expected a confirmation step: {out:?}");
    };
    let confirm = tokio::spawn(async move { p.confirm_payment(item.id, "Confirm".into()).await });
    eventually(
        "the prompt is shown",
        std::time::Duration::from_secs(20),
        || asked.load(std::sync::atomic::Ordering::SeqCst),
    )
    .await;
    answer.send(()).unwrap();
    let done = confirm.await.unwrap().expect("confirmed");
    assert!(matches!(done, PaymentOutcome::Completed { .. }), "{done:?}");
}

/// The first payment confirmation after the access token expired: registering the device key
/// refreshes the tokens on the way, and the session keeps the new ones (writing back the copy
/// read before would restore a spent refresh token, and the next refresh would end the session).
#[tokio::test]
async fn registering_the_payment_key_with_an_expired_token_keeps_the_session() {
    let mock = Mock::start().await;
    let dir = tempfile::tempdir().unwrap();
    let client = open_client(&mock.base, dir.path(), "device-keyreg-1");
    sign_in(&client, &mock, ZHANG).await;
    mock.advance_clock(16 * 60).await;
    client
        .session()
        .enable_payment_confirmation()
        .await
        .unwrap();
    // The access token expires again: the next call refreshes with what the first refresh gave.
    mock.advance_clock(16 * 60).await;
    client.session().refresh_profile().await.unwrap();
    assert_eq!(client.session().profile().unwrap().user_id, ZHANG_ID);
}

/// After the platform invalidates the payment key, one confirmation says so
/// (`device_key_missing`, not `key_lost`), and the next one makes, registers and uses a new key.
#[tokio::test]
async fn an_invalidated_payment_key_is_replaced_on_the_next_confirmation() {
    let mock = Mock::start().await;
    let dir = tempfile::tempdir().unwrap();
    // The platform invalidated the payment key (a new fingerprint enrolled): `sign` answers
    // `KeyNotFound` until the key is deleted, after which a new one is made on use.
    let dead = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let keys = std::sync::Arc::new(SignHooked {
        inner: key_store(dir.path()),
        sign: Box::new({
            let dead = dead.clone();
            move |inner, payload, reason| {
                if dead.load(std::sync::atomic::Ordering::SeqCst) {
                    return Err(upay_core::keystore::KeyStoreError::KeyNotFound);
                }
                inner.sign(payload, reason)
            }
        }),
        on_delete: Box::new({
            let dead = dead.clone();
            move || dead.store(false, std::sync::atomic::Ordering::SeqCst)
        }),
    });
    let client = upay_core::WalletClient::with_settings(
        settings(&mock.base, dir.path(), "device-keyreset-1"),
        keys,
    )
    .unwrap();
    sign_in(&client, &mock, ZHANG).await;
    client
        .session()
        .enable_payment_confirmation()
        .await
        .unwrap();
    // A payee Zhang never paid: the transfer waits for his confirmation.
    let payee = mock.register_magic("19900000088").await;
    let out = client
        .payments()
        .transfer(
            PayeeInput::AccountId { account_id: payee },
            Some(cny(88)),
            None,
        )
        .await
        .unwrap();
    let PaymentOutcome::ConfirmationRequired { item, .. } = out else {
        panic!("{out:?}")
    };
    dead.store(true, std::sync::atomic::Ordering::SeqCst);
    let err = client
        .payments()
        .confirm_payment(item.id.clone(), "Confirm".into())
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::DeviceKeyMissing);
    assert!(client.session().profile().is_some(), "still signed in");
    let done = client
        .payments()
        .confirm_payment(item.id.clone(), "Confirm".into())
        .await
        .unwrap();
    assert!(matches!(done, PaymentOutcome::Completed { .. }), "{done:?}");
}
