//! Chaos: many simulated devices make thousands of transfers to each other through a
//! fault-injecting proxy (delays, resets, lost and truncated answers, duplicated requests, 5xx,
//! mock-side drops), with offline spells and a server restart mid-run. Then the network heals
//! and the suite proves: no transfer lost, none applied twice, every outbox item settled or
//! definitely failed, money conserved, every device's cache equal to the server's state.
//!
//! Everything random comes from one seed (printed; `UPAY_CHAOS_SEED` replays it). The size is
//! `UPAY_CHAOS_TRANSFERS` (default 2,000) over `UPAY_CHAOS_DEVICES` (default 8) devices.
//! Which request meets which fault depends on timing; the assertions hold for every timing.
//! `UPAY_CHAOS_HOLD_PERCENT` sets the share of transfers held for risk review.
//!
//! With holds the run found a race in the core (a late answer undoing a settlement a sync had
//! found), made deterministic in `a_late_answer_does_not_undo_a_settlement_learned_by_sync` and
//! fixed in `outbox::record`.

mod common;
mod fault_proxy;
mod server_view;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::*;
use fault_proxy::{Config, Mix, Proxy, Rng};
use serde_json::{Value, json};
use server_view::*;
use upay_core::WalletClient;
use upay_core::model::OutboxState;
use upay_core::payments::{PayeeInput, PaymentOutcome};

const DEFAULT_SEED: u64 = 0xC4A0_5EED_2026;
/// Each user starts with CNY 100,000.00; transfers are CNY 1.00–5.00.
const START_CNY: i64 = 10_000_000;

struct Device {
    phone: String,
    user_id: String,
    _dir: tempfile::TempDir,
    client: Arc<WalletClient>,
}

/// A transfer a device made: who paid whom, how much, and the outbox item it became.
#[derive(Debug, Clone)]
struct Made {
    note: String,
    item_id: String,
    payer: usize,
    payee: usize,
    minor: i64,
}

/// What `transfer` answered, counted.
#[derive(Debug, Default)]
struct Tally {
    completed: u64,
    held: u64,
    queued: u64,
    queued_offline: u64,
    failed: u64,
    unexpected: Vec<String>,
}

fn to(user_id: &str) -> PayeeInput {
    PayeeInput::AccountId {
        account_id: user_id.to_owned(),
    }
}

/// Shared between the devices and the conductor.
struct Run {
    progress: AtomicU64,
    /// The network is gone: devices queue a few payments each, then wait.
    offline: AtomicBool,
    /// Devices done with their offline burst in the current spell.
    offline_done: AtomicU64,
}

async fn device_loop(
    n: usize,
    client: Arc<WalletClient>,
    users: Arc<Vec<String>>,
    count: u64,
    seed: u64,
    run: Arc<Run>,
) -> (Vec<Made>, Tally) {
    // Payees and amounts from one stream, burst sizes from another: what a device pays does
    // not depend on when the offline spells come.
    let mut rng = Rng::stream(seed, 1_000 + n as u64);
    let mut bursts = Rng::stream(seed, 2_000 + n as u64);
    let mut made = Vec::new();
    let mut tally = Tally::default();
    let mut burst_left: Option<u64> = None;
    for i in 0..count {
        if run.offline.load(Ordering::SeqCst) {
            let left = burst_left.get_or_insert_with(|| bursts.range(3, 12));
            if *left == 0 {
                run.offline_done.fetch_add(1, Ordering::SeqCst);
                while run.offline.load(Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            } else {
                *left -= 1;
            }
        }
        if !run.offline.load(Ordering::SeqCst) {
            burst_left = None;
        }
        let offline_now = run.offline.load(Ordering::SeqCst);
        let mut payee = rng.below(users.len() as u64 - 1) as usize;
        if payee >= n {
            payee += 1;
        }
        let minor = rng.range(100, 500) as i64;
        let note = format!("chaos {seed:x} d{n} #{i}");
        let out = client
            .payments()
            .transfer(to(&users[payee]), Some(cny(minor)), Some(note.clone()))
            .await
            .unwrap_or_else(|e| panic!("device {n}: transfer {note} failed outright: {e:?}"));
        match &out {
            PaymentOutcome::Completed { .. } => tally.completed += 1,
            PaymentOutcome::Held { .. } => tally.held += 1,
            PaymentOutcome::Queued { item } => {
                tally.queued += 1;
                if offline_now && item.state == OutboxState::Queued {
                    tally.queued_offline += 1;
                }
            }
            PaymentOutcome::Failed { .. } => tally.failed += 1,
            other => tally.unexpected.push(format!("{note}: {other:?}")),
        }
        made.push(Made {
            note,
            item_id: out.item().id.clone(),
            payer: n,
            payee,
            minor,
        });
        run.progress.fetch_add(1, Ordering::SeqCst);
        if i % 25 == 24 {
            // The app pulls now and then; under faults this may fail, which is fine.
            let _ = client.sync().sync_now().await;
        }
    }
    if run.offline.load(Ordering::SeqCst) {
        run.offline_done.fetch_add(1, Ordering::SeqCst);
    }
    (made, tally)
}

/// First transfer to each payee needs the device's confirmation (new payee): done once, with
/// faults off, so the run itself needs none.
async fn confirm_every_payee(
    n: usize,
    client: Arc<WalletClient>,
    users: Arc<Vec<String>>,
    seed: u64,
) -> Vec<Made> {
    let mut made = Vec::new();
    for (m, payee) in users.iter().enumerate().filter(|(m, _)| *m != n) {
        let note = format!("chaos {seed:x} setup d{n} to d{m}");
        let p = client.payments();
        let out = p
            .transfer(to(payee), Some(cny(100)), Some(note.clone()))
            .await
            .expect("setup transfer");
        let out = match out {
            PaymentOutcome::ConfirmationRequired { item, .. } => {
                p.confirm_payment(item.id, "Confirm".into()).await.unwrap()
            }
            other => other,
        };
        let PaymentOutcome::Completed { item, .. } = out else {
            panic!("setup transfer {note}: {out:?}")
        };
        made.push(Made {
            note,
            item_id: item.id,
            payer: n,
            payee: m,
            minor: 100,
        });
    }
    made
}

/// Releases pending holds, rejecting every fourth (in transaction-id order): rejected ones
/// must end `failed` on the device. Returns how many were resolved.
async fn review_holds(mock: &Mock) -> (u64, u64) {
    let (mut released, mut rejected) = (0, 0);
    loop {
        let v = mock
            .control(reqwest::Method::GET, "/__mock/risk/holds", None)
            .await;
        let mut holds: Vec<(String, String)> = v["holds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                (
                    h["transaction_id"].as_str().unwrap().to_owned(),
                    h["id"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        if holds.is_empty() {
            return (released, rejected);
        }
        holds.sort();
        for (i, (_, id)) in holds.iter().enumerate() {
            let verdict = if i % 4 == 3 { "reject" } else { "release" };
            mock.control(
                reqwest::Method::POST,
                &format!("/__mock/risk/holds/{id}/{verdict}"),
                None,
            )
            .await;
            if i % 4 == 3 {
                rejected += 1;
            } else {
                released += 1;
            }
        }
    }
}

/// Standing fault rules in the mock, each for a few requests.
async fn post_rules(mock: &Mock, rng: &mut Rng) {
    let rules = [
        ("/v1/transfers", json!({"kind": "error", "status": 503})),
        ("/v1/transfers", json!({"kind": "drop_connection"})),
        ("/v1/transfers", json!({"kind": "drop_response"})),
        ("/v1/transfers", json!({"kind": "latency", "ms": 300})),
        ("/v1/sync", json!({"kind": "error", "status": 500})),
        ("/v1/sync", json!({"kind": "drop_response"})),
    ];
    for (route, fault) in rules {
        let times = rng.range(1, 4) as u32;
        mock.fault(Some(route), fault, Some(times)).await;
    }
}

/// An open item with what the raw row says about its next try, for a failure message.
fn describe(client: &WalletClient, item: &upay_core::model::OutboxItem) -> String {
    let row = client
        .core()
        .store
        .read(|c| Ok(upay_core::store::outbox::get(c, &item.id)?))
        .unwrap()
        .expect("row");
    let now = upay_core::model::now_ms();
    let cached = row.transaction_id.as_ref().and_then(|id| {
        client
            .history()
            .get(id.clone())
            .unwrap()
            .map(|t| format!("{:?}, updated {} ms ago", t.status, now - t.updated_at))
    });
    format!(
        "{} {:?} attempts {} code {:?} txn {:?} (cached: {cached:?}) reconciled {} next try in {} \
         ms, item updated {} ms ago",
        item.note.as_deref().unwrap_or_default(),
        item.state,
        item.attempts,
        row.error_code,
        row.transaction_id,
        row.reconciled,
        row.next_attempt_at - now,
        now - row.updated_at
    )
}

fn is_final(state: OutboxState) -> bool {
    matches!(
        state,
        OutboxState::Settled | OutboxState::Failed | OutboxState::Cancelled | OutboxState::Expired
    )
}

/// The run without risk holds: every transfer settles at once or is retried until it does.
#[tokio::test(flavor = "multi_thread")]
async fn devices_transfer_through_faults_and_converge_to_the_server() {
    chaos_run(0).await;
}

/// The same run with 2 % of transfers held for review, released or rejected while devices are
/// still paying: pending payments, later settlement and failure by sync.
#[tokio::test(flavor = "multi_thread")]
async fn with_payments_held_for_review_mid_run() {
    chaos_run(2).await;
}

/// `hold_percent`: share of transfers held for review (`UPAY_CHAOS_HOLD_PERCENT` overrides).
async fn chaos_run(hold_percent: u64) {
    let seed = env_u64("UPAY_CHAOS_SEED", DEFAULT_SEED);
    let total = env_u64("UPAY_CHAOS_TRANSFERS", 2_000);
    let device_count = env_u64("UPAY_CHAOS_DEVICES", 8).max(2) as usize;
    let hold_percent = env_u64("UPAY_CHAOS_HOLD_PERCENT", hold_percent);
    println!(
        "chaos: seed {seed:#x}, {device_count} devices, {total} transfers, {hold_percent} % held \
         (replay with UPAY_CHAOS_SEED={seed:#x})"
    );
    let started = Instant::now();
    let root = tempfile::tempdir().unwrap();
    let mut mock = Mock::start_with(Some(root.path().join("mock.db")), None).await;
    let proxy = Proxy::start(
        mock.addr,
        Config {
            seed,
            mix: Mix::chaos(),
            hold_percent,
        },
    )
    .await;

    let mut devices = Vec::new();
    for n in 0..device_count {
        let phone = format!("137{:08}", 20_000 + n);
        let user_id = seed_user(&mock, &phone, &format!("Chaos {n}"), START_CNY).await;
        let dir = tempfile::tempdir().unwrap();
        let client = open_client(&proxy.base(), dir.path(), &format!("chaos-device-{n}"));
        sign_in(&client, &mock, &phone).await;
        devices.push(Device {
            phone,
            user_id,
            _dir: dir,
            client,
        });
    }
    let users: Arc<Vec<String>> = Arc::new(devices.iter().map(|d| d.user_id.clone()).collect());
    let setup: Vec<_> = devices
        .iter()
        .enumerate()
        .map(|(n, d)| {
            tokio::spawn(confirm_every_payee(
                n,
                d.client.clone(),
                users.clone(),
                seed,
            ))
        })
        .collect();
    let mut made: Vec<Made> = Vec::new();
    for s in setup {
        made.extend(s.await.expect("setup task"));
    }
    println!("chaos: set up in {:?}", started.elapsed());

    // The run: every device pays the others while the conductor breaks things.
    let run_started = Instant::now();
    proxy.set_faults(true);
    let run = Arc::new(Run {
        progress: AtomicU64::new(0),
        offline: AtomicBool::new(false),
        offline_done: AtomicU64::new(0),
    });
    let tasks: Vec<_> = devices
        .iter()
        .enumerate()
        .map(|(n, d)| {
            let count =
                total / device_count as u64 + u64::from((n as u64) < total % device_count as u64);
            tokio::spawn(device_loop(
                n,
                d.client.clone(),
                users.clone(),
                count,
                seed,
                run.clone(),
            ))
        })
        .collect();
    #[derive(Debug, Clone, Copy)]
    enum Step {
        Rules,
        Offline,
        Restart,
        Holds,
    }
    let mut steps = vec![
        (0.10, Step::Rules),
        (0.20, Step::Offline),
        (0.40, Step::Restart),
        (0.55, Step::Rules),
        (0.60, Step::Holds),
        (0.70, Step::Offline),
        (0.85, Step::Rules),
    ];
    let mut rng = Rng::stream(seed, 7);
    let mut log = Vec::new();
    while !tasks.iter().all(|t| t.is_finished()) {
        let done = run.progress.load(Ordering::SeqCst);
        if let Some(&(at, step)) = steps.first()
            && done as f64 >= at * total as f64
        {
            steps.remove(0);
            log.push(format!("{step:?} at {done}"));
            match step {
                Step::Rules => post_rules(&mock, &mut rng).await,
                Step::Holds => {
                    review_holds(&mock).await;
                }
                Step::Restart => mock.restart().await,
                Step::Offline => {
                    run.offline_done.store(0, Ordering::SeqCst);
                    run.offline.store(true, Ordering::SeqCst);
                    proxy.go_offline().await;
                    // Each device queues its burst (or ends); bounded in case one is slow.
                    let until = Instant::now() + Duration::from_secs(10);
                    while run.offline_done.load(Ordering::SeqCst) < device_count as u64
                        && !tasks.iter().all(|t| t.is_finished())
                        && Instant::now() < until
                    {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    proxy.go_online().await;
                    run.offline.store(false, Ordering::SeqCst);
                    for d in &devices {
                        d.client.network_changed(true);
                    }
                }
            }
            continue;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut tally = Tally::default();
    for t in tasks {
        let (m, t) = t.await.expect("device task");
        made.extend(m);
        tally.completed += t.completed;
        tally.held += t.held;
        tally.queued += t.queued;
        tally.queued_offline += t.queued_offline;
        tally.failed += t.failed;
        tally.unexpected.extend(t.unexpected);
    }
    println!(
        "chaos: {} transfers made in {:?}; answers {tally:?}; conductor: {}",
        run.progress.load(Ordering::SeqCst),
        run_started.elapsed(),
        log.join(", ")
    );
    println!("chaos: proxy {}", proxy.stats());
    assert!(steps.is_empty(), "conductor steps left: {steps:?}");
    assert!(tally.unexpected.is_empty(), "{:?}", tally.unexpected);
    assert!(
        tally.queued_offline > 0,
        "some payments were queued offline"
    );
    assert_eq!(proxy.unsupported(), 0, "every request was framed");

    // Heal: no more faults; the apps learn the network is back; review what is held.
    let heal_started = Instant::now();
    proxy.set_faults(false);
    mock.clear_faults().await;
    for d in &devices {
        d.client.network_changed(true);
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        review_holds(&mock).await;
        for d in &devices {
            let _ = d.client.sync().flush_outbox().await;
            let _ = d.client.sync().sync_now().await;
        }
        let open: Vec<String> = devices
            .iter()
            .flat_map(|d| {
                full_outbox(&d.client)
                    .into_iter()
                    .filter(|i| !is_final(i.state))
                    .map(|i| describe(&d.client, &i))
                    .collect::<Vec<_>>()
            })
            .collect();
        let held = mock
            .control(reqwest::Method::GET, "/__mock/risk/holds", None)
            .await["holds"]
            .as_array()
            .map_or(0, Vec::len);
        if open.is_empty() && held == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "items still open 120 s after the network healed: {open:?} (an `Accepted` item whose \
             cached transaction is final means an answer overwrote what a sync found: see \
             a_late_answer_does_not_undo_a_settlement_learned_by_sync)"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "chaos: converged {:?} after healing",
        heal_started.elapsed()
    );

    // 1. Nothing lost: every transfer made is in its device's outbox, nothing else is.
    let mut by_note: BTreeMap<String, &Made> = BTreeMap::new();
    for m in &made {
        assert!(
            by_note.insert(m.note.clone(), m).is_none(),
            "note reused: {}",
            m.note
        );
    }
    let mut items = BTreeMap::new();
    for (n, d) in devices.iter().enumerate() {
        let outbox = full_outbox(&d.client);
        let mine: BTreeSet<&str> = made
            .iter()
            .filter(|m| m.payer == n)
            .map(|m| m.item_id.as_str())
            .collect();
        let ids: BTreeSet<&str> = outbox.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(
            ids, mine,
            "device {n}: outbox differs from the transfers it made"
        );
        for item in outbox {
            let note = item.note.clone().expect("note");
            let m = by_note.get(&note).expect("item of a known transfer");
            assert_eq!(m.item_id, item.id, "{note}");
            assert_eq!(item.amount.minor, m.minor, "{note}");
            items.insert(note, item);
        }
    }

    // 2. Every item definite; each applied once on the server iff settled.
    let mut tokens = Vec::new();
    let mut server: Vec<Vec<Value>> = Vec::new();
    for (n, d) in devices.iter().enumerate() {
        let token = checker_token(&mock, &d.phone, &format!("chaos-checker-{n}")).await;
        server.push(all_transactions(&mock, &token).await);
        tokens.push(token);
    }
    let prefix = format!("chaos {seed:x} ");
    let mut out_rows: BTreeMap<String, Vec<(usize, String, i64)>> = BTreeMap::new();
    let mut in_rows: BTreeMap<String, Vec<(usize, String, i64)>> = BTreeMap::new();
    for (n, txs) in server.iter().enumerate() {
        for t in txs {
            let Some(note) = t["note"].as_str().filter(|s| s.starts_with(&prefix)) else {
                continue;
            };
            let row = (
                n,
                t["status"].as_str().unwrap().to_owned(),
                t["amount"]["minor"].as_i64().unwrap(),
            );
            match t["kind"].as_str().unwrap() {
                "transfer_out" => out_rows.entry(note.to_owned()).or_default().push(row),
                "transfer_in" => in_rows.entry(note.to_owned()).or_default().push(row),
                other => panic!("unexpected {other} with note {note}"),
            }
        }
    }
    let (mut settled, mut failed) = (0, 0);
    for (note, item) in &items {
        let m = by_note[note];
        let outs = out_rows.get(note).cloned().unwrap_or_default();
        let ins = in_rows.get(note).cloned().unwrap_or_default();
        match item.state {
            OutboxState::Settled => {
                settled += 1;
                assert_eq!(
                    outs,
                    vec![(m.payer, "settled".to_owned(), -m.minor)],
                    "{note}: settled item, server rows"
                );
                assert_eq!(
                    ins,
                    vec![(m.payee, "settled".to_owned(), m.minor)],
                    "{note}: the payee's side"
                );
            }
            OutboxState::Failed => {
                failed += 1;
                assert!(item.error_code.is_some(), "{note}: failed without a code");
                assert!(
                    outs.iter().all(|(_, status, _)| status == "failed") && outs.len() <= 1,
                    "{note}: failed item, server rows {outs:?}"
                );
            }
            other => panic!("{note}: ended {other:?}"),
        }
    }
    for note in out_rows.keys() {
        assert!(
            items.contains_key(note),
            "server has {note}, no device made it"
        );
    }

    // 3. Money conserved, the ledger balanced.
    let mut sum = 0;
    for (n, token) in tokens.iter().enumerate() {
        let (available, pending_out, pending_in) = cny_balance(&mock, token).await;
        assert_eq!(
            (pending_out, pending_in),
            (0, 0),
            "user {n}: nothing pending"
        );
        sum += available;
    }
    assert_eq!(sum, START_CNY * device_count as i64, "money conserved");
    mock.assert_audit().await;

    // 4. Every cache equals the server after a fresh sync.
    for (n, d) in devices.iter().enumerate() {
        d.client.sync().sync_now().await.expect("final sync");
        assert_eq!(
            cached_history(&d.client),
            server_history(&server[n]),
            "device {n}: cached history differs from the server's"
        );
        let (available, _, _) = cny_balance(&mock, &tokens[n]).await;
        let home = d.client.home_snapshot().unwrap();
        let b = home.balances.iter().find(|b| b.currency == "CNY").unwrap();
        assert_eq!(
            (
                b.server_available.minor,
                b.unconfirmed_out.minor,
                b.displayed.minor
            ),
            (available, 0, available),
            "device {n}: cached balance"
        );
    }
    println!(
        "chaos: {settled} settled, {failed} failed (rejected holds), {} server rows checked; \
         total {:?}",
        server.iter().map(Vec::len).sum::<usize>(),
        started.elapsed()
    );
}

/// The race the chaos run found, made deterministic: a held payment's answer reaches the device
/// late (the hold look-up after it is slow); meanwhile the hold is released and a sync settles
/// the item. The late answer ("pending") must not take the item back to `accepted`: the
/// transaction will not change again, so nothing would ever settle it.
#[tokio::test(flavor = "multi_thread")]
async fn a_late_answer_does_not_undo_a_settlement_learned_by_sync() {
    let mock = Mock::start().await;
    let proxy = Proxy::start(
        mock.addr,
        Config {
            seed: 1,
            mix: Mix::none(),
            hold_percent: 100,
        },
    )
    .await;
    let _payer = seed_user(&mock, "13700040001", "Race Payer", START_CNY).await;
    let payee = seed_user(&mock, "13700040002", "Race Payee", START_CNY).await;
    let dir = tempfile::tempdir().unwrap();
    let client = open_client(&proxy.base(), dir.path(), "race-device-1");
    sign_in(&client, &mock, "13700040001").await;
    let p = client.payments();
    // A first payment (confirmed, not held) so the next one needs no confirmation.
    let out = p
        .transfer(to(&payee), Some(cny(100)), Some("race setup".into()))
        .await
        .unwrap();
    let PaymentOutcome::ConfirmationRequired { item, .. } = out else {
        panic!("{out:?}")
    };
    p.confirm_payment(item.id, "Confirm".into()).await.unwrap();

    // Transfers are now held for review; the hold look-up that follows the answer is slow.
    let hold_ids = || async {
        mock.control(reqwest::Method::GET, "/__mock/risk/holds", None)
            .await["holds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["id"].as_str().unwrap().to_owned())
            .collect::<BTreeSet<String>>()
    };
    // The demo data has holds of its own.
    let before = hold_ids().await;
    proxy.set_faults(true);
    mock.fault(
        Some("/v1/risk/holds"),
        json!({"kind": "latency", "ms": 1500}),
        Some(1),
    )
    .await;
    let sender = client.clone();
    let payee_id = payee.clone();
    let send = tokio::spawn(async move {
        sender
            .payments()
            .transfer(to(&payee_id), Some(cny(300)), Some("race held".into()))
            .await
    });
    let hold = loop {
        if let Some(id) = hold_ids().await.difference(&before).next() {
            break id.clone();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    mock.control(
        reqwest::Method::POST,
        &format!("/__mock/risk/holds/{hold}/release"),
        None,
    )
    .await;
    client.sync().sync_now().await.unwrap();
    let item = |c: &WalletClient| {
        full_outbox(c)
            .into_iter()
            .find(|i| i.note.as_deref() == Some("race held"))
            .unwrap()
    };
    let state = |c: &WalletClient| item(c).state;
    assert_eq!(state(&client), OutboxState::Settled, "the sync settled it");
    let out = send.await.unwrap().unwrap();
    assert!(matches!(out, PaymentOutcome::Held { .. }), "{out:?}");
    client.sync().sync_now().await.unwrap();
    let after = item(&client);
    assert_eq!(
        after.state,
        OutboxState::Settled,
        "the late answer took the settled item back: {}",
        describe(&client, &after)
    );
}
