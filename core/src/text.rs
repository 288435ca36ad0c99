//! Tokens of the blind search index, the same for indexing and for queries, so that Chinese
//! and English both work without a dictionary:
//!
//! * text is folded first: full-width ASCII to half-width, letters to lower case;
//! * runs of CJK characters give every character (unigram) and every pair of neighbours
//!   (bigram); a query run of one character looks up its unigram, a longer run all its
//!   bigrams, which finds any text containing the run (bigrams are how CJK search engines work
//!   without word segmentation);
//! * runs of other letters and digits are words; a word gives its prefixes of 2 to
//!   `MAX_PREFIX` (10) characters (type-ahead: `luck` finds "Luckin") and, when longer, itself
//!   whole. Single Latin letters are not searchable (they would match nearly everything).
//!
//! Each token is later turned into an HMAC tag ([`crate::crypto::Cipher::tag`]) with its
//! kind as the domain, so no plaintext token is ever stored.

/// Longest indexed prefix, in characters.
pub const MAX_PREFIX: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Unigram,
    Bigram,
    Prefix,
    Word,
}

impl Kind {
    pub fn domain(self) -> &'static str {
        match self {
            Kind::Unigram => "u",
            Kind::Bigram => "b",
            Kind::Prefix => "p",
            Kind::Word => "w",
        }
    }
}

pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF      // Hiragana, Katakana
        | 0x3400..=0x4DBF    // CJK Extension A
        | 0x4E00..=0x9FFF    // CJK Unified Ideographs
        | 0xAC00..=0xD7AF    // Hangul syllables
        | 0xF900..=0xFAFF    // CJK Compatibility Ideographs
        | 0x20000..=0x2FA1F) // Extensions B–F, compatibility supplement
}

fn fold(c: char) -> char {
    let c = match c as u32 {
        0xFF01..=0xFF5E => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        0x3000 => ' ',
        _ => c,
    };
    if c.is_ascii() {
        c.to_ascii_lowercase()
    } else {
        c.to_lowercase().next().unwrap_or(c)
    }
}

enum Run {
    Cjk(Vec<char>),
    Word(Vec<char>),
}

fn runs(text: &str) -> Vec<Run> {
    let mut out = Vec::new();
    let mut cur: Option<Run> = None;
    for c in text.chars().map(fold) {
        let next_is_cjk = is_cjk(c);
        let is_word = !next_is_cjk && c.is_alphanumeric();
        match (&mut cur, next_is_cjk, is_word) {
            (Some(Run::Cjk(v)), true, _) | (Some(Run::Word(v)), _, true) => v.push(c),
            (_, true, _) => out.extend(cur.replace(Run::Cjk(vec![c]))),
            (_, _, true) => out.extend(cur.replace(Run::Word(vec![c]))),
            _ => out.extend(cur.take()),
        }
    }
    out.extend(cur);
    out
}

fn cjk_tokens(chars: &[char], buf: &mut String, f: &mut impl FnMut(Kind, &str)) {
    for (i, c) in chars.iter().enumerate() {
        buf.clear();
        buf.push(*c);
        f(Kind::Unigram, buf);
        if let Some(n) = chars.get(i + 1) {
            buf.push(*n);
            f(Kind::Bigram, buf);
        }
    }
}

/// Every token to index for `text`, calling `f(kind, token)`; duplicates are possible and
/// harmless.
pub fn index_tokens(text: &str, mut f: impl FnMut(Kind, &str)) {
    let mut buf = String::new();
    for run in runs(text) {
        match run {
            Run::Cjk(chars) => cjk_tokens(&chars, &mut buf, &mut f),
            Run::Word(chars) => {
                buf.clear();
                for (i, c) in chars.iter().enumerate() {
                    buf.push(*c);
                    if i + 1 > MAX_PREFIX {
                        break;
                    }
                    if i + 1 >= 2 {
                        f(Kind::Prefix, &buf);
                    }
                }
                if chars.len() > MAX_PREFIX {
                    let word: String = chars.iter().collect();
                    f(Kind::Word, &word);
                }
            }
        }
    }
}

/// Tokens of an identifier (an account, merchant or card id): each of its runs whole, no
/// prefixes. Ids of one kind share long prefixes (`U000000…`), so prefix tokens of ids would
/// be near-universal posting lists that no one searches for; the whole run is still found by
/// a query that spells it out.
pub fn id_tokens(text: &str, mut f: impl FnMut(Kind, &str)) {
    let mut buf = String::new();
    for run in runs(text) {
        let chars = match run {
            Run::Cjk(chars) => {
                cjk_tokens(&chars, &mut buf, &mut f);
                continue;
            }
            Run::Word(chars) if chars.len() < 2 => continue,
            Run::Word(chars) => chars,
        };
        buf.clear();
        buf.extend(chars.iter());
        if chars.len() > MAX_PREFIX {
            f(Kind::Word, &buf);
        } else {
            f(Kind::Prefix, &buf);
        }
    }
}

/// The tokens a query needs, all of which must match. Empty when nothing in the query is
/// searchable.
pub fn query_tokens(text: &str) -> Vec<(Kind, String)> {
    let mut out = Vec::new();
    for run in runs(text) {
        match run {
            Run::Cjk(chars) if chars.len() == 1 => out.push((Kind::Unigram, chars[0].to_string())),
            Run::Cjk(chars) => {
                for pair in chars.windows(2) {
                    out.push((Kind::Bigram, pair.iter().collect()));
                }
            }
            Run::Word(chars) if chars.len() < 2 => {}
            Run::Word(chars) if chars.len() <= MAX_PREFIX => {
                out.push((Kind::Prefix, chars.iter().collect()))
            }
            Run::Word(chars) => out.push((Kind::Word, chars.iter().collect())),
        }
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn indexed(text: &str) -> HashSet<(Kind, String)> {
        let mut set = HashSet::new();
        index_tokens(text, |k, t| {
            set.insert((k, t.to_owned()));
        });
        set
    }

    fn finds(text: &str, query: &str) -> bool {
        let idx = indexed(text);
        let q = query_tokens(query);
        !q.is_empty() && q.iter().all(|t| idx.contains(t))
    }

    #[test]
    fn chinese_substrings_and_single_characters() {
        let note = "星巴克咖啡 午餐";
        assert!(finds(note, "星巴克"));
        assert!(finds(note, "咖啡"));
        assert!(finds(note, "啡"));
        assert!(finds(note, "午餐"));
        assert!(!finds(note, "巴星"));
        assert!(!finds(note, "晚餐"));
    }

    #[test]
    fn english_prefixes_case_and_width_insensitive() {
        let name = "Luckin Coffee ＳＨＡＮＧＨＡＩ";
        assert!(finds(name, "luck"));
        assert!(finds(name, "COFFEE"));
        assert!(finds(name, "shanghai"));
        assert!(finds(name, "coffee luckin"));
        assert!(!finds(name, "offee"));
        assert!(!finds(name, "l"));
        let long = "Supercalifragilistic";
        assert!(finds(long, "supercal"));
        assert!(finds(long, "supercalifragilistic"));
        assert!(!finds(long, "supercalifragilistix"));
    }

    #[test]
    fn ids_are_found_whole_only() {
        let mut set = HashSet::new();
        id_tokens("U0000000102", |k, t| {
            set.insert((k, t.to_owned()));
        });
        id_tokens("card_tok_1", |k, t| {
            set.insert((k, t.to_owned()));
        });
        let finds_id = |q: &str| {
            let q = query_tokens(q);
            !q.is_empty() && q.iter().all(|t| set.contains(t))
        };
        assert!(finds_id("u0000000102"));
        assert!(finds_id("card tok"));
        assert!(!finds_id("u00000001"));
        assert_eq!(set.len(), 3);
    }

    #[test]
    fn mixed_text() {
        let t = "转账给Zhang Wei 房租3月";
        assert!(finds(t, "房租"));
        assert!(finds(t, "zhang"));
        assert!(finds(t, "3月"));
        assert!(finds(t, "转账 wei"));
    }
}
