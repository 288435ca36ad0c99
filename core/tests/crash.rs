//! Crash consistency with real process kills. The test re-runs its own binary as a child
//! process (`crash_child_workload`, which does nothing unless `UPAY_CRASH_CHILD` is set) that
//! opens the device's cache, syncs, queues transfers and flushes in a loop; the parent SIGKILLs
//! it after a seeded random delay — during start-up and open, a sync of thousands of rows, or a
//! send — many times over. After every kill the parent checks the database (`PRAGMA
//! integrity_check`) and that every transfer the child had recorded as queued is still in the
//! outbox. At the end it opens the cache in-process, lets the outbox drain, and proves each
//! transfer was paid at most once (exactly once when its item settled), money was conserved and
//! the cache equals the server.
//!
//! The child writes `BEGIN <note>` before calling `transfer` and `DONE <note> <item id>` once it
//! returned, each line synced to disk. Seed: `UPAY_CRASH_SEED`; kills: `UPAY_CRASH_KILLS`
//! (default 15).

mod common;
mod fault_proxy;
mod server_view;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use fault_proxy::{Config, Mix, Proxy, Rng};
use serde_json::json;
use server_view::*;
use upay_core::model::OutboxState;
use upay_core::payments::{PayeeInput, PaymentOutcome};

const DEFAULT_SEED: u64 = 0xC7A5_4ED0_2026;
const CHILD_ENV: &str = "UPAY_CRASH_CHILD";
const CHILD_TEST: &str = "crash_child_workload";
const DEVICE: &str = "crash-device-1";
const PAYER_PHONE: &str = "13700030001";
const PAYEE_PHONE: &str = "13700030002";
const START_CNY: i64 = 10_000_000;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("child: {name} not set"))
}

fn append_synced(log: &mut std::fs::File, line: &str) {
    // One write per line: a kill cannot leave half of one behind a complete newline.
    log.write_all(format!("{line}\n").as_bytes())
        .expect("log write");
    log.sync_data().expect("log fsync");
}

/// The child process: runs only when the parent sets `UPAY_CRASH_CHILD`; loops until killed.
#[tokio::test(flavor = "multi_thread")]
async fn crash_child_workload() {
    if std::env::var(CHILD_ENV).is_err() {
        return;
    }
    let base = env("UPAY_CRASH_BASE");
    let dir = PathBuf::from(env("UPAY_CRASH_DIR"));
    let payee = env("UPAY_CRASH_PAYEE");
    let round: u64 = env("UPAY_CRASH_ROUND").parse().unwrap();
    let seed = env_u64("UPAY_CRASH_SEED", DEFAULT_SEED);
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(env("UPAY_CRASH_LOG"))
        .expect("child log");
    let mut rng = Rng::stream(seed, 100 + round);
    append_synced(&mut log, "OPEN");
    let client = open_client(&base, &dir, DEVICE);
    append_synced(&mut log, "OPENED");
    client.network_changed(true);
    let started = Instant::now();
    let mut i = 0u64;
    // Killed long before this; the bound only keeps a lost child from running forever.
    while started.elapsed() < Duration::from_secs(60) {
        match rng.below(10) {
            0..=1 => {
                append_synced(&mut log, "SYNC");
                let _ = client.sync().sync_now().await;
                append_synced(&mut log, "SYNCED");
            }
            2 => {
                append_synced(&mut log, "FLUSH");
                let _ = client.sync().flush_outbox().await;
                append_synced(&mut log, "FLUSHED");
            }
            _ => {
                let note = format!("crash {seed:x} r{round} #{i}");
                i += 1;
                append_synced(&mut log, &format!("BEGIN {note}"));
                let out = client
                    .payments()
                    .transfer(
                        PayeeInput::AccountId {
                            account_id: payee.clone(),
                        },
                        Some(cny(rng.range(100, 300) as i64)),
                        Some(note.clone()),
                    )
                    .await
                    .unwrap_or_else(|e| panic!("child: transfer {note}: {e:?}"));
                let item = match &out {
                    PaymentOutcome::Completed { item, .. } | PaymentOutcome::Queued { item } => {
                        item
                    }
                    other => panic!("child: transfer {note}: {other:?}"),
                };
                append_synced(&mut log, &format!("DONE {note} {}", item.id));
            }
        }
    }
    // Reaching this means the parent never killed us: it treats the exit as an error.
}

/// What the child logs recorded.
#[derive(Default)]
struct Ledger {
    /// Notes whose `transfer` call began.
    begun: BTreeSet<String>,
    /// note → item id, for calls that returned.
    done: BTreeMap<String, String>,
    /// What the child was doing when it died (its last line).
    last: String,
}

impl Ledger {
    /// Where the kill landed, from the child's last line.
    fn kill_point(&self) -> &'static str {
        match self.last.split(' ').next().unwrap_or_default() {
            "OPEN" => "opening the cache",
            "SYNC" => "syncing",
            "FLUSH" => "flushing the outbox",
            "BEGIN" => "in a transfer",
            "" => "starting the process",
            _ => "between calls",
        }
    }
}

fn read_log(path: &Path) -> Ledger {
    let mut l = Ledger::default();
    let mut text = std::fs::read_to_string(path).unwrap_or_default();
    // Only lines ending in a newline were written whole.
    text.truncate(text.rfind('\n').map_or(0, |i| i + 1));
    for line in text.lines() {
        if line.starts_with("ROUND ") {
            l.last.clear();
            continue;
        }
        l.last = line.to_owned();
        if ["OPEN", "OPENED", "SYNC", "SYNCED", "FLUSH", "FLUSHED"].contains(&line) {
            continue;
        }
        if let Some(note) = line.strip_prefix("BEGIN ") {
            l.begun.insert(note.to_owned());
        } else if let Some(rest) = line.strip_prefix("DONE ") {
            let (note, id) = rest.rsplit_once(' ').expect("DONE line");
            assert!(l.begun.contains(note), "DONE without BEGIN: {line}");
            l.done.insert(note.to_owned(), id.to_owned());
        } else {
            panic!("garbled log line: {line}");
        }
    }
    l
}

/// Opens the cache file as SQLite does after a crash (recovering the WAL), checks it, and
/// returns the outbox as id → state.
fn check_database(cache: &Path) -> BTreeMap<String, String> {
    let conn = rusqlite::Connection::open(cache.join("wallet.db")).expect("open cache db");
    let verdict: Vec<String> = conn
        .prepare("PRAGMA integrity_check")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(verdict, vec!["ok".to_owned()], "integrity_check");
    let fk: i64 = conn
        .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(fk, 0, "foreign_key_check");
    let mut stmt = conn.prepare("SELECT id, state FROM outbox").unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn is_final(state: OutboxState) -> bool {
    matches!(
        state,
        OutboxState::Settled | OutboxState::Failed | OutboxState::Cancelled | OutboxState::Expired
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_killed_at_random_points_loses_nothing_and_pays_nothing_twice() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let seed = env_u64("UPAY_CRASH_SEED", DEFAULT_SEED);
    let kills = env_u64("UPAY_CRASH_KILLS", 15);
    println!("crash: seed {seed:#x}, {kills} kills (replay with UPAY_CRASH_SEED={seed:#x})");
    let started = Instant::now();
    let root = tempfile::tempdir().unwrap();
    let mock = Mock::start().await;
    // Pass-through with delays (so kills land mid-request); transfers go with `risk=allow`.
    let proxy = Proxy::start(
        mock.addr,
        Config {
            seed,
            mix: Mix::slow(),
            hold_percent: 0,
        },
    )
    .await;
    proxy.set_faults(true);
    let payer = seed_user(&mock, PAYER_PHONE, "Crash Payer", START_CNY).await;
    let payee = seed_user(&mock, PAYEE_PHONE, "Crash Payee", START_CNY).await;
    let device_dir = root.path().join("device");
    let cache = device_dir.join("cache");
    // Sign in and pay the payee once (a new payee needs the device's confirmation).
    {
        let client = open_client(&proxy.base(), &device_dir, DEVICE);
        sign_in(&client, &mock, PAYER_PHONE).await;
        let p = client.payments();
        let out = p
            .transfer(
                PayeeInput::AccountId {
                    account_id: payee.clone(),
                },
                Some(cny(100)),
                Some(format!("crash {seed:x} setup")),
            )
            .await
            .unwrap();
        let out = match out {
            PaymentOutcome::ConfirmationRequired { item, .. } => {
                p.confirm_payment(item.id, "Confirm".into()).await.unwrap()
            }
            other => other,
        };
        assert!(matches!(out, PaymentOutcome::Completed { .. }), "{out:?}");
        client.sync().sync_now().await.unwrap();
        drop(p);
        // The worker's round (woken by the payment) holds the core: let it end, so the cache is
        // closed before a child opens it.
        eventually("the worker is idle", Duration::from_secs(20), || {
            std::sync::Arc::strong_count(client.core()) == 1
        })
        .await;
    }
    // History for the first child's sync to chew on (net zero for the balance).
    let seed_history = |n: u64| {
        mock.control(
            reqwest::Method::POST,
            "/__mock/seed",
            Some(json!({"user_id": payer, "transactions": n})),
        )
    };
    seed_history(2_500).await;

    let log_path = root.path().join("child.log");
    let exe = std::env::current_exe().unwrap();
    let mut rng = Rng::stream(seed, 1);
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut points: BTreeMap<&str, u32> = BTreeMap::new();
    let mut parent_log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .unwrap();
    for round in 0..kills {
        // Kill points: some during start-up and open, most during the sync and the sends.
        let delay = match rng.below(4) {
            0 => rng.range(2, 60),
            _ => rng.range(60, 1_500),
        };
        append_synced(&mut parent_log, &format!("ROUND {round}"));
        let stdout = std::fs::File::create(root.path().join(format!("child-{round}.out"))).unwrap();
        let stderr = std::fs::File::create(root.path().join(format!("child-{round}.err"))).unwrap();
        let mut child = Command::new(&exe)
            .args(["--exact", CHILD_TEST, "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, "1")
            .env("UPAY_CRASH_BASE", proxy.base())
            .env("UPAY_CRASH_DIR", &device_dir)
            .env("UPAY_CRASH_LOG", &log_path)
            .env("UPAY_CRASH_PAYEE", &payee)
            .env("UPAY_CRASH_ROUND", round.to_string())
            .env("UPAY_CRASH_SEED", format!("{seed:#x}"))
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("child starts");
        tokio::time::sleep(Duration::from_millis(delay)).await;
        if let Some(status) = child.try_wait().unwrap() {
            let err = std::fs::read_to_string(root.path().join(format!("child-{round}.err")))
                .unwrap_or_default();
            let out = std::fs::read_to_string(root.path().join(format!("child-{round}.out")))
                .unwrap_or_default();
            panic!("round {round}: the child ended by itself ({status}):\n{out}\n{err}");
        }
        child.kill().expect("SIGKILL");
        child.wait().unwrap();

        let outbox = check_database(&cache);
        let log = read_log(&log_path);
        for (note, id) in &log.done {
            assert!(
                outbox.contains_key(id),
                "round {round}: {note} was queued as {id} and is gone"
            );
        }
        let ids: BTreeSet<String> = outbox.keys().cloned().collect();
        let lost: Vec<_> = seen.difference(&ids).collect();
        assert!(
            lost.is_empty(),
            "round {round}: outbox items vanished: {lost:?}"
        );
        seen = ids;
        let mut states: BTreeMap<&str, usize> = BTreeMap::new();
        for s in outbox.values() {
            *states.entry(s.as_str()).or_default() += 1;
        }
        *points.entry(log.kill_point()).or_default() += 1;
        println!(
            "crash: round {round}: killed after {delay} ms {}; {} begun, {} queued; outbox {states:?}",
            log.kill_point(),
            log.begun.len(),
            log.done.len()
        );
        // Between runs: more history to sync, and now and then a lost answer or a slow sync.
        seed_history(rng.range(100, 600)).await;
        if rng.below(3) == 0 {
            mock.fault(
                Some("/v1/transfers"),
                json!({"kind": "drop_response"}),
                Some(1),
            )
            .await;
        }
        if rng.below(3) == 0 {
            mock.fault(
                Some("/v1/sync"),
                json!({"kind": "latency", "ms": 400}),
                Some(2),
            )
            .await;
        }
    }

    // Restart in-process: the outbox drains, each item ends definite.
    mock.clear_faults().await;
    proxy.set_faults(false);
    check_database(&cache);
    let log = read_log(&log_path);
    let client = open_client(&proxy.base(), &device_dir, DEVICE);
    client.network_changed(true);
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let _ = client.sync().flush_outbox().await;
        let _ = client.sync().sync_now().await;
        let open: Vec<String> = full_outbox(&client)
            .into_iter()
            .filter(|i| !is_final(i.state))
            .map(|i| format!("{:?} {:?}", i.note, i.state))
            .collect();
        if open.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "items never ended: {open:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let items = full_outbox(&client);

    // Nothing queued is lost; no item without a transfer call; one item per call at most.
    let mut by_note: BTreeMap<String, &upay_core::model::OutboxItem> = BTreeMap::new();
    for item in &items {
        let note = item.note.clone().expect("note");
        assert!(
            by_note.insert(note.clone(), item).is_none(),
            "two items for {note}"
        );
    }
    for (note, id) in &log.done {
        assert_eq!(by_note.get(note).map(|i| &i.id), Some(id), "{note} lost");
    }
    for note in by_note.keys() {
        assert!(
            log.begun.contains(note) || note.ends_with(" setup"),
            "an item nobody asked for: {note}"
        );
    }

    // Paid at most once; exactly once when settled; nothing paid without an item.
    let token = checker_token(&mock, PAYER_PHONE, "crash-checker").await;
    let server = all_transactions(&mock, &token).await;
    let prefix = format!("crash {seed:x} ");
    let mut rows: BTreeMap<String, Vec<(String, i64)>> = BTreeMap::new();
    for t in &server {
        if let Some(note) = t["note"].as_str().filter(|n| n.starts_with(&prefix)) {
            assert_eq!(t["kind"], "transfer_out", "{t}");
            rows.entry(note.to_owned()).or_default().push((
                t["status"].as_str().unwrap().to_owned(),
                t["amount"]["minor"].as_i64().unwrap(),
            ));
        }
    }
    let mut paid = 0;
    let (mut settled, mut failed) = (0, 0);
    for (note, item) in &by_note {
        let got = rows.get(note).cloned().unwrap_or_default();
        match item.state {
            OutboxState::Settled => {
                settled += 1;
                assert_eq!(
                    got,
                    vec![("settled".to_owned(), -item.amount.minor)],
                    "{note}"
                );
                paid += item.amount.minor;
            }
            OutboxState::Failed => {
                failed += 1;
                assert!(item.error_code.is_some(), "{note}: failed without a code");
                assert!(
                    got.iter().all(|(s, _)| s == "failed"),
                    "{note}: failed item, server rows {got:?}"
                );
            }
            other => panic!("{note}: ended {other:?}"),
        }
    }
    for note in rows.keys() {
        assert!(by_note.contains_key(note), "paid without an item: {note}");
    }

    // Money: the payee got exactly what settled; the two together hold what they started with.
    let payee_token = checker_token(&mock, PAYEE_PHONE, "crash-checker").await;
    let (payer_now, _, _) = cny_balance(&mock, &token).await;
    let (payee_now, _, _) = cny_balance(&mock, &payee_token).await;
    assert_eq!(payee_now, START_CNY + paid, "the payee's balance");
    assert_eq!(payer_now + payee_now, 2 * START_CNY, "money conserved");
    mock.assert_audit().await;

    // The reopened cache equals the server.
    client.sync().sync_now().await.unwrap();
    assert_eq!(cached_history(&client), server_history(&server));
    let home = client.home_snapshot().unwrap();
    let b = home.balances.iter().find(|b| b.currency == "CNY").unwrap();
    assert_eq!(
        (b.server_available.minor, b.displayed.minor),
        (payer_now, payer_now)
    );
    drop(client);
    check_database(&cache);
    println!(
        "crash: kills {points:?}; {} transfers begun, {} queued, {settled} settled, {failed} \
         failed, {} server rows; {:?}",
        log.begun.len(),
        log.done.len(),
        server.len(),
        started.elapsed()
    );
}
