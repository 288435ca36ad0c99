//! Savings (理财) through the core: moves in and out online and queued offline (sent once),
//! the displayed wallet balance net of unconfirmed moves, and the daily yield after the mock's
//! clock moved 30 days — equal to an independent day-by-day computation with the rounding rule
//! of `docs/savings-and-paycode.md` — shown offline from the cache.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use upay_core::model::OutboxState;
use upay_core::payments::PaymentOutcome;

fn savings_cny(view: &upay_core::savings::SavingsView) -> &upay_core::savings::SavingsAccountView {
    view.accounts
        .iter()
        .find(|a| a.currency == "CNY")
        .expect("a CNY savings account")
}

#[tokio::test(flavor = "multi_thread")]
async fn moves_made_offline_are_sent_once_and_the_balances_add_up() {
    let logs = Arc::new(CapturedLogs::default());
    upay_core::logging::set_logger(logs.clone(), upay_core::logging::LogLevel::Debug);
    let dump = logs.clone();
    std::panic::set_hook(Box::new(move |i| {
        for l in dump.0.lock().unwrap().iter() {
            eprintln!("LOG {l}");
        }
        eprintln!("{i}");
    }));
    let mock = Mock::start().await;
    let dir = tempfile::tempdir().unwrap();
    let device = "device-savings-1";
    let client = open_client(&mock.base, dir.path(), device);
    sign_in(&client, &mock, ZHANG).await;
    client.sync().sync_now().await.unwrap();
    let wallet_before = cny_displayed(&client);
    let s = client.savings();
    assert!(s.cached().unwrap().is_none(), "nothing cached yet");
    let start = s.refresh().await.unwrap();
    assert!(!start.from_cache);
    let savings_before = savings_cny(&start).balance.minor;
    assert!(!savings_cny(&start).annual_rate.is_empty());

    let done = s.deposit(cny(100_000)).await.unwrap();
    assert!(matches!(done, PaymentOutcome::Completed { .. }), "{done:?}");
    // The answer carried the savings balance: the cache shows it at once.
    let now = s.cached().unwrap().unwrap();
    assert_eq!(savings_cny(&now).balance.minor, savings_before + 100_000);
    assert_eq!(cny_displayed(&client), wallet_before - 100_000);
    drop(s);

    // Offline: both moves queue; the wallet shows the deposit as spent at once, the
    // withdrawal only once the server confirms it.
    let client = reopen(client, &closed_port_base(), dir.path(), device);
    let s = client.savings();
    let queued_in = s.deposit(cny(5_000)).await.unwrap();
    let queued_out = s.withdraw(cny(2_000)).await.unwrap();
    for o in [&queued_in, &queued_out] {
        assert!(matches!(o, PaymentOutcome::Queued { .. }), "{o:?}");
    }
    let cached = s.refresh().await.unwrap();
    assert!(cached.from_cache, "offline refresh answers from the cache");
    let acct = savings_cny(&cached);
    assert_eq!(acct.balance.minor, savings_before + 100_000);
    assert_eq!(acct.pending_in.minor, 5_000);
    assert_eq!(acct.pending_out.minor, 2_000);
    assert_eq!(cny_displayed(&client), wallet_before - 100_000 - 5_000);
    drop(s);

    // The network returns: sent once each, in order.
    let client = reopen(client, &mock.base, dir.path(), device);
    client.network_changed(true);
    for o in [&queued_in, &queued_out] {
        let id = o.item().id.clone();
        eventually("the savings move settles", Duration::from_secs(20), || {
            let st = outbox_state(&client, &id);
            eprintln!(
                "{st:?} {:?}",
                client
                    .payments()
                    .outbox(100)
                    .unwrap()
                    .iter()
                    .find(|i| i.id == id)
                    .map(|i| i.error_code)
            );
            st == OutboxState::Settled
        })
        .await;
    }
    client.sync().sync_now().await.unwrap();
    let after = client.savings().refresh().await.unwrap();
    let acct = savings_cny(&after);
    assert_eq!(acct.balance.minor, savings_before + 100_000 + 5_000 - 2_000);
    assert_eq!((acct.pending_in.minor, acct.pending_out.minor), (0, 0));
    assert_eq!(
        cny_displayed(&client),
        wallet_before - 100_000 - 5_000 + 2_000
    );
    let server = mock.server_transactions(ZHANG, "savings-checker").await;
    let count = |kind: &str| server.iter().filter(|t| t["kind"] == kind).count();
    assert_eq!(
        (count("savings_deposit"), count("savings_withdrawal")),
        (2, 1)
    );

    // More than is saved cannot be moved out; nothing changes.
    let too_much = client.savings().withdraw(cny(100_000_000)).await.unwrap();
    match too_much {
        PaymentOutcome::Failed { code, .. } => {
            assert_eq!(code, upay_core::error::ErrorCode::SavingsInsufficient)
        }
        other => panic!("expected a refusal: {other:?}"),
    }
    let bad = client.savings().deposit(cny(0)).await.unwrap_err();
    assert_eq!(bad.code(), upay_core::error::ErrorCode::InvalidInput);
    mock.assert_audit().await;
}

/// `balance × rate / 365`, rounded down to the fen, added each day: the rule written in
/// `docs/savings-and-paycode.md`, computed with integers only.
fn expected_yields(mut balance: i64, rate: &str, days: usize) -> Vec<i64> {
    let (int, frac) = rate.split_once('.').unwrap_or((rate, ""));
    let num: i128 = format!("{int}{frac}").parse().unwrap();
    let den: i128 = 10i128.pow(frac.len() as u32) * 365;
    let mut out = Vec::new();
    for _ in 0..days {
        let y = (balance as i128 * num / den) as i64;
        out.push(y);
        balance += y;
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn thirty_days_of_interest_match_the_rate_to_the_fen_and_show_offline() {
    let mock = Mock::start().await;
    mock.to_china_noon().await;
    let dir = tempfile::tempdir().unwrap();
    let device = "device-savings-2";
    let client = open_client(&mock.base, dir.path(), device);
    sign_in(&client, &mock, ZHANG).await;
    let start = client.savings().refresh().await.unwrap();
    let saved_before = savings_cny(&start).balance.minor;
    let deposit = 1_234_567;
    let done = client.savings().deposit(cny(deposit)).await.unwrap();
    assert!(matches!(done, PaymentOutcome::Completed { .. }), "{done:?}");

    mock.advance_clock(30 * 86_400).await;
    // Thirty days on, the session has expired: sign in again.
    sign_in(&client, &mock, ZHANG).await;
    let view = client.savings().refresh().await.unwrap();
    let acct = savings_cny(&view).clone();
    let expected = expected_yields(saved_before + deposit, &acct.annual_rate, 30);
    let total: i64 = expected.iter().sum();
    assert!(total > 0, "the rate yields something on this balance");
    assert_eq!(acct.cumulative_yield.minor, total);
    assert_eq!(acct.yesterday_yield.minor, *expected.last().unwrap());
    assert_eq!(acct.balance.minor, saved_before + deposit + total);
    let days = client.savings().yields(Some("CNY".into()), 100).unwrap();
    assert_eq!(days.len(), 30);
    let newest_first: Vec<i64> = expected.iter().rev().copied().collect();
    assert_eq!(
        days.iter().map(|d| d.amount.minor).collect::<Vec<_>>(),
        newest_first
    );
    assert!(days.windows(2).all(|w| w[0].date > w[1].date));

    // Offline, the same figures from the cache.
    let client = reopen(client, &closed_port_base(), dir.path(), device);
    let offline = client.savings().cached().unwrap().unwrap();
    assert_eq!(savings_cny(&offline).cumulative_yield.minor, total);
    assert_eq!(
        client.savings().yields(None, 100).unwrap().len(),
        days.len()
    );
    let refreshed = client.savings().refresh().await.unwrap();
    assert!(refreshed.from_cache);
    assert_eq!(savings_cny(&refreshed).balance, acct.balance);
}
