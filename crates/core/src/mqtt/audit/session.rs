//! The audit as a journal session of its own (port `audit`): the identities it used, every
//! check with its evidence, sealed into the chain like a commissioning session.

use rustls_pki_types::{pem::PemObject, CertificateDer};
use thiserror::Error;
use time::OffsetDateTime;

use super::{identities, run, AuditTarget, CheckResult, Outcome};
use crate::error::Coded;
use crate::journal::{JournalError, NewSession, SessionResult};
use crate::lab::LabError;
use crate::mqtt::MqttError;
use crate::pki::{PkiError, UnlockedCa};
use crate::station::admin::AdminError;
use crate::station::{Station, StationError};

/// Why an audit could not run, or what its failed checks mean for the session.
#[derive(Debug, Error)]
pub enum AuditError {
    /// `commissioner audit` found weaknesses: the audit session fails.
    #[error("the broker failed: {checks}")]
    Findings { checks: String },
    /// No check failed, but some could not judge the broker: the station's own connection
    /// did not work, so a refusal of the attacker would have proven nothing.
    #[error(
        "the audit is inconclusive ({checks}): the station's own connection to the broker \
         failed; fix that (see the evidence) and audit again"
    )]
    Inconclusive { checks: String },
    /// The pipeline's `audit` step found weaknesses with the unit's new identity: the unit is
    /// fine, the broker is not, and a unit is not shipped to a broker that lets others in.
    #[error(
        "the broker failed the security audit run with this unit's identity ({checks}): \
             fix the broker's configuration before commissioning more units"
    )]
    UnitFailed { checks: String },
    #[error("cannot read the broker CA {path} named by the profile: {reason}")]
    BrokerCa { path: String, reason: String },
    #[error("cannot load the audit's revoked certificate into the broker's CRL")]
    CrlRefresh(#[source] LabError),
    #[error("the profile's CRL hook `{command}` failed: {reason}")]
    CrlHook { command: String, reason: String },
    #[error(transparent)]
    Station(#[from] StationError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Pki(#[from] PkiError),
    #[error(transparent)]
    Admin(#[from] AdminError),
    #[error(transparent)]
    Mqtt(#[from] MqttError),
}

impl Coded for AuditError {
    fn code(&self) -> &'static str {
        match self {
            AuditError::Findings { .. } => "audit.findings",
            AuditError::Inconclusive { .. } => "audit.inconclusive",
            AuditError::UnitFailed { .. } => "audit.failed",
            AuditError::BrokerCa { .. } => "audit.broker_ca",
            AuditError::CrlRefresh(_) => "audit.crl_refresh",
            AuditError::CrlHook { .. } => "audit.crl_hook",
            AuditError::Station(e) => e.code(),
            AuditError::Journal(e) => e.code(),
            AuditError::Pki(e) => e.code(),
            AuditError::Admin(e) => e.code(),
            AuditError::Mqtt(e) => e.code(),
        }
    }
}

/// A finished audit session.
#[derive(Debug, Clone)]
pub struct StationAudit {
    pub session_id: i64,
    pub results: Vec<CheckResult>,
}

/// The broker's trust anchors from the profile's `server_ca`.
pub fn trust_anchors(station: &Station) -> Result<Vec<Vec<u8>>, AuditError> {
    let path = station.resolve(&station.broker()?.server_ca);
    let bad = |reason: String| AuditError::BrokerCa {
        path: path.display().to_string(),
        reason,
    };
    let pem = std::fs::read(&path).map_err(|e| bad(e.to_string()))?;
    let ders: Vec<Vec<u8>> = CertificateDer::pem_slice_iter(pem.as_slice())
        .filter_map(Result::ok)
        .map(|c| c.to_vec())
        .collect();
    if ders.is_empty() {
        return Err(bad("no certificate in file".into()));
    }
    Ok(ders)
}

/// Where a new CRL went: the station publishes it the way it can after each revocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrlPublished {
    /// Through the profile's `[broker.audit.crl_hook]`.
    Hook,
    /// Written into the lab broker's CRL file and that mosquitto (this pid) signalled.
    LabBroker(u32),
    /// Nowhere: no hook, and no lab broker of this station is running.
    Nowhere,
}

/// Publishes a fresh CRL of the registry to the station's broker the way this station can:
/// its profile's CRL hook, else the running lab mosquitto this station started when it is the
/// profile's broker (the pid in the lab's pid file, checked as [`audit_station_with_lab`]
/// checks it). No other process is ever signalled.
pub fn publish_crl_to_broker(
    station: &Station,
    ca: &UnlockedCa,
) -> Result<CrlPublished, AuditError> {
    let profile = station.broker()?.clone();
    if let Some(hook) = profile.audit.crl_hook.clone() {
        super::crl_hook::publish(station, ca, &hook)?;
        return Ok(CrlPublished::Hook);
    }
    let files = crate::lab::LabFiles::new(station);
    let pid = std::fs::read_to_string(&files.broker_pid)
        .ok()
        .and_then(|text| text.trim().parse::<u32>().ok())
        .filter(|pid| crate::lab::is_lab_broker_of(&files, &profile, *pid));
    match pid {
        Some(pid) => {
            crate::lab::write_lab_crl(station, ca, &files).map_err(AuditError::CrlRefresh)?;
            crate::lab::signal_reload(pid).map_err(AuditError::CrlRefresh)?;
            Ok(CrlPublished::LabBroker(pid))
        }
        None => Ok(CrlPublished::Nowhere),
    }
}

/// [`audit_station`] with the CRL published the way this station can: through the profile's
/// CRL hook when it has one, else, when `lab_pid` is the lab mosquitto this station started
/// *and* the broker under audit, by rewriting the lab's CRL and signalling that process. Any
/// other broker is never signalled, and its revocation check is skipped with instructions.
pub fn audit_station_with_lab(
    station: &Station,
    ca: &UnlockedCa,
    operator: &str,
    lab_pid: Option<u32>,
) -> Result<StationAudit, AuditError> {
    if let Some(hook) = station.broker()?.audit.crl_hook.clone() {
        let publish = move || super::crl_hook::publish(station, ca, &hook);
        return audit_station(station, ca, operator, Some(&publish));
    }
    let files = crate::lab::LabFiles::new(station);
    let audited = station.broker()?.clone();
    match lab_pid.filter(|pid| crate::lab::is_lab_broker_of(&files, &audited, *pid)) {
        Some(pid) => {
            let refresh = move || -> Result<(), AuditError> {
                crate::lab::write_lab_crl(station, ca, &files).map_err(AuditError::CrlRefresh)?;
                crate::lab::signal_reload(pid).map_err(AuditError::CrlRefresh)
            };
            audit_station(station, ca, operator, Some(&refresh))
        }
        None => audit_station(station, ca, operator, None),
    }
}

/// Audits the station's broker as a journal session. `refresh_crl`, when the station can
/// publish a CRL to its broker (a CRL hook, a lab broker), is called after a test certificate
/// was revoked in the registry; without it the revocation check is skipped, and when it fails
/// the check is inconclusive with its error.
pub fn audit_station(
    station: &Station,
    ca: &UnlockedCa,
    operator: &str,
    refresh_crl: Option<&dyn Fn() -> Result<(), AuditError>>,
) -> Result<StationAudit, AuditError> {
    let journal = station.journal()?;
    let now = OffsetDateTime::now_utc();
    let session_id = journal.begin_session(&NewSession {
        station_id: &station.config.station_id,
        operator,
        port: "audit",
        work_order: None,
        started_at: now,
    })?;
    let outcome = audit_in_session(station, ca, &journal, session_id, refresh_crl);
    let end = OffsetDateTime::now_utc();
    match outcome {
        Ok(results) => {
            for r in &results {
                journal.record_audit_check(
                    session_id,
                    r.name,
                    r.outcome.as_str(),
                    &r.evidence,
                    end,
                )?;
            }
            let failed = names_with(&results, Outcome::Fail);
            let inconclusive = names_with(&results, Outcome::Inconclusive);
            let (result, error) = if !failed.is_empty() {
                let error = AuditError::Findings { checks: failed }.info();
                (SessionResult::Fail, Some(error))
            } else if !inconclusive.is_empty() {
                let error = AuditError::Inconclusive {
                    checks: inconclusive,
                }
                .info();
                (SessionResult::Fail, Some(error))
            } else {
                (SessionResult::Pass, None)
            };
            journal.finish_session(session_id, result, error.as_ref(), end)?;
            Ok(StationAudit {
                session_id,
                results,
            })
        }
        Err(e) => {
            // The attempt is recorded even when it could not run.
            journal.finish_session(session_id, SessionResult::Fail, Some(&e.info()), end)?;
            Err(e)
        }
    }
}

/// Names of the checks that fail the audit (failed or inconclusive), comma-separated; empty
/// when none did.
pub fn failed_names(results: &[CheckResult]) -> String {
    join_names(results.iter().filter(|r| r.outcome.fails_audit()))
}

fn names_with(results: &[CheckResult], outcome: Outcome) -> String {
    join_names(results.iter().filter(|r| r.outcome == outcome))
}

fn join_names<'a>(results: impl Iterator<Item = &'a CheckResult>) -> String {
    results.map(|r| r.name).collect::<Vec<_>>().join(", ")
}

fn audit_in_session(
    station: &Station,
    ca: &UnlockedCa,
    journal: &crate::journal::Journal,
    session_id: i64,
    refresh_crl: Option<&dyn Fn() -> Result<(), AuditError>>,
) -> Result<Vec<CheckResult>, AuditError> {
    let profile = station.broker()?.clone();
    let target = AuditTarget {
        trust_anchors: trust_anchors(station)?,
        profile,
    };
    let now = OffsetDateTime::now_utc();
    let prefix = target.profile.audit.unit_prefix.as_deref();
    let mut ids = identities::issue(ca, prefix, now)?;
    if let Some(refresh) = refresh_crl {
        if target.profile.audit.enabled("revoked_certificate") {
            ids.revoked = Some(identities::issue_revoked(
                ca, journal, session_id, prefix, now,
            )?);
            if let Err(e) = refresh() {
                // A broker that did not get the CRL says nothing about revocation.
                ids.revoked = None;
                ids.crl_failure = Some(format!("{} ({e})", e.code()));
            }
        }
    }
    Ok(run(&target, &ids)?)
}
