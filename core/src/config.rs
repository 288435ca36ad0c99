//! What the app tells the core when it creates the client, and the checks that make an unsafe
//! configuration impossible to use (plain HTTP only to this device, only in developer mode).

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{CoreError, CoreResult, ErrorCode};

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum DevicePlatform {
    Android,
    Ios,
    Other,
}

/// Configuration of a [`crate::ffi::WalletClient`].
#[derive(Debug, Clone, uniffi::Record)]
pub struct ClientConfig {
    /// Backend base URL, e.g. `https://api.upay.example`. `http://` only to loopback with
    /// `developer_mode`.
    pub base_url: String,
    /// Directory the encrypted cache lives in (created if missing).
    pub data_dir: String,
    /// BCP 47 locale of the UI, e.g. `zh-CN` or `en`; sent as `Accept-Language`.
    pub locale: String,
    /// Generated once per install and kept by the app: 8–64 characters of `[A-Za-z0-9_-]`.
    pub device_id: String,
    /// Display name of the device, e.g. "Xiaomi 14".
    pub device_name: String,
    pub platform: DevicePlatform,
    /// Allows `http://` to loopback (the mock on a developer's laptop).
    pub developer_mode: bool,
    /// Base64 SHA-256 digests of acceptable server SubjectPublicKeyInfos; empty = no pinning.
    pub spki_pins: Vec<String>,
    /// An extra trusted CA in PEM (e.g. the mock's development CA).
    pub extra_ca_pem: Option<String>,
    /// The user's UTC offset in minutes, for months and days of statements and analysis.
    pub utc_offset_minutes: i32,
    /// Lock the app after this many seconds without use; 0 disables the app lock.
    pub app_lock_after_secs: u32,
}

impl ClientConfig {
    /// A configuration with defaults for everything but the essentials (tests, desktop).
    pub fn new(base_url: &str, data_dir: &str, device_id: &str) -> ClientConfig {
        ClientConfig {
            base_url: base_url.to_owned(),
            data_dir: data_dir.to_owned(),
            locale: "zh-CN".to_owned(),
            device_id: device_id.to_owned(),
            device_name: "uPay device".to_owned(),
            platform: DevicePlatform::Other,
            developer_mode: false,
            spki_pins: Vec::new(),
            extra_ca_pem: None,
            utc_offset_minutes: 8 * 60,
            app_lock_after_secs: 300,
        }
    }
}

/// A checked configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub base_url: reqwest::Url,
    pub data_dir: PathBuf,
    pub locale: String,
    pub zh: bool,
    pub device_id: String,
    pub device_name: String,
    pub platform: DevicePlatform,
    pub developer_mode: bool,
    pub spki_pins: Vec<[u8; 32]>,
    pub extra_ca_pem: Option<String>,
    pub utc_offset_ms: i64,
    pub app_lock_after: Option<Duration>,
    /// Retry tuning (tests shorten the delays).
    pub retry: RetryPolicy,
}

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts of one call, the first included.
    pub attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Longest `Retry-After` honoured inside one call; longer ones surface as `RateLimited`.
    pub max_retry_after: Duration,
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    /// The background worker's first retry of the support queues (chat messages, feedback)
    /// after a send failed for a reason worth trying again; each further failure doubles the
    /// wait up to `queue_retry_max`. A request that reaches the server after failures retries
    /// them at once. `None`: the worker sends them only on the app's network and foreground
    /// signals (tests that step through a queue by hand).
    pub queue_retry_first: Option<Duration>,
    pub queue_retry_max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            attempts: 3,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(4),
            max_retry_after: Duration::from_secs(10),
            request_timeout: Duration::from_secs(20),
            connect_timeout: Duration::from_secs(8),
            queue_retry_first: Some(Duration::from_secs(5)),
            queue_retry_max: Duration::from_secs(120),
        }
    }
}

pub fn is_chinese(locale: &str) -> bool {
    locale.to_ascii_lowercase().starts_with("zh")
}

fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl Settings {
    pub fn from_config(c: &ClientConfig) -> CoreResult<Settings> {
        let base_url =
            reqwest::Url::parse(&c.base_url).map_err(|_| CoreError::invalid("base_url"))?;
        match base_url.scheme() {
            "https" => {}
            "http" if c.developer_mode && is_loopback(&base_url) => {}
            "http" => return Err(CoreError::client(ErrorCode::InsecureConnection)),
            _ => return Err(CoreError::invalid("base_url")),
        }
        let device_ok = (8..=64).contains(&c.device_id.len())
            && c.device_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !device_ok {
            return Err(CoreError::invalid("device_id"));
        }
        let name_len = c.device_name.chars().count();
        if !(1..=64).contains(&name_len) {
            return Err(CoreError::invalid("device_name"));
        }
        if c.data_dir.is_empty() {
            return Err(CoreError::invalid("data_dir"));
        }
        if !(-14 * 60..=14 * 60).contains(&c.utc_offset_minutes) {
            return Err(CoreError::invalid("utc_offset_minutes"));
        }
        let mut pins = Vec::with_capacity(c.spki_pins.len());
        for pin in &c.spki_pins {
            use base64::Engine;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(pin)
                .map_err(|_| CoreError::invalid("spki_pins"))?;
            pins.push(
                <[u8; 32]>::try_from(bytes.as_slice())
                    .map_err(|_| CoreError::invalid("spki_pins"))?,
            );
        }
        Ok(Settings {
            base_url,
            data_dir: PathBuf::from(&c.data_dir),
            locale: c.locale.clone(),
            zh: is_chinese(&c.locale),
            device_id: c.device_id.clone(),
            device_name: c.device_name.clone(),
            platform: c.platform,
            developer_mode: c.developer_mode,
            spki_pins: pins,
            extra_ca_pem: c.extra_ca_pem.clone(),
            utc_offset_ms: i64::from(c.utc_offset_minutes) * 60_000,
            app_lock_after: (c.app_lock_after_secs > 0)
                .then(|| Duration::from_secs(u64::from(c.app_lock_after_secs))),
            retry: RetryPolicy::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str, dev: bool) -> ClientConfig {
        let mut c = ClientConfig::new(url, "/tmp/x", "device-0001");
        c.developer_mode = dev;
        c
    }

    #[test]
    fn plain_http_only_to_loopback_in_developer_mode() {
        assert!(Settings::from_config(&config("https://api.example.com", false)).is_ok());
        assert!(Settings::from_config(&config("http://127.0.0.1:8080", true)).is_ok());
        assert!(Settings::from_config(&config("http://localhost:8080", true)).is_ok());
        for (url, dev) in [
            ("http://127.0.0.1:8080", false),
            ("http://api.example.com", true),
            ("http://10.0.0.2", true),
        ] {
            assert_eq!(
                Settings::from_config(&config(url, dev)).unwrap_err().code(),
                ErrorCode::InsecureConnection,
                "{url}"
            );
        }
        assert_eq!(
            Settings::from_config(&config("ftp://x", true))
                .unwrap_err()
                .code(),
            ErrorCode::InvalidInput
        );
    }

    #[test]
    fn pins_must_be_sha256_digests() {
        let mut c = config("https://api.example.com", false);
        c.spki_pins = vec!["not base64!".into()];
        assert!(Settings::from_config(&c).is_err());
        c.spki_pins = vec!["AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into()];
        assert_eq!(Settings::from_config(&c).unwrap().spki_pins.len(), 1);
    }
}
