//! The app version policy per platform: latest, minimum supported (below it the update is
//! forced) and release notes.

use axum::Json;
use axum::extract::Path;
use serde::Deserialize;
use upay_protocol::api::auth::Platform;
use upay_protocol::api::engage::*;
use upay_protocol::error::Problem;
use utoipa::IntoParams;

use super::store;
use crate::error::{ApiError, ApiResult, Validator};
use crate::extract::{ApiJson, ApiQuery, Sb};
use crate::help::kb::Locale;

/// Dotted numeric versions (`2.3.0`); at most 4 parts of at most 5 digits.
pub fn parse_version(v: &str) -> Option<Vec<u32>> {
    let parts: Vec<&str> = v.trim().split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    parts
        .iter()
        .map(|p| {
            (!p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
                .then(|| p.parse().ok())
                .flatten()
        })
        .collect::<Option<Vec<u32>>>()
        .map(|mut v| {
            // 2.3 == 2.3.0
            while v.len() > 1 && v.last() == Some(&0) {
                v.pop();
            }
            v
        })
}

pub fn default_policy(platform: Platform) -> VersionPolicy {
    let store_url = match platform {
        Platform::Ios => "https://apps.apple.com/app/upay-example",
        _ => "https://play.google.com/store/apps/details?id=example.upay",
    };
    VersionPolicy {
        latest: "2.4.0".to_owned(),
        minimum_supported: "2.0.0".to_owned(),
        release_notes_zh: "新增离线付款码；客服聊天支持发送截图；修复部分机型闪退问题。".to_owned(),
        release_notes_en:
            "Offline payment code; screenshots in support chat; fixes a crash on some phones."
                .to_owned(),
        store_url: store_url.to_owned(),
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VersionQuery {
    pub platform: Platform,
    /// The running app's version, e.g. `2.1.0`.
    pub version: String,
}

/// `GET /v1/app/version?platform=android&version=2.1.0`: whether to update, and whether the
/// update is forced. Public: checked before sign-in.
#[utoipa::path(get, path = "/v1/app/version", tag = "engage", params(VersionQuery),
    responses((status = 200, body = VersionCheck), (status = 422, body = Problem)))]
pub async fn check_version(
    Sb(sb): Sb,
    ApiQuery(q): ApiQuery<VersionQuery>,
) -> ApiResult<Json<VersionCheck>> {
    let current = parse_version(&q.version)
        .ok_or_else(|| ApiError::field("version", "invalid", "dotted numbers such as 2.3.0"))?;
    let p = sb
        .read(|c| store::version_policy(c, q.platform))?
        .unwrap_or_else(|| default_policy(q.platform));
    let latest = parse_version(&p.latest).unwrap_or_default();
    let minimum = parse_version(&p.minimum_supported).unwrap_or_default();
    let update = if current < minimum {
        UpdateAdvice::Required
    } else if current < latest {
        UpdateAdvice::Optional
    } else {
        UpdateAdvice::None
    };
    let zh = Locale::current().zh();
    Ok(Json(VersionCheck {
        platform: q.platform,
        latest: p.latest,
        minimum_supported: p.minimum_supported,
        update,
        force_update: update == UpdateAdvice::Required,
        release_notes: if zh {
            p.release_notes_zh
        } else {
            p.release_notes_en
        },
        store_url: p.store_url,
    }))
}

/// `PUT /__mock/app-version/{platform}`: sets a platform's policy.
#[utoipa::path(put, path = "/__mock/app-version/{platform}", tag = "control",
    params(("platform" = Platform, Path)), request_body = VersionPolicy,
    responses((status = 200, body = VersionPolicy), (status = 422, body = Problem)))]
pub async fn mock_set_version(
    Sb(sb): Sb,
    Path(platform): Path<Platform>,
    ApiJson(req): ApiJson<VersionPolicy>,
) -> ApiResult<Json<VersionPolicy>> {
    let latest = parse_version(&req.latest);
    let minimum = parse_version(&req.minimum_supported);
    let mut v = Validator::new();
    v.check(
        latest.is_some(),
        "latest",
        "invalid",
        "dotted numbers such as 2.3.0",
    );
    v.check(
        minimum.is_some(),
        "minimum_supported",
        "invalid",
        "dotted numbers such as 2.0.0",
    );
    v.check(
        latest.is_none() || minimum.is_none() || minimum <= latest,
        "minimum_supported",
        "out_of_range",
        "must not be above latest",
    );
    v.text(&req.release_notes_zh, "release_notes_zh", 1, 1000);
    v.text(&req.release_notes_en, "release_notes_en", 1, 2000);
    v.check(
        req.store_url.starts_with("https://"),
        "store_url",
        "invalid",
        "an https URL",
    );
    v.finish()?;
    sb.write(|tx| store::set_version_policy(tx, platform, &req))?;
    Ok(Json(req))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically() {
        assert!(parse_version("2.10.0") > parse_version("2.9.1"));
        assert_eq!(parse_version("2.3"), parse_version("2.3.0"));
        assert!(parse_version("2.x").is_none());
        assert!(parse_version("").is_none());
        assert!(parse_version("1.2.3.4.5").is_none());
    }
}
