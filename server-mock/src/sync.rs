//! `GET /v1/sync`: the offline cache's feed. Every insert or update of a history row and every
//! stored operation outcome takes the next number of one sandbox-wide sequence (`change_seq`);
//! a cursor is "everything up to number N of epoch E". A page is the next `limit` changes of the
//! user in sequence order (one indexed range scan per table), plus all balances.
//!
//! The epoch is random per database lifetime: after a reset old cursors are answered with
//! `410 cursor_expired`, as are cursors that do not parse or point past the present.

use axum::Json;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use upay_protocol::api::sync::{
    DEFAULT_SYNC_LIMIT, MAX_SYNC_LIMIT, OperationOutcome, OperationStatus, SyncPage, SyncQuery,
};
use upay_protocol::error::{ErrorCode, Problem};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiQuery;
use crate::idempotency;
use crate::ledger::{records, store};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(sync))
}

fn encode(epoch: &str, seq: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("s1:{epoch}:{seq}"))
}

/// The change number a cursor stands for, if it belongs to this epoch and is not in the future.
fn decode(text: &str, epoch: &str, current: i64) -> Option<i64> {
    let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(text).ok()?).ok()?;
    let mut parts = raw.split(':');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("s1"), Some(e), Some(seq), None) if e == epoch => seq
            .parse::<i64>()
            .ok()
            .filter(|s| (0..=current).contains(s)),
        _ => None,
    }
}

/// `GET /v1/sync?cursor=…&limit=…`: changes since the cursor. Apply a page and store its
/// `next_cursor` in one local transaction; repeat while `has_more`.
#[utoipa::path(get, path = "/v1/sync", tag = "money", security(("bearer" = [])),
    params(SyncQuery),
    responses((status = 200, body = SyncPage), (status = 401, body = Problem),
        (status = 410, body = Problem, description = "cursor_expired: wipe the mirror tables and sync from the start"),
        (status = 422, body = Problem)))]
async fn sync(user: AuthUser, ApiQuery(q): ApiQuery<SyncQuery>) -> ApiResult<Json<SyncPage>> {
    let limit = q.limit.unwrap_or(DEFAULT_SYNC_LIMIT);
    if !(1..=MAX_SYNC_LIMIT).contains(&limit) {
        return Err(ApiError::field(
            "limit",
            "out_of_range",
            "must be 1 to 1000",
        ));
    }
    let page = crate::ledger::read_settled(&user.sandbox, |c| {
        let (epoch, current) = store::sync_position(c)?;
        let after = match &q.cursor {
            None => 0,
            Some(text) => decode(text, &epoch, current).ok_or(ErrorCode::CursorExpired)?,
        };
        let sql = format!(
            "SELECT {} FROM transactions WHERE user_id = ?1 AND change_seq > ?2 ORDER BY change_seq LIMIT ?3",
            records::COLUMNS
        );
        let mut transactions = c
            .prepare_cached(&sql)?
            .query_map(
                rusqlite::params![user.user_id, after, limit + 1],
                records::from_row,
            )?
            .collect::<Result<Vec<_>, _>>()?;
        let mut outcomes =
            idempotency::outcomes_since(c, &user.user_id, after, current, limit + 1)?;
        // Both lists are in change order: cut the merged sequence after `limit` changes.
        let mut seqs: Vec<i64> = transactions
            .iter()
            .map(|t| t.change_seq)
            .chain(outcomes.iter().map(|o| o.change_seq))
            .collect();
        seqs.sort_unstable();
        let has_more = seqs.len() > limit as usize;
        let upto = if has_more {
            seqs[limit as usize - 1]
        } else {
            current
        };
        transactions.retain(|t| t.change_seq <= upto);
        outcomes.retain(|o| o.change_seq <= upto);
        Ok(SyncPage {
            transactions,
            balances: store::balances(c, &user.user_id)?,
            operations: outcomes.into_iter().map(outcome).collect(),
            next_cursor: encode(&epoch, upto),
            has_more,
        })
    })?;
    Ok(Json(page))
}

fn outcome(row: idempotency::OutcomeRow) -> OperationOutcome {
    OperationOutcome {
        idempotency_key: row.key,
        status: if row.status < 400 {
            OperationStatus::Succeeded
        } else {
            OperationStatus::Failed
        },
        http_status: row.status,
        transaction_id: row.transaction_id,
        error_code: row
            .error_code
            .and_then(|c| serde_json::from_value(serde_json::Value::String(c)).ok()),
        at: row.created_at,
        change_seq: row.change_seq,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_are_bound_to_epoch_and_present() {
        let c = encode("abc", 5);
        assert_eq!(decode(&c, "abc", 5), Some(5));
        assert_eq!(decode(&c, "abc", 4), None, "from the future");
        assert_eq!(decode(&c, "abd", 9), None, "another epoch");
        assert_eq!(decode("garbage!", "abc", 9), None);
        assert_eq!(decode(&URL_SAFE_NO_PAD.encode("s1:abc:-1"), "abc", 9), None);
        assert_eq!(
            decode(&URL_SAFE_NO_PAD.encode("s1:abc:1:2"), "abc", 9),
            None
        );
    }
}
