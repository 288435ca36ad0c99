//! Live wallet events (`GET /v1/events`, WebSocket) while the app is in the foreground: the
//! server pushes hints (a payment arrived, a balance or savings changed, a payment code was
//! charged at a till, a new device signed in) and the core turns them into [`WalletEvent`]s at
//! once and wakes the background worker, which syncs. Sync stays the source of truth: a missed
//! event loses nothing (`resync` and every reconnect trigger a sync).
//!
//! The connection holds only a weak reference to the core between frames, reconnects with
//! jittered backoff ([`crate::api::ws::reconnect_delay`]), refreshes an expired access token,
//! and treats 60 s of silence as a dead connection.

use std::sync::{Arc, Weak};

use tokio::sync::{Notify, watch};
use tokio_tungstenite::tungstenite::Error as WsError;
use upay_protocol::api::events::LiveEvent;

use crate::api::ws::Next;
use crate::core::Core;
use crate::events::WalletEvent;
use crate::model::Amount;

/// The running live connection; [`LiveEvents::stop`] (or dropping it) ends it.
#[derive(uniffi::Object)]
pub struct LiveEvents {
    stop: watch::Sender<bool>,
    kick: Arc<Notify>,
}

#[uniffi::export]
impl LiveEvents {
    /// Ends the connection (idempotent). Call when the app goes to the background.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// Drops the current connection and connects again at once (after a network change, where
    /// the old connection would only be found dead after 60 s of silence).
    pub fn reconnect(&self) {
        self.kick.notify_one();
    }
}

impl Drop for LiveEvents {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

pub fn start(core: &Arc<Core>) -> Arc<LiveEvents> {
    let (tx, rx) = watch::channel(false);
    let kick = Arc::new(Notify::new());
    // A sign-out or another user's sign-in reconnects at once, as that user (or waits).
    core.on_user_change(&kick);
    crate::core::runtime().spawn(run(Arc::downgrade(core), rx, kick.clone()));
    Arc::new(LiveEvents { stop: tx, kick })
}

enum Ended {
    Stopped,
    Gone,
    Dropped { was_connected: bool },
    Kicked,
}

async fn run(core: Weak<Core>, mut stop: watch::Receiver<bool>, kick: Arc<Notify>) {
    let mut failures = 0u32;
    loop {
        if *stop.borrow() {
            return;
        }
        match session(&core, &mut stop, &kick).await {
            Ended::Stopped | Ended::Gone => return,
            Ended::Kicked => failures = 0,
            Ended::Dropped { was_connected } => {
                if was_connected {
                    failures = 0;
                    if let Some(c) = core.upgrade() {
                        c.events.emit(vec![WalletEvent::LiveConnectionChanged {
                            connected: false,
                        }]);
                    }
                }
                failures += 1;
                tokio::select! {
                    _ = stop.changed() => return,
                    _ = kick.notified() => failures = 0,
                    _ = tokio::time::sleep(crate::api::ws::reconnect_delay(failures)) => {}
                }
            }
        }
    }
}

async fn session(core: &Weak<Core>, stop: &mut watch::Receiver<bool>, kick: &Notify) -> Ended {
    // The user the connection was opened for: its events are theirs alone.
    let owner: i64;
    let mut ws = {
        let Some(c) = core.upgrade() else {
            return Ended::Gone;
        };
        let Some((token, tag)) = c
            .auth()
            .map(|a| (a.session.tokens.access_token.clone(), a.user_tag))
        else {
            // Signed out: wait for a sign-in (or a stop).
            return Ended::Dropped {
                was_connected: false,
            };
        };
        owner = tag;
        // Stop and reconnect are heard while connecting too.
        let opened = tokio::select! {
            r = crate::api::ws::connect(&c, "/v1/events", &token) => r,
            _ = stop.changed() => return Ended::Stopped,
            _ = kick.notified() => return Ended::Kicked,
        };
        match opened {
            Ok(ws) => ws,
            Err(WsError::Http(resp)) => {
                if resp.status().as_u16() == 401 {
                    let _ = c.refresh(&token).await;
                }
                return Ended::Dropped {
                    was_connected: false,
                };
            }
            Err(_) => {
                c.note_reachable(false);
                return Ended::Dropped {
                    was_connected: false,
                };
            }
        }
    };
    if let Some(c) = core.upgrade() {
        c.note_reachable(true);
        c.events
            .emit(vec![WalletEvent::LiveConnectionChanged { connected: true }]);
        // Whatever happened while disconnected: sync now.
        c.wake.notify_one();
    }
    loop {
        let text = match crate::api::ws::next_text(&mut ws, stop, kick).await {
            Next::Text(t) => t,
            Next::Stopped => return Ended::Stopped,
            Next::Kicked => return Ended::Kicked,
            Next::Dropped => {
                return Ended::Dropped {
                    was_connected: true,
                };
            }
        };
        let Some(c) = core.upgrade() else {
            let _ = ws.close(None).await;
            return Ended::Gone;
        };
        // Signed out, or in as someone else: the previous user's events must not reach this
        // user's cache or listeners. Reconnect at once (for the new user, if any).
        if c.auth().map(|a| a.user_tag) != Some(owner) {
            let _ = ws.close(None).await;
            return Ended::Kicked;
        }
        // Unknown event kinds (added later) and malformed frames are ignored.
        if let Ok(event) = serde_json::from_str::<LiveEvent>(&text) {
            deliver(&c, event);
        }
    }
}

/// What the app hears at once; the worker's sync brings the history and balances.
fn deliver(core: &Core, event: LiveEvent) {
    let mut batch = Vec::new();
    match event {
        LiveEvent::PaycodeRedeemed { redemption } => {
            crate::paycode::note_remaining(core, redemption.remaining_today);
            batch.push(WalletEvent::PaycodeRedeemed {
                transaction_id: redemption.transaction_id,
                amount: Amount::from(redemption.amount),
                merchant_name: redemption.merchant.name,
                terminal_id: redemption.terminal_id,
                remaining_today: Amount::from(redemption.remaining_today),
                at: redemption.at,
            });
        }
        LiveEvent::SavingsChanged { savings } => {
            let currency = savings.currency.code().to_owned();
            if let Err(e) = crate::savings::apply_live_balance(core, &savings) {
                tracing::debug!(code = ?e.code(), "live savings balance not cached");
            }
            batch.push(WalletEvent::SavingsChanged { currency });
        }
        LiveEvent::NewDeviceLogin { device_name, at } => {
            batch.push(WalletEvent::NewDeviceSignIn { device_name, at });
        }
        LiveEvent::BalanceChanged { .. }
        | LiveEvent::TransactionCreated { .. }
        | LiveEvent::TransactionUpdated { .. }
        | LiveEvent::RiskAlert { .. }
        | LiveEvent::SessionRevoked { .. }
        | LiveEvent::Resync { .. } => {}
    }
    core.events.emit(batch);
    // Every event means the server has news: the worker syncs (and refreshes a revoked
    // session's state on its next request).
    core.wake.notify_one();
}
