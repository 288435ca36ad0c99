//! Search terms of help-center text in Chinese and English, the same for articles and queries.
//! Shared by the support backend's bot and the app's offline help search, so both rank alike.
//!
//! There is no dictionary-based Chinese segmenter (on a phone its dictionary would weigh more
//! than the whole help center), so Chinese runs become character bigrams (which carry most of the
//! meaning: 密码, 提现) plus unigrams at a low weight (a one-character query still finds
//! something). Filler phrases (怎么, 如何, 请问…) are cut out first so they neither match nor
//! make bogus bigrams across words. English words are lower-cased, stop words dropped and
//! reduced to a crude stem (withdrawal/withdrawing → withdraw) so inflections meet.

/// Weight of a Chinese unigram relative to a bigram or an English word.
pub const UNIGRAM_WEIGHT: f64 = 0.25;

/// One search term. Unigrams (one character), bigrams (two) and English stems (ASCII) share
/// one vocabulary without colliding.
#[derive(Debug, Clone, PartialEq)]
pub struct Term {
    pub text: String,
    pub weight: f64,
}

/// Chinese phrases that say nothing about the topic. Longest first: they are cut greedily.
const ZH_FILLERS: &[&str] = &[
    "为什么",
    "怎么办",
    "怎么样",
    "是不是",
    "能不能",
    "可不可以",
    "有没有",
    "请问",
    "你好",
    "您好",
    "怎么",
    "如何",
    "什么",
    "一下",
    "可以",
    "应该",
    "还是",
    "为啥",
    "咋办",
    "我们",
    "你们",
    "的",
    "了",
    "吗",
    "呢",
    "吧",
    "啊",
    "呀",
    "嘛",
    "么",
    "我",
    "你",
    "您",
    "他",
    "她",
    "是",
    "在",
    "和",
    "与",
    "及",
    "或",
    "就",
    "都",
    "也",
    "很",
    "要",
    "想",
    "把",
    "被",
    "给",
    "让",
    "这",
    "那",
    "个",
    "些",
    "会",
    "能",
    "去",
    "来",
    "到",
    "说",
    "对",
    "得",
    "地",
    "着",
    "过",
    "啥",
];

const EN_STOP: &[&str] = &[
    "a", "an", "the", "to", "of", "in", "on", "at", "for", "from", "by", "with", "and", "or",
    "but", "if", "is", "are", "was", "were", "be", "been", "being", "am", "do", "does", "did",
    "doing", "have", "has", "had", "i", "me", "my", "mine", "you", "your", "we", "our", "us", "it",
    "its", "this", "that", "these", "those", "there", "here", "what", "which", "who", "whom",
    "how", "why", "when", "where", "can", "could", "would", "should", "will", "shall", "may",
    "might", "must", "not", "no", "t", "s", "d", "ll", "ve", "re", "m", "so", "just", "please",
    "hi", "hello", "hey", "thanks", "thank", "any", "some", "all", "about", "into", "out", "up",
    "again", "then", "than", "too", "very", "get", "got", "want", "need", "help", "don", "doesn",
    "didn", "isn", "aren", "wasn", "won", "cant", "dont", "im", "upay", "app",
];

pub fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF)
}

/// Lower-cases and folds full-width ASCII (Ａ１), which Chinese keyboards emit, to plain ASCII.
fn fold(c: char) -> char {
    let c = match c as u32 {
        0xFF01..=0xFF5E => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        _ => c,
    };
    c.to_ascii_lowercase()
}

fn strip(w: &mut String, suffix: &str, min_left: usize) -> bool {
    if w.len() >= suffix.len() + min_left && w.ends_with(suffix) {
        w.truncate(w.len() - suffix.len());
        true
    } else {
        false
    }
}

/// A crude English stemmer: enough for plurals, tenses and a few derived forms to meet.
pub fn stem(word: &str) -> String {
    let mut w = word.to_owned();
    if w.len() > 4 && w.ends_with("ies") {
        w.truncate(w.len() - 3);
        w.push('y');
    } else if w.ends_with("sses") || ["shes", "ches", "xes"].iter().any(|s| w.ends_with(s)) {
        w.truncate(w.len() - 2);
    } else if !(w.ends_with("ss") || w.ends_with("us")) {
        strip(&mut w, "s", 3);
    }
    if strip(&mut w, "ing", 3) || strip(&mut w, "ed", 3) {
        // transferred → transferr → transfer; but keep "ll"/"ss" (called → call).
        let b = w.as_bytes();
        let n = b.len();
        if n >= 2 && b[n - 1] == b[n - 2] && !matches!(b[n - 1], b'l' | b's' | b'z') {
            w.pop();
        }
    }
    for suffix in ["ation", "ment", "al", "ly"] {
        if strip(&mut w, suffix, 5) {
            break;
        }
    }
    if w.len() > 4 && w.ends_with('e') {
        w.pop();
    }
    w
}

/// Splits text into runs of Chinese characters (`true`) and ASCII words (`false`); everything
/// else separates runs.
fn runs(text: &str) -> Vec<(bool, String)> {
    let mut out: Vec<(bool, String)> = Vec::new();
    let mut cur = String::new();
    let mut cur_cjk = false;
    for c in text.chars().map(fold) {
        let kind = if is_cjk(c) {
            Some(true)
        } else if c.is_ascii_alphanumeric() {
            Some(false)
        } else {
            None
        };
        match kind {
            Some(k) if !cur.is_empty() && k == cur_cjk => cur.push(c),
            Some(k) => {
                if !cur.is_empty() {
                    out.push((cur_cjk, std::mem::take(&mut cur)));
                }
                cur_cjk = k;
                cur.push(c);
            }
            None => {
                if !cur.is_empty() {
                    out.push((cur_cjk, std::mem::take(&mut cur)));
                }
            }
        }
    }
    if !cur.is_empty() {
        out.push((cur_cjk, cur));
    }
    out
}

/// Cuts filler phrases out of a Chinese run, leaving the meaningful pieces.
fn zh_pieces(run: &str) -> Vec<Vec<char>> {
    let chars: Vec<char> = run.chars().collect();
    let mut pieces = Vec::new();
    let mut cur = Vec::new();
    let mut i = 0;
    'outer: while i < chars.len() {
        for filler in ZH_FILLERS {
            let mut n = 0;
            let matched = filler.chars().all(|f| {
                let ok = chars.get(i + n) == Some(&f);
                n += 1;
                ok
            });
            if matched {
                if !cur.is_empty() {
                    pieces.push(std::mem::take(&mut cur));
                }
                i += n;
                continue 'outer;
            }
        }
        cur.push(chars[i]);
        i += 1;
    }
    if !cur.is_empty() {
        pieces.push(cur);
    }
    pieces
}

/// The terms of a text, in order, with repeats (articles count them; queries merge them).
pub fn terms(text: &str) -> Vec<Term> {
    let mut out = Vec::new();
    for (cjk, run) in runs(text) {
        if cjk {
            for chars in zh_pieces(&run) {
                for c in &chars {
                    out.push(Term {
                        text: c.to_string(),
                        weight: UNIGRAM_WEIGHT,
                    });
                }
                for pair in chars.windows(2) {
                    out.push(Term {
                        text: pair.iter().collect(),
                        weight: 1.0,
                    });
                }
            }
        } else {
            // Digits alone ("2", "30") match too loosely to be worth a term.
            if EN_STOP.contains(&run.as_str()) || run.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            out.push(Term {
                text: stem(&run),
                weight: 1.0,
            });
        }
    }
    out
}

/// The last ASCII word of a text still being typed (no space after it yet), lower-cased.
pub fn trailing_partial_word(text: &str) -> Option<String> {
    let last = text.chars().last()?;
    if !fold(last).is_ascii_alphanumeric() {
        return None;
    }
    match runs(text).pop() {
        Some((false, word)) if word.len() >= 2 => Some(word),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(s: &str) -> Vec<String> {
        terms(s).into_iter().map(|t| t.text).collect()
    }

    #[test]
    fn chinese_fillers_are_cut_before_bigrams() {
        let t = texts("忘记密码了怎么办？");
        assert!(t.contains(&"密码".to_owned()));
        assert!(t.contains(&"忘记".to_owned()));
        assert!(!t.iter().any(|x| x.contains('么') || x.contains('了')));
        // No bigram across a cut filler ("码了" would be noise).
        assert!(!t.contains(&"码怎".to_owned()));
    }

    #[test]
    fn english_words_are_stemmed_and_stopped() {
        assert_eq!(texts("How do I withdraw?"), vec!["withdraw"]);
        assert_eq!(stem("withdrawal"), stem("withdraw"));
        assert_eq!(stem("transferred"), stem("transfer"));
        assert_eq!(stem("crashes"), stem("crash"));
        assert_eq!(stem("crashing"), stem("crash"));
        assert_eq!(stem("charged"), stem("charge"));
        assert_eq!(stem("payments"), "payment");
        assert_eq!(stem("locked"), "lock");
    }

    #[test]
    fn mixed_and_full_width_text() {
        let t = texts("ＡＰＰ闪退 Crash 2");
        assert!(t.contains(&"闪退".to_owned()));
        assert!(t.contains(&"crash".to_owned()));
        assert!(!t.contains(&"2".to_owned()));
    }

    #[test]
    fn partial_word() {
        assert_eq!(trailing_partial_word("how to withd"), Some("withd".into()));
        assert_eq!(trailing_partial_word("how to withdraw "), None);
        assert_eq!(trailing_partial_word("怎么提"), None);
        assert_eq!(trailing_partial_word("a"), None);
    }
}
