//! The network check (网络检查): what the help screen runs when "nothing works". It times
//! each layer of the way to the backend (DNS, TCP, TLS, one HTTP request to `/v1/status`) and
//! turns the result into one plain-language verdict the app can show without interpreting
//! timings: no internet, uPay is down (with the announcement to read), slow, or fine.
//!
//! The layers tell the cases apart: a name that does not resolve, a connection that times out,
//! or a TLS handshake that fails (a Wi-Fi login page intercepting) are the user's network; a
//! refused connection, a 5xx, or a status of outage/maintenance are ours; a slow answer is
//! slow whoever is to blame.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use tokio::net::TcpStream;

use crate::api::NetError;
use crate::core::Core;
use crate::error::{CoreError, CoreResult};
use crate::notices::{NoticeKind, NoticeView, ServiceHealth};

/// An HTTP answer slower than this is "slow" (a status request is tiny; on a healthy mobile
/// network it takes a few hundred milliseconds).
pub const SLOW_HTTP_MS: u32 = 1500;
/// All layers together slower than this are "slow".
pub const SLOW_TOTAL_MS: u32 = 3000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum NetVerdict {
    /// The phone has no usable internet (off, no signal, a Wi-Fi login page).
    NoInternet,
    /// The network is fine but uPay is not; `notice` says why when we published it.
    ServiceDownSeeAnnouncement,
    /// Everything answers, slowly.
    Slow,
    Ok,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum NetStep {
    Dns,
    Tcp,
    Tls,
    Http,
}

/// How one layer went.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct NetStepResult {
    pub step: NetStep,
    pub ok: bool,
    pub millis: u32,
    /// A short machine word for support (`refused`, `timeout`, `status_503`…), never shown.
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct NetCheckReport {
    pub verdict: NetVerdict,
    /// The verdict in the app's language: a short title and one sentence.
    pub title: String,
    pub message: String,
    /// The layers tried, in order; a failed layer is the last.
    pub steps: Vec<NetStepResult>,
    pub dns_ms: Option<u32>,
    pub tcp_ms: Option<u32>,
    pub tls_ms: Option<u32>,
    pub http_ms: Option<u32>,
    pub total_ms: u32,
    /// The service state when the status answered (else the last one cached).
    pub service_state: Option<ServiceHealth>,
    /// The announcement to show with `ServiceDownSeeAnnouncement` (fresh or cached).
    pub notice: Option<NoticeView>,
}

/// The verdict as the app shows it: (title, message) in Simplified Chinese or English.
pub fn verdict_text(verdict: NetVerdict, zh: bool) -> (String, String) {
    let (t_zh, m_zh, t_en, m_en) = match verdict {
        NetVerdict::NoInternet => (
            "网络未连接",
            "手机无法访问互联网。请检查 Wi-Fi 或移动数据，或登录当前 Wi-Fi 网络后重试。",
            "No internet connection",
            "Your phone cannot reach the internet. Check Wi-Fi or mobile data, or sign in to the Wi-Fi network, then try again.",
        ),
        NetVerdict::ServiceDownSeeAnnouncement => (
            "U钱包服务暂时不可用",
            "您的网络正常，是我们的服务出现了问题。请查看公告了解进展，您的资金安全不受影响。",
            "uPay is temporarily unavailable",
            "Your network is fine; the problem is on our side. See the announcement for updates. Your money is safe.",
        ),
        NetVerdict::Slow => (
            "网络较慢",
            "连接可用但响应很慢，操作可能需要更长时间。可尝试切换网络。",
            "The connection is slow",
            "uPay can be reached but answers slowly, so things may take longer. Try another network.",
        ),
        NetVerdict::Ok => (
            "网络正常",
            "网络连接和U钱包服务均正常。",
            "Everything is working",
            "Your connection and uPay are both working normally.",
        ),
    };
    if zh {
        (t_zh.to_owned(), m_zh.to_owned())
    } else {
        (t_en.to_owned(), m_en.to_owned())
    }
}

fn ms(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

struct Run {
    steps: Vec<NetStepResult>,
    started: Instant,
}

impl Run {
    fn push(&mut self, step: NetStep, ok: bool, took: Duration, detail: &str) -> u32 {
        let millis = ms(took);
        self.steps.push(NetStepResult {
            step,
            ok,
            millis,
            detail: detail.to_owned(),
        });
        millis
    }

    fn millis(&self, step: NetStep) -> Option<u32> {
        self.steps
            .iter()
            .find(|s| s.step == step && s.ok)
            .map(|s| s.millis)
    }
}

/// The notice behind an outage: the most severe active maintenance or incident notice.
fn outage_notice(notices: &[NoticeView]) -> Option<NoticeView> {
    notices
        .iter()
        .filter(|n| n.active && n.kind != NoticeKind::Notice)
        .max_by_key(|n| n.severity)
        .cloned()
}

fn cached_outage_notice(core: &Core) -> Option<NoticeView> {
    let from_status = crate::notices::cached_status(core)
        .ok()
        .flatten()
        .and_then(|s| outage_notice(&s.notices));
    from_status.or_else(|| {
        crate::notices::cached_announcements(core)
            .ok()
            .and_then(|l| outage_notice(&l.notices))
    })
}

/// Where the check connects, known before anything is probed.
struct Target {
    host: String,
    port: u16,
    /// `None` for plain HTTP (developer mode, loopback).
    tls: Option<Arc<rustls::ClientConfig>>,
}

/// What the check needs from the settings. A failure here is this device's configuration,
/// not the network, so it is an error rather than a verdict.
fn target(core: &Core) -> CoreResult<Target> {
    let url = &core.settings.base_url;
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        return Err(CoreError::invalid("base_url"));
    };
    let tls = if url.scheme() == "https" {
        let config = crate::api::tls::client_config(
            core.settings.extra_ca_pem.as_deref(),
            &core.settings.spki_pins,
        )
        .map_err(|_| CoreError::invalid("extra_ca_pem"))?;
        Some(Arc::new(config))
    } else {
        None
    };
    Ok(Target {
        host: host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
        port,
        tls,
    })
}

/// Runs the check. `network_available` is the platform's own view (airplane mode, no
/// interface): when it says no, nothing is probed. Errors only when the check cannot start
/// (a configuration this device cannot connect with); the network's state is the verdict.
/// Dropping the future stops it.
pub async fn run(core: &Core, network_available: bool) -> CoreResult<NetCheckReport> {
    let target = target(core)?;
    let mut run = Run {
        steps: Vec::new(),
        started: Instant::now(),
    };
    let verdict_and_state = if network_available {
        probe(core, &target, &mut run).await
    } else {
        (NetVerdict::NoInternet, None, None)
    };
    let (verdict, state, mut notice) = verdict_and_state;
    if verdict == NetVerdict::ServiceDownSeeAnnouncement && notice.is_none() {
        notice = cached_outage_notice(core);
    }
    let service_state = state.or_else(|| {
        crate::notices::cached_status(core)
            .ok()
            .flatten()
            .map(|s| s.state)
    });
    let (title, message) = verdict_text(verdict, core.zh());
    tracing::info!(?verdict, steps = run.steps.len(), "network check");
    Ok(NetCheckReport {
        verdict,
        title,
        message,
        dns_ms: run.millis(NetStep::Dns),
        tcp_ms: run.millis(NetStep::Tcp),
        tls_ms: run.millis(NetStep::Tls),
        http_ms: run.millis(NetStep::Http),
        total_ms: ms(run.started.elapsed()),
        steps: run.steps,
        service_state,
        notice,
    })
}

type Outcome = (NetVerdict, Option<ServiceHealth>, Option<NoticeView>);

async fn probe(core: &Core, target: &Target, run: &mut Run) -> Outcome {
    let timeout = core.settings.retry.connect_timeout;
    let (host, port) = (&target.host, target.port);

    let t = Instant::now();
    let addrs =
        match tokio::time::timeout(timeout, tokio::net::lookup_host((host.as_str(), port))).await {
            Ok(Ok(a)) => a.collect::<Vec<_>>(),
            Ok(Err(_)) => Vec::new(),
            Err(_) => {
                run.push(NetStep::Dns, false, t.elapsed(), "timeout");
                return (NetVerdict::NoInternet, None, None);
            }
        };
    if addrs.is_empty() {
        run.push(NetStep::Dns, false, t.elapsed(), "no_address");
        return (NetVerdict::NoInternet, None, None);
    }
    run.push(NetStep::Dns, true, t.elapsed(), "ok");

    let t = Instant::now();
    let mut stream = None;
    let mut refused = false;
    for addr in &addrs {
        let left = timeout.saturating_sub(t.elapsed());
        match tokio::time::timeout(left, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => {
                stream = Some(s);
                break;
            }
            Ok(Err(e)) => refused |= e.kind() == std::io::ErrorKind::ConnectionRefused,
            Err(_) => break,
        }
    }
    let Some(stream) = stream else {
        // Refused: the host answered that nothing serves there, which is us, not the network.
        if refused {
            run.push(NetStep::Tcp, false, t.elapsed(), "refused");
            return (NetVerdict::ServiceDownSeeAnnouncement, None, None);
        }
        run.push(NetStep::Tcp, false, t.elapsed(), "timeout");
        return (NetVerdict::NoInternet, None, None);
    };
    let tcp_ms = run.push(NetStep::Tcp, true, t.elapsed(), "ok");

    let mut tls_ms = 0;
    if let Some(config) = &target.tls {
        let t = Instant::now();
        let handshake = tls_handshake(config.clone(), host, stream, timeout).await;
        let ok = handshake.is_ok();
        tls_ms = run.push(
            NetStep::Tls,
            ok,
            t.elapsed(),
            handshake.err().unwrap_or("ok"),
        );
        if !ok {
            // A failed handshake is almost always a network that intercepts (a Wi-Fi login
            // page) or a broken one; our certificate does not change unannounced.
            return (NetVerdict::NoInternet, None, None);
        }
    } else {
        drop(stream);
    }

    let t = Instant::now();
    let status = crate::notices::status_once(core).await;
    let took = t.elapsed();
    match status {
        Ok(s) => {
            let http_ms = run.push(NetStep::Http, true, took, "ok");
            if s.state != ServiceHealth::Operational {
                let notice = outage_notice(&s.notices);
                return (
                    NetVerdict::ServiceDownSeeAnnouncement,
                    Some(s.state),
                    notice,
                );
            }
            let total = ms(run.started.elapsed()).max(tcp_ms + tls_ms + http_ms);
            let verdict = if http_ms > SLOW_HTTP_MS || total > SLOW_TOTAL_MS {
                NetVerdict::Slow
            } else {
                NetVerdict::Ok
            };
            (verdict, Some(s.state), None)
        }
        Err(NetError::Problem { problem, .. }) => {
            let detail = format!("status_{}", problem.status);
            run.push(NetStep::Http, false, took, &detail);
            if problem.status >= 500 {
                (NetVerdict::ServiceDownSeeAnnouncement, None, None)
            } else {
                // Any other answer (e.g. 429) means the server is there and answering.
                let slow = ms(took) > SLOW_HTTP_MS;
                (
                    if slow {
                        NetVerdict::Slow
                    } else {
                        NetVerdict::Ok
                    },
                    None,
                    None,
                )
            }
        }
        Err(NetError::NotSent | NetError::Unconfirmed) => {
            run.push(NetStep::Http, false, took, "not_sent");
            (NetVerdict::NoInternet, None, None)
        }
        Err(NetError::Tls) => {
            run.push(NetStep::Http, false, took, "tls");
            (NetVerdict::NoInternet, None, None)
        }
        // Connected but no answer in time: the server is not serving.
        Err(NetError::NoAnswer) => {
            run.push(NetStep::Http, false, took, "no_answer");
            (NetVerdict::ServiceDownSeeAnnouncement, None, None)
        }
        Err(NetError::BadResponse) => {
            run.push(NetStep::Http, false, took, "bad_response");
            (NetVerdict::ServiceDownSeeAnnouncement, None, None)
        }
    }
}

async fn tls_handshake(
    config: Arc<rustls::ClientConfig>,
    host: &str,
    stream: TcpStream,
    timeout: Duration,
) -> Result<(), &'static str> {
    let name = ServerName::try_from(host.to_owned()).map_err(|_| "server_name")?;
    let connector = tokio_rustls::TlsConnector::from(config);
    match tokio::time::timeout(timeout, connector.connect(name, stream)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(_)) => Err("handshake"),
        Err(_) => Err("timeout"),
    }
}
