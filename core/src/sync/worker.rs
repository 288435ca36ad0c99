//! The background worker: resumes the outbox and syncs without the app asking, when the
//! network comes back (a request succeeded after failures, or the app reported connectivity),
//! when the app comes to the foreground, and when the next retry of an item is due. It holds
//! only a weak reference, so dropping the client stops it.

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
        // Waiting holds a strong reference only for as long as the wait: a dropped client ends
        // the loop at the next wake-up or timeout (at most `PROBE_EVERY` with items waiting).
        tokio::select! {
            _ = core.wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
        drop(core);
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
