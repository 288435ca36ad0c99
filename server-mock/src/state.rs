//! Shared state: the configuration and the sandboxes. Each sandbox is a complete, isolated mock
//! backend (database, clock, faults, SMS outbox, request log, event stream); the `default`
//! sandbox is the one a developer sees without the `X-Mock-Sandbox` header.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::{Connection, Transaction, TransactionBehavior};
use serde::Serialize;
use tokio::sync::{RwLock, broadcast};

use crate::clock::Clock;
use crate::config::Config;
use crate::error::{ApiError, ApiResult};
use crate::events::ServerEvent;
use crate::faults::FaultRule;

const REQUEST_LOG_CAPACITY: usize = 1000;

#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    sandboxes: RwLock<HashMap<String, Arc<Sandbox>>>,
    request_counter: AtomicU64,
    boot_nonce: u32,
}

impl AppState {
    pub fn new(config: Config) -> AppState {
        AppState {
            inner: Arc::new(Inner {
                config,
                sandboxes: RwLock::new(HashMap::new()),
                request_counter: AtomicU64::new(0),
                boot_nonce: rand::random(),
            }),
        }
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn next_request_id(&self) -> String {
        let n = self.inner.request_counter.fetch_add(1, Ordering::Relaxed);
        format!("req_{:08x}{:010x}", self.inner.boot_nonce, n)
    }

    /// The named sandbox, created (and seeded with the demo data) on first use.
    pub async fn sandbox(&self, name: &str) -> ApiResult<Arc<Sandbox>> {
        if let Some(sb) = self.inner.sandboxes.read().await.get(name) {
            return Ok(sb.clone());
        }
        let mut map = self.inner.sandboxes.write().await;
        if let Some(sb) = map.get(name) {
            return Ok(sb.clone());
        }
        let config = self.inner.config.clone();
        let owned = name.to_owned();
        let sb = tokio::task::spawn_blocking(move || Sandbox::open(&owned, &config))
            .await
            .map_err(ApiError::internal)??;
        let sb = Arc::new(sb);
        map.insert(name.to_owned(), sb.clone());
        Ok(sb)
    }

    pub async fn sandbox_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.inner.sandboxes.read().await.keys().cloned().collect();
        names.sort();
        names
    }
}

/// One line of the request log (never bodies or headers: they may carry secrets).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RequestRecord {
    pub request_id: String,
    pub at: i64,
    pub method: String,
    pub path: String,
    /// 0 when the connection was dropped before an answer (fault injection).
    pub status: u16,
    pub duration_us: u64,
    pub scenario: Option<String>,
}

/// One SMS the mock "sent".
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SmsMessage {
    pub to: String,
    pub purpose: String,
    pub code: String,
    pub text: String,
    pub sent_at: i64,
}

pub struct Sandbox {
    pub name: String,
    db: Mutex<Connection>,
    pub clock: Clock,
    pub faults: Mutex<Vec<FaultRule>>,
    pub sms: Mutex<Vec<SmsMessage>>,
    requests: Mutex<VecDeque<RequestRecord>>,
    pub events: broadcast::Sender<ServerEvent>,
    /// (user, idempotency key) pairs whose first request is still running.
    pub in_flight: Mutex<HashSet<(String, String)>>,
    pub settings: Mutex<Settings>,
    pub limiter: crate::ratelimit::RateLimiter,
}

/// Per-sandbox knobs the control API can turn.
#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Settings {
    /// PBKDF2 iterations for new password hashes.
    pub pbkdf2_iterations: u32,
    /// Requests allowed per client per rate-limit window; 0 turns rate limiting off.
    pub rate_limit_per_window: u32,
    pub rate_limit_window_secs: u32,
}

impl Sandbox {
    fn open(name: &str, config: &Config) -> ApiResult<Sandbox> {
        // Only the default sandbox persists to `--db`; others are scratch spaces for test suites.
        let conn = match (&config.db, name) {
            (Some(path), "default") => Connection::open(path)?,
            _ => Connection::open_in_memory()?,
        };
        crate::db::prepare(&conn)?;
        let (events, _) = broadcast::channel(1024);
        let sb = Sandbox {
            name: name.to_owned(),
            db: Mutex::new(conn),
            clock: Clock::default(),
            faults: Mutex::new(Vec::new()),
            sms: Mutex::new(Vec::new()),
            requests: Mutex::new(VecDeque::new()),
            limiter: Default::default(),
            events,
            in_flight: Mutex::new(HashSet::new()),
            settings: Mutex::new(Settings {
                pbkdf2_iterations: config.pbkdf2_iterations,
                rate_limit_per_window: config.rate_limit,
                rate_limit_window_secs: 10,
            }),
        };
        if config.demo {
            crate::demo::seed_if_empty(&sb)?;
        }
        Ok(sb)
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite half-written (transactions roll
        // back on drop), so a poisoned lock is safe to keep using.
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` in one IMMEDIATE transaction: committed if it returns `Ok`, rolled back
    /// otherwise, so a failed request never leaves a partial write.
    pub fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> ApiResult<T>) -> ApiResult<T> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    pub fn read<T>(&self, f: impl FnOnce(&Connection) -> ApiResult<T>) -> ApiResult<T> {
        f(&self.conn())
    }

    /// Wipes every table back to a fresh, seeded state (control API `reset`).
    pub fn reset(&self, demo: bool) -> ApiResult<()> {
        {
            let conn = self.conn();
            crate::db::wipe(&conn)?;
        }
        self.clock.reset();
        self.faults
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        self.sms.lock().unwrap_or_else(|p| p.into_inner()).clear();
        self.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        if demo {
            crate::demo::seed_if_empty(self)?;
        }
        Ok(())
    }

    pub fn settings(&self) -> Settings {
        self.settings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn send_sms(&self, msg: SmsMessage) {
        self.sms.lock().unwrap_or_else(|p| p.into_inner()).push(msg);
    }

    pub fn record_request(&self, rec: RequestRecord) {
        let mut log = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        if log.len() == REQUEST_LOG_CAPACITY {
            log.pop_front();
        }
        log.push_back(rec);
    }

    pub fn request_log(&self) -> Vec<RequestRecord> {
        self.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    /// Publishes a live event; nobody listening is fine.
    pub fn publish(&self, event: ServerEvent) {
        let _ = self.events.send(event);
    }
}
