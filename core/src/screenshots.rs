//! Screenshots attached to chat messages and feedback: kept on the device as sealed envelopes
//! (bound to their row and user) from the moment they are queued, uploaded with
//! `POST /v1/support/attachments` when their message or feedback is sent, and kept for the
//! user's own chat bubbles afterwards. Each row remembers the server's attachment id once the
//! upload succeeded, so a resend after a lost answer references the same ids (the idempotent
//! write must see the same body) and an image is never uploaded again once stored.
//!
//! `parent` names the owner of a set of images: `chat:<conversation>/<local id>` or
//! `feedback:<id>`; `idx` is the position (0-based) in the message or feedback.

use reqwest::Method;
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use upay_protocol::api::support::{Attachment, MAX_ATTACHMENT_BYTES, MAX_ATTACHMENTS_PER_MESSAGE};

use crate::api::NetError;
use crate::core::Core;
use crate::crypto::Place;
use crate::error::{CoreError, CoreResult, ErrorCode};

/// At most this many screenshots per message or feedback.
pub const MAX_SCREENSHOTS: usize = MAX_ATTACHMENTS_PER_MESSAGE;

fn place<'a>(row: &'a str, user: &'a str) -> Place<'a> {
    Place::new("screenshots", "body", row, user)
}

/// The declared type, from the bytes (the server recognises the format by its bytes too; a
/// file that is none of these is sent as `application/octet-stream` and refused there).
pub fn content_type(bytes: &[u8]) -> &'static str {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        "image/png"
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        "image/jpeg"
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        "image/webp"
    } else {
        "application/octet-stream"
    }
}

/// Refuses what can never be sent before it is queued: an empty image, or one above the
/// server's 5 MB limit (`PayloadTooLarge`, the code the server would answer). Whether the
/// bytes are a sound PNG, JPEG or WebP is the server's verdict, at send time.
pub fn check(images: &[Vec<u8>], zh: bool) -> CoreResult<()> {
    if images.len() > MAX_SCREENSHOTS {
        return Err(CoreError::invalid("screenshots").localized(zh));
    }
    for image in images {
        if image.is_empty() {
            return Err(CoreError::invalid("screenshots").localized(zh));
        }
        if image.len() > MAX_ATTACHMENT_BYTES {
            return Err(CoreError::client(ErrorCode::PayloadTooLarge).localized(zh));
        }
    }
    Ok(())
}

/// Stores the images of `parent`, sealed, in the caller's transaction.
pub fn insert(
    core: &Core,
    tx: &Transaction<'_>,
    user_id: &str,
    owner_tag: i64,
    parent: &str,
    images: &[Vec<u8>],
) -> CoreResult<()> {
    for (idx, image) in images.iter().enumerate() {
        let row = format!("{parent}#{idx}");
        let body = core.cipher.seal(&place(&row, user_id), image)?;
        tx.execute(
            "INSERT INTO screenshots (parent, idx, owner_tag, content_type, size_bytes, body)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                parent,
                idx as i64,
                owner_tag,
                content_type(image),
                image.len() as i64,
                body
            ],
        )?;
    }
    Ok(())
}

/// What the device holds of `parent`: (index, server attachment id) in order.
pub fn list(conn: &Connection, parent: &str) -> rusqlite::Result<Vec<(u32, Option<String>)>> {
    let mut st = conn.prepare_cached(
        "SELECT idx, attachment_id FROM screenshots WHERE parent = ?1 ORDER BY idx",
    )?;
    let rows = st
        .query_map([parent], |r| Ok((r.get::<_, i64>(0)? as u32, r.get(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

pub fn delete(tx: &Transaction<'_>, parent: &str) -> rusqlite::Result<()> {
    tx.execute("DELETE FROM screenshots WHERE parent = ?1", [parent])?;
    Ok(())
}

/// The bytes of one image of `parent`, when on the device.
pub fn read(core: &Core, user_id: &str, parent: &str, idx: u32) -> CoreResult<Option<Vec<u8>>> {
    match envelope(core, parent, idx)? {
        Some(body) => Ok(Some(unseal(core, user_id, parent, idx, &body)?)),
        None => Ok(None),
    }
}

fn envelope(core: &Core, parent: &str, idx: u32) -> CoreResult<Option<Vec<u8>>> {
    core.store.read(|conn| {
        Ok(conn
            .query_row(
                "SELECT body FROM screenshots WHERE parent = ?1 AND idx = ?2",
                params![parent, idx as i64],
                |r| r.get(0),
            )
            .optional()?)
    })
}

fn unseal(
    core: &Core,
    user_id: &str,
    parent: &str,
    idx: u32,
    body: &[u8],
) -> Result<Vec<u8>, crate::crypto::CryptoError> {
    let row = format!("{parent}#{idx}");
    Ok(core.cipher.open(&place(&row, user_id), body)?.to_vec())
}

/// Keeps a copy of an image fetched from the server (the user's own screenshot on a new
/// device), sealed like one queued here.
pub fn keep(
    core: &Core,
    user_id: &str,
    owner_tag: i64,
    parent: &str,
    idx: u32,
    attachment_id: &str,
    image: &[u8],
) -> CoreResult<()> {
    let row = format!("{parent}#{idx}");
    let body = core.cipher.seal(&place(&row, user_id), image)?;
    core.store.write(|tx| {
        tx.execute(
            "INSERT OR IGNORE INTO screenshots (parent, idx, owner_tag, content_type, size_bytes,
                                                attachment_id, body)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                parent,
                idx as i64,
                owner_tag,
                content_type(image),
                image.len() as i64,
                attachment_id,
                body
            ],
        )?;
        Ok(())
    })
}

/// Uploads the images of `parent` that have no server id yet, in order, recording each id as
/// it is given; returns every id in order. A failure stops at that image (the ones before keep
/// their ids); the caller decides from the error whether to try again later.
pub async fn upload(core: &Core, user_id: &str, parent: &str) -> Result<Vec<String>, UploadError> {
    let rows = core
        .store
        .read(|conn| Ok(list(conn, parent)?))
        .map_err(UploadError::Local)?;
    let mut ids = Vec::with_capacity(rows.len());
    for (idx, id) in rows {
        if let Some(id) = id {
            ids.push(id);
            continue;
        }
        let body = envelope(core, parent, idx)
            .map_err(UploadError::Local)?
            .ok_or(UploadError::Local(CoreError::client(
                ErrorCode::ItemNotFound,
            )))?;
        // An envelope that does not open was sealed under a key this device lost.
        let bytes =
            unseal(core, user_id, parent, idx, &body).map_err(|_| UploadError::Unreadable)?;
        let kind = content_type(&bytes);
        let answer = core
            .send_authed_as(
                Method::POST,
                "/v1/support/attachments",
                Some(bytes),
                kind,
                None,
                core.interactive(),
            )
            .await
            .map_err(UploadError::Net)?;
        let meta: Attachment = crate::api::decode(&answer).map_err(UploadError::Net)?;
        core.store
            .write(|tx| {
                tx.execute(
                    "UPDATE screenshots SET attachment_id = ?3 WHERE parent = ?1 AND idx = ?2",
                    params![parent, idx as i64, meta.id],
                )?;
                Ok(())
            })
            .map_err(UploadError::Local)?;
        ids.push(meta.id);
    }
    Ok(ids)
}

pub enum UploadError {
    Net(NetError),
    /// Sealed under a key this device lost: it can never be sent.
    Unreadable,
    Local(CoreError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_declared_type_comes_from_the_magic_bytes() {
        assert_eq!(content_type(b"\x89PNG\r\n\x1a\n...."), "image/png");
        assert_eq!(content_type(&[0xFF, 0xD8, 0xFF, 0xE0]), "image/jpeg");
        assert_eq!(content_type(b"RIFF\0\0\0\0WEBPVP8 "), "image/webp");
        assert_eq!(content_type(b"GIF89a"), "application/octet-stream");
        assert_eq!(content_type(b""), "application/octet-stream");
    }

    #[test]
    fn what_can_never_be_sent_is_refused_before_it_is_queued() {
        assert!(check(&[vec![1u8; 10]], false).is_ok());
        assert!(check(&[vec![1u8; MAX_ATTACHMENT_BYTES]], false).is_ok());
        let too_big = check(&[vec![1u8; MAX_ATTACHMENT_BYTES + 1]], false).unwrap_err();
        assert_eq!(too_big.code(), ErrorCode::PayloadTooLarge);
        assert_eq!(
            check(&[Vec::new()], true).unwrap_err().code(),
            ErrorCode::InvalidInput
        );
        let five = vec![vec![1u8; 4]; MAX_SCREENSHOTS + 1];
        assert_eq!(
            check(&five, false).unwrap_err().code(),
            ErrorCode::InvalidInput
        );
    }
}
