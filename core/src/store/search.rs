//! The blind search index: for each HMAC tag, chunks of postings (`created_at` in whole seconds
//! and the rowid), one chunk per indexing pass. A query intersects the posting sets of all its
//! tags, newest first. Seconds only narrow a history page down: `history.rs` reads the rows of
//! a second together and orders them exactly (`created_at`, then rowid), as its cursor does.
//!
//! A chunk lists its rows in rowid order, each posting as two varints: the rowid's distance
//! from the previous one and the zigzagged difference of the seconds (about 3 bytes instead of
//! 8, which halves what a sync writes).
//!
//! The index trails the rows: `meta.index_upto` is the highest rowid whose postings are
//! written. A sync commits each page (rows and cursor) first and stages its postings in
//! memory; every [`STAGE_ROWS`] rows, and at the end of the sync, they are written in their
//! own transaction ([`Indexer::catch_up`]). Rows above the watermark (the staged ones, a crash,
//! a migration that dropped the index, a payment just recorded) are caught up by the next pass
//! and meanwhile found by a scan of the unindexed rows ([`unindexed_matches`]), so search is
//! exact at all times.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use rusqlite::{Connection, Transaction, params};
use upay_protocol::api::money as wire;

use crate::crypto::Cipher;
use crate::error::CoreResult;
use crate::store::{meta_get, meta_set, mirror};
use crate::text::{self, Kind};

const WATERMARK: &str = "index_upto";
/// Rows per chunk when catching up many rows (bounds the memory of one pass).
const CATCH_UP_BATCH: usize = 10_000;
/// Rows a sync stages before writing a chunk. Tags are random, so a chunk's rows land on as
/// many B-tree leaves as it has tags: writing one chunk per 25 pages instead of one per page
/// cuts the index's share of the WAL by about that much. Search scans at most these rows
/// unindexed during a sync.
pub const STAGE_ROWS: u64 = 25_000;
/// Memoised texts and tags kept across pages before the memo starts again.
const MEMO_LIMIT: usize = 50_000;

/// The hasher of the sync's memos (texts, ids and tags it has seen). SipHash, the default,
/// was a few percent of applying a page: each row looks up four or five short strings. This is
/// the multiply-rotate hash of rustc's own maps. It does not resist chosen collisions, which is
/// acceptable here: the keys come from the user's own server over a pinned TLS connection,
/// and a memo holds at most [`MEMO_LIMIT`] keys before it starts again.
#[derive(Default, Clone, Copy)]
pub struct MemoHasher(u64);

impl MemoHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = self
            .0
            .wrapping_add(word)
            .wrapping_mul(0xf135_7aea_2e62_a9c5);
    }
}

impl Hasher for MemoHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            self.add(u64::from_le_bytes(w.try_into().expect("8 bytes")));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(last) ^ ((rest.len() as u64) << 59));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        // The multiply leaves the best-mixed bits on top; the table indexes by the low ones.
        self.0.rotate_left(26)
    }
}

/// A map with [`MemoHasher`].
pub type Memo<K, V> = HashMap<K, V, BuildHasherDefault<MemoHasher>>;

/// What search covers of one transaction.
#[derive(Debug, Clone, Copy, Default)]
pub struct Texts<'a> {
    /// With the id: the counterparty's exact-match tag is posted too (the history filter by
    /// counterparty reads it).
    pub counterparty_kind: Option<&'a str>,
    pub counterparty_name: Option<&'a str>,
    pub counterparty_id: Option<&'a str>,
    pub merchant_name: Option<&'a str>,
    pub note: Option<&'a str>,
}

impl<'a> Texts<'a> {
    pub fn of(t: &'a wire::Transaction) -> Texts<'a> {
        Texts {
            counterparty_kind: t.counterparty.as_ref().map(|c| c.kind.as_str()),
            counterparty_name: t.counterparty.as_ref().map(|c| c.name.as_str()),
            counterparty_id: t.counterparty.as_ref().map(|c| c.id.as_str()),
            merchant_name: t.merchant.as_ref().map(|m| m.name.as_str()),
            note: t.note.as_deref(),
        }
    }

    /// Every token of these texts (ids whole, other text with prefixes and CJK n-grams).
    pub fn tokens(&self, mut f: impl FnMut(Kind, &str)) {
        if let Some(id) = self.counterparty_id {
            text::id_tokens(id, &mut f);
        }
        for t in [self.counterparty_name, self.merchant_name, self.note]
            .into_iter()
            .flatten()
        {
            text::index_tokens(t, &mut f);
        }
    }
}

/// A row to index: rowid, `created_at` (ms) and its texts.
pub type Row<'a> = (i64, i64, Texts<'a>);

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(b: &[u8], i: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*i)?;
        *i += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Some(v);
        }
    }
    None
}

/// The precision of postings: whole seconds, clamped to what a posting holds.
pub fn secs(created_at_ms: i64) -> i64 {
    created_at_ms.div_euclid(1000).clamp(0, i64::from(u32::MAX))
}

/// The postings of one tag in the chunk being built.
#[derive(Default)]
struct List {
    bytes: Vec<u8>,
    last_rowid: i64,
    last_secs: i64,
}

impl List {
    fn push(&mut self, rowid: i64, secs: i64) {
        put_varint(&mut self.bytes, (rowid - self.last_rowid) as u64);
        let d = secs - self.last_secs;
        put_varint(&mut self.bytes, ((d << 1) ^ (d >> 63)) as u64);
        self.last_rowid = rowid;
        self.last_secs = secs;
    }
}

fn decode_chunk(blob: &[u8], out: &mut Vec<(i64, i64)>) {
    let (mut i, mut rowid, mut at) = (0, 0i64, 0i64);
    while i < blob.len() {
        let (Some(dr), Some(ds)) = (get_varint(blob, &mut i), get_varint(blob, &mut i)) else {
            tracing::warn!("a search index chunk is malformed; ignored from there");
            return;
        };
        rowid += dr as i64;
        at += ((ds >> 1) as i64) ^ -((ds & 1) as i64);
        out.push((at, rowid));
    }
}

/// Builds postings. Names, merchants and notes repeat a lot, so the tags of each distinct
/// text are computed once (tokenising and HMAC are most of the cost) and kept across the pages
/// of a sync; tags get dense numbers so a posting is appended without hashing the tag.
#[derive(Default)]
pub struct Indexer {
    texts: Memo<Box<str>, Box<[u32]>>,
    ids: Memo<Box<str>, Box<[u32]>>,
    counterparties: Memo<String, u32>,
    key: String,
    tags: Vec<i64>,
    dense: Memo<i64, u32>,
    lists: Vec<List>,
    touched: Vec<u32>,
    row_tags: Vec<u32>,
    staged: Staged,
}

/// What the chunk being built covers.
#[derive(Debug, Default, Clone, Copy)]
struct Staged {
    rows: u64,
    min: i64,
    max: i64,
    out_of_order: bool,
}

impl Indexer {
    fn tags_of(&mut self, cipher: &Cipher, text: &str, is_id: bool) -> &[u32] {
        let memo = if is_id { &self.ids } else { &self.texts };
        if !memo.contains_key(text) {
            let (tags, dense, lists) = (&mut self.tags, &mut self.dense, &mut self.lists);
            let mut found: Vec<u32> = Vec::new();
            let mut add = |kind: Kind, token: &str| {
                let tag = cipher.tag(kind.domain(), token);
                let d = *dense.entry(tag).or_insert_with(|| {
                    tags.push(tag);
                    lists.push(List::default());
                    (tags.len() - 1) as u32
                });
                found.push(d);
            };
            if is_id {
                text::id_tokens(text, &mut add);
            } else {
                text::index_tokens(text, &mut add);
            }
            found.sort_unstable();
            found.dedup();
            let memo = if is_id {
                &mut self.ids
            } else {
                &mut self.texts
            };
            memo.insert(text.into(), found.into());
        }
        let memo = if is_id { &self.ids } else { &self.texts };
        &memo[text]
    }

    fn dense(&mut self, tag: i64) -> u32 {
        let (tags, lists) = (&mut self.tags, &mut self.lists);
        *self.dense.entry(tag).or_insert_with(|| {
            tags.push(tag);
            lists.push(List::default());
            (tags.len() - 1) as u32
        })
    }

    fn counterparty(&mut self, cipher: &Cipher, kind: &str, id: &str) -> u32 {
        self.key.clear();
        self.key.push_str(kind);
        self.key.push(':');
        self.key.push_str(id);
        if let Some(d) = self.counterparties.get(self.key.as_str()) {
            return *d;
        }
        let d = self.dense(cipher.tag(mirror::CP_DOMAIN, &self.key));
        self.counterparties.insert(self.key.clone(), d);
        d
    }

    /// Adds one row; rows must come in increasing rowid order within a chunk.
    fn add(&mut self, cipher: &Cipher, rowid: i64, created_at_ms: i64, texts: &Texts<'_>) {
        let mut row_tags = std::mem::take(&mut self.row_tags);
        row_tags.clear();
        if let Some(id) = texts.counterparty_id {
            row_tags.extend_from_slice(self.tags_of(cipher, id, true));
            if let Some(kind) = texts.counterparty_kind {
                row_tags.push(self.counterparty(cipher, kind, id));
            }
        }
        // A merchant payment names the merchant twice (counterparty and merchant): once is enough.
        let merchant = texts
            .merchant_name
            .filter(|m| Some(*m) != texts.counterparty_name);
        for t in [texts.counterparty_name, merchant, texts.note]
            .into_iter()
            .flatten()
        {
            row_tags.extend_from_slice(self.tags_of(cipher, t, false));
        }
        row_tags.sort_unstable();
        row_tags.dedup();
        let at = secs(created_at_ms);
        for &d in &row_tags {
            let list = &mut self.lists[d as usize];
            if list.bytes.is_empty() {
                self.touched.push(d);
            }
            list.push(rowid, at);
        }
        self.row_tags = row_tags;
    }

    /// Writes the chunk built so far under number `chunk` and starts a new one.
    fn flush(&mut self, tx: &Transaction<'_>, chunk: i64) -> rusqlite::Result<()> {
        let mut stmt = tx.prepare_cached(
            "INSERT OR REPLACE INTO search_index (tag, chunk, postings) VALUES (?1, ?2, ?3)",
        )?;
        for d in self.touched.drain(..) {
            let list = &mut self.lists[d as usize];
            stmt.execute(params![self.tags[d as usize], chunk, list.bytes])?;
            list.bytes.clear();
            list.last_rowid = 0;
            list.last_secs = 0;
        }
        if self.tags.len() > MEMO_LIMIT
            || self.texts.len() + self.ids.len() + self.counterparties.len() > MEMO_LIMIT
        {
            *self = Indexer::default();
        }
        Ok(())
    }

    /// Adds the postings of rows just applied (sorted by rowid) to the chunk being built, in
    /// memory; [`Indexer::catch_up`] writes them.
    pub fn stage(&mut self, cipher: &Cipher, rows: &[Row<'_>]) {
        for (rowid, at, texts) in rows {
            if self.staged.rows > 0 && *rowid <= self.staged.max {
                self.staged.out_of_order = true;
            }
            if self.staged.rows == 0 {
                self.staged.min = *rowid;
            }
            self.staged.rows += 1;
            self.staged.max = self.staged.max.max(*rowid);
            self.add(cipher, *rowid, *at, texts);
        }
    }

    /// Rows staged and not written yet.
    pub fn staged_rows(&self) -> u64 {
        self.staged.rows
    }

    fn discard(&mut self) {
        for d in self.touched.drain(..) {
            let list = &mut self.lists[d as usize];
            list.bytes.clear();
            list.last_rowid = 0;
            list.last_secs = 0;
        }
        self.staged = Staged::default();
    }

    /// Brings the index up to date in the caller's transaction and moves the watermark: the
    /// staged chunk is written when it covers exactly the rows above the watermark (the usual
    /// case during a sync); otherwise it is dropped and every row above the watermark is
    /// decrypted and indexed. Returns the number of rows indexed.
    pub fn catch_up(
        &mut self,
        tx: &Transaction<'_>,
        cipher: &Cipher,
        user: &str,
    ) -> CoreResult<u64> {
        let upto = watermark(tx)?;
        let (count, max): (i64, Option<i64>) = tx.query_row(
            "SELECT count(*), max(rowid) FROM transactions WHERE rowid > ?1",
            [upto],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let Some(max) = max else {
            self.discard();
            return Ok(0);
        };
        let st = self.staged;
        if !st.out_of_order && st.rows == count as u64 && st.min > upto && st.max == max {
            self.flush(tx, max)?;
        } else {
            self.discard();
            let mut stmt = tx.prepare_cached(
                "SELECT rowid, created_at, id, body FROM transactions WHERE rowid > ?1
                 ORDER BY rowid",
            )?;
            let mut rows = stmt.query([upto])?;
            let (mut pending, mut last) = (0, upto);
            while let Some(r) = rows.next()? {
                let (rowid, at): (i64, i64) = (r.get(0)?, r.get(1)?);
                let (id, body): (String, Vec<u8>) = (r.get(2)?, r.get(3)?);
                if let Some(owned) = mirror::open_texts(cipher, user, &id, &body) {
                    self.add(cipher, rowid, at, &owned.texts());
                }
                last = rowid;
                pending += 1;
                if pending == CATCH_UP_BATCH {
                    self.flush(tx, last)?;
                    pending = 0;
                }
            }
            self.flush(tx, last)?;
        }
        self.staged = Staged::default();
        meta_set(tx, WATERMARK, &max.to_be_bytes())?;
        Ok(count as u64)
    }
}

/// The highest rowid whose postings are written (0 when none are).
pub fn watermark(conn: &Connection) -> rusqlite::Result<i64> {
    Ok(meta_get(conn, WATERMARK)?
        .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
        .map_or(0, i64::from_be_bytes))
}

/// Forgets the index (with the mirror it covers).
pub fn clear(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute("DELETE FROM search_index", [])?;
    tx.execute("DELETE FROM meta WHERE key = ?1", [WATERMARK])?;
    Ok(())
}

/// (created_at in seconds, rowid) of every indexed transaction carrying all `tags`, newest
/// first.
pub fn matching(conn: &Connection, tags: &[i64]) -> rusqlite::Result<Vec<(i64, i64)>> {
    let mut stmt = conn.prepare_cached("SELECT postings FROM search_index WHERE tag = ?1")?;
    let mut sets: Vec<Vec<(i64, i64)>> = Vec::with_capacity(tags.len());
    for tag in tags {
        let mut set = Vec::new();
        let mut rows = stmt.query([tag])?;
        while let Some(r) = rows.next()? {
            decode_chunk(r.get_ref(0)?.as_blob()?, &mut set);
        }
        if set.is_empty() {
            return Ok(Vec::new());
        }
        set.sort_unstable();
        set.dedup();
        sets.push(set);
    }
    sets.sort_by_key(Vec::len);
    let mut iter = sets.into_iter();
    let Some(mut acc) = iter.next() else {
        return Ok(Vec::new());
    };
    for other in iter {
        acc.retain(|e| other.binary_search(e).is_ok());
        if acc.is_empty() {
            break;
        }
    }
    acc.reverse();
    Ok(acc)
}

/// (created_at in seconds, rowid) of every indexed transaction carrying any of `tags`, newest
/// first.
pub fn matching_any(conn: &Connection, tags: &[i64]) -> rusqlite::Result<Vec<(i64, i64)>> {
    let mut stmt = conn.prepare_cached("SELECT postings FROM search_index WHERE tag = ?1")?;
    let mut set = Vec::new();
    for tag in tags {
        let mut rows = stmt.query([tag])?;
        while let Some(r) = rows.next()? {
            decode_chunk(r.get_ref(0)?.as_blob()?, &mut set);
        }
    }
    set.sort_unstable_by(|a, b| b.cmp(a));
    set.dedup();
    Ok(set)
}

/// (created_at in seconds, rowid) of every row above the watermark, newest first.
pub fn unindexed(conn: &Connection) -> rusqlite::Result<Vec<(i64, i64)>> {
    let mut stmt =
        conn.prepare_cached("SELECT created_at, rowid FROM transactions WHERE rowid > ?1")?;
    let mut out = stmt
        .query_map([watermark(conn)?], |r| Ok((secs(r.get(0)?), r.get(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    out.sort_unstable_by(|a, b| b.cmp(a));
    Ok(out)
}

/// (created_at in seconds, rowid) of the rows above the watermark whose texts hold every
/// query token: the rows the index does not cover yet, found by decrypting them.
pub fn unindexed_matches(
    conn: &Connection,
    cipher: &Cipher,
    user: &str,
    tokens: &[(Kind, String)],
) -> rusqlite::Result<Vec<(i64, i64)>> {
    let upto = watermark(conn)?;
    let mut stmt = conn
        .prepare_cached("SELECT rowid, created_at, id, body FROM transactions WHERE rowid > ?1")?;
    let mut rows = stmt.query([upto])?;
    let mut out = Vec::new();
    let mut have = std::collections::HashSet::new();
    while let Some(r) = rows.next()? {
        let id = r.get_ref(2)?.as_str()?;
        let Some(owned) = mirror::open_texts(cipher, user, id, r.get_ref(3)?.as_blob()?) else {
            continue;
        };
        have.clear();
        owned.texts().tokens(|k, t| {
            have.insert((k, t.to_owned()));
        });
        if tokens.iter().all(|t| have.contains(t)) {
            out.push((secs(r.get(1)?), r.get(0)?));
        }
    }
    Ok(out)
}

/// The tail of the index is caught up outside a sync (after a payment was recorded).
pub fn catch_up_store(store: &crate::store::Store, cipher: &Cipher, user: &str) -> CoreResult<u64> {
    let behind = store.read(|c| {
        let upto = watermark(c)?;
        Ok(c.query_row(
            "SELECT EXISTS (SELECT 1 FROM transactions WHERE rowid > ?1)",
            [upto],
            |r| r.get::<_, bool>(0),
        )?)
    })?;
    if !behind {
        return Ok(0);
    }
    store.write(|tx| Indexer::default().catch_up(tx, cipher, user))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_memo_hasher_spreads_similar_keys() {
        use std::hash::BuildHasher;
        let build = BuildHasherDefault::<MemoHasher>::default();
        // Ids that differ in one digit, and texts that differ only in length, land in distinct
        // low bits (what the table indexes by).
        let mut buckets = std::collections::HashSet::new();
        for i in 0..1000 {
            buckets.insert(build.hash_one(format!("U{i:010}")) & 0xfff);
        }
        assert!(buckets.len() > 700, "{}", buckets.len());
        assert_ne!(build.hash_one("ab"), build.hash_one("ab\0"));
        assert_ne!(build.hash_one(1i64), build.hash_one(2i64));
    }

    #[test]
    fn postings_round_trip_through_the_compact_encoding() {
        let mut list = List::default();
        let rows = [
            (1, 1_700_000_000),
            (2, 1_690_000_000),
            (900, 1_700_000_001),
            (70_000, 0),
        ];
        for (rowid, at) in rows {
            list.push(rowid, at);
        }
        let mut out = Vec::new();
        decode_chunk(&list.bytes, &mut out);
        assert_eq!(out, rows.iter().map(|(r, a)| (*a, *r)).collect::<Vec<_>>());
        assert!(list.bytes.len() < rows.len() * 8);
    }
}
