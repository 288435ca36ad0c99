//! `tracing` records of the core, filtered in Rust and handed to the app's foreign `Logger`.
//! Only the core's own targets are forwarded (an embedding process may log other things through
//! the same subscriber). Log lines carry kinds, codes, counts and ids of local rows: never
//! tokens, names, phone numbers, notes, amounts of a named person, or URLs with queries.

use std::fmt::Write as _;
use std::sync::{Arc, Once, RwLock};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, uniffi::Enum)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct LogRecord {
    pub level: LogLevel,
    /// Rust module path, e.g. `upay_core::sync`.
    pub target: String,
    pub message: String,
}

/// Receives the core's log records. Synchronous; must not call back into the core.
#[uniffi::export(with_foreign)]
pub trait Logger: Send + Sync {
    fn log(&self, record: LogRecord);
}

struct Sink {
    logger: Arc<dyn Logger>,
    max: LogLevel,
}

static SINK: RwLock<Option<Sink>> = RwLock::new(None);
static INSTALL: Once = Once::new();

fn level_of(l: &Level) -> LogLevel {
    match *l {
        Level::ERROR => LogLevel::Error,
        Level::WARN => LogLevel::Warn,
        Level::INFO => LogLevel::Info,
        Level::DEBUG => LogLevel::Debug,
        Level::TRACE => LogLevel::Trace,
    }
}

struct Forward;

#[derive(Default)]
struct Fields {
    message: String,
    rest: String,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.rest, " {}={value:?}", field.name());
        }
    }
}

impl<S: Subscriber> Layer<S> for Forward {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        if !meta.target().starts_with("upay_core") {
            return;
        }
        let guard = SINK.read().unwrap_or_else(|p| p.into_inner());
        let Some(sink) = guard.as_ref() else { return };
        let level = level_of(meta.level());
        if level > sink.max {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        fields.message.push_str(&fields.rest);
        sink.logger.log(LogRecord {
            level,
            target: meta.target().to_owned(),
            message: fields.message,
        });
    }
}

/// Routes the core's records at `max_level` and above to `logger` (replacing an earlier one).
/// The forwarding subscriber is installed once per process; if the host already installed a
/// global subscriber, the core's records go there instead.
#[uniffi::export]
pub fn set_logger(logger: Arc<dyn Logger>, max_level: LogLevel) {
    *SINK.write().unwrap_or_else(|p| p.into_inner()) = Some(Sink {
        logger,
        max: max_level,
    });
    INSTALL.call_once(|| {
        let subscriber = tracing_subscriber::registry().with(Forward);
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
}
