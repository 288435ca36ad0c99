//! Notices against the live mock: announcements per locale shown once, system status, the
//! version check with its force-update signal, contact channels, all still answered from the
//! cache when the server is gone; and the network check's verdicts for each kind of trouble.

mod common;

use std::sync::Arc;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};
use upay_core::ErrorCode;
use upay_core::WalletClient;
use upay_core::netcheck::{NetStep, NetVerdict};
use upay_core::notices::{ContactKind, NoticeKind, ServiceHealth, UpdateLevel};

fn client_in(base: &str, dir: &std::path::Path, locale: &str) -> Arc<WalletClient> {
    let mut s = settings(base, dir, "notice-device");
    s.locale = locale.into();
    s.zh = locale.starts_with("zh");
    WalletClient::with_settings(s, key_store(dir)).expect("client opens")
}

async fn publish(mock: &Mock, kind: &str, severity: &str, components: Value) -> String {
    let a = mock
        .control(
            Method::POST,
            "/__mock/announcements",
            Some(json!({
                "kind": kind, "severity": severity,
                "title_zh": "部分转账延迟", "title_en": "Some transfers are delayed",
                "body_zh": "我们正在处理。", "body_en": "We are on it.",
                "components": components,
            })),
        )
        .await;
    a["id"].as_str().expect("announcement id").to_owned()
}

#[tokio::test]
async fn announcements_are_cached_per_locale_and_shown_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut mock = Mock::start().await;
    let id = publish(&mock, "incident", "warning", json!(["transfers"])).await;

    let en = client_in(&mock.base, dir.path(), "en");
    let list = en.notices().announcements().await.unwrap();
    assert!(!list.from_cache);
    let n = list.notices.iter().find(|n| n.id == id).expect("published");
    assert_eq!(n.title, "Some transfers are delayed");
    assert_eq!(n.kind, NoticeKind::Incident);
    assert!(n.active && !n.dismissed);
    // Active first: the seeded maintenance window is upcoming.
    assert_eq!(list.notices[0].id, id);
    assert!(
        list.notices
            .iter()
            .any(|n| !n.active && n.kind == NoticeKind::Maintenance)
    );

    en.notices().dismiss(id.clone()).unwrap();
    en.notices().dismiss(id.clone()).unwrap();
    let again = en.notices().announcements().await.unwrap();
    assert!(again.notices.iter().find(|n| n.id == id).unwrap().dismissed);
    assert!(
        again
            .notices
            .iter()
            .filter(|n| n.id != id)
            .all(|n| !n.dismissed)
    );
    assert_eq!(
        en.notices().dismiss(String::new()).unwrap_err().code(),
        ErrorCode::InvalidInput
    );
    drop(en);

    let zh = client_in(&mock.base, dir.path(), "zh-CN");
    assert!(
        zh.notices()
            .cached_announcements()
            .unwrap()
            .notices
            .is_empty()
    );
    let list = zh.notices().announcements().await.unwrap();
    let n = list.notices.iter().find(|n| n.id == id).unwrap();
    assert_eq!(n.title, "部分转账延迟");
    // Dismissing is per device, not per language.
    assert!(n.dismissed);
    drop(zh);

    // The server is gone: each language still has its own copy.
    mock.stop().await;
    let en = client_in(&mock.base, dir.path(), "en");
    let cached = en.notices().announcements().await.unwrap();
    assert!(cached.from_cache);
    assert_eq!(
        cached.notices.iter().find(|n| n.id == id).unwrap().title,
        "Some transfers are delayed"
    );
    assert_eq!(
        cached.notices,
        en.notices().cached_announcements().unwrap().notices
    );
    drop(en);
    let zh = client_in(&mock.base, dir.path(), "zh-CN");
    let cached = zh.notices().cached_announcements().unwrap();
    assert_eq!(
        cached.notices.iter().find(|n| n.id == id).unwrap().title,
        "部分转账延迟"
    );
}

#[tokio::test]
async fn status_version_and_channels_are_answered_from_the_cache_offline() {
    let dir = tempfile::tempdir().unwrap();
    let mut mock = Mock::start().await;
    let client = client_in(&mock.base, dir.path(), "en");
    let notices = client.notices();

    let s = notices.status().await.unwrap();
    assert_eq!(s.state, ServiceHealth::Operational);
    let id = publish(&mock, "incident", "critical", json!(["payments"])).await;
    let s = notices.status().await.unwrap();
    assert_eq!(s.state, ServiceHealth::Outage);
    let payments = s.components.iter().find(|c| c.id == "payments").unwrap();
    assert_eq!(payments.state, ServiceHealth::Outage);
    assert!(
        s.components
            .iter()
            .filter(|c| c.id != "payments")
            .all(|c| c.state == ServiceHealth::Operational)
    );
    assert_eq!(s.notices[0].id, id);

    let v = notices.check_version("1.9.0".into()).await.unwrap();
    assert_eq!((v.update, v.force_update), (UpdateLevel::Required, true));
    assert_eq!(
        notices.check_version("2.1.0".into()).await.unwrap().update,
        UpdateLevel::Optional
    );
    let v = notices.check_version(v.latest.clone()).await.unwrap();
    assert_eq!((v.update, v.force_update), (UpdateLevel::None, false));
    assert_eq!(
        notices
            .check_version("2.x".into())
            .await
            .unwrap_err()
            .code(),
        ErrorCode::InvalidInput
    );
    // The policy changes: the running version falls below the minimum.
    mock.control(
        Method::PUT,
        "/__mock/app-version/other",
        Some(json!({"latest": "3.0.0", "minimum_supported": "2.5.0",
            "release_notes_zh": "重要安全更新", "release_notes_en": "Important security update",
            "store_url": "https://upay.example/download"})),
    )
    .await;
    let v = notices.check_version("2.4.0".into()).await.unwrap();
    assert!(v.force_update && !v.from_cache);
    assert_eq!(v.release_notes, "Important security update");

    let ch = notices.contact_channels().await.unwrap();
    let hotline = ch
        .channels
        .iter()
        .find(|c| c.kind == ContactKind::Hotline)
        .expect("hotline");
    assert!(hotline.link.starts_with("tel:") && !hotline.hours.is_empty());
    assert!(
        ch.channels
            .iter()
            .any(|c| c.kind == ContactKind::Email && c.link.starts_with("mailto:"))
    );

    mock.stop().await;
    let s = notices.status().await.unwrap();
    assert!(s.from_cache);
    assert_eq!(s.state, ServiceHealth::Outage);
    assert_eq!(notices.cached_status().unwrap(), Some(s));
    // The cached policy is applied to the version asked about, on the device.
    let v = notices.check_version("2.4.0".into()).await.unwrap();
    assert!(v.from_cache && v.force_update);
    let v = notices.check_version("2.6.0".into()).await.unwrap();
    assert_eq!((v.update, v.force_update), (UpdateLevel::Optional, false));
    let v = notices.check_version("3.0.1".into()).await.unwrap();
    assert_eq!(v.update, UpdateLevel::None);
    let offline = notices.contact_channels().await.unwrap();
    assert!(offline.from_cache);
    assert_eq!(offline.channels, ch.channels);

    // A device that never fetched anything has nothing to fall back on.
    let fresh = tempfile::tempdir().unwrap();
    let never = client_in(&mock.base, fresh.path(), "en");
    assert_eq!(
        never.notices().status().await.unwrap_err().code(),
        ErrorCode::Offline
    );
    assert_eq!(never.notices().cached_contact_channels().unwrap(), None);
}

#[tokio::test]
async fn the_network_check_tells_no_internet_from_service_down_from_slow() {
    let dir = tempfile::tempdir().unwrap();
    let mut mock = Mock::start().await;
    let client = client_in(&mock.base, dir.path(), "zh-CN");
    let notices = client.notices();

    let ok = notices.network_check(true).await.unwrap();
    assert_eq!(ok.verdict, NetVerdict::Ok, "{ok:?}");
    let steps: Vec<NetStep> = ok.steps.iter().map(|s| s.step).collect();
    // Plain HTTP to the local mock: no TLS layer.
    assert_eq!(steps, vec![NetStep::Dns, NetStep::Tcp, NetStep::Http]);
    assert!(ok.dns_ms.is_some() && ok.tcp_ms.is_some() && ok.http_ms.is_some());
    assert_eq!(ok.tls_ms, None);
    assert_eq!(ok.title, "网络正常");
    assert_eq!(ok.service_state, Some(ServiceHealth::Operational));

    // The platform says there is no network: nothing is probed.
    let none = notices.network_check(false).await.unwrap();
    assert_eq!(none.verdict, NetVerdict::NoInternet);
    assert!(none.steps.is_empty());
    assert_eq!(none.title, "网络未连接");

    // Slow answers.
    mock.fault(
        Some("/v1/status"),
        json!({"kind": "latency", "ms": 1700}),
        Some(1),
    )
    .await;
    let slow = notices.network_check(true).await.unwrap();
    assert_eq!(slow.verdict, NetVerdict::Slow, "{slow:?}");
    assert!(slow.http_ms.unwrap() >= 1700);

    // The server answers 503.
    mock.fault(
        Some("/v1/status"),
        json!({"kind": "error", "status": 503}),
        Some(1),
    )
    .await;
    let down = notices.network_check(true).await.unwrap();
    assert_eq!(
        down.verdict,
        NetVerdict::ServiceDownSeeAnnouncement,
        "{down:?}"
    );
    assert_eq!(down.steps.last().unwrap().detail, "status_503");

    // An outage we announced: the verdict points at the notice.
    let id = publish(&mock, "maintenance", "warning", json!([])).await;
    let maint = notices.network_check(true).await.unwrap();
    assert_eq!(maint.verdict, NetVerdict::ServiceDownSeeAnnouncement);
    assert_eq!(maint.service_state, Some(ServiceHealth::Maintenance));
    assert_eq!(
        maint.notice.as_ref().map(|n| n.id.as_str()),
        Some(id.as_str())
    );
    assert_eq!(maint.title, "U钱包服务暂时不可用");

    // The server is gone (connection refused): ours, and the cached notice is still named.
    mock.stop().await;
    let gone = notices.network_check(true).await.unwrap();
    assert_eq!(
        gone.verdict,
        NetVerdict::ServiceDownSeeAnnouncement,
        "{gone:?}"
    );
    assert_eq!(gone.steps.last().unwrap().detail, "refused");
    assert_eq!(gone.notice.map(|n| n.id), Some(id));

    // A name that does not resolve is the user's network.
    let nowhere = dir.path().join("nowhere");
    let mut s = settings("https://upay-backend.invalid", &nowhere, "notice-device");
    s.locale = "en".into();
    s.zh = false;
    let lost = WalletClient::with_settings(s, key_store(&nowhere)).unwrap();
    let r = lost.notices().network_check(true).await.unwrap();
    assert_eq!(r.verdict, NetVerdict::NoInternet, "{r:?}");
    assert_eq!(r.steps[0].step, NetStep::Dns);
    assert!(!r.steps[0].ok);
    assert_eq!(r.title, "No internet connection");

    // A check that cannot start (no host to probe) is an error, not a verdict about the network.
    let odd = dir.path().join("odd");
    let mut s = settings("http://127.0.0.1:9", &odd, "notice-device");
    s.base_url = "file:///no-host".parse().unwrap();
    let odd = WalletClient::with_settings(s, key_store(&odd)).unwrap();
    let err = odd.notices().network_check(true).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidInput, "{err:?}");

    // Both languages for every verdict, distinct.
    for v in [
        NetVerdict::NoInternet,
        NetVerdict::ServiceDownSeeAnnouncement,
        NetVerdict::Slow,
        NetVerdict::Ok,
    ] {
        let zh = upay_core::ffi::net_verdict_text(v, "zh-CN".into());
        let en = upay_core::ffi::net_verdict_text(v, "en".into());
        assert_eq!((zh.len(), en.len()), (2, 2));
        assert_ne!(zh, en);
    }
}
