//! The background worker: resumes the outbox and syncs without the app asking, when the
//! network comes back (a request succeeded after failures, or the app reported connectivity),
//! when the app comes to the foreground, and when the next retry of an item is due. Between
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
        match crate::sync::push::flush(&core).await {
            Ok(_) => {}
            Err(e) => tracing::debug!(code = ?e.code(), "outbox flush failed"),
        }
        if !core.offline.load(Ordering::Relaxed)
            && let Err(e) = crate::sync::pull::sync_now(&core).await
        {
            tracing::debug!(code = ?e.code(), "background sync failed");
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
