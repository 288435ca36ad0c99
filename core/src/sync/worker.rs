//! The background worker: resumes the outbox and syncs without the app asking, when the
//! network comes back (a request succeeded after failures, or the app reported connectivity),
//! when the app comes to the foreground, and when the next retry of an item is due. On the
//! app's network and foreground signals it also sends the chat and feedback queues. Between
//! rounds it holds only a weak reference and the wake-up signal, so dropping the client closes
//! the cache at once (the core's `Drop` wakes the worker, which then ends).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::core::{Core, runtime};
use crate::model::now_ms;
use crate::store::outbox;

/// How often an idle worker with waiting items probes the network.
const PROBE_EVERY: Duration = Duration::from_secs(15);

pub fn spawn(core: &Arc<Core>) {
    let weak = Arc::downgrade(core);
    runtime().spawn(run(weak));
}

async fn run(weak: Weak<Core>) {
    loop {
        let Some(core) = weak.upgrade() else { return };
        let wait = next_wait(&core);
        let wake = core.wake.clone();
        // The wait (up to an hour) must not keep the core, and with it the database, alive.
        drop(core);
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
        let Some(core) = weak.upgrade() else { return };
        if core.auth().is_none() {
            continue;
        }
        // The app's own signal (network back, foreground) is worth trying at once, even when
        // the last request failed and items wait for their next retry.
        let signalled = core.flush_support.swap(false, Ordering::Relaxed);
        if signalled
            && let Some(auth) = core.auth()
            && let Err(e) = core
                .store
                .write(|tx| Ok(outbox::retry_now(tx, auth.user_tag)?))
        {
            tracing::debug!(code = ?e.code(), "outbox retry schedule not reset");
        }
        match crate::sync::push::flush(&core).await {
            Ok(_) => {}
            Err(e) => tracing::debug!(code = ?e.code(), "outbox flush failed"),
        }
        if (signalled || !core.offline.load(Ordering::Relaxed))
            && let Err(e) = crate::sync::pull::sync_now(&core).await
        {
            tracing::debug!(code = ?e.code(), "background sync failed");
        }
        // Support messages and feedback written offline go out on the same signal (each queue
        // keeps its order and stops at the first network failure).
        if signalled {
            if let Err(e) = crate::chat::flush(&core).await {
                tracing::debug!(code = ?e.code(), "chat queue flush failed");
            }
            if let Err(e) = crate::feedback::flush(&core).await {
                tracing::debug!(code = ?e.code(), "feedback queue flush failed");
            }
        }
    }
}

fn next_wait(core: &Core) -> Duration {
    let Some(auth) = core.auth() else {
        return Duration::from_secs(3600);
    };
    let next = core
        .store
        .read(|c| Ok(outbox::next_due_at(c, auth.user_tag)?))
        .ok()
        .flatten();
    match next {
        None => Duration::from_secs(3600),
        Some(at) => {
            let ms = (at - now_ms()).max(0) as u64;
            Duration::from_millis(ms)
                .min(PROBE_EVERY)
                .max(Duration::from_millis(200))
        }
    }
}
