//! The `audit` step: the broker audit run with the unit's new identity (its certificate, its
//! key signing on the unit), each check recorded with the session and sealed with it. Also the
//! protocol-version flag every 3.1.1 handshake gets, audit or not.

use std::sync::Arc;

use time::OffsetDateTime;

use super::Run;
use crate::error::{Coded, ErrorInfo};
use crate::mqtt::audit::session::{failed_names, AuditError};
use crate::mqtt::audit::{self, identities, AuditTarget, AuditUnit, CheckResult, UnitKey};
use crate::mqtt::signer::DeviceSigningKey;
use crate::mqtt::MqttError;
use crate::pki::IssuedCert;
use crate::station::MqttVersion;

/// Why the step is reported skipped when the profile leaves it off.
pub const AUDIT_OFF: &str =
    "not enabled for this station ([broker.audit] in_pipeline = false); run `commissioner audit`";

impl Run<'_> {
    /// Between the handshake and the certificate's activation: a failed audit leaves the
    /// certificate unconfirmed, revoked as the session closes like any other failed session's.
    pub(super) fn after_handshake(
        &mut self,
        cert: &IssuedCert,
        device_id: &str,
    ) -> Result<(), ErrorInfo> {
        let broker = self.station.broker()?;
        let (version, enabled) = (broker.mqtt_version, broker.audit.in_pipeline);
        if version == MqttVersion::V311 {
            // The unit will live on a protocol without reason codes: QA must see that on the
            // unit's own record, not only in a separate audit.
            let check = audit::protocol_version(broker);
            self.record_checks(std::slice::from_ref(&check))?;
        }
        if !enabled {
            self.skip_step("audit", AUDIT_OFF);
            return Ok(());
        }
        self.step("audit", |run| run.audit(cert, device_id))
    }

    fn audit(&mut self, cert: &IssuedCert, device_id: &str) -> Result<(), ErrorInfo> {
        let mut profile = self.station.broker()?.clone();
        profile.audit.checks = profile.audit.pipeline_checks.clone();
        let target = AuditTarget {
            trust_anchors: self.broker_trust_anchors()?,
            profile,
        };
        let link = self.link.clone().ok_or_else(crate::device::not_open)?;
        let key = DeviceSigningKey::new(link);
        let unit = AuditUnit {
            id: device_id.to_owned(),
            chain: vec![
                cert.der.clone().into(),
                self.ca.issuing_der().to_vec().into(),
            ],
            key: UnitKey::Device(Arc::new(key.clone())),
        };
        // The broker judges the test identities by its own clock, not the session's.
        let ids = identities::around_unit(self.ca, unit, OffsetDateTime::now_utc())?;
        let outcome = audit::run(&target, &ids);
        if let Some(e) = signature_failure(&key) {
            return Err(e);
        }
        let mut results = outcome.map_err(|e| AuditError::from(e).info())?;
        let v311 = target.profile.mqtt_version == MqttVersion::V311;
        // Only this step's checks go on the unit's record: the broker-wide ones belong to
        // `commissioner audit`, and a 3.1.1 version warning was recorded after the handshake.
        results.retain(|r| {
            target.profile.audit.enabled(r.name) && !(v311 && r.name == "protocol_version")
        });
        self.judge_checks(&results)
    }

    /// Records the unit's audit checks and fails the step when any failed or could not judge
    /// the broker (`audit.failed`, naming them, their evidence as the detail).
    pub(super) fn judge_checks(&mut self, checks: &[CheckResult]) -> Result<(), ErrorInfo> {
        self.record_checks(checks)?;
        let failed = failed_names(checks);
        if failed.is_empty() {
            return Ok(());
        }
        let mut info = AuditError::UnitFailed { checks: failed }.info();
        info.detail = Some(
            checks
                .iter()
                .filter(|r| r.outcome.fails_audit())
                .map(|r| format!("{}: {}", r.name, r.evidence))
                .collect::<Vec<_>>()
                .join("; "),
        );
        Err(info)
    }

    /// Journals checks with the session (sealed with it when it ends) and adds them to the report.
    pub(super) fn record_checks(&mut self, checks: &[CheckResult]) -> Result<(), ErrorInfo> {
        let at = self.clock.now();
        for c in checks {
            self.journal
                .record_audit_check(
                    self.report.session_id,
                    c.name,
                    c.outcome.as_str(),
                    &c.evidence,
                    at,
                )
                .map_err(|e| e.info())?;
            self.report.audit_checks.push(c.clone());
        }
        Ok(())
    }
}

/// A check that could not get the unit's signature measured nothing about the broker: the
/// unit's own reason (interrupted, or abandoned on a stop or deadline: the pipeline names the
/// step), or `mqtt.device_signature`.
pub(super) fn signature_failure(key: &DeviceSigningKey) -> Option<ErrorInfo> {
    let dev = key.take_error()?;
    Some(if dev.is_interruption() || dev.is_stop() {
        dev.info()
    } else {
        MqttError::DeviceSignature(dev).info()
    })
}
