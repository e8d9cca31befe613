//! The station's MES sender: a thread that empties the journal's outbox while the line runs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use time::OffsetDateTime;

use super::Station;
use crate::mes::{MesClient, MesError};

/// The running sender; dropping it (or [`MesSender::stop`]) ends the thread after its round.
#[derive(Debug)]
pub struct MesSender {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MesSender {
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for MesSender {
    fn drop(&mut self) {
        self.halt();
    }
}

impl Station {
    /// Starts sending the outbox to the profile's MES every `every`; `None` without `[mes]`.
    pub fn start_mes_sender(&self, every: Duration) -> Result<Option<MesSender>, MesError> {
        let Some(profile) = &self.config.mes else {
            return Ok(None);
        };
        let client = MesClient::new(profile, |p| self.resolve(p))?;
        let journal = self.journal()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("mes-sender".into())
            .spawn(move || {
                while !flag.load(Ordering::SeqCst) {
                    match client.deliver(&journal, OffsetDateTime::now_utc()) {
                        Ok(d) => {
                            if let Some(e) = d.error {
                                tracing::warn!(backlog = d.backlog, "{e}");
                            }
                        }
                        Err(e) => tracing::error!("the MES outbox cannot be read: {e}"),
                    }
                    // Short naps, so that stopping does not wait out a whole period.
                    let mut slept = Duration::ZERO;
                    while slept < every && !flag.load(Ordering::SeqCst) {
                        std::thread::sleep(Duration::from_millis(50));
                        slept += Duration::from_millis(50);
                    }
                }
            })
            .map_err(|e| MesError::Delivery {
                url: profile.url.clone(),
                reason: format!("cannot start the sender thread: {e}"),
            })?;
        Ok(Some(MesSender {
            stop,
            thread: Some(thread),
        }))
    }
}
