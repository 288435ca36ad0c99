//! Help center: categories, articles (FAQ, guides, security tips) with video-tutorial and
//! community-forum links, the versioned offline bundle, search and suggestions.

use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct HelpCategory {
    pub id: String,
    pub title: String,
    /// Articles in it.
    pub article_count: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum HelpLinkKind {
    Video,
    Forum,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct HelpLink {
    pub kind: HelpLinkKind,
    pub title: String,
    pub url: String,
}

/// A full article.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Article {
    /// Stable across languages (e.g. `payment-failed`).
    pub id: String,
    pub category: String,
    /// `zh-CN` or `en`.
    pub locale: String,
    pub title: String,
    /// One-line answer.
    pub summary: String,
    /// Markdown: paragraphs, `-` lists and `1.` steps.
    pub body: String,
    /// Words and phrases people use for this topic (helps offline search).
    pub keywords: Vec<String>,
    pub links: Vec<HelpLink>,
}

/// An article in a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ArticleSummary {
    pub id: String,
    pub category: String,
    pub title: String,
    pub summary: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ArticleList {
    pub articles: Vec<ArticleSummary>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CategoryList {
    pub categories: Vec<HelpCategory>,
}

/// `GET /v1/help/bundle`: everything the app needs to browse and search offline. `version`
/// changes whenever any content changes; it is also the `ETag`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct HelpBundle {
    pub version: String,
    pub locale: String,
    pub categories: Vec<HelpCategory>,
    pub articles: Vec<Article>,
    /// Community forum home.
    pub forum_url: String,
    /// Video tutorial channel.
    pub videos_url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SearchHit {
    pub article: ArticleSummary,
    /// 0 to 1; comparable within one answer.
    pub score: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SearchResults {
    pub hits: Vec<SearchHit>,
}

/// `GET /v1/help/suggestions?q=…`: articles for a question still being typed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Suggestions {
    pub suggestions: Vec<ArticleSummary>,
}
