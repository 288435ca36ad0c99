//! The background worker: resumes the outbox and syncs without the app asking, when the
//! network comes back (a request succeeded after failures, or the app reported connectivity),
//! when the app comes to the foreground, and when the next retry of an item is due. It sends
//! the chat and feedback queues on the same signals and, while they hold messages that could
//! not go, on a backoff schedule of their own (`RetryPolicy::queue_retry_first` doubling up
//! to `queue_retry_max`). Between rounds it holds only a weak reference and the wake-up
//! signal, so dropping the client closes the cache at once (the core's `Drop` wakes the
//! worker, which then ends).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crate::config::RetryPolicy;
use crate::core::{Core, runtime};
use crate::model::now_ms;
use crate::store::outbox;

/// How often an idle worker with waiting items probes the network.
const PROBE_EVERY: Duration = Duration::from_secs(15);

/// Longest idle wait when nothing is queued (the worker also wakes on every signal).
const IDLE: Duration = Duration::from_secs(3600);

pub fn spawn(core: &Arc<Core>) {
    let weak = Arc::downgrade(core);
    runtime().spawn(run(weak));
}

async fn run(weak: Weak<Core>) {
    let mut support = SupportRetry::default();
    loop {
        let Some(core) = weak.upgrade() else { return };
        let outbox_wait = next_wait(&core);
        let support_wait = support.wait(&core, Instant::now());
        let wake = core.wake.clone();
        // The wait (up to an hour) must not keep the core, and with it the database, alive.
        drop(core);
        let notified = tokio::select! {
            _ = wake.notified() => true,
            _ = tokio::time::sleep(outbox_wait.min(support_wait)) => false,
        };
        // Woken only for the support queues' retry: the outbox and sync are not due.
        let support_only = !notified && support_wait < outbox_wait;
        let Some(core) = weak.upgrade() else { return };
        let Some(auth) = core.auth() else {
            support = SupportRetry::default();
            continue;
        };
        // The app's own signal (network back, foreground) is worth trying at once, even when
        // the last request failed and items wait for their next retry.
        let signalled = core.resume_now.swap(false, Ordering::Relaxed);
        if signalled
            && let Err(e) = core
                .store
                .write(|tx| Ok(outbox::retry_now(tx, auth.user_tag)?))
        {
            tracing::debug!(code = ?e.code(), "outbox retry schedule not reset");
        }
        if !support_only {
            if let Err(e) = crate::sync::push::flush(&core).await {
                tracing::debug!(code = ?e.code(), "outbox flush failed");
            }
            if (signalled || !core.offline.load(Ordering::Relaxed))
                && let Err(e) = crate::sync::pull::sync_now(&core).await
            {
                tracing::debug!(code = ?e.code(), "background sync failed");
            }
        }
        // Support messages and feedback that could not go: on the signal, or when their own
        // retry is due (each queue keeps its order and stops at the first network failure).
        let back_online = core.back_online.swap(false, Ordering::Relaxed);
        let background = core.settings.retry.queue_retry_first.is_some();
        if signalled || (background && (back_online || support.due(Instant::now()))) {
            let chat = crate::chat::flush(&core).await;
            if let Err(e) = &chat {
                tracing::debug!(code = ?e.code(), "chat queue flush failed");
            }
            let feedback = crate::feedback::flush(&core).await;
            if let Err(e) = &feedback {
                tracing::debug!(code = ?e.code(), "feedback queue flush failed");
            }
            support.after_round(
                chat.is_ok() && feedback.is_ok(),
                core.settings.retry,
                Instant::now(),
            );
        }
    }
}

fn next_wait(core: &Core) -> Duration {
    let Some(auth) = core.auth() else {
        return IDLE;
    };
    let next = core
        .store
        .read(|c| Ok(outbox::next_due_at(c, auth.user_tag)?))
        .ok()
        .flatten();
    match next {
        None => IDLE,
        Some(at) => {
            let ms = (at - now_ms()).max(0) as u64;
            Duration::from_millis(ms)
                .min(PROBE_EVERY)
                .max(Duration::from_millis(200))
        }
    }
}

/// The support queues' retry schedule. Memory only: after a restart the first round is due
/// after `queue_retry_first` again, which is what a fresh failure would give.
#[derive(Debug, Default)]
struct SupportRetry {
    /// Rounds in a row in which a queue could not be sent.
    failures: u32,
    /// When the queues are next tried; `None` while nothing is known to wait.
    due_at: Option<Instant>,
}

impl SupportRetry {
    /// How long the worker may sleep before the support queues want a round. Finding unsent
    /// items the app itself failed to send (no round of ours yet) starts the schedule.
    fn wait(&mut self, core: &Core, now: Instant) -> Duration {
        let Some(first) = core.settings.retry.queue_retry_first else {
            return IDLE;
        };
        if self.due_at.is_none() {
            let waiting = core.auth().is_some_and(|auth| {
                crate::chat::has_unsent(core, auth.user_tag).unwrap_or(false)
                    || crate::feedback::has_unsent(core, auth.user_tag).unwrap_or(false)
            });
            if !waiting {
                return IDLE;
            }
            self.due_at = Some(now + first);
        }
        self.due_at
            .map_or(IDLE, |at| at.saturating_duration_since(now))
    }

    fn due(&self, now: Instant) -> bool {
        self.due_at.is_some_and(|at| at <= now)
    }

    /// After a round that tried the queues: on success nothing is scheduled (the next `wait`
    /// looks again); on failure the next try waits twice as long as the last, up to the cap.
    fn after_round(&mut self, sent_all: bool, policy: RetryPolicy, now: Instant) {
        let Some(first) = policy.queue_retry_first else {
            *self = SupportRetry::default();
            return;
        };
        if sent_all {
            *self = SupportRetry::default();
            return;
        }
        let delay = backoff(self.failures, first, policy.queue_retry_max);
        self.failures = self.failures.saturating_add(1);
        self.due_at = Some(now + delay);
    }
}

/// `first · 2^failures`, at most `max`.
fn backoff(failures: u32, first: Duration, max: Duration) -> Duration {
    let factor = 1u32.checked_shl(failures.min(16)).unwrap_or(u32::MAX);
    first.saturating_mul(factor).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            queue_retry_first: Some(Duration::from_secs(5)),
            queue_retry_max: Duration::from_secs(120),
            ..RetryPolicy::default()
        }
    }

    #[test]
    fn the_support_backoff_doubles_up_to_the_cap() {
        let (first, max) = (Duration::from_secs(5), Duration::from_secs(120));
        let waits: Vec<u64> = (0..8).map(|n| backoff(n, first, max).as_secs()).collect();
        assert_eq!(waits, [5, 10, 20, 40, 80, 120, 120, 120]);
        assert_eq!(backoff(u32::MAX, first, max), max);
    }

    #[test]
    fn a_failed_round_schedules_the_next_and_a_good_one_clears_it() {
        let now = Instant::now();
        let mut s = SupportRetry::default();
        assert!(!s.due(now));
        s.after_round(false, policy(), now);
        assert_eq!(s.due_at, Some(now + Duration::from_secs(5)));
        assert!(!s.due(now + Duration::from_secs(4)));
        assert!(s.due(now + Duration::from_secs(5)));
        s.after_round(false, policy(), now);
        assert_eq!(s.due_at, Some(now + Duration::from_secs(10)));
        s.after_round(true, policy(), now);
        assert_eq!(s.failures, 0);
        assert_eq!(s.due_at, None);
    }

    #[test]
    fn without_background_retry_nothing_is_scheduled() {
        let now = Instant::now();
        let mut s = SupportRetry::default();
        let off = RetryPolicy {
            queue_retry_first: None,
            ..policy()
        };
        s.after_round(false, off, now);
        assert_eq!(s.due_at, None);
        assert!(!s.due(now + Duration::from_secs(3600)));
    }
}
