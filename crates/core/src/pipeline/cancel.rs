//! Carrying the caller's cancel flag into a running session.

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use crate::device::{Interrupt, StopSignal};

/// How often the caller's cancel flag is looked at while a session runs.
const CANCEL_POLL: Duration = Duration::from_millis(20);

/// Runs `f` while a small thread carries the caller's cancel flag over to `interrupt`. The
/// flag is borrowed, but the driver is shared with the TLS signer, which rustls wants
/// `'static`, so the driver can only hold an owned copy.
pub(super) fn forward_cancel<T>(
    flag: &StopSignal,
    interrupt: &Interrupt,
    f: impl FnOnce() -> T,
) -> T {
    let done = AtomicBool::new(false);
    thread::scope(|scope| {
        let watcher = thread::Builder::new()
            .name("session-cancel".into())
            .spawn_scoped(scope, || {
                while !done.load(Ordering::Relaxed) {
                    if let Some(why) = flag.reason() {
                        interrupt.stop(why);
                        return;
                    }
                    thread::park_timeout(CANCEL_POLL);
                }
            });
        let out = f();
        done.store(true, Ordering::Relaxed);
        match watcher {
            Ok(handle) => handle.thread().unpark(),
            // Without the watcher a cancel is still honoured before every step.
            Err(e) => tracing::warn!("cannot watch for cancel in flight: {e}"),
        }
        out
    })
}
