//! What a commissioning run tells its caller: progress while it runs, a report at the end.

use std::collections::BTreeMap;

use serde::Serialize;
use ts_rs::TS;

use crate::device::family::Assurance;
use crate::error::ErrorInfo;
pub use crate::journal::SessionResult;
use crate::mqtt::audit::{CheckResult, Outcome};

/// Names of the pipeline's steps, in order.
/// `audit` runs only where the broker profile enables it; elsewhere it is reported skipped.
pub const STEPS: [&str; 9] = [
    "identify",
    "keygen",
    "validate_csr",
    "issue",
    "write_cert",
    "prove_possession",
    "handshake",
    "audit",
    "lock",
];

/// State of a step in a progress event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Started,
    Passed,
    Failed,
    /// Left out by the station's profile; the message says why.
    Skipped,
}

/// One progress event.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ProgressEvent {
    pub step: String,
    /// Zero-based position of the step in [`STEPS`].
    pub index: u32,
    pub total: u32,
    pub status: StepStatus,
    pub message: String,
}

/// One finished step in the report.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct StepReport {
    pub name: String,
    /// `ok`, `failed`, or `skipped` (left out by the station's profile, never run).
    pub outcome: String,
    pub millis: u64,
    /// The same duration in microseconds: most simulator steps take well under a millisecond.
    pub micros: u64,
    pub error: Option<ErrorInfo>,
}

/// The outcome of one commissioning attempt.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Journal row id; 0 when the journal could not even be opened.
    pub session_id: i64,
    pub result: SessionResult,
    pub device_id: Option<String>,
    pub model: Option<String>,
    pub firmware: Option<String>,
    pub certificate_serial: Option<String>,
    pub fingerprint_sha256: Option<String>,
    /// In-band provisioning: the bootstrap certificate the unit exchanged for the operational
    /// one (`certificate_serial`); revoked once the operational one is proven.
    pub bootstrap_serial: Option<String>,
    pub steps: Vec<StepReport>,
    /// Broker audit checks recorded with this session: the `audit` step's, and the protocol
    /// version warning of a 3.1.1 handshake.
    pub audit_checks: Vec<CheckResult>,
    pub error: Option<ErrorInfo>,
    pub total_millis: u64,
    /// The device family the station spoke to the unit with.
    pub family: String,
    /// What the session may claim about the unit's key; absent when it never got a key.
    pub assurance: Option<Assurance>,
    /// What a family reports beyond the common fields (nRF91: `imei`, `sec_tag`,
    /// `attested_uuid`, `attestation_token`).
    pub family_details: BTreeMap<String, String>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.result == SessionResult::Pass
    }

    /// A plain-text report for terminals and logs.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let verdict = match self.result {
            SessionResult::Pass => "PASS",
            SessionResult::Fail => "FAIL",
            SessionResult::Interrupted => "INTERRUPTED",
            SessionResult::Running => "RUNNING",
        };
        out.push_str(&format!("{verdict}  session {}\n", self.session_id));
        let field = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        out.push_str(&format!("  device id    {}\n", field(&self.device_id)));
        if !self.family.is_empty() {
            out.push_str(&format!("  family       {}\n", self.family));
        }
        out.push_str(&format!(
            "  model / fw   {} / {}\n",
            field(&self.model),
            field(&self.firmware)
        ));
        out.push_str(&format!(
            "  cert serial  {}\n",
            field(&self.certificate_serial)
        ));
        out.push_str(&format!(
            "  sha-256      {}\n",
            field(&self.fingerprint_sha256)
        ));
        if let Some(serial) = &self.bootstrap_serial {
            out.push_str(&format!("  bootstrap    {serial} (in-band)\n"));
        }
        for (k, v) in &self.family_details {
            // A token is long and only for the record.
            if k != "attestation_token" {
                out.push_str(&format!("  {k:<12} {v}\n"));
            }
        }
        if let Some(a) = &self.assurance {
            out.push_str(&format!("  assurance    {}\n", a.summary()));
        }
        out.push_str("  steps:\n");
        for step in &self.steps {
            let mark = match (step.outcome.as_str(), &step.error) {
                ("skipped", _) => "skip",
                (_, None) => "ok  ",
                (_, Some(_)) => "FAIL",
            };
            let ms = step.micros as f64 / 1000.0;
            out.push_str(&format!("    {mark} {:<18} {ms:>9.1} ms", step.name));
            if let Some(e) = &step.error {
                out.push_str(&format!("  [{}] {}", e.code, e.message));
            }
            out.push('\n');
        }
        if !self.audit_checks.is_empty() {
            out.push_str("  broker audit:\n");
            for c in &self.audit_checks {
                let mark = match c.outcome {
                    Outcome::Pass => "pass",
                    Outcome::Fail => "FAIL",
                    Outcome::Warn => "WARN",
                    Outcome::Skipped => "skip",
                    Outcome::Inconclusive => "INCONCLUSIVE",
                };
                out.push_str(&format!("    {mark} {:<22} {}\n", c.name, c.evidence));
            }
        }
        out.push_str(&format!("  total        {} ms\n", self.total_millis));
        if let Some(e) = &self.error {
            out.push_str(&format!("  reason       [{}] {}\n", e.code, e.message));
            if let Some(detail) = &e.detail {
                out.push_str(&format!("  detail       {detail}\n"));
            }
        }
        // The unit chose its id, model and firmware strings, and error messages quote them.
        crate::text::terminal_safe(&out, true).into_owned()
    }
}
