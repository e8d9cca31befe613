//! How long the station waits for each operation, and how often it sends one that may be
//! repeated (docs/device-protocol.md §8).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Per-operation timeouts, and how often an idempotent operation is sent before giving up.
/// Keygen and flash writes are slow on real parts.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub hello: Duration,
    pub keygen: Duration,
    pub write: Duration,
    pub sign: Duration,
    pub other: Duration,
    /// Sends of an idempotent request (hello, read_cert, challenge, sign_tls13, set_config)
    /// before its timeout or damage counts; at least 1.
    pub attempts: u32,
    /// Whole-step deadline: a step whose every operation answers in time can still crawl
    /// (a flash that takes just under the write timeout per chunk). `None` takes the station
    /// profile's `[timeouts]` (see `StepDeadlines`).
    pub step: Option<Duration>,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            hello: Duration::from_secs(2),
            keygen: Duration::from_secs(20),
            write: Duration::from_secs(5),
            sign: Duration::from_secs(5),
            other: Duration::from_secs(5),
            attempts: 3,
            step: None,
        }
    }
}

/// The station profile's `[timeouts]`: how long a whole pipeline step may take.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StepDeadlines {
    /// Any step, unless named in `steps`. Long enough for the handshake's own retries
    /// (4 attempts with up to 15 s of backoff) and a slow secure element's keygen.
    pub step_secs: u64,
    /// Per-step overrides by step name (`keygen = 90`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub steps: BTreeMap<String, u64>,
}

impl Default for StepDeadlines {
    fn default() -> Self {
        Self {
            step_secs: 120,
            steps: BTreeMap::new(),
        }
    }
}

impl StepDeadlines {
    pub fn for_step(&self, name: &str) -> Duration {
        Duration::from_secs(self.steps.get(name).copied().unwrap_or(self.step_secs))
    }
}
