//! The wallet core behind the exported objects: settings, the cache and its key, the API
//! client with the session's tokens, listeners and the background worker. The `ffi` objects
//! are thin handles on one `Arc<Core>`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Instant;

use reqwest::Method;
use serde::Serialize;
use upay_protocol::api::auth::{RefreshRequest, TokenPair, UserProfile};
use upay_protocol::error::{ErrorCode as WireCode, Problem};

use crate::api::{Answer, Call, Http, NetError};
use crate::config::{ClientConfig, RetryPolicy, Settings};
use crate::crypto::{Cipher, DataKey, KeyState, Place, check_canary, seal_canary};
use crate::error::{CoreError, CoreResult, ErrorCode};
use crate::events::{Events, WalletEvent};
use crate::keystore::{KeyStore, KeyStoreError};
use crate::model::{BalanceView, OutboxItem, now_ms};
use crate::store::{self, Store, meta_get, meta_set, outbox};

/// The runtime of background work (the outbox worker); exported async calls run on the
/// caller's runtime.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("upay-core")
            .enable_all()
            .build()
            .expect("tokio runtime")
    })
}

/// What is kept of a signed-in session (sealed in the `session` table).
#[derive(Clone, Serialize, serde::Deserialize)]
pub struct StoredSession {
    pub tokens: TokenPair,
    pub user: UserProfile,
    #[serde(default)]
    pub signing_key_registered: bool,
}

#[derive(Clone)]
pub struct Auth {
    pub session: StoredSession,
    /// Blind tag of the user id: owner of outbox rows and reminders.
    pub user_tag: i64,
}

pub struct Core {
    pub settings: Settings,
    pub store: Store,
    pub cipher: Cipher,
    pub keystore: Arc<dyn KeyStore>,
    pub http: Http,
    pub events: Arc<Events>,
    auth: RwLock<Option<Auth>>,
    refresh_lock: tokio::sync::Mutex<()>,
    /// One sender at a time keeps the outbox in the user's order.
    pub send_lock: tokio::sync::Mutex<()>,
    pub sync_lock: tokio::sync::Mutex<()>,
    /// Wakes the background worker. Its own `Arc` so the worker can wait on it without
    /// holding the core (see `sync/worker.rs`).
    pub wake: Arc<tokio::sync::Notify>,
    last_activity: Mutex<Instant>,
    locked: AtomicBool,
    pub offline: AtomicBool,
    /// The app reported the network back or came to the foreground: the worker's next round
    /// retries everything waiting at once (outbox items whose retry is not yet due, the chat
    /// and feedback queues).
    pub resume_now: AtomicBool,
    /// A request reached the server after failures: the worker's next round also tries the
    /// support queues (when their background retry is on).
    pub back_online: AtomicBool,
    /// Set when opening found the key lost and started the cache again.
    pub key_was_reset: bool,
    /// The ticket of a login waiting for its SMS code; memory only.
    pub login_ticket: Mutex<Option<zeroize::Zeroizing<String>>>,
    /// Search indexes of the cached help bundles, built on first use (memory only).
    pub help: crate::help::HelpCache,
    /// The chat's send lock and typing throttle (memory only).
    pub chat: crate::chat::ChatRuntime,
    /// One feedback flush at a time (memory only).
    pub feedback: crate::feedback::FeedbackRuntime,
    /// Wakes the live connections when the signed-in user changes (sign-out, or in as someone
    /// else), so they reconnect for the new user at once.
    user_changed: Mutex<Vec<std::sync::Weak<tokio::sync::Notify>>>,
}

const SESSION_PLACE: Place<'static> = Place {
    table: "session",
    column: "body",
    row: "1",
    user: "",
};

/// Opens the cache in `dir` and its key: what a cold start costs before any screen shows.
/// Returns the store, the cipher, and whether the key was lost and the cache started again.
pub fn open_cache(
    dir: &std::path::Path,
    keystore: &dyn KeyStore,
) -> CoreResult<(Store, Cipher, bool)> {
    let store = Store::open(dir)?;
    let (cipher, reset) = open_key(&store, keystore)?;
    Ok((store, cipher, reset))
}

/// Opens the data key: unwraps it and checks the canary, or creates it on first run. A lost
/// or changed key starts the cache again (see `docs/security.md`).
fn open_key(store: &Store, keystore: &dyn KeyStore) -> CoreResult<(Cipher, bool)> {
    let stored = store.read(|c| {
        Ok((
            meta_get(c, "wrapped_key")?,
            meta_get(c, "key_id")?,
            meta_get(c, "canary")?,
        ))
    })?;
    if let (Some(wrapped), Some(id), Some(canary)) = stored {
        let id = u32::from_be_bytes(
            id.as_slice()
                .try_into()
                .map_err(|_| CoreError::client(ErrorCode::Storage))?,
        );
        match keystore.unwrap_data_key(wrapped) {
            Ok(raw) => {
                let raw = zeroize::Zeroizing::new(raw);
                if let Ok(key) = DataKey::from_raw(&raw, id) {
                    let cipher = Cipher::new(&key);
                    if check_canary(&cipher, &canary) == KeyState::Valid {
                        return Ok((cipher, false));
                    }
                }
                tracing::warn!("data key does not open the canary: cache starts again");
            }
            Err(KeyStoreError::KeyNotFound) => {
                tracing::warn!("platform key is gone: cache starts again");
            }
            Err(e) => return Err(e.into()),
        }
        return reset_key(store, keystore, true);
    }
    reset_key(store, keystore, false)
}

fn reset_key(store: &Store, keystore: &dyn KeyStore, lost: bool) -> CoreResult<(Cipher, bool)> {
    let key = DataKey::generate()?;
    let wrapped = keystore.wrap_data_key(key.bytes().to_vec())?;
    let cipher = Cipher::new(&key);
    let canary = seal_canary(&cipher)?;
    let now = now_ms();
    store.write(|tx| {
        if lost {
            store::wipe_mirror(tx)?;
            tx.execute("DELETE FROM session", [])?;
            tx.execute("DELETE FROM reminders", [])?;
            // Unsent items cannot be decrypted any more and were never seen by the server: they
            // fail visibly. Items that may have reached the server keep their key and amount
            // (clear columns), so the next sync still learns their outcome.
            tx.execute(
                "UPDATE outbox SET state = 'failed', error_code = 'key_lost', updated_at = ?1
                 WHERE state = 'queued'",
                [now],
            )?;
            // Support content is the server's (history and tickets are fetched again); what
            // was sealed here cannot be read any more. Unsent feedback fails like unsent
            // payments (kept, never dropped); unsent chat text is unreadable and goes with the
            // conversation cache (one that was mid-send is on the server and comes back).
            for table in [
                "chat_messages",
                "chat_state",
                "chat_tickets",
                "screenshots",
                "feedback_cache",
            ] {
                tx.execute(&format!("DELETE FROM {table}"), [])?;
            }
            tx.execute(
                "UPDATE feedback_outbox SET state = 'failed_permanent', error_code = 'key_lost'
                 WHERE state IN ('pending', 'sending', 'failed_retryable')",
                [],
            )?;
        }
        meta_set(tx, "wrapped_key", &wrapped)?;
        meta_set(tx, "key_id", &key.id().to_be_bytes())?;
        meta_set(tx, "canary", &canary)?;
        Ok(())
    })?;
    Ok((cipher, lost))
}

impl Core {
    pub fn open(config: &ClientConfig, keystore: Arc<dyn KeyStore>) -> CoreResult<Arc<Core>> {
        Core::open_with(Settings::from_config(config)?, keystore)
    }

    pub fn open_with(settings: Settings, keystore: Arc<dyn KeyStore>) -> CoreResult<Arc<Core>> {
        let (store, cipher, key_was_reset) = open_cache(&settings.data_dir, keystore.as_ref())?;
        let now = now_ms();
        let recovered = store.write(|tx| Ok(outbox::recover_interrupted(tx, now)?))?;
        if recovered > 0 {
            tracing::info!(
                count = recovered,
                "outbox items interrupted while sending are now unknown"
            );
        }
        let session = store.read(|c| {
            let row: Option<Vec<u8>> = c
                .query_row("SELECT body FROM session WHERE id = 1", [], |r| r.get(0))
                .map(Some)
                .or_else(|e| match e {
                    rusqlite::Error::QueryReturnedNoRows => Ok(None),
                    e => Err(e),
                })?;
            Ok(row)
        })?;
        let auth = match session {
            Some(body) => match cipher.open_json::<StoredSession>(&SESSION_PLACE, &body) {
                Ok(s) => Some(Auth {
                    user_tag: cipher.tag("user", &s.user.user_id),
                    session: s,
                }),
                Err(_) => {
                    tracing::warn!("stored session unreadable; signed out");
                    None
                }
            },
            None => None,
        };
        let http = Http::new(&settings)?;
        let core = Arc::new(Core {
            settings,
            store,
            cipher,
            keystore,
            http,
            events: Arc::new(Events::default()),
            auth: RwLock::new(auth),
            refresh_lock: tokio::sync::Mutex::new(()),
            send_lock: tokio::sync::Mutex::new(()),
            sync_lock: tokio::sync::Mutex::new(()),
            wake: Arc::new(tokio::sync::Notify::new()),
            last_activity: Mutex::new(Instant::now()),
            locked: AtomicBool::new(false),
            offline: AtomicBool::new(false),
            resume_now: AtomicBool::new(false),
            back_online: AtomicBool::new(false),
            key_was_reset,
            login_ticket: Mutex::new(None),
            help: crate::help::HelpCache::default(),
            chat: crate::chat::ChatRuntime::default(),
            feedback: crate::feedback::FeedbackRuntime::default(),
            user_changed: Mutex::new(Vec::new()),
        });
        crate::sync::worker::spawn(&core);
        Ok(core)
    }

    pub fn zh(&self) -> bool {
        self.settings.zh
    }

    pub fn auth(&self) -> Option<Auth> {
        self.auth.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The signed-in user's id and tag.
    pub fn user(&self) -> CoreResult<(String, i64)> {
        self.auth()
            .map(|a| (a.session.user.user_id.clone(), a.user_tag))
            .ok_or_else(|| CoreError::client(ErrorCode::NotSignedIn).localized(self.zh()))
    }

    /// Stores a new session (sign-in or refresh) and makes it current. Signing in as another
    /// user empties the mirror: it showed someone else's money.
    pub fn set_session(&self, session: StoredSession) -> CoreResult<()> {
        let user_tag = self.cipher.tag("user", &session.user.user_id);
        let body = self.cipher.seal_json(&SESSION_PLACE, &session)?;
        let now = now_ms();
        self.store.write(|tx| {
            let previous: Option<i64> = tx
                .query_row("SELECT user_tag FROM session WHERE id = 1", [], |r| {
                    r.get(0)
                })
                .map(Some)
                .or_else(|e| match e {
                    rusqlite::Error::QueryReturnedNoRows => Ok(None),
                    e => Err(e),
                })?;
            let last_owner: Option<Vec<u8>> = meta_get(tx, "mirror_owner")?;
            let owner_changed = last_owner.is_some_and(|o| o != user_tag.to_be_bytes());
            if owner_changed || previous.is_some_and(|p| p != user_tag) {
                store::wipe_mirror(tx)?;
            }
            meta_set(tx, "mirror_owner", &user_tag.to_be_bytes())?;
            tx.execute(
                "INSERT INTO session (id, user_tag, body, updated_at) VALUES (1, ?1, ?2, ?3)
                 ON CONFLICT(id) DO UPDATE SET user_tag = excluded.user_tag, body = excluded.body,
                     updated_at = excluded.updated_at",
                rusqlite::params![user_tag, body, now],
            )?;
            Ok(())
        })?;
        let previous = self
            .auth
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .replace(Auth { session, user_tag })
            .map(|a| a.user_tag);
        if previous != Some(user_tag) {
            self.wake_live_connections();
        }
        Ok(())
    }

    /// Registers a live connection's wake-up for changes of the signed-in user.
    pub fn on_user_change(&self, wake: &Arc<tokio::sync::Notify>) {
        let mut list = self.user_changed.lock().unwrap_or_else(|p| p.into_inner());
        list.retain(|w| w.strong_count() > 0);
        list.push(Arc::downgrade(wake));
    }

    fn wake_live_connections(&self) {
        let list = self.user_changed.lock().unwrap_or_else(|p| p.into_inner());
        for wake in list.iter().filter_map(std::sync::Weak::upgrade) {
            wake.notify_one();
        }
    }

    /// Forgets the session (tokens) but keeps the cache and the outbox.
    pub fn clear_session(&self) -> CoreResult<()> {
        self.store.write(|tx| {
            tx.execute("DELETE FROM session", [])?;
            // The server ends the payment codes of a finished sign-in: their secret goes too.
            tx.execute("DELETE FROM paycode", [])?;
            Ok(())
        })?;
        *self.auth.write().unwrap_or_else(|p| p.into_inner()) = None;
        self.wake_live_connections();
        self.events
            .emit(vec![WalletEvent::SessionChanged { signed_in: false }]);
        Ok(())
    }

    pub fn interactive(&self) -> RetryPolicy {
        self.settings.retry
    }

    fn note_connectivity(&self, result: &Result<Answer, NetError>) {
        self.note_reachable(result.as_ref().err().is_none_or(NetError::reached_server));
    }

    /// Records whether the last request reached the server (any answer counts) and tells the
    /// listeners when that changes.
    pub(crate) fn note_reachable(&self, reached: bool) {
        let offline = !reached;
        if self.offline.swap(offline, Ordering::Relaxed) != offline {
            self.events
                .emit(vec![WalletEvent::ConnectivityChanged { online: !offline }]);
            if !offline {
                // Back online: the worker resumes the outbox and the support queues.
                self.back_online.store(true, Ordering::Relaxed);
                self.wake.notify_one();
            }
        }
    }

    /// An unauthenticated request.
    pub async fn send_public<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<Answer, NetError> {
        let body = body.map(|b| serde_json::to_vec(b).unwrap_or_default());
        let result = self
            .http
            .send(&Call {
                method,
                path,
                body,
                idempotency_key: None,
                bearer: None,
                retry: self.interactive(),
            })
            .await;
        self.note_connectivity(&result);
        result
    }

    /// An authenticated request: the access token, refreshed once on `401`.
    pub async fn send_authed(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        idempotency_key: Option<&str>,
        retry: RetryPolicy,
    ) -> Result<Answer, NetError> {
        self.send_authed_as(
            method,
            path,
            body,
            "application/json",
            idempotency_key,
            retry,
        )
        .await
    }

    /// [`Core::send_authed`] with a body of `content_type` (a screenshot upload).
    pub async fn send_authed_as(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        content_type: &str,
        idempotency_key: Option<&str>,
        retry: RetryPolicy,
    ) -> Result<Answer, NetError> {
        let mut refreshed = false;
        loop {
            let Some(token) = self.auth().map(|a| a.session.tokens.access_token.clone()) else {
                return Err(unauthorized());
            };
            let result = self
                .http
                .send_as(
                    &Call {
                        method: method.clone(),
                        path,
                        body: body.clone(),
                        idempotency_key,
                        bearer: Some(&token),
                        retry,
                    },
                    content_type,
                )
                .await;
            self.note_connectivity(&result);
            match &result {
                Err(NetError::Problem { problem, .. })
                    if !refreshed
                        && matches!(
                            problem.code,
                            WireCode::Unauthorized | WireCode::TokenExpired
                        ) =>
                {
                    refreshed = true;
                    self.refresh(&token).await?;
                }
                _ => return result,
            }
        }
    }

    /// Changes the current session in place, for a result that arrived after an `.await`: under
    /// the refresh lock (so a refresh's new tokens are never replaced by an older copy) and only
    /// while `user_tag` is still the one signed in. Returns whether it did.
    pub async fn update_session(
        &self,
        user_tag: i64,
        change: impl FnOnce(&mut StoredSession),
    ) -> CoreResult<bool> {
        let _guard = self.refresh_lock.lock().await;
        let Some(auth) = self.auth().filter(|a| a.user_tag == user_tag) else {
            return Ok(false);
        };
        let mut session = auth.session;
        change(&mut session);
        self.set_session(session)?;
        Ok(true)
    }

    /// Refreshes the tokens unless another call already did since `stale` was read. The
    /// refresh token is single-use, so concurrent callers wait for one refresh.
    pub async fn refresh(&self, stale: &str) -> Result<(), NetError> {
        let _guard = self.refresh_lock.lock().await;
        let Some(auth) = self.auth() else {
            return Err(unauthorized());
        };
        if auth.session.tokens.access_token != stale {
            return Ok(());
        }
        let body = RefreshRequest {
            refresh_token: auth.session.tokens.refresh_token.clone(),
        };
        match self
            .send_public(Method::POST, "/v1/auth/refresh", Some(&body))
            .await
        {
            Ok(answer) => {
                let tokens: TokenPair = crate::api::decode(&answer)?;
                let mut session = auth.session.clone();
                session.tokens = tokens;
                self.set_session(session)
                    .map_err(|_| NetError::BadResponse)?;
                tracing::info!("session refreshed");
                Ok(())
            }
            Err(NetError::Problem {
                problem,
                retry_after,
            }) => {
                // Only the session this refresh was for ends: a sign-in that replaced it while
                // the request was on its way stays.
                let same = self
                    .auth()
                    .is_some_and(|a| a.session.tokens.refresh_token == body.refresh_token);
                if same
                    && matches!(
                        problem.code,
                        WireCode::Unauthorized | WireCode::TokenExpired | WireCode::RefreshReused
                    )
                {
                    tracing::info!(code = ?problem.code, "session ended by the server");
                    let _ = self.clear_session();
                }
                Err(NetError::Problem {
                    problem,
                    retry_after,
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Marks use of the app (resets the inactivity timer).
    pub fn touch(&self) {
        *self.last_activity.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }

    /// The signed-in user for a call the user made: refused while the app is locked, and
    /// counts as use of the app.
    pub fn unlocked_user(&self) -> CoreResult<(String, i64)> {
        self.ensure_unlocked()?;
        self.user()
    }

    /// Fails with `AppLocked` once the app was unused for the configured time.
    pub fn ensure_unlocked(&self) -> CoreResult<()> {
        if self.is_locked() {
            return Err(CoreError::client(ErrorCode::AppLocked).localized(self.zh()));
        }
        self.touch();
        Ok(())
    }

    pub fn is_locked(&self) -> bool {
        if self.locked.load(Ordering::Relaxed) {
            return true;
        }
        let Some(after) = self.settings.app_lock_after else {
            return false;
        };
        let idle = self
            .last_activity
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .elapsed();
        if idle >= after && self.auth().is_some() {
            self.lock();
            return true;
        }
        false
    }

    pub fn lock(&self) {
        if !self.locked.swap(true, Ordering::Relaxed) {
            self.events.emit(vec![WalletEvent::AppLocked]);
        }
    }

    pub fn unlock(&self) {
        self.locked.store(false, Ordering::Relaxed);
        self.touch();
    }

    /// Balances as displayed: server balance minus unconfirmed outgoing outbox items.
    /// The signed-in user's balances (none while signed out: the cache kept for the next
    /// sign-in is not shown to whoever holds the phone).
    pub fn balance_views(&self) -> CoreResult<Vec<BalanceView>> {
        let Some(owner) = self.auth().map(|a| a.user_tag) else {
            return Ok(Vec::new());
        };
        self.store.read(|c| {
            // One snapshot for both reads: a sync committing between them (its balances and
            // the items they now include) would otherwise show a payment in neither.
            let snapshot = c.unchecked_transaction()?;
            let rows = store::mirror::balances(&snapshot)?;
            let unconfirmed = outbox::unconfirmed_out(&snapshot, owner)?;
            drop(snapshot);
            let mut out = Vec::with_capacity(rows.len());
            for b in rows {
                let pending: i64 = unconfirmed
                    .iter()
                    .filter(|(cur, _)| cur == b.currency.code())
                    .map(|(_, m)| *m)
                    .sum();
                out.push(BalanceView {
                    currency: b.currency.code().to_owned(),
                    displayed: store::mirror::money(
                        b.available.saturating_sub(pending),
                        b.currency,
                    ),
                    server_available: store::mirror::money(b.available, b.currency),
                    unconfirmed_out: store::mirror::money(pending, b.currency),
                    pending_in: store::mirror::money(b.pending_in, b.currency),
                    pending_out: store::mirror::money(b.pending_out, b.currency),
                    updated_at: b.updated_at,
                });
            }
            Ok(out)
        })
    }

    /// Open outbox items of the signed-in user, newest first.
    pub fn pending_items(&self, limit: u32) -> CoreResult<Vec<OutboxItem>> {
        let Some(auth) = self.auth() else {
            return Ok(Vec::new());
        };
        let rows = self
            .store
            .read(|c| Ok(outbox::list(c, auth.user_tag, true, limit)?))?;
        Ok(rows
            .iter()
            .filter_map(|r| crate::payments::item_view(self, &auth.session.user.user_id, r))
            .collect())
    }
}

impl Drop for Core {
    /// The worker waits on `wake` alone; waking it lets it see the core is gone and end.
    fn drop(&mut self) {
        self.wake.notify_one();
    }
}

/// Maps a transport or server failure to the public error in the client's language (for
/// `map_err`).
pub(crate) fn net(core: &Core) -> impl Fn(NetError) -> CoreError + '_ {
    move |e| e.into_core(core.zh())
}

pub fn unauthorized() -> NetError {
    NetError::Problem {
        problem: Box::new(Problem::new(WireCode::Unauthorized, false)),
        retry_after: None,
    }
}
