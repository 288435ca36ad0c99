//! The help center offline: the versioned article bundle of each language is downloaded
//! (`GET /v1/help/bundle`, conditional on the cached `ETag`, so an unchanged bundle costs a
//! `304`), kept in the cache database, and searched on the device in Chinese and English with
//! the same ranking as the support bot ([`index`], [`text`]). Browsing, search, suggestions
//! while typing and opening an article never touch the network, so help works in a lift, on a
//! plane or when uPay itself is down.
//!
//! Articles are public (served without sign-in, the same for everyone), so they are stored
//! clear and kept across sign-outs and key resets; they carry nothing about the user.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use reqwest::Method;
use rusqlite::OptionalExtension;
use upay_protocol::api::help::{Article, HelpBundle, HelpLinkKind};

use crate::api::{Call, Conditional, NetError, query_value};
use crate::core::Core;
use crate::error::{CoreError, CoreResult, ErrorCode};
use crate::model::now_ms;
use upay_protocol::search_index::{Index, Ranked};

/// Longest question searched; longer text is cut (the server refuses above 200 too).
pub const MAX_QUESTION_CHARS: usize = 200;
/// Most hits one search returns.
pub const MAX_LIMIT: u32 = 20;
/// Below this coverage a suggestion is noise (one shared character).
pub const SUGGESTION_MIN_COVERAGE: f64 = 0.3;

/// The bundle language for an app locale: `zh…` is Chinese, anything else English (the two
/// languages the help center is written in).
pub fn bundle_locale(locale: &str) -> &'static str {
    if crate::config::is_chinese(locale) {
        "zh-CN"
    } else {
        "en"
    }
}

/// A cached bundle with its search index.
pub struct LoadedBundle {
    pub bundle: HelpBundle,
    pub index: Index,
    pub fetched_at: i64,
    /// Moves on every `304`; the index stays.
    pub checked_at: AtomicI64,
}

impl LoadedBundle {
    pub fn new(bundle: HelpBundle, fetched_at: i64, checked_at: i64) -> LoadedBundle {
        LoadedBundle {
            index: Index::build(&bundle.articles),
            bundle,
            fetched_at,
            checked_at: AtomicI64::new(checked_at),
        }
    }
}

/// Indexes of the bundles in use, per bundle locale. Memory only: the database holds the
/// bundle, the index is rebuilt from it on first use after start (a few milliseconds).
#[derive(Default)]
pub struct HelpCache {
    loaded: Mutex<HashMap<&'static str, Arc<LoadedBundle>>>,
}

impl HelpCache {
    fn get(&self, locale: &'static str) -> Option<Arc<LoadedBundle>> {
        self.loaded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(locale)
            .cloned()
    }

    fn put(&self, locale: &'static str, b: Arc<LoadedBundle>) {
        self.loaded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(locale, b);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum HelpLinkType {
    Video,
    Forum,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HelpLinkView {
    pub kind: HelpLinkType,
    pub title: String,
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HelpCategoryView {
    pub id: String,
    pub title: String,
    pub article_count: u32,
}

/// An article in a list, a search result or a suggestion.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HelpArticleSummary {
    pub id: String,
    pub category: String,
    pub title: String,
    pub summary: String,
}

/// A full article, opened from the cache.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HelpArticleView {
    pub id: String,
    pub category: String,
    pub locale: String,
    pub title: String,
    pub summary: String,
    /// Markdown: paragraphs, `-` lists and `1.` steps.
    pub body: String,
    pub keywords: Vec<String>,
    pub links: Vec<HelpLinkView>,
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct HelpSearchHit {
    pub article: HelpArticleSummary,
    /// 0 to 1, comparable within one answer: relevance relative to the best hit times how
    /// much of the question the article covers.
    pub score: f64,
    /// Share of the question's information found in the article (0 to 1).
    pub coverage: f64,
}

/// What the cache holds for one language.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HelpBundleInfo {
    pub locale: String,
    pub version: String,
    pub article_count: u32,
    /// When this version was downloaded.
    pub fetched_at: i64,
    /// When the server last confirmed it current (or sent it).
    pub checked_at: i64,
    pub forum_url: String,
    pub videos_url: String,
}

/// The outcome of [`sync_bundle`].
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HelpSyncReport {
    pub locale: String,
    pub version: String,
    /// A new version was downloaded and replaced the cached one (`false`: `304`, the cache
    /// was current).
    pub updated: bool,
    pub article_count: u32,
}

fn summary(a: &Article) -> HelpArticleSummary {
    HelpArticleSummary {
        id: a.id.clone(),
        category: a.category.clone(),
        title: a.title.clone(),
        summary: a.summary.clone(),
    }
}

fn view(a: &Article) -> HelpArticleView {
    HelpArticleView {
        id: a.id.clone(),
        category: a.category.clone(),
        locale: a.locale.clone(),
        title: a.title.clone(),
        summary: a.summary.clone(),
        body: a.body.clone(),
        keywords: a.keywords.clone(),
        links: a
            .links
            .iter()
            .map(|l| HelpLinkView {
                kind: match l.kind {
                    HelpLinkKind::Video => HelpLinkType::Video,
                    HelpLinkKind::Forum => HelpLinkType::Forum,
                },
                title: l.title.clone(),
                url: l.url.clone(),
            })
            .collect(),
    }
}

struct StoredRow {
    etag: Option<String>,
    body: Vec<u8>,
    fetched_at: i64,
    checked_at: i64,
}

fn stored(core: &Core, locale: &str) -> CoreResult<Option<StoredRow>> {
    core.store.read(|c| {
        Ok(c.query_row(
            "SELECT etag, body, fetched_at, checked_at FROM help_bundles WHERE locale = ?1",
            [locale],
            |r| {
                Ok(StoredRow {
                    etag: r.get(0)?,
                    body: r.get(1)?,
                    fetched_at: r.get(2)?,
                    checked_at: r.get(3)?,
                })
            },
        )
        .optional()?)
    })
}

/// The cached bundle of `locale` with its index, if one was ever downloaded.
pub fn loaded(core: &Core, locale: &str) -> CoreResult<Option<Arc<LoadedBundle>>> {
    let locale = bundle_locale(locale);
    if let Some(b) = core.help.get(locale) {
        return Ok(Some(b));
    }
    let Some(row) = stored(core, locale)? else {
        return Ok(None);
    };
    let Ok(bundle) = serde_json::from_slice::<HelpBundle>(&row.body) else {
        // Written by this code after decoding it, so only damage gets here: behave as if
        // nothing was cached; the next sync (sent without an ETag) downloads it again.
        tracing::warn!(locale, "cached help bundle unreadable");
        return Ok(None);
    };
    let b = Arc::new(LoadedBundle::new(bundle, row.fetched_at, row.checked_at));
    core.help.put(locale, b.clone());
    Ok(Some(b))
}

/// Downloads the bundle of `locale` unless the cached one is current (`If-None-Match` →
/// `304`); a new version replaces the cached one in one transaction, so a search sees either
/// the old or the new bundle, never a mix.
pub async fn sync_bundle(core: &Core, locale: &str) -> CoreResult<HelpSyncReport> {
    let locale = bundle_locale(locale);
    let cached = loaded(core, locale)?;
    // Without a readable cached bundle there is nothing a 304 could keep.
    let etag = match &cached {
        Some(_) => stored(core, locale)?.and_then(|r| r.etag),
        None => None,
    };
    let path = format!("/v1/help/bundle?locale={}", query_value(locale));
    let call = Call {
        method: Method::GET,
        path: &path,
        body: None,
        idempotency_key: None,
        bearer: None,
        retry: core.interactive(),
    };
    let result = core.http.get_conditional(&call, etag.as_deref()).await;
    core.note_reachable(result.as_ref().err().is_none_or(NetError::reached_server));
    let now = now_ms();
    match result.map_err(|e| e.into_core(core.zh()))? {
        Conditional::NotModified => {
            let Some(current) = cached else {
                // A 304 to a request without an ETag is a broken server or proxy.
                return Err(CoreError::client(ErrorCode::BadResponse).localized(core.zh()));
            };
            core.store.write(|tx| {
                tx.execute(
                    "UPDATE help_bundles SET checked_at = ?2 WHERE locale = ?1",
                    rusqlite::params![locale, now],
                )?;
                Ok(())
            })?;
            current.checked_at.store(now, Ordering::Relaxed);
            let version = current.bundle.version.clone();
            let count = current.bundle.articles.len() as u32;
            Ok(HelpSyncReport {
                locale: locale.to_owned(),
                version,
                updated: false,
                article_count: count,
            })
        }
        Conditional::Fresh { etag, body } => {
            let bundle: HelpBundle = serde_json::from_slice(&body).map_err(|_| {
                tracing::warn!(locale, "undecodable help bundle");
                CoreError::client(ErrorCode::BadResponse).localized(core.zh())
            })?;
            if bundle.version.is_empty() || bundle_locale(&bundle.locale) != locale {
                tracing::warn!(
                    locale,
                    "help bundle of the wrong language or without version"
                );
                return Err(CoreError::client(ErrorCode::BadResponse).localized(core.zh()));
            }
            let etag = etag.unwrap_or_else(|| bundle.version.clone());
            let version = bundle.version.clone();
            let count = bundle.articles.len() as u32;
            // Build the index before the write: a search keeps the old one until the swap.
            let fresh = Arc::new(LoadedBundle::new(bundle, now, now));
            core.store.write(|tx| {
                tx.execute(
                    "INSERT INTO help_bundles (locale, version, etag, body, fetched_at, checked_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?5)
                     ON CONFLICT(locale) DO UPDATE SET version = excluded.version,
                         etag = excluded.etag, body = excluded.body,
                         fetched_at = excluded.fetched_at, checked_at = excluded.checked_at",
                    rusqlite::params![locale, version, etag, body, now],
                )?;
                Ok(())
            })?;
            core.help.put(locale, fresh);
            tracing::info!(locale, version = %version, articles = count, "help bundle updated");
            Ok(HelpSyncReport {
                locale: locale.to_owned(),
                version,
                updated: true,
                article_count: count,
            })
        }
    }
}

pub fn info(core: &Core, locale: &str) -> CoreResult<Option<HelpBundleInfo>> {
    Ok(loaded(core, locale)?.map(|b| HelpBundleInfo {
        locale: b.bundle.locale.clone(),
        version: b.bundle.version.clone(),
        article_count: b.bundle.articles.len() as u32,
        fetched_at: b.fetched_at,
        checked_at: b.checked_at.load(Ordering::Relaxed),
        forum_url: b.bundle.forum_url.clone(),
        videos_url: b.bundle.videos_url.clone(),
    }))
}

pub fn categories(core: &Core, locale: &str) -> CoreResult<Vec<HelpCategoryView>> {
    Ok(loaded(core, locale)?
        .map(|b| {
            b.bundle
                .categories
                .iter()
                .map(|c| HelpCategoryView {
                    id: c.id.clone(),
                    title: c.title.clone(),
                    article_count: c.article_count,
                })
                .collect()
        })
        .unwrap_or_default())
}

/// Article summaries in bundle order, optionally of one category.
pub fn articles(
    core: &Core,
    locale: &str,
    category: Option<&str>,
) -> CoreResult<Vec<HelpArticleSummary>> {
    Ok(loaded(core, locale)?
        .map(|b| {
            b.bundle
                .articles
                .iter()
                .filter(|a| category.is_none_or(|c| a.category == c))
                .map(summary)
                .collect()
        })
        .unwrap_or_default())
}

/// Opens an article from the cache; `None` when it is not in the cached bundle.
pub fn article(core: &Core, locale: &str, id: &str) -> CoreResult<Option<HelpArticleView>> {
    Ok(loaded(core, locale)?.and_then(|b| b.bundle.articles.iter().find(|a| a.id == id).map(view)))
}

fn cut(question: &str) -> &str {
    match question.char_indices().nth(MAX_QUESTION_CHARS) {
        Some((i, _)) => &question[..i],
        None => question,
    }
}

fn ranked(b: &LoadedBundle, question: &str, partial: bool) -> Vec<Ranked> {
    b.index.rank(&b.index.query(cut(question), partial))
}

/// Ranks the cached articles for a finished question, best first. Empty when nothing matches
/// or no bundle is cached ([`info`] tells which).
pub fn search_loaded(b: &LoadedBundle, question: &str, limit: u32) -> Vec<HelpSearchHit> {
    let r = ranked(b, question, false);
    let top = r.first().map_or(1.0, |x| x.score);
    r.iter()
        .take(limit.clamp(1, MAX_LIMIT) as usize)
        .map(|x| HelpSearchHit {
            article: summary(&b.bundle.articles[x.doc]),
            score: ((x.score / top) * x.coverage * 1000.0).round() / 1000.0,
            coverage: (x.coverage * 1000.0).round() / 1000.0,
        })
        .collect()
}

/// Articles for a question still being typed: an unfinished English word is completed and
/// weak matches (a shared character) are left out, so the list stays quiet until it helps.
pub fn suggest_loaded(b: &LoadedBundle, partial: &str, limit: u32) -> Vec<HelpArticleSummary> {
    ranked(b, partial, true)
        .iter()
        .filter(|x| x.coverage >= SUGGESTION_MIN_COVERAGE)
        .take(limit.clamp(1, MAX_LIMIT) as usize)
        .map(|x| summary(&b.bundle.articles[x.doc]))
        .collect()
}

pub fn search(
    core: &Core,
    locale: &str,
    question: &str,
    limit: u32,
) -> CoreResult<Vec<HelpSearchHit>> {
    Ok(loaded(core, locale)?
        .map(|b| search_loaded(&b, question, limit))
        .unwrap_or_default())
}

pub fn suggest(
    core: &Core,
    locale: &str,
    partial: &str,
    limit: u32,
) -> CoreResult<Vec<HelpArticleSummary>> {
    Ok(loaded(core, locale)?
        .map(|b| suggest_loaded(&b, partial, limit))
        .unwrap_or_default())
}
