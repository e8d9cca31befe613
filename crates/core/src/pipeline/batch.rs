//! Many units at once: one thread per session.
//!
//! Serial I/O is blocking and each session's MQTT handshake already runs on its own thread and
//! runtime, so a plain thread per unit is the simplest way to make sure one slow or failing unit
//! never delays another. What the sessions share is read-only or synchronised: the station
//! (configuration), the unlocked CA (`Sync`; its signer serialises access where the key store
//! needs it) and the journal file (the pipeline's writes go through the station's group
//! commit, so sessions that write at the same moment share one disk flush; each session keeps
//! its own connection for reads and certificate records).

use std::thread;

use crate::error::ErrorInfo;
use crate::pki::UnlockedCa;
use crate::station::Station;

use super::{commission, CommissionOptions, CommissionRequest, ProgressEvent, Report};
use super::{SessionResult, StepReport};

/// Commissions every unit in `jobs` concurrently and returns their reports in the same order.
///
/// `progress` receives each event with the index of its job, from that job's thread. The same
/// `opts` apply to every session, so one cancel flag stops the whole batch, steps in flight
/// included.
pub fn commission_many(
    station: &Station,
    ca: &UnlockedCa,
    jobs: &[CommissionRequest<'_>],
    opts: CommissionOptions<'_>,
    progress: &(dyn Fn(usize, ProgressEvent) + Sync),
) -> Vec<Report> {
    thread::scope(|scope| {
        let handles: Vec<_> = jobs
            .iter()
            .enumerate()
            .map(|(i, req)| {
                let spawned = thread::Builder::new()
                    .name(format!("session-{}", req.port))
                    .spawn_scoped(scope, move || {
                        commission(station, ca, req, opts, &mut |e| progress(i, e))
                    });
                (req.port, spawned)
            })
            .collect();
        handles
            .into_iter()
            .map(|(port, spawned)| match spawned {
                Ok(handle) => handle
                    .join()
                    .unwrap_or_else(|_| failed(port, "session.panicked", "the session crashed")),
                Err(e) => failed(port, "session.spawn_failed", &e.to_string()),
            })
            .collect()
    })
}

/// The report of a session that never got to report for itself. Its journal row, if one was
/// begun, stays `running` and is marked interrupted on the next start.
fn failed(port: &str, code: &str, message: &str) -> Report {
    Report {
        session_id: 0,
        result: SessionResult::Fail,
        device_id: None,
        model: None,
        firmware: None,
        certificate_serial: None,
        fingerprint_sha256: None,
        bootstrap_serial: None,
        steps: Vec::<StepReport>::new(),
        audit_checks: Vec::new(),
        error: Some(ErrorInfo {
            code: code.into(),
            message: format!("{message} (port {port})"),
            detail: None,
        }),
        total_millis: 0,
        family: String::new(),
        assurance: None,
        family_details: Default::default(),
    }
}
