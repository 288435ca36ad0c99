//! The help center offline: the bundle is synced once from the in-process mock, then the
//! server is gone and every search, suggestion and article comes from the cache. The questions
//! are the support backend's bot table (`server-mock/tests/help.rs`), read from that file so
//! the two never drift apart.

mod common;

use std::path::Path;

use common::*;
use upay_core::ErrorCode;
use upay_core::WalletClient;

/// (locale, question, expected article) rows of `BOT_TABLE` in the backend's bot test.
fn bot_table() -> Vec<(String, String, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../server-mock/tests/help.rs");
    let src = std::fs::read_to_string(&path).expect("the backend's bot test");
    let start = src.find("const BOT_TABLE").expect("BOT_TABLE");
    let block = &src[start..start + src[start..].find("];").expect("end of BOT_TABLE")];
    // The string literals in order: each row starts with its locale, then question and id.
    let literals: Vec<&str> = block.split('"').skip(1).step_by(2).collect();
    let mut rows = Vec::new();
    let mut i = 0;
    while i < literals.len() {
        if matches!(literals[i], "zh-CN" | "en") && i + 2 < literals.len() {
            rows.push((
                literals[i].to_owned(),
                literals[i + 1].to_owned(),
                literals[i + 2].to_owned(),
            ));
            i += 3;
        } else {
            i += 1;
        }
    }
    rows
}

async fn synced_client(mock: &Mock, dir: &Path) -> std::sync::Arc<WalletClient> {
    let client = open_client(&mock.base, dir, "help-device");
    for locale in ["zh-CN", "en"] {
        let r = client
            .help()
            .sync_bundle(Some(locale.into()))
            .await
            .expect("bundle syncs");
        assert!(r.updated && r.article_count >= 20, "{r:?}");
        assert_eq!(r.locale, locale);
    }
    client
}

#[tokio::test]
async fn offline_search_finds_the_bots_article_for_every_table_question() {
    let table = bot_table();
    assert!(table.len() >= 30, "{} rows", table.len());
    let dir = tempfile::tempdir().unwrap();
    let mut mock = Mock::start().await;
    let client = synced_client(&mock, dir.path()).await;
    drop(client);
    mock.stop().await;

    // A new process on a dead network: the index is rebuilt from the cache database.
    let offline = open_client(&closed_port_base(), dir.path(), "help-device");
    let err = offline
        .help()
        .sync_bundle(Some("en".into()))
        .await
        .expect_err("no network");
    assert_eq!(err.code(), ErrorCode::Offline);

    let mut wrong = Vec::new();
    for (locale, question, want) in &table {
        let hits = offline
            .help()
            .search(question.clone(), 5, Some(locale.clone()))
            .unwrap();
        let got = hits.first().map_or("-", |h| h.article.id.as_str());
        if got != want {
            wrong.push(format!("{locale} {question}: got {got}, want {want}"));
            continue;
        }
        // The best hit's score is its coverage; the others are scaled down by relevance.
        assert_eq!(hits[0].score, hits[0].coverage, "{hits:?}");
        assert!(hits.iter().all(|h| h.score <= h.coverage), "{hits:?}");
    }
    assert!(
        wrong.is_empty(),
        "{} of {} wrong:\n{}",
        wrong.len(),
        table.len(),
        wrong.join("\n")
    );
    // Something the help center does not cover matches weakly or not at all.
    let cake = offline
        .help()
        .search("recipe for chocolate cake".into(), 5, Some("en".into()))
        .unwrap();
    assert!(cake.iter().all(|h| h.coverage < 0.5), "{cake:?}");
}

#[tokio::test]
async fn the_bundle_is_versioned_a_304_keeps_it_and_a_new_version_replaces_it() {
    let dir = tempfile::tempdir().unwrap();
    let mock = Mock::start().await;
    let client = open_client(&mock.base, dir.path(), "help-device");
    let help = client.help();
    assert_eq!(help.bundle_info(None).unwrap(), None);
    assert!(help.search("password".into(), 5, None).unwrap().is_empty());

    let first = help.sync_bundle(None).await.unwrap();
    assert!(first.updated);
    assert_eq!(first.locale, "en");
    let info = help.bundle_info(None).unwrap().expect("cached");
    assert_eq!(info.version, first.version);
    assert_eq!(info.article_count, first.article_count);

    // Unchanged on the server: If-None-Match gets a 304 and the cache stays.
    let again = help.sync_bundle(None).await.unwrap();
    assert!(!again.updated, "{again:?}");
    assert_eq!(again.version, first.version);
    let info2 = help.bundle_info(None).unwrap().unwrap();
    assert_eq!(info2.fetched_at, info.fetched_at);
    assert!(info2.checked_at >= info.checked_at);
    drop((help, client));

    // Make the cache hold an older version that lacks an article.
    let db = rusqlite::Connection::open(dir.path().join("cache").join("wallet.db")).unwrap();
    let body: Vec<u8> = db
        .query_row(
            "SELECT body FROM help_bundles WHERE locale = 'en'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let mut old: serde_json::Value = serde_json::from_slice(&body).unwrap();
    old["version"] = "en-old".into();
    old["articles"]
        .as_array_mut()
        .unwrap()
        .retain(|a| a["id"] != "password-reset");
    db.execute(
        "UPDATE help_bundles SET version = 'en-old', etag = 'en-old', body = ?1 WHERE locale = 'en'",
        [serde_json::to_vec(&old).unwrap()],
    )
    .unwrap();
    drop(db);

    let client = open_client(&mock.base, dir.path(), "help-device");
    let help = client.help();
    let stale = help.bundle_info(None).unwrap().unwrap();
    assert_eq!(stale.version, "en-old");
    assert_eq!(stale.article_count, first.article_count - 1);
    assert_eq!(help.article("password-reset".into(), None).unwrap(), None);
    let top = help.search("I forgot my password".into(), 1, None).unwrap();
    assert_ne!(top[0].article.id, "password-reset");

    let replaced = help.sync_bundle(None).await.unwrap();
    assert!(replaced.updated);
    assert_eq!(replaced.version, first.version);
    assert_eq!(replaced.article_count, first.article_count);
    assert!(
        help.article("password-reset".into(), None)
            .unwrap()
            .is_some()
    );
    let top = help.search("I forgot my password".into(), 1, None).unwrap();
    assert_eq!(top[0].article.id, "password-reset");
    // The other language is separate and still absent.
    assert_eq!(help.bundle_info(Some("zh-CN".into())).unwrap(), None);
}

#[tokio::test]
async fn suggestions_while_typing_and_articles_open_offline() {
    let dir = tempfile::tempdir().unwrap();
    let mut mock = Mock::start().await;
    let client = synced_client(&mock, dir.path()).await;
    mock.stop().await;
    let help = client.help();
    let en = Some("en".to_owned());
    let zh = Some("zh-CN".to_owned());
    let ids = |v: Vec<upay_core::help::HelpArticleSummary>| -> Vec<String> {
        v.into_iter().map(|a| a.id).collect()
    };

    // An unfinished English word is completed; the finished fragment alone finds nothing.
    let s = ids(help
        .suggest("how do I withd".into(), 5, en.clone())
        .unwrap());
    assert!(s.contains(&"withdraw-how".to_owned()), "{s:?}");
    assert!(
        help.search("how do I withd".into(), 5, en.clone())
            .unwrap()
            .is_empty()
    );
    let s = ids(help
        .suggest("I forgot my pass".into(), 3, en.clone())
        .unwrap());
    assert_eq!(
        s.first().map(String::as_str),
        Some("password-reset"),
        "{s:?}"
    );
    // Chinese typed so far.
    let s = ids(help.suggest("忘记密".into(), 3, zh.clone()).unwrap());
    assert_eq!(
        s.first().map(String::as_str),
        Some("password-reset"),
        "{s:?}"
    );
    let s = ids(help.suggest("提现".into(), 5, zh.clone()).unwrap());
    assert!(s.iter().any(|id| id.starts_with("withdraw")), "{s:?}");
    // Nothing searchable yet: no noise.
    assert!(
        help.suggest("请问".into(), 5, zh.clone())
            .unwrap()
            .is_empty()
    );
    assert!(help.suggest("".into(), 5, zh.clone()).unwrap().is_empty());
    assert!(
        help.suggest("how do ".into(), 5, en.clone())
            .unwrap()
            .is_empty()
    );
    // The limit holds.
    assert!(help.suggest("账户".into(), 2, zh.clone()).unwrap().len() <= 2);

    // Opening an article, in each language.
    let a = help
        .article("password-reset".into(), zh.clone())
        .unwrap()
        .expect("cached article");
    assert_eq!(a.locale, "zh-CN");
    assert!(a.title.contains("密码"), "{}", a.title);
    assert!(!a.body.is_empty() && !a.summary.is_empty());
    let e = help
        .article("password-reset".into(), en.clone())
        .unwrap()
        .unwrap();
    assert_eq!(e.locale, "en");
    assert_ne!(e.title, a.title);
    assert_eq!(
        help.article("no-such-article".into(), en.clone()).unwrap(),
        None
    );
    // The app's locale (en in tests) is the default.
    assert_eq!(
        help.article("password-reset".into(), None).unwrap(),
        Some(e)
    );

    // Browsing: categories with counts that add up, filtered lists.
    let cats = help.categories(zh.clone()).unwrap();
    let all = help.articles(None, zh.clone()).unwrap();
    assert!(!cats.is_empty());
    assert_eq!(
        cats.iter().map(|c| c.article_count).sum::<u32>() as usize,
        all.len()
    );
    for c in &cats {
        let list = help.articles(Some(c.id.clone()), zh.clone()).unwrap();
        assert_eq!(list.len(), c.article_count as usize, "{}", c.id);
        assert!(list.iter().all(|a| a.category == c.id));
    }
    let info = help.bundle_info(zh).unwrap().unwrap();
    assert!(info.forum_url.starts_with("https://") && info.videos_url.starts_with("https://"));
    // A link of some article is a video or forum link with a URL.
    let linked = all
        .iter()
        .filter_map(|s| help.article(s.id.clone(), Some("zh-CN".into())).unwrap())
        .flat_map(|a| a.links)
        .collect::<Vec<_>>();
    assert!(linked.iter().all(|l| l.url.starts_with("https://")));
}
