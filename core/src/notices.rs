//! Notices: official announcements and maintenance windows, the system status, the app
//! version policy (with the force-update signal) and the contact channels. All public and
//! served in the app's language; each answer is cached per locale in `notice_cache` so the app
//! can still show the maintenance notice, the hotline and the update requirement when uPay or
//! the network is down. Announcements are shown once: the ids the user dismissed are kept on
//! the device (`dismissed_notices`).

use reqwest::Method;
use rusqlite::OptionalExtension;
use serde::Serialize;
use serde::de::DeserializeOwned;
use upay_protocol::api::auth::Platform;
use upay_protocol::api::engage::{
    Announcement, AnnouncementKind, AnnouncementList, ChannelKind, ContactChannels, ServiceState,
    Severity, SystemStatus, UpdateAdvice, VersionCheck,
};

use crate::api::{Call, NetError, query_value};
use crate::config::DevicePlatform;
use crate::core::Core;
use crate::error::{CoreError, CoreResult};
use crate::help::bundle_locale;
use crate::model::now_ms;

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum NoticeKind {
    Maintenance,
    Incident,
    Notice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, uniffi::Enum)]
pub enum NoticeSeverity {
    Info,
    Warning,
    Critical,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct NoticeView {
    pub id: String,
    pub kind: NoticeKind,
    pub severity: NoticeSeverity,
    pub title: String,
    pub body: String,
    /// Affected parts (`payments`, `transfers`, `topup_withdrawal`, `support_chat`, `login`).
    pub components: Vec<String>,
    pub starts_at: i64,
    pub ends_at: Option<i64>,
    /// In force now (else upcoming), judged by the device clock for cached notices.
    pub active: bool,
    /// The user dismissed it on this device.
    pub dismissed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct NoticeList {
    /// Most important first; ended ones are left out.
    pub notices: Vec<NoticeView>,
    /// From the cache because the server could not be reached.
    pub from_cache: bool,
    pub fetched_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, uniffi::Enum)]
pub enum ServiceHealth {
    Operational,
    Degraded,
    Maintenance,
    Outage,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ComponentHealth {
    pub id: String,
    pub name: String,
    pub state: ServiceHealth,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct StatusView {
    /// The worst state of any component.
    pub state: ServiceHealth,
    pub components: Vec<ComponentHealth>,
    /// Active notices behind the states.
    pub notices: Vec<NoticeView>,
    pub server_time: i64,
    pub from_cache: bool,
    pub fetched_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum UpdateLevel {
    None,
    Optional,
    /// Below the minimum supported version: the app must update before use.
    Required,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct VersionView {
    pub current: String,
    pub latest: String,
    pub minimum_supported: String,
    pub update: UpdateLevel,
    /// Same as `update == Required`: block the app until it is updated.
    pub force_update: bool,
    pub release_notes: String,
    pub store_url: String,
    pub from_cache: bool,
    pub fetched_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ContactKind {
    Chat,
    Hotline,
    Email,
    Social,
    Forum,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ContactChannelView {
    pub kind: ContactKind,
    pub label: String,
    /// Number, address, handle or URL.
    pub value: String,
    /// `tel:`, `mailto:` or `https:` link to open.
    pub link: String,
    pub hours: String,
    pub always_open: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ContactChannelsView {
    pub channels: Vec<ContactChannelView>,
    pub from_cache: bool,
    pub fetched_at: i64,
}

/// A cached answer and where it came from.
struct Fetched<T> {
    value: T,
    from_cache: bool,
    fetched_at: i64,
}

fn locale(core: &Core) -> &'static str {
    bundle_locale(&core.settings.locale)
}

fn cached<T: DeserializeOwned>(core: &Core, kind: &str) -> CoreResult<Option<Fetched<T>>> {
    let row: Option<(Vec<u8>, i64)> = core.store.read(|c| {
        Ok(c.query_row(
            "SELECT body, fetched_at FROM notice_cache WHERE kind = ?1 AND locale = ?2",
            [kind, locale(core)],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
    })?;
    Ok(row.and_then(|(body, fetched_at)| {
        serde_json::from_slice(&body).ok().map(|value| Fetched {
            value,
            from_cache: true,
            fetched_at,
        })
    }))
}

/// Whether a failure means "the server is not there right now" (show the cached copy) rather
/// than an answer the app must see.
pub(crate) fn unavailable(e: &NetError) -> bool {
    match e {
        NetError::NotSent | NetError::NoAnswer | NetError::Unconfirmed | NetError::Tls => true,
        NetError::Problem { problem, .. } => problem.status >= 500,
        NetError::BadResponse => false,
    }
}

/// `GET path`, cached under `kind`; falls back to the cache when the server is unavailable.
async fn fetch<T: DeserializeOwned + Serialize>(
    core: &Core,
    kind: &str,
    path: &str,
) -> CoreResult<Fetched<T>> {
    let result = get(core, path, core.interactive()).await;
    store_or_cached(core, kind, result)
}

async fn get<T: DeserializeOwned>(
    core: &Core,
    path: &str,
    retry: crate::config::RetryPolicy,
) -> Result<T, NetError> {
    let call = Call {
        method: Method::GET,
        path,
        body: None,
        idempotency_key: None,
        bearer: None,
        retry,
    };
    let result = core.http.send(&call).await;
    core.note_reachable(result.as_ref().err().is_none_or(NetError::reached_server));
    result.and_then(|a| crate::api::decode::<T>(&a))
}

/// Caches a fresh answer, or falls back to the cached one when the server is unavailable.
fn store_or_cached<T: DeserializeOwned + Serialize>(
    core: &Core,
    kind: &str,
    result: Result<T, NetError>,
) -> CoreResult<Fetched<T>> {
    match result {
        Ok(value) => {
            let now = now_ms();
            let body = serde_json::to_vec(&value)
                .map_err(|_| CoreError::client(crate::ErrorCode::Storage))?;
            core.store.write(|tx| {
                tx.execute(
                    "INSERT INTO notice_cache (kind, locale, body, fetched_at) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT(kind, locale) DO UPDATE SET body = excluded.body,
                         fetched_at = excluded.fetched_at",
                    rusqlite::params![kind, locale(core), body, now],
                )?;
                Ok(())
            })?;
            Ok(Fetched {
                value,
                from_cache: false,
                fetched_at: now,
            })
        }
        Err(e) if unavailable(&e) => match cached(core, kind)? {
            Some(c) => Ok(c),
            None => Err(e.into_core(core.zh())),
        },
        Err(e) => Err(e.into_core(core.zh())),
    }
}

fn dismissed_ids(core: &Core) -> CoreResult<std::collections::HashSet<String>> {
    core.store.read(|c| {
        let mut st = c.prepare("SELECT id FROM dismissed_notices")?;
        let ids = st
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<Result<_, _>>()?;
        Ok(ids)
    })
}

fn notice(a: &Announcement, now: i64, dismissed: bool) -> NoticeView {
    NoticeView {
        id: a.id.clone(),
        kind: match a.kind {
            AnnouncementKind::Maintenance => NoticeKind::Maintenance,
            AnnouncementKind::Incident => NoticeKind::Incident,
            AnnouncementKind::Notice => NoticeKind::Notice,
        },
        severity: match a.severity {
            Severity::Info => NoticeSeverity::Info,
            Severity::Warning => NoticeSeverity::Warning,
            Severity::Critical => NoticeSeverity::Critical,
        },
        title: a.title.clone(),
        body: a.body.clone(),
        components: a.components.clone(),
        starts_at: a.starts_at,
        ends_at: a.ends_at,
        active: a.active || a.starts_at <= now,
        dismissed,
    }
}

/// Notices that have not ended, most important first (active before upcoming, then
/// severity), with their dismissed flag.
fn notices(core: &Core, list: &[Announcement]) -> CoreResult<Vec<NoticeView>> {
    let now = now_ms();
    let dismissed = dismissed_ids(core)?;
    let mut out: Vec<NoticeView> = list
        .iter()
        .filter(|a| a.ends_at.is_none_or(|e| e > now))
        .map(|a| notice(a, now, dismissed.contains(&a.id)))
        .collect();
    out.sort_by(|a, b| {
        b.active
            .cmp(&a.active)
            .then(b.severity.cmp(&a.severity))
            .then(a.starts_at.cmp(&b.starts_at))
    });
    Ok(out)
}

/// Announcements and maintenance windows (network first, cache when unavailable).
pub async fn announcements(core: &Core) -> CoreResult<NoticeList> {
    let f: Fetched<AnnouncementList> = fetch(core, "announcements", "/v1/announcements").await?;
    Ok(NoticeList {
        notices: notices(core, &f.value.announcements)?,
        from_cache: f.from_cache,
        fetched_at: f.fetched_at,
    })
}

/// The cached announcements without any network (empty before the first fetch).
pub fn cached_announcements(core: &Core) -> CoreResult<NoticeList> {
    Ok(match cached::<AnnouncementList>(core, "announcements")? {
        Some(f) => NoticeList {
            notices: notices(core, &f.value.announcements)?,
            from_cache: true,
            fetched_at: f.fetched_at,
        },
        None => NoticeList {
            notices: Vec::new(),
            from_cache: true,
            fetched_at: 0,
        },
    })
}

/// Marks a notice as seen: it is not shown again on this device.
pub fn dismiss(core: &Core, id: &str) -> CoreResult<()> {
    if id.is_empty() || id.len() > 64 {
        return Err(CoreError::invalid("id").localized(core.zh()));
    }
    core.store.write(|tx| {
        tx.execute(
            "INSERT OR IGNORE INTO dismissed_notices (id, dismissed_at) VALUES (?1, ?2)",
            rusqlite::params![id, now_ms()],
        )?;
        Ok(())
    })
}

fn health(s: ServiceState) -> ServiceHealth {
    match s {
        ServiceState::Operational => ServiceHealth::Operational,
        ServiceState::Degraded => ServiceHealth::Degraded,
        ServiceState::Maintenance => ServiceHealth::Maintenance,
        ServiceState::Outage => ServiceHealth::Outage,
    }
}

fn status_view(core: &Core, f: Fetched<SystemStatus>) -> CoreResult<StatusView> {
    Ok(StatusView {
        state: health(f.value.state),
        components: f
            .value
            .components
            .iter()
            .map(|c| ComponentHealth {
                id: c.id.clone(),
                name: c.name.clone(),
                state: health(c.state),
            })
            .collect(),
        notices: notices(core, &f.value.announcements)?,
        server_time: f.value.server_time,
        from_cache: f.from_cache,
        fetched_at: f.fetched_at,
    })
}

pub async fn status(core: &Core) -> CoreResult<StatusView> {
    let f = fetch(core, "status", "/v1/status").await?;
    status_view(core, f)
}

/// One attempt at the status (the network check times it); a fresh answer is cached.
pub(crate) async fn status_once(core: &Core) -> Result<StatusView, NetError> {
    let mut retry = core.interactive();
    retry.attempts = 1;
    let status: SystemStatus = get(core, "/v1/status", retry).await?;
    // Only a fresh answer reaches this point, so the cache fallback cannot apply.
    store_or_cached(core, "status", Ok(status))
        .and_then(|f| status_view(core, f))
        .map_err(|_| NetError::BadResponse)
}

/// The last status fetched, without network.
pub fn cached_status(core: &Core) -> CoreResult<Option<StatusView>> {
    cached::<SystemStatus>(core, "status")?
        .map(|f| status_view(core, f))
        .transpose()
}

/// Dotted numbers (`2.3.0`); anything else is invalid.
fn parse_version(v: &str) -> Option<Vec<u64>> {
    let parts: Option<Vec<u64>> = v.trim().split('.').map(|p| p.parse().ok()).collect();
    parts.filter(|p| !p.is_empty() && p.len() <= 4)
}

fn cmp_versions(a: &[u64], b: &[u64]) -> std::cmp::Ordering {
    let n = a.len().max(b.len());
    let at = |v: &[u64], i: usize| v.get(i).copied().unwrap_or(0);
    (0..n)
        .map(|i| at(a, i).cmp(&at(b, i)))
        .find(|o| o.is_ne())
        .unwrap_or(std::cmp::Ordering::Equal)
}

/// Whether `app_version` must or may update. Offline, the last policy is applied to the
/// running version on the device, so a cached "minimum 2.0.0" still blocks 1.9.
pub async fn check_version(core: &Core, app_version: &str) -> CoreResult<VersionView> {
    let current = parse_version(app_version)
        .ok_or_else(|| CoreError::invalid("app_version").localized(core.zh()))?;
    let platform = match core.settings.platform {
        DevicePlatform::Android => Platform::Android,
        DevicePlatform::Ios => Platform::Ios,
        DevicePlatform::Other => Platform::Other,
    };
    let platform_tag = match platform {
        Platform::Android => "android",
        Platform::Ios => "ios",
        Platform::Other => "other",
    };
    let path = format!(
        "/v1/app/version?platform={platform_tag}&version={}",
        query_value(app_version.trim())
    );
    let f: Fetched<VersionCheck> = fetch(core, "version", &path).await?;
    let v = &f.value;
    let minimum = parse_version(&v.minimum_supported).unwrap_or_default();
    let latest = parse_version(&v.latest).unwrap_or_default();
    let update = if f.from_cache || v.platform != platform {
        if cmp_versions(&current, &minimum).is_lt() {
            UpdateLevel::Required
        } else if cmp_versions(&current, &latest).is_lt() {
            UpdateLevel::Optional
        } else {
            UpdateLevel::None
        }
    } else {
        match v.update {
            UpdateAdvice::None => UpdateLevel::None,
            UpdateAdvice::Optional => UpdateLevel::Optional,
            UpdateAdvice::Required => UpdateLevel::Required,
        }
    };
    Ok(VersionView {
        current: app_version.trim().to_owned(),
        latest: v.latest.clone(),
        minimum_supported: v.minimum_supported.clone(),
        update,
        force_update: update == UpdateLevel::Required,
        release_notes: v.release_notes.clone(),
        store_url: v.store_url.clone(),
        from_cache: f.from_cache,
        fetched_at: f.fetched_at,
    })
}

fn channels_view(f: Fetched<ContactChannels>) -> ContactChannelsView {
    ContactChannelsView {
        channels: f
            .value
            .channels
            .iter()
            .map(|c| ContactChannelView {
                kind: match c.kind {
                    ChannelKind::Chat => ContactKind::Chat,
                    ChannelKind::Hotline => ContactKind::Hotline,
                    ChannelKind::Email => ContactKind::Email,
                    ChannelKind::Social => ContactKind::Social,
                    ChannelKind::Forum => ContactKind::Forum,
                },
                label: c.label.clone(),
                value: c.value.clone(),
                link: c.link.clone(),
                hours: c.hours.clone(),
                always_open: c.always_open,
            })
            .collect(),
        from_cache: f.from_cache,
        fetched_at: f.fetched_at,
    }
}

/// Hotline, e-mail, social accounts and hours; the cached copy when the server is unavailable
/// (the hotline matters most exactly then).
pub async fn contact_channels(core: &Core) -> CoreResult<ContactChannelsView> {
    Ok(channels_view(
        fetch(core, "channels", "/v1/support/channels").await?,
    ))
}

pub fn cached_contact_channels(core: &Core) -> CoreResult<Option<ContactChannelsView>> {
    Ok(cached::<ContactChannels>(core, "channels")?.map(channels_view))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically() {
        let v = |s| parse_version(s).unwrap();
        assert!(cmp_versions(&v("2.10.0"), &v("2.9.1")).is_gt());
        assert!(cmp_versions(&v("2.0"), &v("2.0.0")).is_eq());
        assert!(cmp_versions(&v("1.9.9"), &v("2.0.0")).is_lt());
        assert!(parse_version("2.x").is_none());
        assert!(parse_version("").is_none());
    }
}
