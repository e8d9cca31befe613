//! The commissioning pipeline: each step a function over the session context, each step's row
//! written to the journal as it ends, progress reported through a callback.

mod audit;
pub mod batch;
mod bootstrap_audit;
mod cancel;
mod central_check;
mod choose_family;
mod connect;
mod error;
mod identify;
mod inband;
mod recommission;
mod report;
mod unit_link;
pub mod write;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::clock::{Clock, SystemClock};
use crate::device::family::{DeviceFamily, Reference};
use crate::device::protocol::{Hello, Lifecycle};
use crate::device::{open_serial, DeviceError, Interrupt, SerialDriver, Timeouts};
use crate::error::{Coded, ErrorInfo};
use crate::journal::group::GroupCommit;
use crate::journal::{CertificateRecords, Journal, KeyOrigin, NewSession, StepRecord};
use crate::mqtt::tls::install_crypto_provider;
use crate::pki::{pop, IssuedCert, UnlockedCa};
use crate::station::issuing::{self, Issuing};
use crate::station::Station;

pub use crate::device::{Stop, StopSignal};
pub use audit::AUDIT_OFF;
pub use batch::commission_many;
use cancel::forward_cancel;
pub use error::PipelineError;
pub use identify::{check_hello, check_hello_for, HelloPolicy, KeySource, MAX_CLOCK_SKEW};
pub use report::{ProgressEvent, Report, SessionResult, StepReport, StepStatus, STEPS};

/// What to commission and who asks.
#[derive(Debug, Clone)]
pub struct CommissionRequest<'a> {
    pub port: &'a str,
    pub baud: u32,
    pub operator: &'a str,
}

/// How to commission, beyond which port.
#[derive(Clone, Copy)]
pub struct CommissionOptions<'a> {
    /// The unit already holds an active certificate and is being re-keyed on purpose: the new
    /// certificate supersedes the old one once it is proven.
    pub recommission: bool,
    /// Per-operation timeouts of the device link, and the whole-step deadline (the station
    /// profile's `[timeouts]` unless set here).
    pub timeouts: Timeouts,
    /// Work order or batch id (typed by a barcode scanner), recorded with the session.
    pub work_order: Option<&'a str>,
    /// Set by another thread to stop the session, with the reason (the operator's stop, or
    /// the line seeing the port vanish). Checked before every step, and noticed by a device
    /// operation or broker wait in flight within a port poll: a stopped unit is not wanted
    /// now, and waiting out a slow keygen or handshake would hold the port for nothing. A unit
    /// stopped mid-write is still in factory mode: `keyed`, and simply commissioned again, or
    /// (stopped after its last write) `certified`, and recommissioned.
    pub cancel: Option<&'a StopSignal>,
    /// The device family to speak to the unit (`commission --family`); else the station
    /// profile's `[[models]]` family for the port's VID:PID; else the reference family.
    pub family: Option<&'a str>,
    /// Wall-clock time for the session's records and the unit's clock check; tests pin it.
    pub clock: &'a dyn Clock,
}

impl Default for CommissionOptions<'_> {
    fn default() -> Self {
        CommissionOptions {
            recommission: false,
            timeouts: Timeouts::default(),
            work_order: None,
            cancel: None,
            family: None,
            clock: &SystemClock,
        }
    }
}

impl std::fmt::Debug for CommissionOptions<'_> {
    // The clock is a trait object with nothing worth printing.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommissionOptions")
            .field("recommission", &self.recommission)
            .field("timeouts", &self.timeouts)
            .field("work_order", &self.work_order)
            .field("cancel", &self.cancel)
            .field("family", &self.family)
            .finish_non_exhaustive()
    }
}

impl<E: Coded> From<E> for ErrorInfo {
    fn from(e: E) -> Self {
        e.info()
    }
}

/// Commissions the unit on `req.port`: the one entry point, for the CLI, the app, the line and
/// the tests alike; everything beyond the port is in `opts`. Blocking; every outcome, including
/// failure to open the port, ends up in the report and (when the journal opens) the journal.
pub fn commission(
    station: &Station,
    ca: &UnlockedCa,
    req: &CommissionRequest<'_>,
    opts: CommissionOptions<'_>,
    progress: &mut dyn FnMut(ProgressEvent),
) -> Report {
    let clock = opts.clock;
    install_crypto_provider();
    let started = Instant::now();
    let mut report = Report {
        session_id: 0,
        result: SessionResult::Fail,
        device_id: None,
        model: None,
        firmware: None,
        certificate_serial: None,
        fingerprint_sha256: None,
        bootstrap_serial: None,
        steps: Vec::new(),
        audit_checks: Vec::new(),
        error: None,
        total_millis: 0,
        family: String::new(),
        assurance: None,
        family_details: Default::default(),
    };
    // Reads and the issuing records go through the session's own connection; the writes that
    // every session makes at the same moments go through the station's group commit.
    let (journal, writer) = match station
        .journal()
        .and_then(|j| Ok((j, station.journal_writer()?)))
    {
        Ok(pair) => pair,
        Err(e) => {
            report.error = Some(e.info());
            return report;
        }
    };
    let session_id = match writer.begin_session(&NewSession {
        station_id: &station.config.station_id,
        operator: req.operator,
        port: req.port,
        work_order: opts.work_order,
        started_at: clock.now(),
    }) {
        Ok(id) => id,
        Err(e) => {
            report.error = Some(e.info());
            return report;
        }
    };
    report.session_id = session_id;

    let mut run = Run {
        station,
        ca,
        req,
        opts,
        clock,
        journal: &journal,
        writer: &writer,
        progress,
        report,
        link: None,
        interrupt: Arc::new(Interrupt::default()),
        family: &Reference,
        key_origin: None,
        unit: None,
        handshake_note: None,
        inband_log: Vec::new(),
        inband_operational: None,
    };
    let outcome = match opts.cancel {
        Some(flag) => {
            let interrupt = run.interrupt.clone();
            forward_cancel(flag, &interrupt, || run.steps())
        }
        None => run.steps(),
    };
    // Whatever still runs on the session's behalf (a handshake left behind by a stop) ends at
    // its next look instead of retrying for a session that is over.
    run.interrupt.cancel();
    if outcome.is_err() {
        run.withdraw_inband_operational();
    }
    let assurance = run.assurance();
    let family = run.family.name();
    let mut report = run.report;
    report.family = family.into();
    if let Some(a) = &assurance {
        if let Err(e) = writer.set_assurance(session_id, family, &a.summary()) {
            tracing::error!("cannot record the assurance of session {session_id}: {e}");
        }
    }
    report.assurance = assurance;
    report.result = match &outcome {
        Ok(()) => SessionResult::Pass,
        // The unit went away; nothing can be concluded about it.
        // Cancelled: the operator (or the line) stopped it, the unit was not judged.
        Err(e)
            if matches!(
                e.code.as_str(),
                "device.unplugged" | "device.rebooted" | "session.cancelled"
            ) =>
        {
            SessionResult::Interrupted
        }
        Err(_) => SessionResult::Fail,
    };
    report.error = outcome.err();
    report.total_millis = started.elapsed().as_millis() as u64;
    if let Err(e) = writer.finish_session(
        session_id,
        report.result,
        report.error.as_ref(),
        clock.now(),
    ) {
        // The session row stays `running` and is marked interrupted on the next start.
        tracing::error!("cannot close session {session_id}: {e}");
        report.error.get_or_insert(e.info());
        report.result = SessionResult::Fail;
    }
    // The label names what the journal sealed; a printer that is off fails the label, never
    // the unit (the label can be printed again from the journal).
    if report.result == SessionResult::Pass && station.config.label.as_ref().is_some_and(|l| l.auto)
    {
        if let Err(e) = station.print_label(&journal, session_id) {
            tracing::warn!("cannot print the label of session {session_id}: {e}");
        }
    }
    report
}

/// State of one run of the pipeline.
struct Run<'a> {
    station: &'a Station,
    ca: &'a UnlockedCa,
    req: &'a CommissionRequest<'a>,
    opts: CommissionOptions<'a>,
    clock: &'a dyn Clock,
    journal: &'a Journal,
    writer: &'a GroupCommit,
    progress: &'a mut dyn FnMut(ProgressEvent),
    report: Report,
    /// Shared with the TLS signer during the handshake.
    link: Option<Arc<Mutex<SerialDriver>>>,
    /// Cancel and the current step's deadline, for the driver and the broker wait.
    interrupt: Arc<Interrupt>,
    /// Which steps run, and what the session's assurance can be.
    family: &'static dyn DeviceFamily,
    /// Where the key came from, once there is one.
    key_origin: Option<KeyOrigin>,
    /// The link of a family that brings its own driver (`DeviceFamily::open`).
    unit: Option<crate::device::family::SharedLink>,
    /// Why a handshake the family could run did not (the session's assurance says so).
    handshake_note: Option<&'static str>,
    /// In-band provisioning's messages and reason codes (no secrets), journalled with the
    /// step they belong to.
    inband_log: Vec<String>,
    /// The operational certificate an in-band backend issued and activated in its own
    /// session: a session of ours that fails after it must revoke it itself.
    inband_operational: Option<String>,
}

impl Run<'_> {
    fn steps(&mut self) -> Result<(), ErrorInfo> {
        self.family = self.choose_family()?;
        // A family with its own driver runs the same steps, in the same order, through it.
        if let Some(outcome) = self.steps_through_link() {
            return outcome;
        }
        let (hello, key_source) = self.step("identify", |run| run.identify())?;
        let device_id = hello.device_id.clone();
        // A unit in service: back to factory mode first, remembering what it held.
        let old_serial = if self.opts.recommission {
            self.step("unlock", |run| run.unlock(&hello))?
        } else {
            None
        };
        let (spki_der, origin, csr_der) = match key_source {
            KeySource::Device => {
                let csr_der = self.step("keygen", |run| Ok(run.device()?.keygen()?))?;
                let validated = self.step("validate_csr", |run| {
                    Ok(issuing::validate_csr(
                        run.station,
                        run.journal,
                        &csr_der,
                        &device_id,
                        run.opts.recommission,
                    )?)
                })?;
                (validated.spki_der, KeyOrigin::Device, Some(csr_der))
            }
            KeySource::Host => {
                let spki = self.step("keygen", |run| run.inject_host_key(&device_id))?;
                self.skip_step("validate_csr", HOST_KEY_NO_CSR);
                (spki, KeyOrigin::Host, None)
            }
        };
        self.key_origin = Some(origin);
        // In band the unit asks for its operational certificate with the CSR it made at
        // keygen: a unit whose key the station made has no CSR of its own to send.
        let in_band = self.in_band().then(|| csr_der.clone());
        let cert = self.step("issue", |run| match &in_band {
            Some(Some(_)) => run.issue_bootstrap(&spki_der, &device_id, origin),
            // Refused before anything is signed, in the step's journal row.
            Some(None) => Err(PipelineError::InbandCertificate(
                "in-band provisioning needs a key the unit made itself (its CSR); this unit's \
                 key was made on the station"
                    .into(),
            )
            .into()),
            None => run.issue(&spki_der, &device_id, origin),
        })?;
        let in_band = in_band.flatten();
        self.step("write_cert", |run| run.write(&cert, &hello))?;
        if let Some(why) = self.family.skip_reason("prove_possession") {
            self.skip_step("prove_possession", &why);
        } else {
            self.step("prove_possession", |run| {
                let nonce: [u8; 32] = rand::random();
                let sig = run.device()?.challenge(&nonce)?;
                Ok(pop::verify(&cert.der, &nonce, &sig)?)
            })?;
        }
        let bootstrap = in_band.as_ref().map(|_| cert.clone());
        let cert = if let Some(csr) = &in_band {
            // Nothing proves a bootstrap identity but the exchange itself: no skipping it.
            let operational = self.step("handshake", |run| {
                run.inband_handshake(&hello, &cert, csr, &spki_der)
            })?;
            self.after_handshake(&operational, &device_id)?;
            operational
        } else if let Some(why) = self.handshake_skip_reason() {
            self.skip_step("handshake", &why);
            self.skip_step("audit", &why);
            cert
        } else {
            self.step("handshake", |run| run.handshake(&hello, &cert))?;
            self.after_handshake(&cert, &device_id)?;
            cert
        };
        // Locked before its certificate counts as the unit's: a unit that will not lock is not
        // commissioned (its certificate is revoked as the session closes), and after
        // the lock nothing can stop the records that follow.
        if let Some(why) = self.family.skip_reason("lock") {
            self.skip_step("lock", &why);
        } else {
            self.step("lock", |run| {
                let ack = run.device()?.lock()?;
                match ack.state {
                    Lifecycle::Locked => Ok(()),
                    other => Err(PipelineError::NotLocked(other).into()),
                }
            })?;
        }
        self.writer
            .activate_certificate(&cert.serial)
            .map_err(|e| e.info())?;
        if let Some(old) = &old_serial {
            self.step("revoke_old", |run| run.revoke_superseded(old, &cert.serial))?;
        }
        // The operational identity works: the bootstrap one is of no further use, and must not
        // open the broker again (reason superseded, on the next CRL).
        if let Some(boot) = &bootstrap {
            self.step("revoke_bootstrap", |run| run.revoke_bootstrap(&boot.serial))?;
        }
        Ok(())
    }

    /// Runs one step: progress before and after, a journal row when it ends, device log kept.
    fn step<T>(
        &mut self,
        name: &'static str,
        f: impl FnOnce(&mut Self) -> Result<T, ErrorInfo>,
    ) -> Result<T, ErrorInfo> {
        let stop = self
            .interrupt
            .stopped_by()
            .or_else(|| self.opts.cancel.and_then(StopSignal::reason));
        match stop {
            _ if FINISHES_A_WRITE.contains(&name) => {}
            Some(Stop::Unplugged) => return Err(DeviceError::Unplugged { op: name }.info()),
            Some(_) => return Err(PipelineError::Cancelled { step: name }.into()),
            None => {}
        }
        let index = step_index(name);
        let event = |status, message: String| ProgressEvent {
            step: name.into(),
            index,
            total: STEPS.len() as u32,
            status,
            message,
        };
        (self.progress)(event(StepStatus::Started, format!("{name}…")));
        let started_at = self.clock.now();
        let t0 = Instant::now();
        let allowed = self.deadline_for(name);
        self.interrupt.set_deadline(Some(t0 + allowed));
        let result = f(self).map_err(|e| stop_error(name, allowed, e));
        self.interrupt.set_deadline(None);
        let elapsed = t0.elapsed();
        let millis = elapsed.as_millis() as u64;
        let ended_at = self.clock.now();

        let mut log = self
            .link
            .as_ref()
            .map(|l| lock(l).take_log())
            .unwrap_or_default();
        log.extend(self.unit_log());
        log.append(&mut self.inband_log);
        let session = self.report.session_id;
        let error = result.as_ref().err();
        let recorded = self.writer.record_step_with_log(
            session,
            &StepRecord {
                name,
                started_at,
                ended_at,
                error,
                detail: None,
            },
            &log,
        );
        self.report.steps.push(StepReport {
            name: name.into(),
            outcome: if error.is_some() { "failed" } else { "ok" }.into(),
            millis,
            micros: elapsed.as_micros() as u64,
            error: error.cloned(),
        });
        match (&result, recorded) {
            (_, Err(e)) => {
                // An unrecorded step must not count as done.
                let info = e.info();
                (self.progress)(event(StepStatus::Failed, info.message.clone()));
                Err(info)
            }
            (Ok(_), Ok(())) => {
                (self.progress)(event(
                    StepStatus::Passed,
                    format!("{name} ok ({millis} ms)"),
                ));
                result
            }
            (Err(e), Ok(())) => {
                (self.progress)(event(StepStatus::Failed, e.message.clone()));
                result
            }
        }
    }

    /// Reports a step that does not apply to this session (left out by the profile, or
    /// without its input). It gets no journal row (the journal keeps the steps that ran); the
    /// report and the progress show it, with the reason.
    fn skip_step(&mut self, name: &'static str, why: &str) {
        (self.progress)(ProgressEvent {
            step: name.into(),
            index: step_index(name),
            total: STEPS.len() as u32,
            status: StepStatus::Skipped,
            message: why.into(),
        });
        self.report.steps.push(StepReport {
            name: name.into(),
            outcome: "skipped".into(),
            millis: 0,
            micros: 0,
            error: None,
        });
    }

    /// The whole-step deadline: the caller's, else the station profile's for this step.
    fn deadline_for(&self, step: &str) -> Duration {
        self.opts
            .timeouts
            .step
            .unwrap_or_else(|| self.station.config.timeouts.for_step(step))
    }

    fn device(&self) -> Result<MutexGuard<'_, SerialDriver>, ErrorInfo> {
        self.link
            .as_ref()
            .map(|l| lock(l))
            .ok_or_else(crate::device::not_open)
    }

    fn identify(&mut self) -> Result<(Hello, KeySource), ErrorInfo> {
        let driver = open_serial(self.req.port, self.req.baud, self.opts.timeouts)?
            .with_interrupt(self.interrupt.clone());
        self.link = Some(Arc::new(Mutex::new(driver)));
        let hello = self.device()?.hello()?;
        self.writer
            .set_identity(
                self.report.session_id,
                &hello.device_id,
                &hello.model,
                &hello.fw_version,
            )
            .map_err(|e| e.info())?;
        self.report.device_id = Some(hello.device_id.clone());
        self.report.model = Some(hello.model.clone());
        self.report.firmware = Some(hello.fw_version.clone());
        let policy = HelloPolicy {
            recommission: self.opts.recommission,
            allow_host_key: self.station.config.policy.allow_host_generated_key,
        };
        // Before anything else: the id becomes a CN, an MQTT user name and a topic segment, so
        // a unit must not be able to name another unit, a wildcard or a service identity.
        self.station
            .config
            .device_ids
            .check(&hello.device_id, &self.station.dir)?;
        issuing::check_not_service(self.journal, &hello.device_id)?;
        let source = check_hello_for(&hello, self.clock.now(), policy)?;
        Ok((hello, source))
    }

    /// The fallback for a unit without a key generator: the station makes its key (policy
    /// permitting), sends it with `inject_key` and forgets it. Whether the unit really holds
    /// it is proven the same way as for a unit's own key, by `prove_possession`.
    fn inject_host_key(&mut self, device_id: &str) -> Result<Vec<u8>, ErrorInfo> {
        let key = issuing::host_key(
            self.station,
            self.journal,
            device_id,
            self.opts.recommission,
        )?;
        self.device()?.inject_key(key.pkcs8_der())?;
        Ok(key.spki_der().to_vec())
    }

    /// What issuing a certificate in this session needs.
    pub(super) fn issuing(&self) -> Issuing<'_> {
        Issuing {
            station: self.station,
            ca: self.ca,
            journal: self.journal,
            records: self.writer,
            session_id: self.report.session_id,
        }
    }

    fn issue(
        &mut self,
        spki_der: &[u8],
        device_id: &str,
        origin: KeyOrigin,
    ) -> Result<IssuedCert, ErrorInfo> {
        self.clear_centrally(device_id)?;
        // Recorded before it goes anywhere near the unit: an issued certificate is never
        // unaccounted for, even if the station dies in the next instant.
        let cert = issuing::issue_for_device(
            self.issuing(),
            spki_der,
            device_id,
            origin,
            self.clock.now(),
        )?;
        self.report.certificate_serial = Some(cert.serial.clone());
        self.report.fingerprint_sha256 = Some(cert.fingerprint.clone());
        Ok(cert)
    }
}

/// A device operation abandoned by a stop becomes the session's own outcome, naming the step;
/// the operation's name stays in the detail for the log.
fn stop_error(step: &'static str, allowed: Duration, e: ErrorInfo) -> ErrorInfo {
    let stop = match e.code.as_str() {
        "device.cancelled" => PipelineError::CancelledDuring { step },
        "device.step_deadline" => PipelineError::StepTimeout {
            step,
            after: allowed,
        },
        _ => return e,
    };
    let mut info: ErrorInfo = stop.into();
    info.detail = Some(e.message);
    info
}

/// Why `validate_csr` is skipped for a unit that got a host-generated key.
pub const HOST_KEY_NO_CSR: &str =
    "host-generated key (the unit has no key generator; the profile allows it): no CSR to check";

/// Steps that complete what came before them, so a stop must not fall between the two: once
/// the new certificate is active the old one has been marked superseded, and a superseded
/// certificate that never reaches the CRL would still open the broker. It touches neither the
/// unit nor the broker, so running it after a stop costs nothing.
const FINISHES_A_WRITE: &[&str] = &["revoke_old", "revoke_bootstrap"];

/// Position of a step in [`STEPS`]. The recommission-only steps report the position of the
/// step they belong with, so a progress bar keeps one segment per entry of [`STEPS`].
fn step_index(name: &str) -> u32 {
    let with = match name {
        "unlock" => "identify",
        "revoke_old" | "revoke_bootstrap" => "lock",
        other => other,
    };
    STEPS.iter().position(|s| *s == with).unwrap_or(0) as u32
}

fn lock(link: &Mutex<SerialDriver>) -> MutexGuard<'_, SerialDriver> {
    link.lock().unwrap_or_else(|p| p.into_inner())
}
