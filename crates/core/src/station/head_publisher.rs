//! The chain head of a running line, published while it runs.
//!
//! Exports and CRLs are rare; a line seals a session every few seconds. Signing, syncing and
//! sending a head inside every seal would put a file sync and a network round trip into each
//! session's commit (and a slow target would slow the line). Instead a thread beside the line
//! publishes the newest head every [`SEAL_ANCHOR_EVERY`] when anything was sealed since, and
//! once more when the line stops: sessions sealed since the last publication are at most that
//! old when cut off, and the line's throughput does not depend on the target.

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::Station;

/// How often a running line publishes its newest chain head.
pub const SEAL_ANCHOR_EVERY: Duration = Duration::from_secs(30);

/// Publishes the journal's head as a `seal` anchor every interval, and on drop.
pub struct HeadPublisher {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Station {
    /// Starts publishing this station's sealed heads every `every` (see the module docs).
    pub fn publish_heads(&self, every: Duration) -> HeadPublisher {
        let (stop, stopped) = mpsc::channel::<()>();
        let station = self.clone();
        let thread = std::thread::Builder::new()
            .name("head-publisher".into())
            .spawn(move || loop {
                let last = !matches!(
                    stopped.recv_timeout(every),
                    Err(mpsc::RecvTimeoutError::Timeout)
                );
                let published = station.journal().map_err(|e| e.to_string()).and_then(|j| {
                    station
                        .publish_head(&j, "seal", "line")
                        .map_err(|e| e.to_string())
                });
                if let Err(e) = published {
                    tracing::warn!(error = %e, "the line's chain head was not published");
                }
                if last {
                    break;
                }
            })
            .ok();
        HeadPublisher {
            stop: Some(stop),
            thread,
        }
    }
}

impl Drop for HeadPublisher {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
