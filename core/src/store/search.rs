//! The blind search index: for each HMAC tag, chunks of postings (8 bytes each: `created_at`
//! in whole seconds and the rowid, both `u32` big-endian), one chunk per applied batch. A query
//! intersects the posting sets of all its tags, newest first. Seconds are precise enough to
//! order a history page (ties fall back to the rowid) and halve the index.

/// One posting.
pub fn posting(created_at_ms: i64, rowid: i64) -> [u8; 8] {
    let mut e = [0u8; 8];
    e[..4].copy_from_slice(
        &(created_at_ms.div_euclid(1000).clamp(0, u32::MAX as i64) as u32).to_be_bytes(),
    );
    e[4..].copy_from_slice(&(rowid.clamp(0, u32::MAX as i64) as u32).to_be_bytes());
    e
}

use rusqlite::Connection;

/// (created_at in seconds, rowid) of every transaction carrying all `tags`, newest first.
pub fn matching(conn: &Connection, tags: &[i64]) -> rusqlite::Result<Vec<(i64, i64)>> {
    let mut stmt = conn.prepare_cached("SELECT postings FROM search_postings WHERE tag = ?1")?;
    let mut sets: Vec<Vec<(i64, i64)>> = Vec::with_capacity(tags.len());
    for tag in tags {
        let mut set = Vec::new();
        let mut rows = stmt.query([tag])?;
        while let Some(r) = rows.next()? {
            let blob = r.get_ref(0)?.as_blob()?;
            for e in blob.chunks_exact(8) {
                let at = u32::from_be_bytes(e[..4].try_into().expect("4 bytes"));
                let rowid = u32::from_be_bytes(e[4..].try_into().expect("4 bytes"));
                set.push((i64::from(at), i64::from(rowid)));
            }
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
