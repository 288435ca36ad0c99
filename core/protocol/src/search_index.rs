//! BM25 ranking of help articles: the app's offline help search and the support bot's retrieval.
//!
//! Fields are weighted (title and keywords 3, summary 2, body 1) into one term frequency per
//! article (a BM25F simplification): a question's words in a title say more than in a
//! paragraph. Each hit also carries its *coverage*, the share of the question's information
//! (idf mass) the article contains, so the app can drop weak suggestions and a question about
//! something the help center does not know ("bake a cake") scores low even though some article
//! always ranks first.

use std::collections::HashMap;

use crate::api::help::Article;

use crate::search_text::{self as text, Term};

const K1: f64 = 1.2;
const B: f64 = 0.75;
/// Title, keywords, summary, body.
const FIELD_WEIGHTS: [f64; 4] = [3.0, 3.0, 2.0, 1.0];
/// How many vocabulary words an unfinished English word expands to.
const MAX_COMPLETIONS: usize = 8;
/// Completions count a little less than the words the user finished typing.
const COMPLETION_WEIGHT: f64 = 0.7;

struct Doc {
    tf: HashMap<String, f64>,
    len: f64,
}

pub struct Index {
    docs: Vec<Doc>,
    df: HashMap<String, u32>,
    avg_len: f64,
    /// Sorted English stems, to complete a word still being typed.
    words: Vec<String>,
}

/// One ranked article.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ranked {
    /// Position in the article list the index was built from.
    pub doc: usize,
    pub score: f64,
    /// Share of the question's information found in this article (0..1).
    pub coverage: f64,
}

/// A query's merged terms with weights.
pub type Query = Vec<(String, f64)>;

impl Index {
    pub fn build(articles: &[Article]) -> Index {
        let mut docs = Vec::with_capacity(articles.len());
        let mut df: HashMap<String, u32> = HashMap::new();
        for a in articles {
            let fields = [
                a.title.as_str(),
                &a.keywords.join(" , "),
                a.summary.as_str(),
                a.body.as_str(),
            ]
            .map(text::terms);
            let mut tf: HashMap<String, f64> = HashMap::new();
            let mut len = 0.0;
            for (terms, field_weight) in fields.into_iter().zip(FIELD_WEIGHTS) {
                for Term { text, weight } in terms {
                    *tf.entry(text).or_default() += weight * field_weight;
                    len += weight * field_weight;
                }
            }
            for term in tf.keys() {
                *df.entry(term.clone()).or_default() += 1;
            }
            docs.push(Doc { tf, len });
        }
        let avg_len = docs.iter().map(|d| d.len).sum::<f64>() / docs.len().max(1) as f64;
        let mut words: Vec<String> = df
            .keys()
            .filter(|t| t.bytes().all(|b| b.is_ascii_alphanumeric()))
            .cloned()
            .collect();
        words.sort();
        Index {
            docs,
            df,
            avg_len,
            words,
        }
    }

    pub fn len(&self) -> usize {
        self.docs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    fn idf(&self, term: &str) -> f64 {
        let n = self.docs.len() as f64;
        let df = self.df.get(term).copied().unwrap_or(0) as f64;
        (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
    }

    /// The merged terms of a question. With `partial`, an English word still being typed at
    /// the end is completed from the vocabulary ("withd" → withdraw).
    pub fn query(&self, question: &str, partial: bool) -> Query {
        let mut merged: Query = Vec::new();
        let mut add = |text: String, weight: f64| match merged.iter_mut().find(|(t, _)| *t == text)
        {
            // Repeating a word does not make a question more about it.
            Some((_, w)) => *w = w.max(weight),
            None => merged.push((text, weight)),
        };
        let mut all = text::terms(question);
        if let Some(word) = partial
            .then(|| text::trailing_partial_word(question))
            .flatten()
        {
            // The unfinished word's own stem is rarely a real term: complete it instead. A
            // word that is already complete is among its own completions.
            let stemmed = text::stem(&word);
            if let Some(pos) = all.iter().rposition(|t| t.text == stemmed) {
                all.remove(pos);
            }
            let start = self.words.partition_point(|w| w.as_str() < word.as_str());
            for w in self.words[start..]
                .iter()
                .take_while(|w| w.starts_with(word.as_str()))
                .take(MAX_COMPLETIONS)
            {
                add(w.clone(), COMPLETION_WEIGHT);
            }
            if self.df.contains_key(&stemmed) {
                add(stemmed, 1.0);
            }
        }
        for t in all {
            add(t.text, t.weight);
        }
        merged
    }

    /// How sure the ranking is that its first article answers the question (0..1): the
    /// coverage of the best article, discounted when the runner-up scores almost as well.
    pub fn confidence(ranked: &[Ranked]) -> f64 {
        let Some(first) = ranked.first() else {
            return 0.0;
        };
        let second = ranked.get(1).map_or(0.0, |r| r.score);
        let margin = ((first.score - second) / first.score * 2.0).min(1.0);
        (first.coverage * (0.6 + 0.4 * margin)).clamp(0.0, 1.0)
    }

    /// Articles with a positive score, best first (ties by list order, so results are
    /// stable).
    pub fn rank(&self, query: &Query) -> Vec<Ranked> {
        let idfs: Vec<f64> = query.iter().map(|(t, _)| self.idf(t)).collect();
        let total: f64 = query.iter().zip(&idfs).map(|((_, w), idf)| w * idf).sum();
        let mut out: Vec<Ranked> = self
            .docs
            .iter()
            .enumerate()
            .filter_map(|(i, d)| {
                let mut score = 0.0;
                let mut covered = 0.0;
                for ((term, w), idf) in query.iter().zip(&idfs) {
                    let Some(&tf) = d.tf.get(term) else { continue };
                    let norm = tf * (K1 + 1.0) / (tf + K1 * (1.0 - B + B * d.len / self.avg_len));
                    score += w * idf * norm;
                    covered += w * idf;
                }
                (score > 0.0).then(|| Ranked {
                    doc: i,
                    score,
                    coverage: if total > 0.0 { covered / total } else { 0.0 },
                })
            })
            .collect();
        out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.doc.cmp(&b.doc)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn article(id: &str, title: &str, keywords: &[&str], body: &str) -> Article {
        Article {
            id: id.into(),
            category: "c".into(),
            locale: "en".into(),
            title: title.into(),
            summary: String::new(),
            body: body.into(),
            keywords: keywords.iter().map(|k| k.to_string()).collect(),
            links: Vec::new(),
        }
    }

    fn corpus() -> Vec<Article> {
        vec![
            article(
                "pw",
                "Reset your password",
                &["forgot password", "忘记密码"],
                "Tap Forgot password.",
            ),
            article(
                "wd",
                "How long a withdrawal takes",
                &["提现", "withdraw"],
                "Withdrawals arrive in 2 hours.",
            ),
            article(
                "tp",
                "Top up your wallet",
                &["充值", "add money"],
                "Top up from a linked card.",
            ),
        ]
    }

    #[test]
    fn ranks_the_matching_article_first_in_both_languages() {
        let idx = Index::build(&corpus());
        let r = idx.rank(&idx.query("I forgot my password", false));
        assert_eq!(r[0].doc, 0);
        assert!(r[0].coverage > 0.99, "{r:?}");
        let r = idx.rank(&idx.query("提现多久", false));
        assert_eq!(r[0].doc, 1);
        assert!(r[0].coverage < 1.0);
        assert!(idx.rank(&idx.query("chocolate cake", false)).is_empty());
    }

    #[test]
    fn completes_the_word_being_typed() {
        let idx = Index::build(&corpus());
        let q = idx.query("how do I withd", true);
        assert!(q.iter().any(|(t, _)| t == "withdraw"), "{q:?}");
        assert_eq!(idx.rank(&q)[0].doc, 1);
        // Without completion the fragment finds nothing.
        assert!(idx.rank(&idx.query("how do I withd", false)).is_empty());
    }
}
