//! The knowledge base: articles in zh-CN and en, read from `server-mock/data/kb/` (embedded in
//! the binary) once, with a search index per language.
//!
//! File format (one file per language): lines starting with `#` before the first article are
//! comments; each article starts with `=== <id>`, then `key: value` header lines (`category`,
//! `title`, `summary`, `keywords` comma-separated, any number of `video:` / `forum:` lines as
//! `title | url`), a `---` line, and the Markdown body up to the next `===`.

use std::sync::LazyLock;

use upay_protocol::api::help::{Article, HelpCategory, HelpLink, HelpLinkKind};

use upay_protocol::search_index::Index;

const CATEGORIES: &str = include_str!("../../data/kb/categories.txt");
const ZH: &str = include_str!("../../data/kb/zh-CN.txt");
const EN: &str = include_str!("../../data/kb/en.txt");

pub const FORUM_URL: &str = "https://community.upay.example";
pub const VIDEOS_URL: &str = "https://video.upay.example/tutorials";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locale {
    Zh,
    En,
}

impl Locale {
    pub fn tag(self) -> &'static str {
        match self {
            Locale::Zh => "zh-CN",
            Locale::En => "en",
        }
    }

    /// `zh`, `zh-CN`, `zh-Hans`… are Chinese; anything else English.
    pub fn parse(tag: &str) -> Locale {
        if tag.trim().to_ascii_lowercase().starts_with("zh") {
            Locale::Zh
        } else {
            Locale::En
        }
    }

    /// The caller's locale from `Accept-Language`.
    pub fn current() -> Locale {
        if crate::context::RequestContext::current().is_some_and(|c| c.zh) {
            Locale::Zh
        } else {
            Locale::En
        }
    }

    pub fn zh(self) -> bool {
        self == Locale::Zh
    }
}

pub struct LocaleKb {
    pub locale: Locale,
    pub categories: Vec<HelpCategory>,
    pub articles: Vec<Article>,
    pub index: Index,
}

impl LocaleKb {
    pub fn article(&self, id: &str) -> Option<&Article> {
        self.articles.iter().find(|a| a.id == id)
    }
}

pub struct KnowledgeBase {
    zh: LocaleKb,
    en: LocaleKb,
}

impl KnowledgeBase {
    pub fn get(&self, locale: Locale) -> &LocaleKb {
        match locale {
            Locale::Zh => &self.zh,
            Locale::En => &self.en,
        }
    }
}

/// The shipped knowledge base; the files are checked by tests, so parsing cannot fail at run
/// time for a built binary.
pub fn kb() -> &'static KnowledgeBase {
    static KB: LazyLock<KnowledgeBase> = LazyLock::new(|| KnowledgeBase {
        zh: build(Locale::Zh, ZH).expect("data/kb/zh-CN.txt is valid"),
        en: build(Locale::En, EN).expect("data/kb/en.txt is valid"),
    });
    &KB
}

fn build(locale: Locale, text: &str) -> Result<LocaleKb, String> {
    let articles = parse_articles(locale, text)?;
    let mut categories = Vec::new();
    for line in CATEGORIES.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let parts: Vec<&str> = line.split('|').map(str::trim).collect();
        let [id, zh, en] = parts[..] else {
            return Err(format!("bad category line: {line}"));
        };
        let count = articles.iter().filter(|a| a.category == id).count() as u32;
        categories.push(HelpCategory {
            id: id.to_owned(),
            title: if locale.zh() { zh } else { en }.to_owned(),
            article_count: count,
        });
    }
    for a in &articles {
        if !categories.iter().any(|c| c.id == a.category) {
            return Err(format!("{}: unknown category {}", a.id, a.category));
        }
    }
    let index = Index::build(&articles);
    Ok(LocaleKb {
        locale,
        categories,
        articles,
        index,
    })
}

pub fn parse_articles(locale: Locale, text: &str) -> Result<Vec<Article>, String> {
    let mut articles: Vec<Article> = Vec::new();
    let mut lines = text.lines().peekable();
    // Skip the preamble.
    while lines.peek().is_some_and(|l| !l.starts_with("=== ")) {
        lines.next();
    }
    while let Some(line) = lines.next() {
        let id = line
            .strip_prefix("=== ")
            .ok_or_else(|| format!("expected an article start, got {line:?}"))?
            .trim()
            .to_owned();
        let mut a = Article {
            id: id.clone(),
            category: String::new(),
            locale: locale.tag().to_owned(),
            title: String::new(),
            summary: String::new(),
            body: String::new(),
            keywords: Vec::new(),
            links: Vec::new(),
        };
        loop {
            let line = lines
                .next()
                .ok_or_else(|| format!("{id}: header not closed by ---"))?;
            if line.trim() == "---" {
                break;
            }
            let (key, value) = line
                .split_once(':')
                .ok_or_else(|| format!("{id}: bad header line {line:?}"))?;
            let value = value.trim();
            match key.trim() {
                "category" => a.category = value.to_owned(),
                "title" => a.title = value.to_owned(),
                "summary" => a.summary = value.to_owned(),
                "keywords" => {
                    a.keywords = value
                        .split([',', '，'])
                        .map(|k| k.trim().to_owned())
                        .filter(|k| !k.is_empty())
                        .collect()
                }
                kind @ ("video" | "forum") => {
                    let (title, url) = value
                        .split_once('|')
                        .ok_or_else(|| format!("{id}: link needs `title | url`"))?;
                    a.links.push(HelpLink {
                        kind: if kind == "video" {
                            HelpLinkKind::Video
                        } else {
                            HelpLinkKind::Forum
                        },
                        title: title.trim().to_owned(),
                        url: url.trim().to_owned(),
                    });
                }
                other => return Err(format!("{id}: unknown header {other}")),
            }
        }
        let mut body = Vec::new();
        while lines.peek().is_some_and(|l| !l.starts_with("=== ")) {
            body.push(lines.next().unwrap_or_default());
        }
        a.body = body.join("\n").trim().to_owned();
        if a.title.is_empty() || a.summary.is_empty() || a.body.is_empty() || a.category.is_empty()
        {
            return Err(format!(
                "{id}: title, summary, category and body are required"
            ));
        }
        if a.keywords.is_empty() {
            return Err(format!("{id}: keywords are required"));
        }
        if articles.iter().any(|b| b.id == id) {
            return Err(format!("{id}: duplicate id"));
        }
        articles.push(a);
    }
    Ok(articles)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_languages_parse_with_the_same_articles() {
        let zh = build(Locale::Zh, ZH).unwrap();
        let en = build(Locale::En, EN).unwrap();
        assert!(zh.articles.len() >= 40, "zh has {}", zh.articles.len());
        let mut zh_ids: Vec<_> = zh.articles.iter().map(|a| (&a.id, &a.category)).collect();
        let mut en_ids: Vec<_> = en.articles.iter().map(|a| (&a.id, &a.category)).collect();
        zh_ids.sort();
        en_ids.sort();
        assert_eq!(zh_ids, en_ids, "every article exists in both languages");
        for c in &zh.categories {
            assert!(c.article_count > 0, "category {} is empty", c.id);
        }
    }

    #[test]
    fn malformed_files_are_refused() {
        assert!(parse_articles(Locale::En, "=== x\ntitle: t\n").is_err());
        assert!(parse_articles(Locale::En, "=== x\nbogus: 1\n---\nbody").is_err());
    }
}

#[cfg(test)]
mod retrieval_tests {
    use super::*;

    fn best(locale: Locale, q: &str) -> (String, f64) {
        let lk = kb().get(locale);
        let ranked = lk.index.rank(&lk.index.query(q, false));
        (
            lk.articles[ranked[0].doc].id.clone(),
            Index::confidence(&ranked),
        )
    }

    #[test]
    fn finds_the_obvious_article_with_high_confidence() {
        let (id, c) = best(Locale::Zh, "忘记密码了怎么办");
        assert_eq!(id, "password-reset");
        assert!(c > 0.5, "{c}");
        let (id, c) = best(Locale::En, "I forgot my password");
        assert_eq!(id, "password-reset");
        assert!(c > 0.5, "{c}");
    }

    #[test]
    fn unrelated_questions_have_low_confidence() {
        let lk = kb().get(Locale::En);
        let ranked = lk
            .index
            .rank(&lk.index.query("recipe for chocolate cake", false));
        assert!(Index::confidence(&ranked) < 0.3);
    }

    #[test]
    fn partial_words_are_completed() {
        let lk = kb().get(Locale::En);
        let q = lk.index.query("how do I withd", true);
        assert!(q.iter().any(|(t, _)| t == "withdraw"), "{q:?}");
    }
}
