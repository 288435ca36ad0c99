//! BM25 retrieval over the articles of one language, with a confidence in 0..1 for the bot.
//!
//! Fields are weighted (title and keywords 3, summary 2, body 1) into one term-frequency per
//! document (a BM25F simplification). The confidence combines how much of the question's
//! information (idf mass) the best article covers with how clearly it beats the runner-up, so a
//! question about something the knowledge base does not know ("bake a cake") scores low even
//! though some article always ranks first.

use std::collections::HashMap;

use upay_protocol::api::help::Article;

use super::text::{self, Term};

const K1: f64 = 1.2;
const B: f64 = 0.75;
const FIELD_WEIGHTS: [f64; 4] = [3.0, 3.0, 2.0, 1.0];

struct Doc {
    tf: HashMap<String, f64>,
    len: f64,
}

pub struct Index {
    docs: Vec<Doc>,
    df: HashMap<String, u32>,
    avg_len: f64,
    /// Sorted vocabulary of English stems, for completing a word still being typed.
    words: Vec<String>,
}

/// One ranked article.
#[derive(Debug, Clone, Copy)]
pub struct Ranked {
    /// Position in the locale's article list.
    pub doc: usize,
    pub score: f64,
    /// Share of the question's information found in this article (0..1).
    pub coverage: f64,
}

/// A query's merged terms.
pub type Query = Vec<(String, f64)>;

impl Index {
    pub fn build(articles: &[Article]) -> Index {
        let mut docs = Vec::with_capacity(articles.len());
        let mut df: HashMap<String, u32> = HashMap::new();
        for a in articles {
            let fields = [
                a.title.clone(),
                a.keywords.join(" , "),
                a.summary.clone(),
                a.body.clone(),
            ];
            let mut tf: HashMap<String, f64> = HashMap::new();
            let mut len = 0.0;
            for (field, weight) in fields.iter().zip(FIELD_WEIGHTS) {
                for Term { text, weight: w } in text::terms(field) {
                    *tf.entry(text).or_default() += w * weight;
                    len += w * weight;
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

    fn idf(&self, term: &str) -> f64 {
        let n = self.docs.len() as f64;
        let df = self.df.get(term).copied().unwrap_or(0) as f64;
        (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
    }

    /// The merged terms of a question. With `partial`, a word still being typed at the end is
    /// completed from the vocabulary ("withd" → withdraw).
    pub fn query(&self, question: &str, partial: bool) -> Query {
        let mut merged: Vec<(String, f64)> = Vec::new();
        let mut add = |text: String, weight: f64| {
            match merged.iter_mut().find(|(t, _)| *t == text) {
                // Repeating a word does not make a question more about it.
                Some((_, w)) => *w = w.max(weight),
                None => merged.push((text, weight)),
            }
        };
        let partial_word = partial
            .then(|| text::trailing_partial_word(question))
            .flatten();
        let mut all = text::terms(question);
        if let Some(word) = &partial_word {
            // The unfinished word's own stem is rarely a real term: complete it instead.
            let stemmed = text::stem(word);
            if let Some(pos) = all.iter().rposition(|t| t.text == stemmed) {
                all.remove(pos);
            }
            let start = self.words.partition_point(|w| w.as_str() < word.as_str());
            for w in self.words[start..]
                .iter()
                .take_while(|w| w.starts_with(word.as_str()))
                .take(8)
            {
                add(w.clone(), 0.7);
            }
        }
        for t in all {
            add(t.text, t.weight);
        }
        merged
    }

    /// Articles with a positive score, best first.
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

    /// How sure we are that the first article answers the question (0..1).
    pub fn confidence(ranked: &[Ranked]) -> f64 {
        let Some(first) = ranked.first() else {
            return 0.0;
        };
        let second = ranked.get(1).map_or(0.0, |r| r.score);
        let margin = ((first.score - second) / first.score * 2.0).min(1.0);
        (first.coverage * (0.6 + 0.4 * margin)).clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::super::kb::{Locale, kb};
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
