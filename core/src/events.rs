//! Listeners: the app registers one foreign listener per screen or state holder and gets
//! batched events (one call per operation, never one per row). Listeners are synchronous and
//! must not call back into the core from inside `on_events`; they hand the batch to their own
//! thread or state holder.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use crate::model::{BalanceView, OutboxItem, RiskInfo};

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum WalletEvent {
    SessionChanged {
        signed_in: bool,
    },
    BalancesChanged {
        balances: Vec<BalanceView>,
    },
    /// History changed: `count` entries were added or updated; reload the visible page.
    TransactionsChanged {
        count: u32,
    },
    /// Outbox items whose state changed.
    OutboxChanged {
        items: Vec<OutboxItem>,
    },
    SyncProgress {
        applied: u64,
        done: bool,
    },
    /// The risk engine held or blocked a payment (or asked for confirmation).
    RiskAlert {
        item_id: Option<String>,
        risk: RiskInfo,
    },
    /// The app lock engaged; show the lock screen.
    AppLocked,
    /// Connectivity as last seen by the core.
    ConnectivityChanged {
        online: bool,
    },
    /// A merchant terminal charged one of the account's payment codes (live events; the
    /// history entry and the balance follow by sync).
    PaycodeRedeemed {
        transaction_id: String,
        amount: crate::model::Amount,
        merchant_name: String,
        terminal_id: String,
        /// What payment codes may still pay today.
        remaining_today: crate::model::Amount,
        at: i64,
    },
    /// A savings balance changed (a move, a day's interest); the cached overview has it.
    SavingsChanged {
        currency: String,
    },
    /// The account was signed in on a device it had not used before.
    NewDeviceSignIn {
        device_name: String,
        at: i64,
    },
    /// The live event connection came up or went down (it reconnects by itself).
    LiveConnectionChanged {
        connected: bool,
    },
}

#[uniffi::export(with_foreign)]
pub trait WalletListener: Send + Sync {
    fn on_events(&self, events: Vec<WalletEvent>);
}

#[derive(Default)]
pub struct Events {
    listeners: Mutex<Vec<(u64, Arc<dyn WalletListener>)>>,
    next: AtomicU64,
}

impl Events {
    pub fn add(self: &Arc<Self>, listener: Arc<dyn WalletListener>) -> Arc<Subscription> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.listeners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((id, listener));
        Arc::new(Subscription {
            events: Arc::downgrade(self),
            id,
        })
    }

    fn remove(&self, id: u64) {
        self.listeners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(i, _)| *i != id);
    }

    /// Delivers one batch. Called with no lock of the core held.
    pub fn emit(&self, batch: Vec<WalletEvent>) {
        if batch.is_empty() {
            return;
        }
        let listeners: Vec<Arc<dyn WalletListener>> = self
            .listeners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(_, l)| l.clone())
            .collect();
        for l in listeners {
            l.on_events(batch.clone());
        }
    }
}

/// A live registration; dropping it does not cancel (foreign handles are released lazily), so
/// call [`Subscription::cancel`].
#[derive(uniffi::Object)]
pub struct Subscription {
    events: Weak<Events>,
    id: u64,
}

#[uniffi::export]
impl Subscription {
    /// Stops delivery to the listener. Idempotent.
    pub fn cancel(&self) {
        if let Some(events) = self.events.upgrade() {
            events.remove(self.id);
        }
    }
}
