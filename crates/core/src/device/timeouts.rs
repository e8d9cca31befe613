//! How long the station waits for each operation, and how often it sends one that may be
//! repeated (docs/device-protocol.md §8).

use std::time::Duration;

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
        }
    }
}
