//! The responder's decision: which status a request gets, from the certificate registry.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::journal::{CertFilter, CertStatus, Journal};
use crate::mqtt::MqttError;

/// Provisioning-Status of a reply, with its reason for Rejected and Pending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Completed,
    Pending(String),
    Rejected(String),
}

impl Decision {
    pub fn status(&self) -> &'static str {
        match self {
            Decision::Completed => "Completed",
            Decision::Pending(_) => "Pending",
            Decision::Rejected(_) => "Rejected",
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            Decision::Completed => None,
            Decision::Pending(r) | Decision::Rejected(r) => Some(r),
        }
    }
}

/// Decides requests: registry validation, and a configurable number of Pending answers per
/// unit first (a backend that needs time to register a unit), so stations can be tested on it.
pub(super) struct Decider {
    registry: Option<Journal>,
    pending_first: u32,
    seen: HashMap<String, u32>,
}

impl Decider {
    pub fn new(registry: Option<&PathBuf>, pending_first: u32) -> Result<Self, MqttError> {
        let registry = registry
            .map(|p| {
                Journal::open(p).map_err(|e| {
                    MqttError::Config(format!("responder registry {}: {e}", p.display()))
                })
            })
            .transpose()?;
        Ok(Self {
            registry,
            pending_first,
            seen: HashMap::new(),
        })
    }

    /// `device_id` comes from the request topic, which the broker's ACL ties to the
    /// certificate identity; `serial` from the payload, if the station sent one.
    pub fn decide(&mut self, device_id: &str, serial: Option<&str>) -> Decision {
        if let Some(journal) = &self.registry {
            if let Some(rejected) = validate(journal, device_id, serial) {
                return rejected;
            }
        }
        let seen = self.seen.entry(device_id.to_owned()).or_insert(0);
        if *seen < self.pending_first {
            *seen += 1;
            return Decision::Pending("registration in progress".into());
        }
        self.seen.remove(device_id);
        Decision::Completed
    }
}

/// Active, or issued and not yet confirmed: a session still running (the handshake is what
/// confirms it). A session that ends without passing revokes what it issued, so `issued` never
/// outlives its session; revoked and superseded certificates are refused.
fn usable(status: CertStatus) -> bool {
    matches!(status, CertStatus::Active | CertStatus::Issued)
}

fn validate(journal: &Journal, device_id: &str, serial: Option<&str>) -> Option<Decision> {
    let certs = match journal.list_certificates(&CertFilter {
        device_id: Some(device_id),
        ..CertFilter::default()
    }) {
        Ok(c) => c,
        // Fail closed: a backend that cannot read its registry must not wave units through.
        Err(e) => return Some(Decision::Rejected(format!("registry unavailable: {e}"))),
    };
    if certs.is_empty() {
        return Some(Decision::Rejected(format!(
            "unknown unit {device_id}: no certificate in the registry"
        )));
    }
    match serial {
        Some(serial) => match certs.iter().find(|c| c.serial.eq_ignore_ascii_case(serial)) {
            None => Some(Decision::Rejected(format!(
                "certificate {serial} is not registered for {device_id}"
            ))),
            Some(c) if !usable(c.status) => Some(Decision::Rejected(format!(
                "certificate {serial} is {}",
                c.status
            ))),
            Some(_) => None,
        },
        None if !certs.iter().any(|c| usable(c.status)) => Some(Decision::Rejected(format!(
            "{device_id} has no active certificate"
        ))),
        None => None,
    }
}
