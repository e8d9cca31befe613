//! Logs: every event goes to a daily rolling file (for support) and to an in-memory hub that
//! keeps the recent lines and streams new ones to the UI's log console.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tauri::ipc::Channel;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::Layer;
use ts_rs::TS;

/// Lines kept for a console opened late.
const KEEP: usize = 2_000;

/// One line of the live log console.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct LogLine {
    /// RFC 3339, UTC.
    pub ts: String,
    #[ts(type = "\"ERROR\" | \"WARN\" | \"INFO\" | \"DEBUG\" | \"TRACE\"")]
    pub level: String,
    pub target: String,
    pub message: String,
}

#[derive(Default)]
struct Inner {
    recent: VecDeque<LogLine>,
    listeners: Vec<Channel<LogLine>>,
}

/// The recent lines and the consoles listening. Cheap to clone: one shared buffer.
#[derive(Clone, Default)]
pub struct LogHub(Arc<Mutex<Inner>>);

impl std::fmt::Debug for LogHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogHub")
    }
}

impl LogHub {
    pub fn recent(&self) -> Vec<LogLine> {
        self.inner().recent.iter().cloned().collect()
    }

    pub fn listen(&self, channel: Channel<LogLine>) {
        self.inner().listeners.push(channel);
    }

    pub fn push(&self, line: LogLine) {
        let listeners = {
            let mut inner = self.inner();
            if inner.recent.len() == KEEP {
                inner.recent.pop_front();
            }
            inner.recent.push_back(line.clone());
            inner.listeners.clone()
        };
        // Sent without the lock: a send that logs would otherwise come back here and deadlock.
        let gone: Vec<u32> = listeners
            .iter()
            .filter(|c| c.send(line.clone()).is_err())
            .map(|c| c.id())
            .collect();
        if !gone.is_empty() {
            // A console whose window went away fails to send: forget it.
            self.inner().listeners.retain(|c| !gone.contains(&c.id()));
        }
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Collects an event's message and fields into one line of text.
#[derive(Default)]
struct Text(String);

impl Visit for Text {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        } else {
            let _ = write!(self.0, " {}={value}", field.name());
        }
    }
}

impl<S: Subscriber> Layer<S> for LogHub {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut text = Text::default();
        event.record(&mut text);
        let meta = event.metadata();
        let ts = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        self.push(LogLine {
            ts,
            level: meta.level().to_string(),
            target: meta.target().to_owned(),
            message: text.0.trim_start().to_owned(),
        });
    }
}

/// Logs to stderr, to `<log_dir>/commissioner.log.<date>` and to `hub`. The returned guard
/// flushes the file writer when dropped, so it lives as long as the app.
pub fn init(
    log_dir: &std::path::Path,
    hub: LogHub,
) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    use std::io::IsTerminal;
    use tracing_subscriber::prelude::*;
    use tracing_subscriber::{fmt, EnvFilter};

    let filter = || {
        EnvFilter::try_from_env("COMMISSIONER_LOG")
            .unwrap_or_else(|_| EnvFilter::new("info,tao=warn,rumqttc=error"))
    };
    let (file, guard) = match std::fs::create_dir_all(log_dir) {
        Ok(()) => {
            let (w, g) = tracing_appender::non_blocking(tracing_appender::rolling::daily(
                log_dir,
                "commissioner.log",
            ));
            (Some(fmt::layer().with_ansi(false).with_writer(w)), Some(g))
        }
        Err(e) => {
            eprintln!(
                "commissioner-app: no log file in {}: {e}",
                log_dir.display()
            );
            (None, None)
        }
    };
    let _ = tracing_subscriber::registry()
        .with(
            fmt::layer()
                .with_ansi(std::io::stderr().is_terminal())
                .with_writer(std::io::stderr)
                .with_filter(filter()),
        )
        .with(file.with_filter(filter()))
        .with(hub.with_filter(filter()))
        .try_init();
    guard
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(n: usize) -> LogLine {
        LogLine {
            ts: String::new(),
            level: "INFO".into(),
            target: "t".into(),
            message: n.to_string(),
        }
    }

    #[test]
    fn keeps_only_the_newest_lines() {
        let hub = LogHub::default();
        for n in 0..KEEP + 5 {
            hub.push(line(n));
        }
        let recent = hub.recent();
        assert_eq!(recent.len(), KEEP);
        assert_eq!(recent[0].message, "5");
        assert_eq!(recent[KEEP - 1].message, (KEEP + 4).to_string());
    }

    #[test]
    fn an_event_becomes_a_line_with_its_fields() {
        use tracing_subscriber::prelude::*;
        let hub = LogHub::default();
        let subscriber = tracing_subscriber::registry().with(hub.clone());
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(port = "/dev/ttyUSB0", "unit unplugged");
        });
        let recent = hub.recent();
        assert_eq!(recent.len(), 1);
        assert_eq!(recent[0].level, "WARN");
        assert_eq!(recent[0].message, "unit unplugged port=/dev/ttyUSB0");
    }
}
