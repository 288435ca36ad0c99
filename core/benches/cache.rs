//! The encrypted cache at 100,000 transactions (QUALITY.md): cold open → balances + 20 newest
//! decrypted; sync apply (decode a page, encrypt, index, commit) side by side with a bare
//! rusqlite bulk insert of the same rows into the same table; history filter and full-text
//! search (Chinese and English, p95 printed); spending analysis month × category; peak RSS of
//! the ingest. The cache is generated locally (no server).
//!
//! Run: `cargo bench -p upay-core --bench cache -- --quick`

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use upay_core::config::{ClientConfig, Settings};
use upay_core::core::{Core, StoredSession, open_cache};
use upay_core::history::HistoryFilter;
use upay_core::keystore::{FileKeyStore, KeyStore};
use upay_core::model::{Category as ViewCategory, TransactionKind as ViewKind};
use upay_core::store::{Store, mirror, search};
use upay_core::sync::pull::{apply_page, finish_index};
use upay_protocol::api::auth::{AccountStatus, TokenPair, UserProfile};
use upay_protocol::api::money::{
    Balance, Category, Counterparty, CounterpartyKind, MerchantRef, Transaction, TransactionKind,
    TransactionStatus,
};
use upay_protocol::api::sync::SyncPage;
use upay_protocol::money::{Currency, Money};

const TOTAL: usize = 100_000;
const PAGE: usize = 1_000;
const USER: &str = "U0000000001";
const NOW: i64 = 1_767_225_600_000; // 2026-01-01

const MERCHANTS: &[(&str, &str, Category)] = &[
    ("M0000000001", "瑞幸咖啡 Luckin Coffee", Category::Food),
    ("M0000000002", "美团外卖 Meituan Delivery", Category::Food),
    ("M0000000003", "滴滴出行 DiDi Rides", Category::Transport),
    ("M0000000004", "京东商城 JD.com", Category::Shopping),
    (
        "M0000000005",
        "国家电网 State Grid Electricity",
        Category::Bills,
    ),
    (
        "M0000000006",
        "万达影城 Wanda Cinemas",
        Category::Entertainment,
    ),
    ("M0000000007", "全家便利店 FamilyMart", Category::Food),
    (
        "M0000000008",
        "上海地铁 Shanghai Metro",
        Category::Transport,
    ),
    ("M0000000009", "中国移动 China Mobile", Category::Bills),
    ("M0000000010", "盒马鲜生 Freshippo", Category::Shopping),
    ("M0000000011", "海底捞火锅 Haidilao Hot Pot", Category::Food),
    ("M0000000012", "屈臣氏 Watsons", Category::Health),
    ("M0000000013", "携程旅行 Trip.com", Category::Travel),
    (
        "M0000000014",
        "新东方在线 New Oriental Online",
        Category::Education,
    ),
];
const PEOPLE: &[&str] = &[
    "李娜",
    "王伟",
    "张敏",
    "刘洋",
    "陈静",
    "Emily Chen",
    "John Smith",
    "赵磊",
];
const NOTES: &[&str] = &[
    "午饭",
    "房租 rent",
    "生日礼物 birthday gift",
    "打车",
    "电影票",
    "coffee with team",
    "水电费",
    "AA 聚餐 dinner",
];

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

fn cny(minor: i64) -> Money {
    Money::new(minor, Currency::CNY).unwrap()
}

/// Page `n` of a deterministic history, as the server would send it (JSON bytes).
fn page_json(n: usize) -> Vec<u8> {
    let mut rng = Lcg(n as u64 * 7919 + 1);
    let mut txs = Vec::with_capacity(PAGE);
    for i in 0..PAGE {
        let seq = (n * PAGE + i) as i64 + 1;
        let created_at = NOW - (TOTAL as i64 - seq) * 315_000; // ~1 year
        let r = rng.next();
        let (kind, category, counterparty, merchant, amount) = match r % 10 {
            0..=5 => {
                let (id, name, cat) = MERCHANTS[(r / 10) as usize % MERCHANTS.len()];
                let m = MerchantRef {
                    merchant_id: id.into(),
                    name: name.into(),
                    category: cat,
                    country: "CN".into(),
                };
                let cp = Counterparty {
                    kind: CounterpartyKind::Merchant,
                    id: id.into(),
                    name: name.into(),
                };
                (
                    TransactionKind::MerchantPayment,
                    cat,
                    Some(cp),
                    Some(m),
                    -((r % 20_000) as i64 + 100),
                )
            }
            6 | 7 => {
                let who = PEOPLE[(r / 10) as usize % PEOPLE.len()];
                let cp = Counterparty {
                    kind: CounterpartyKind::User,
                    id: format!("U00000001{:02}", r % 50),
                    name: who.into(),
                };
                (
                    TransactionKind::TransferOut,
                    Category::Transfer,
                    Some(cp),
                    None,
                    -((r % 50_000) as i64 + 100),
                )
            }
            8 => {
                let who = PEOPLE[(r / 7) as usize % PEOPLE.len()];
                let cp = Counterparty {
                    kind: CounterpartyKind::User,
                    id: format!("U00000002{:02}", r % 50),
                    name: who.into(),
                };
                (
                    TransactionKind::TransferIn,
                    Category::Transfer,
                    Some(cp),
                    None,
                    (r % 80_000) as i64 + 100,
                )
            }
            _ => {
                let cp = Counterparty {
                    kind: CounterpartyKind::Card,
                    id: "card_tok_1".into(),
                    name: "VISA ****4242".into(),
                };
                (
                    TransactionKind::TopUp,
                    Category::TopUp,
                    Some(cp),
                    None,
                    (r % 100_000) as i64 + 1_000,
                )
            }
        };
        let note = (r % 3 == 0).then(|| NOTES[(r / 3) as usize % NOTES.len()].to_owned());
        txs.push(Transaction {
            id: format!("tx_{seq:08}"),
            kind,
            status: if r % 50 == 0 {
                TransactionStatus::Pending
            } else {
                TransactionStatus::Settled
            },
            amount: cny(amount),
            fee: cny(0),
            counterparty,
            note,
            category,
            merchant,
            fx: None,
            hold_id: None,
            failure_code: None,
            created_at,
            updated_at: created_at,
            change_seq: seq,
        });
    }
    let page = SyncPage {
        transactions: txs,
        balances: vec![Balance {
            currency: Currency::CNY,
            available: cny(1_234_567),
            pending_out: cny(0),
            pending_in: cny(0),
            version: n as i64 + 1,
            updated_at: NOW,
        }],
        operations: Vec::new(),
        next_cursor: format!("c{n}"),
        has_more: (n + 1) * PAGE < TOTAL,
    };
    serde_json::to_vec(&page).unwrap()
}

fn settings(dir: &Path) -> Settings {
    let mut c = ClientConfig::new(
        "http://127.0.0.1:9",
        dir.join("cache").to_str().unwrap(),
        "bench-device-1",
    );
    c.developer_mode = true;
    c.app_lock_after_secs = 0;
    Settings::from_config(&c).unwrap()
}

fn fake_session() -> StoredSession {
    StoredSession {
        tokens: TokenPair {
            access_token: "at_bench".into(),
            refresh_token: "rt_bench".into(),
            access_expires_in_secs: 900,
            refresh_expires_in_secs: 86_400,
        },
        user: UserProfile {
            user_id: USER.into(),
            phone_masked: "138****8000".into(),
            full_name: "张伟".into(),
            status: AccountStatus::Active,
            created_at: 0,
        },
        signing_key_registered: false,
    }
}

fn vm_hwm_kb() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Builds the 100k cache through the real sync apply; returns the open core.
fn build(dir: &Path) -> Arc<Core> {
    let ks: Arc<dyn KeyStore> = Arc::new(FileKeyStore::open(dir.join("keys")).unwrap());
    let core = Core::open_with(settings(dir), ks).unwrap();
    core.set_session(fake_session()).unwrap();
    let before = vm_hwm_kb();
    let start = Instant::now();
    let mut index = search::Indexer::default();
    for n in 0..TOTAL / PAGE {
        let bytes = page_json(n);
        let page: SyncPage = serde_json::from_slice(&bytes).unwrap();
        apply_page(
            &core.store,
            &core.cipher,
            USER,
            core.settings.utc_offset_ms,
            &page,
            &mut index,
        )
        .unwrap();
    }
    finish_index(&core.store, &core.cipher, USER, &mut index).unwrap();
    eprintln!(
        "built 100k cache in {:?}; peak RSS {} kB (before ingest {} kB)",
        start.elapsed(),
        vm_hwm_kb().unwrap_or(0),
        before.unwrap_or(0)
    );
    core
}

/// The same rows as plain values, for the baseline.
struct PlainRow {
    id: String,
    seq: i64,
    kind: &'static str,
    status: &'static str,
    category: &'static str,
    amount: i64,
    created_at: i64,
    month: i64,
    body: Vec<u8>,
}

fn plain_rows() -> Vec<PlainRow> {
    let mut out = Vec::with_capacity(TOTAL);
    for n in 0..TOTAL / PAGE {
        let page: SyncPage = serde_json::from_slice(&page_json(n)).unwrap();
        for t in page.transactions {
            out.push(PlainRow {
                body: serde_json::to_vec(&(&t.counterparty, &t.note, &t.merchant)).unwrap(),
                id: t.id,
                seq: t.change_seq,
                kind: t.kind.as_str(),
                status: t.status.as_str(),
                category: t.category.as_str(),
                amount: t.amount.minor,
                created_at: t.created_at,
                month: mirror::month_of(t.created_at, 8 * 3_600_000),
            });
        }
    }
    out
}

fn benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let core = build(dir.path());

    // Sync apply vs a bare bulk insert of the same rows into the same table, side by side.
    let pages: Vec<Vec<u8>> = (0..TOTAL / PAGE).map(page_json).collect();
    let rows = plain_rows();
    let mut g = c.benchmark_group("sync_ingest_100k");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.bench_function("core_apply_pages", |b| {
        b.iter_with_setup(
            || {
                let d = tempfile::tempdir().unwrap();
                let ks: Arc<dyn KeyStore> =
                    Arc::new(FileKeyStore::open(d.path().join("keys")).unwrap());
                let (store, cipher, _) = open_cache(&d.path().join("cache"), ks.as_ref()).unwrap();
                (d, store, cipher)
            },
            |(d, store, cipher)| {
                let mut index = search::Indexer::default();
                for bytes in &pages {
                    let page: SyncPage = serde_json::from_slice(bytes).unwrap();
                    apply_page(&store, &cipher, USER, 8 * 3_600_000, &page, &mut index).unwrap();
                }
                finish_index(&store, &cipher, USER, &mut index).unwrap();
                drop(store);
                d
            },
        )
    });
    g.bench_function("bare_rusqlite_insert", |b| {
        b.iter_with_setup(
            || {
                let d = tempfile::tempdir().unwrap();
                let store = Store::open(d.path()).unwrap();
                (d, store)
            },
            |(d, store)| {
                for chunk in rows.chunks(PAGE) {
                    store
                        .write(|tx| {
                            let mut stmt = tx.prepare_cached(
                                "INSERT INTO transactions (id, change_seq, kind, status, category, currency,
                                     amount, fee, created_at, updated_at, month, cp_tag, merchant_tag, body)
                                 VALUES (?1, ?2, ?3, ?4, ?5, 'CNY', ?6, 0, ?7, ?7, ?8, NULL, NULL, ?9)",
                            )?;
                            for r in chunk {
                                stmt.execute(rusqlite::params![
                                    r.id, r.seq, r.kind, r.status, r.category, r.amount, r.created_at, r.month, r.body
                                ])?;
                            }
                            Ok(())
                        })
                        .unwrap();
                }
                drop(store);
                d
            },
        )
    });
    g.finish();

    // Cold open: open the file, unwrap the key, check the canary, read balances and the 20
    // newest transactions decrypted.
    let cache_dir = dir.path().join("cache");
    let ks: Arc<dyn KeyStore> = Arc::new(FileKeyStore::open(dir.path().join("keys")).unwrap());
    c.bench_function("cold_open_home_100k", |b| {
        b.iter(|| {
            let (store, cipher, reset) = open_cache(&cache_dir, ks.as_ref()).unwrap();
            assert!(!reset);
            let balances = store.read(|c| Ok(mirror::balances(c)?)).unwrap();
            let newest = store
                .read(|c| mirror::newest(c, &cipher, USER, true, 20))
                .unwrap();
            assert_eq!((balances.len(), newest.len()), (1, 20));
        })
    });

    // History: filters and text search; p95 over a mix of queries printed first.
    let h = upay_core::WalletClient::with_settings(settings(dir.path()), ks.clone()).unwrap();
    let queries: Vec<HistoryFilter> = vec![
        HistoryFilter {
            query: Some("咖啡".into()),
            ..Default::default()
        },
        HistoryFilter {
            query: Some("瑞".into()),
            ..Default::default()
        },
        HistoryFilter {
            query: Some("luckin".into()),
            ..Default::default()
        },
        HistoryFilter {
            query: Some("birthday gift".into()),
            ..Default::default()
        },
        HistoryFilter {
            query: Some("李娜".into()),
            ..Default::default()
        },
        HistoryFilter {
            query: Some("房租".into()),
            kinds: vec![ViewKind::TransferOut],
            ..Default::default()
        },
        HistoryFilter {
            categories: vec![ViewCategory::Food],
            min_minor: Some(10_000),
            ..Default::default()
        },
        HistoryFilter {
            kinds: vec![ViewKind::TransferIn],
            from: Some(NOW - 90 * 86_400_000),
            ..Default::default()
        },
        HistoryFilter {
            counterparty_id: Some("M0000000005".into()),
            ..Default::default()
        },
    ];
    let hist = h.history();
    let mut times = Vec::new();
    for _ in 0..20 {
        for q in &queries {
            let t = Instant::now();
            let page = hist.page(q.clone(), None, 50).unwrap();
            times.push(t.elapsed());
            assert!(!page.items.is_empty(), "{q:?}");
        }
    }
    times.sort();
    eprintln!(
        "history page of 50 over 100k: p50 {:?}, p95 {:?}, max {:?} ({} runs)",
        times[times.len() / 2],
        times[times.len() * 95 / 100],
        times[times.len() - 1],
        times.len()
    );
    let mut g = c.benchmark_group("history_100k");
    for (name, q) in [
        ("search_zh_bigram", &queries[0]),
        ("search_zh_unigram", &queries[1]),
        ("search_en_prefix", &queries[2]),
        ("search_zh_with_filter", &queries[5]),
        ("filter_only", &queries[6]),
        ("counterparty", &queries[8]),
    ] {
        g.bench_function(name, |b| b.iter(|| hist.page(q.clone(), None, 50).unwrap()));
    }
    g.finish();

    // Spending analysis: month × category over the whole year.
    let insights = h.insights();
    c.bench_function("analysis_month_x_category_100k", |b| {
        b.iter(|| {
            let months = insights.monthly(202501, 202601, "CNY".into()).unwrap();
            assert!(months.len() >= 12);
        })
    });
    c.bench_function("analysis_top_merchants_100k", |b| {
        b.iter(|| {
            insights
                .spending_by_merchant(NOW - 365 * 86_400_000, NOW + 1, "CNY".into(), 10)
                .unwrap()
        })
    });
    drop(core);
}

criterion_group!(cache, benches);
criterion_main!(cache);
