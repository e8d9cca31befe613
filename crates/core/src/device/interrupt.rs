//! Stopping an operation while it is in flight: the operator's cancel and the step's deadline.
//!
//! Per-operation timeouts bound one request; a unit that answers every request just in time
//! (or a cancel that arrives while the unit is busy for seconds) needs a bound on the whole
//! step and a way in that does not wait for the step to end. The driver looks here between
//! reads of the port, so a stop is noticed within one port poll.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// Why an operation in flight was abandoned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The operator cancelled the session.
    Cancelled,
    /// The line saw the unit's port go away; the session ends as the unplug it is, even where
    /// no serial read was under way to notice it.
    Unplugged,
    /// The step has run past its deadline.
    Deadline,
}

/// A caller's stop for a running session, with its reason. The first reason given wins, so
/// an unplug that the operator then also cancels stays an unplug.
#[derive(Debug, Default)]
pub struct StopSignal(AtomicU8);

impl StopSignal {
    pub fn stop(&self, why: Stop) {
        let code = match why {
            Stop::Cancelled => 1,
            Stop::Unplugged => 2,
            Stop::Deadline => 3,
        };
        let _ = self
            .0
            .compare_exchange(0, code, Ordering::Relaxed, Ordering::Relaxed);
    }

    pub fn reason(&self) -> Option<Stop> {
        match self.0.load(Ordering::Relaxed) {
            1 => Some(Stop::Cancelled),
            2 => Some(Stop::Unplugged),
            3 => Some(Stop::Deadline),
            _ => None,
        }
    }
}

/// Shared between a session, its device driver and the helpers of its steps.
#[derive(Debug, Default)]
pub struct Interrupt {
    stopped: StopSignal,
    deadline: Mutex<Option<Instant>>,
}

impl Interrupt {
    pub fn cancel(&self) {
        self.stop(Stop::Cancelled);
    }

    pub fn stop(&self, why: Stop) {
        self.stopped.stop(why);
    }

    /// Why the session was stopped, if it was; deadlines are not counted here.
    pub fn stopped_by(&self) -> Option<Stop> {
        self.stopped.reason()
    }

    /// The instant the current step must have ended by; `None` between steps.
    pub fn set_deadline(&self, at: Option<Instant>) {
        *self.deadline.lock().unwrap_or_else(|p| p.into_inner()) = at;
    }

    /// Whether work should stop now; a stop wins over a deadline, since it is what the
    /// operator asked for (or what happened to the unit).
    pub fn check(&self, now: Instant) -> Option<Stop> {
        if let Some(why) = self.stopped_by() {
            return Some(why);
        }
        let deadline = *self.deadline.lock().unwrap_or_else(|p| p.into_inner());
        deadline.filter(|d| now >= *d).map(|_| Stop::Deadline)
    }
}
