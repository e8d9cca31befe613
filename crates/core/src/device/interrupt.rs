//! Stopping an operation while it is in flight: the operator's cancel and the step's deadline.
//!
//! Per-operation timeouts bound one request; a unit that answers every request just in time
//! (or a cancel that arrives while the unit is busy for seconds) needs a bound on the whole
//! step and a way in that does not wait for the step to end. The driver looks here between
//! reads of the port, so a stop is noticed within one port poll.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// Why an operation in flight was abandoned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The operator (or the line, on unplug) cancelled the session.
    Cancelled,
    /// The step has run past its deadline.
    Deadline,
}

/// Shared between a session, its device driver and the helpers of its steps.
#[derive(Debug, Default)]
pub struct Interrupt {
    cancelled: AtomicBool,
    deadline: Mutex<Option<Instant>>,
}

impl Interrupt {
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    /// The instant the current step must have ended by; `None` between steps.
    pub fn set_deadline(&self, at: Option<Instant>) {
        *self.deadline.lock().unwrap_or_else(|p| p.into_inner()) = at;
    }

    /// Whether work should stop now; a cancel wins over a deadline, since it is what the
    /// operator asked for.
    pub fn check(&self, now: Instant) -> Option<Stop> {
        if self.is_cancelled() {
            return Some(Stop::Cancelled);
        }
        let deadline = *self.deadline.lock().unwrap_or_else(|p| p.into_inner());
        deadline.filter(|d| now >= *d).map(|_| Stop::Deadline)
    }
}
