//! The central registry: a device id live anywhere is known everywhere. Before issuing, a
//! station asks whether another journal holds a live certificate for the unit; revocations
//! arrive with every station's sync, so the revoked list (and a CRL built from it) covers all
//! stations; findings after an offline period are listed for review, never merged.

use serde::Serialize;

use super::{Central, CentralError, CentralProfile, WhenUnreachable};

/// Name of the audit check recorded when a certificate was issued without the central check
/// (server unreachable, `when_unreachable = "allow_and_flag"`); the server lists such
/// sessions for review when they arrive.
pub const UNCHECKED_CHECK: &str = "central_registry";

/// What the check before issuing decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Clearance {
    /// No other station holds a live certificate for the unit.
    Clear,
    /// The server was unreachable and the profile allows issuing anyway: flag it.
    Unchecked(String),
}

/// Fails with `central.duplicate_device` if another journal than `journal_id` holds an issued
/// or active certificate for `device_id`.
pub fn check_device(
    central: &mut Central,
    journal_id: &str,
    device_id: &str,
) -> Result<(), CentralError> {
    let row = central.client.query_opt(
        "SELECT station_id, serial FROM certificates
         WHERE device_id = $1 AND status IN ('issued', 'active') AND journal_id <> $2
         ORDER BY serial LIMIT 1",
        &[&device_id, &journal_id],
    )?;
    match row {
        Some(r) => Err(CentralError::DuplicateDevice {
            device_id: device_id.to_owned(),
            station_id: r.get(0),
            serial: r.get(1),
        }),
        None => Ok(()),
    }
}

/// The check before issuing with the profile's policy: connects, checks, and decides what an
/// unreachable server means.
pub fn clear_for_issue(
    profile: &CentralProfile,
    station_dir: &std::path::Path,
    journal_id: &str,
    device_id: &str,
) -> Result<Clearance, CentralError> {
    let checked = super::connect(profile, station_dir)
        .and_then(|mut c| check_device(&mut c, journal_id, device_id));
    match checked {
        Ok(()) => Ok(Clearance::Clear),
        Err(e @ CentralError::Unreachable { .. })
            if profile.when_unreachable == WhenUnreachable::AllowAndFlag =>
        {
            Ok(Clearance::Unchecked(e.to_string()))
        }
        Err(e) => Err(e),
    }
}

/// A revoked certificate from any station.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Revoked {
    pub serial: String,
    pub station_id: String,
    pub revoked_at: Option<String>,
    pub reason: Option<String>,
}

/// Every revoked certificate the server knows, oldest serial first.
pub fn revoked(central: &mut Central) -> Result<Vec<Revoked>, CentralError> {
    Ok(central
        .client
        .query(
            "SELECT serial, station_id, revoked_at, revocation_reason FROM certificates
             WHERE status = 'revoked' ORDER BY serial",
            &[],
        )?
        .into_iter()
        .map(|r| Revoked {
            serial: r.get(0),
            station_id: r.get(1),
            revoked_at: r.get(2),
            reason: r.get(3),
        })
        .collect())
}

/// Something a person must look at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReviewItem {
    pub id: i64,
    /// `duplicate_device`, `unchecked` or `journal_rewritten`.
    pub kind: String,
    pub device_id: Option<String>,
    pub station_id: String,
    pub detail: String,
    pub found_at: String,
}

/// The review list, oldest first.
pub fn review(central: &mut Central) -> Result<Vec<ReviewItem>, CentralError> {
    Ok(central
        .client
        .query(
            "SELECT id, kind, device_id, station_id, detail,
                    to_char(found_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')
             FROM review ORDER BY id",
            &[],
        )?
        .into_iter()
        .map(|r| ReviewItem {
            id: r.get(0),
            kind: r.get(1),
            device_id: r.get(2),
            station_id: r.get(3),
            detail: r.get(4),
            found_at: r.get(5),
        })
        .collect())
}
