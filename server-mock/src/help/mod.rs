//! The help center: categories, articles, the versioned offline bundle (`ETag` /
//! `If-None-Match`), server-side search and suggestions for a question still being typed. Public:
//! people need help before they can sign in.

pub mod kb;

use std::sync::LazyLock;

use axum::Json;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use upay_protocol::api::help::*;
use upay_protocol::error::Problem;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult};
use crate::extract::ApiQuery;
use crate::state::AppState;
use kb::{Locale, LocaleKb, kb};
use upay_protocol::search_index::{Index, Ranked};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(help_categories))
        .routes(routes!(help_articles))
        .routes(routes!(help_article))
        .routes(routes!(help_bundle))
        .routes(routes!(help_search))
        .routes(routes!(help_suggestions))
}

/// The best articles for a question and how sure we are of the first.
pub struct Match {
    pub ranked: Vec<Ranked>,
    pub confidence: f64,
}

/// Retrieval over one language's articles (used by the bot too).
pub fn find(locale: Locale, question: &str, partial: bool) -> Match {
    let lk = kb().get(locale);
    let ranked = lk.index.rank(&lk.index.query(question, partial));
    let confidence = Index::confidence(&ranked);
    Match { ranked, confidence }
}

/// Whether a question has any searchable content at all (not just "你好" or "hi").
pub fn has_terms(locale: Locale, question: &str) -> bool {
    !kb().get(locale).index.query(question, false).is_empty()
}

pub fn summary(a: &Article) -> ArticleSummary {
    ArticleSummary {
        id: a.id.clone(),
        category: a.category.clone(),
        title: a.title.clone(),
        summary: a.summary.clone(),
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct LocaleQuery {
    /// `zh-CN` or `en`; defaults to the `Accept-Language` of the request.
    locale: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    locale: Option<String>,
    /// Only this category.
    category: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct SearchQuery {
    /// The question, 1–200 characters.
    q: String,
    locale: Option<String>,
    /// 1–20, default 5.
    limit: Option<usize>,
}

fn locale_of(param: &Option<String>) -> Locale {
    param
        .as_deref()
        .map(Locale::parse)
        .unwrap_or_else(Locale::current)
}

fn lkb(param: &Option<String>) -> &'static LocaleKb {
    kb().get(locale_of(param))
}

/// `GET /v1/help/categories`
#[utoipa::path(get, path = "/v1/help/categories", tag = "help", params(LocaleQuery),
    responses((status = 200, body = CategoryList)))]
async fn help_categories(ApiQuery(q): ApiQuery<LocaleQuery>) -> Json<CategoryList> {
    Json(CategoryList {
        categories: lkb(&q.locale).categories.clone(),
    })
}

/// `GET /v1/help/articles`: summaries, optionally of one category.
#[utoipa::path(get, path = "/v1/help/articles", tag = "help", params(ListQuery),
    responses((status = 200, body = ArticleList), (status = 404, body = Problem, description = "unknown category")))]
async fn help_articles(ApiQuery(q): ApiQuery<ListQuery>) -> ApiResult<Json<ArticleList>> {
    let lk = lkb(&q.locale);
    if q.category
        .as_ref()
        .is_some_and(|c| !lk.categories.iter().any(|k| &k.id == c))
    {
        return Err(ApiError::not_found().detail("no such category"));
    }
    Ok(Json(ArticleList {
        articles: lk
            .articles
            .iter()
            .filter(|a| q.category.as_ref().is_none_or(|c| &a.category == c))
            .map(summary)
            .collect(),
    }))
}

/// `GET /v1/help/articles/{id}`
#[utoipa::path(get, path = "/v1/help/articles/{id}", tag = "help", params(("id" = String, Path), LocaleQuery),
    responses((status = 200, body = Article), (status = 404, body = Problem)))]
async fn help_article(
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<LocaleQuery>,
) -> ApiResult<Json<Article>> {
    lkb(&q.locale)
        .article(&id)
        .cloned()
        .map(Json)
        .ok_or_else(ApiError::not_found)
}

/// A serialised bundle and its version, built once per language.
struct BundleBytes {
    version: String,
    json: Vec<u8>,
}

fn bundle_bytes(locale: Locale) -> &'static BundleBytes {
    fn build(locale: Locale) -> BundleBytes {
        let lk = kb().get(locale);
        let mut bundle = HelpBundle {
            version: String::new(),
            locale: locale.tag().to_owned(),
            categories: lk.categories.clone(),
            articles: lk.articles.clone(),
            forum_url: kb::FORUM_URL.to_owned(),
            videos_url: kb::VIDEOS_URL.to_owned(),
        };
        // The version is a digest of the content, so it changes exactly when the content does.
        let content = serde_json::to_vec(&bundle).unwrap_or_default();
        let digest = ring::digest::digest(&ring::digest::SHA256, &content);
        let hex: String = digest.as_ref()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        bundle.version = format!("{}-{hex}", locale.tag());
        BundleBytes {
            version: bundle.version.clone(),
            json: serde_json::to_vec(&bundle).unwrap_or_default(),
        }
    }
    static ZH: LazyLock<BundleBytes> = LazyLock::new(|| build(Locale::Zh));
    static EN: LazyLock<BundleBytes> = LazyLock::new(|| build(Locale::En));
    match locale {
        Locale::Zh => &ZH,
        Locale::En => &EN,
    }
}

fn etag_matches(headers: &HeaderMap, version: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/").trim_matches('"'))
        .any(|t| t == version || t == "*")
}

/// `GET /v1/help/bundle`: every category and article of a language for offline browsing and
/// search. Send the last `ETag` as `If-None-Match`: `304` means the cached copy is current.
#[utoipa::path(get, path = "/v1/help/bundle", tag = "help", params(LocaleQuery,
        ("If-None-Match" = Option<String>, Header, description = "ETag of the cached bundle")),
    responses((status = 200, body = HelpBundle, headers(("ETag" = String))),
        (status = 304, description = "the cached bundle is current")))]
async fn help_bundle(headers: HeaderMap, ApiQuery(q): ApiQuery<LocaleQuery>) -> Response {
    let b = bundle_bytes(locale_of(&q.locale));
    let etag = HeaderValue::from_str(&format!("\"{}\"", b.version))
        .unwrap_or(HeaderValue::from_static("\"0\""));
    let cache = (header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if etag_matches(&headers, &b.version) {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag), cache]).into_response();
    }
    (
        [
            (header::ETAG, etag),
            cache,
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
        ],
        b.json.clone(),
    )
        .into_response()
}

fn check_question(q: &str) -> ApiResult<()> {
    let n = q.chars().count();
    if n == 0 || n > 200 {
        return Err(ApiError::field("q", "out_of_range", "1-200 characters"));
    }
    Ok(())
}

/// `GET /v1/help/search?q=…`
#[utoipa::path(get, path = "/v1/help/search", tag = "help", params(SearchQuery),
    responses((status = 200, body = SearchResults), (status = 422, body = Problem)))]
async fn help_search(ApiQuery(q): ApiQuery<SearchQuery>) -> ApiResult<Json<SearchResults>> {
    check_question(&q.q)?;
    let limit = q.limit.unwrap_or(5);
    if !(1..=20).contains(&limit) {
        return Err(ApiError::field("limit", "out_of_range", "1-20"));
    }
    let locale = locale_of(&q.locale);
    let lk = kb().get(locale);
    let m = find(locale, &q.q, false);
    let top = m.ranked.first().map_or(1.0, |r| r.score);
    let hits = m
        .ranked
        .iter()
        .take(limit)
        .map(|r| SearchHit {
            article: summary(&lk.articles[r.doc]),
            score: ((r.score / top) * r.coverage * 1000.0).round() / 1000.0,
        })
        .collect();
    Ok(Json(SearchResults { hits }))
}

/// Below this coverage a suggestion is noise (one shared character).
const SUGGESTION_MIN_COVERAGE: f64 = 0.3;

/// `GET /v1/help/suggestions?q=…`: up to 5 articles for a question still being typed (a
/// trailing unfinished English word is completed).
#[utoipa::path(get, path = "/v1/help/suggestions", tag = "help", params(SearchQuery),
    responses((status = 200, body = Suggestions), (status = 422, body = Problem)))]
async fn help_suggestions(ApiQuery(q): ApiQuery<SearchQuery>) -> ApiResult<Json<Suggestions>> {
    check_question(&q.q)?;
    let locale = locale_of(&q.locale);
    let lk = kb().get(locale);
    let limit = q.limit.unwrap_or(5).clamp(1, 20);
    let m = find(locale, &q.q, true);
    let suggestions = m
        .ranked
        .iter()
        .filter(|r| r.coverage >= SUGGESTION_MIN_COVERAGE)
        .take(limit)
        .map(|r| summary(&lk.articles[r.doc]))
        .collect();
    Ok(Json(Suggestions { suggestions }))
}
