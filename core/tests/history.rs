//! History, search and insights over the synced demo data, offline after the sync.

mod common;

use common::*;
use upay_core::history::HistoryFilter;
use upay_core::model::{Category, TransactionKind};

#[tokio::test(flavor = "multi_thread")]
async fn history_search_and_insights_work_offline_from_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let mut mock = Mock::start_with(Some(dir.path().join("mock.db")), None).await;
    let client = open_client(&mock.base, dir.path(), "device-history-1");
    sign_in(&client, &mock, ZHANG).await;
    client.sync().sync_now().await.unwrap();
    // Signing in wakes the background worker, which may have synced first (then this report
    // is empty): count what the cache holds.
    let cached: u64 = client
        .core()
        .store
        .read(|c| Ok(c.query_row("SELECT count(*) FROM transactions", [], |r| r.get(0))?))
        .unwrap();
    assert!(cached > 20, "{cached}");
    // Sync again: nothing new, nothing duplicated.
    let again = client.sync().sync_now().await.unwrap();
    assert_eq!(again.transactions, 0);
    mock.stop().await;

    let h = client.history();
    // Paging: pages are disjoint, newest first, and cover everything.
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = h.page(HistoryFilter::default(), cursor.clone(), 7).unwrap();
        assert!(page.items.len() <= 7);
        seen.extend(page.items.iter().map(|t| (t.created_at, t.id.clone())));
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(seen.len() as u64, cached);
    assert!(seen.windows(2).all(|w| w[0].0 >= w[1].0), "newest first");
    let mut ids: Vec<_> = seen.iter().map(|s| s.1.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), seen.len(), "no duplicates across pages");

    // Filters.
    let payments = h
        .page(
            HistoryFilter {
                kinds: vec![TransactionKind::MerchantPayment],
                ..Default::default()
            },
            None,
            100,
        )
        .unwrap();
    assert!(!payments.items.is_empty());
    assert!(
        payments
            .items
            .iter()
            .all(|t| t.kind == TransactionKind::MerchantPayment)
    );
    let food = h
        .page(
            HistoryFilter {
                categories: vec![Category::Food],
                min_minor: Some(100),
                ..Default::default()
            },
            None,
            100,
        )
        .unwrap();
    assert!(
        food.items
            .iter()
            .all(|t| t.category == Category::Food && t.amount.minor.abs() >= 100)
    );
    let to_li = h
        .page(
            HistoryFilter {
                counterparty_id: Some(LI_ID.into()),
                ..Default::default()
            },
            None,
            100,
        )
        .unwrap();
    assert!(!to_li.items.is_empty());
    assert!(
        to_li
            .items
            .iter()
            .all(|t| t.counterparty_id.as_deref() == Some(LI_ID))
    );

    // Full-text search in Chinese and English, compared with a scan of the decrypted history.
    let all = h.page(HistoryFilter::default(), None, 100).unwrap().items;
    let mut all_items = all.clone();
    let mut c = h
        .page(HistoryFilter::default(), None, 100)
        .unwrap()
        .next_cursor;
    while let Some(cur) = c {
        let p = h.page(HistoryFilter::default(), Some(cur), 100).unwrap();
        all_items.extend(p.items);
        c = p.next_cursor;
    }
    let text_of = |t: &upay_core::model::TransactionView| {
        format!(
            "{} {} {} {}",
            t.counterparty_name.clone().unwrap_or_default(),
            t.counterparty_id.clone().unwrap_or_default(),
            t.merchant_name.clone().unwrap_or_default(),
            t.note.clone().unwrap_or_default()
        )
        .to_lowercase()
    };
    let merchant_name = all_items
        .iter()
        .find_map(|t| t.merchant_name.clone())
        .expect("a merchant");
    let cjk: String = merchant_name.chars().take(2).collect();
    for q in [cjk.clone(), "李娜".to_owned()] {
        let expected = all_items.iter().filter(|t| text_of(t).contains(&q)).count();
        let found = h
            .page(
                HistoryFilter {
                    query: Some(q.clone()),
                    ..Default::default()
                },
                None,
                100,
            )
            .unwrap();
        assert!(expected > 0, "{q}");
        assert_eq!(found.items.len(), expected.min(100), "query {q}");
        assert!(found.items.iter().all(|t| text_of(t).contains(&q)));
    }
    let english = all_items
        .iter()
        .find_map(|t| {
            t.note
                .clone()
                .filter(|n| n.chars().any(|c| c.is_ascii_alphabetic()))
        })
        .or_else(|| {
            all_items
                .iter()
                .find_map(|t| t.counterparty_name.clone().filter(|n| n.is_ascii()))
        });
    if let Some(text) = english {
        let word: String = text
            .split(|c: char| !c.is_ascii_alphanumeric())
            .find(|w| w.len() >= 3)
            .unwrap()
            .to_lowercase();
        let prefix = &word[..3];
        let found = h
            .page(
                HistoryFilter {
                    query: Some(prefix.to_uppercase()),
                    ..Default::default()
                },
                None,
                100,
            )
            .unwrap();
        assert!(!found.items.is_empty(), "prefix {prefix}");
    }
    let none = h
        .page(
            HistoryFilter {
                query: Some("不存在的词".into()),
                ..Default::default()
            },
            None,
            100,
        )
        .unwrap();
    assert!(none.items.is_empty());

    // Insights, offline.
    let newest = all_items.first().unwrap().created_at;
    let month = {
        let days = (newest + 8 * 3_600_000).div_euclid(86_400_000);
        let (y, m, _) = upay_core::store::mirror::civil_from_days(days);
        (y * 100 + m) as i32
    };
    let i = client.insights();
    let from_month = if month % 100 > 3 {
        month - 3
    } else {
        month - 100 + 9
    };
    let months = i.monthly(from_month, month, "CNY".into()).unwrap();
    assert!(!months.is_empty());
    for m in &months {
        let sum: i64 = m.by_category.iter().map(|c| c.total.minor).sum();
        assert_eq!(
            sum, m.spending.minor,
            "categories add up to the month's spending"
        );
    }
    let st = i.statement(month, "CNY".into()).unwrap();
    assert!(st.transaction_count > 0);
    let start = upay_core::insights::month_start(from_month, 8 * 3_600_000).unwrap();
    let cats = i
        .spending_by_category(start, newest + 1, "CNY".into())
        .unwrap();
    let merchants = i
        .spending_by_merchant(start, newest + 1, "CNY".into(), 5)
        .unwrap();
    assert!(!cats.is_empty() && !merchants.is_empty());
    assert!(
        merchants
            .windows(2)
            .all(|w| w[0].total.minor >= w[1].total.minor)
    );
    let r = i
        .add_reminder(
            "电费 electricity".into(),
            31,
            Some(cny(20_000)),
            "CNY".into(),
        )
        .unwrap();
    assert!(r.due_in_days >= 0 && r.due_in_days <= 31);
    let paid = i.mark_reminder_paid(r.id.clone()).unwrap();
    assert!(paid.next_due_at > r.next_due_at);
    assert_eq!(i.reminders().unwrap().len(), 1);
    i.remove_reminder(r.id).unwrap();
    assert!(i.reminders().unwrap().is_empty());
    let _ = i.recurring_bills("CNY".into()).unwrap();

    // The receive code works offline and parses back into a pre-fill intent.
    let code = client.receive_code(Some(cny(888))).unwrap();
    match upay_core::qr::parse_scanned_code(code).unwrap() {
        upay_core::qr::ScanIntent::PayPerson {
            account_id,
            amount,
            name,
        } => {
            assert_eq!(account_id, ZHANG_ID);
            assert_eq!(amount.unwrap().minor, 888);
            assert!(name.unwrap().contains('*'), "the name is masked");
        }
        other => panic!("{other:?}"),
    }
}

/// `n` transfers from one person, all within two seconds: the first 200 in one second, the
/// rest in the next; milliseconds repeat (ties) and do not follow the insertion (rowid) order.
fn same_second_page(n: usize) -> upay_protocol::api::sync::SyncPage {
    use upay_protocol::api::money::{
        Category as WireCategory, Counterparty, CounterpartyKind, Transaction,
        TransactionKind as WireKind, TransactionStatus,
    };
    use upay_protocol::money::{Currency, Money};
    const SECOND: i64 = 1_767_225_600_000;
    let cny = |m| Money::new(m, Currency::CNY).unwrap();
    let transactions = (0..n)
        .map(|i| {
            let at = SECOND + if i < 200 { 0 } else { 1_000 } + (i as i64 * 919 % 1000) / 20;
            Transaction {
                id: format!("tx_tie_{i:04}"),
                kind: WireKind::TransferIn,
                status: TransactionStatus::Settled,
                amount: cny(100 + i as i64),
                fee: cny(0),
                counterparty: Some(Counterparty {
                    kind: CounterpartyKind::User,
                    id: "U0000000999".into(),
                    name: "王伟".into(),
                }),
                note: Some("午饭 lunch".into()),
                category: WireCategory::Transfer,
                merchant: None,
                fx: None,
                hold_id: None,
                failure_code: None,
                created_at: at,
                updated_at: at,
                change_seq: i as i64 + 1,
            }
        })
        .collect();
    upay_protocol::api::sync::SyncPage {
        transactions,
        balances: Vec::new(),
        operations: Vec::new(),
        next_cursor: "c1".into(),
        has_more: false,
    }
}

/// Pages through `filter` 7 at a time; every row exactly once, newest first.
fn page_all(client: &upay_core::WalletClient, filter: &HistoryFilter, total: usize) {
    let h = client.history();
    let (mut seen, mut cursor, mut last) = (Vec::new(), None, i64::MAX);
    loop {
        let page = h.page(filter.clone(), cursor.take(), 7).unwrap();
        for t in &page.items {
            assert!(t.created_at <= last, "{filter:?}: out of order");
            last = t.created_at;
            seen.push(t.id.clone());
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
        assert!(seen.len() <= total, "{filter:?}: pages never end");
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "{filter:?}: duplicates");
    assert_eq!(seen.len(), total, "{filter:?}: rows missing");
}

#[tokio::test(flavor = "multi_thread")]
async fn paging_is_exact_when_many_transactions_share_a_second() {
    use upay_core::store::search::Indexer;
    use upay_core::sync::pull::{apply_page, finish_index};
    let dir = tempfile::tempdir().unwrap();
    let client = open_client(&closed_port_base(), dir.path(), "device-ties-1");
    let core = client.core();
    core.set_session(upay_core::core::StoredSession {
        tokens: upay_protocol::api::auth::TokenPair {
            access_token: "at".into(),
            refresh_token: "rt".into(),
            access_expires_in_secs: 900,
            refresh_expires_in_secs: 86_400,
        },
        user: upay_protocol::api::auth::UserProfile {
            user_id: ZHANG_ID.into(),
            phone_masked: "138****8000".into(),
            full_name: "张伟".into(),
            status: upay_protocol::api::auth::AccountStatus::Active,
            created_at: 0,
        },
        signing_key_registered: false,
    })
    .unwrap();
    const TOTAL: usize = 260;
    let mut index = Indexer::default();
    let page = same_second_page(TOTAL);
    let offset = core.settings.utc_offset_ms;
    apply_page(
        &core.store,
        &core.cipher,
        ZHANG_ID,
        offset,
        &page,
        &mut index,
    )
    .unwrap();
    let filters = [
        HistoryFilter::default(),
        HistoryFilter {
            query: Some("午饭".into()),
            ..Default::default()
        },
        HistoryFilter {
            counterparty_id: Some("U0000000999".into()),
            ..Default::default()
        },
        HistoryFilter {
            query: Some("lunch".into()),
            counterparty_id: Some("U0000000999".into()),
            ..Default::default()
        },
    ];
    // Postings staged, not written: search reads the unindexed rows.
    for f in &filters {
        page_all(&client, f, TOTAL);
    }
    // Postings written: search reads the index.
    finish_index(&core.store, &core.cipher, ZHANG_ID, &mut index).unwrap();
    for f in &filters {
        page_all(&client, f, TOTAL);
    }
}
