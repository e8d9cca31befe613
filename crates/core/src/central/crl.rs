//! Revocations for `ca crl --central`: every station's revoked certificates that this
//! station's issuing CA signed.
//!
//! The central registry holds certificates of every CA the company's stations use, and a CRL
//! may only list certificates its issuer signed. Which ones are this CA's is decided from the
//! certificate itself, the `pem` every station sends: its issuer name must be this CA's
//! subject and its signature must verify under this CA's public key. No column a station fills
//! is trusted for it (an `issuer` label written at sync time is only what some station
//! claimed, and rows synced before it existed would have none), and a second CA that happens to
//! carry the same name cannot put its certificates on this CA's CRL. Only revoked rows are read
//! and checked, so the cost follows the number of revocations, not of certificates.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::{Central, CentralError};
use crate::pki::revoke::{Reason, RevokedSerial};

/// A revoked certificate the central store lists, with the station that revoked it.
#[derive(Debug, Clone)]
pub struct CentralRevocation {
    pub entry: RevokedSerial,
    pub station_id: String,
}

/// Every revoked certificate in the central registry that `issuing_der` (this station's
/// issuing CA certificate, DER) signed. A row whose PEM does not parse, names another issuer
/// or fails the signature check is not this CA's and is left out. `now` stands in for a
/// revocation time the row lacks, as the local CRL does.
pub fn revoked_by_ca(
    central: &mut Central,
    issuing_der: &[u8],
    now: OffsetDateTime,
) -> Result<Vec<CentralRevocation>, CentralError> {
    let (_, ca) = X509Certificate::from_der(issuing_der)
        .map_err(|e| CentralError::BadProfile(format!("the issuing CA does not parse: {e}")))?;
    let rows = central.client.query(
        "SELECT serial, station_id, revoked_at, revocation_reason, pem FROM certificates
         WHERE status = 'revoked' ORDER BY serial",
        &[],
    )?;
    let mut out = Vec::new();
    for r in rows {
        let pem: String = r.get(4);
        if !signed_by(&pem, &ca) {
            continue;
        }
        let revoked_at: Option<String> = r.get(2);
        let reason: Option<String> = r.get(3);
        out.push(CentralRevocation {
            entry: RevokedSerial {
                serial: r.get(0),
                revoked_at: revoked_at
                    .as_deref()
                    .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
                    .unwrap_or(now),
                reason: reason
                    .as_deref()
                    .and_then(|r| r.parse().ok())
                    .unwrap_or(Reason::Unspecified),
            },
            station_id: r.get(1),
        });
    }
    Ok(out)
}

/// Whether the certificate in `pem` names `ca` as issuer and carries `ca`'s signature.
fn signed_by(pem: &str, ca: &X509Certificate<'_>) -> bool {
    let Ok((_, block)) = x509_parser::pem::parse_x509_pem(pem.as_bytes()) else {
        return false;
    };
    let Ok((_, cert)) = X509Certificate::from_der(&block.contents) else {
        return false;
    };
    // The name first: cheap, and it rules out most other CAs' certificates.
    cert.issuer().as_raw() == ca.subject().as_raw()
        && cert.verify_signature(Some(ca.public_key())).is_ok()
}

/// The local registry's revocations with the central ones added: a serial listed by both
/// keeps the stronger reason (key compromise outranks every other, as a local revocation
/// does; otherwise the local reason stands) and the earlier revocation time. Sorted by serial.
/// Returns the merged list and how many serials only the central store listed.
pub fn merge(
    local: Vec<RevokedSerial>,
    central: Vec<CentralRevocation>,
) -> (Vec<RevokedSerial>, usize) {
    let mut by_serial: std::collections::BTreeMap<String, RevokedSerial> =
        local.into_iter().map(|e| (e.serial.clone(), e)).collect();
    let mut only_central = 0;
    for c in central {
        match by_serial.get_mut(&c.entry.serial) {
            Some(kept) => {
                if c.entry.reason == Reason::KeyCompromise {
                    kept.reason = Reason::KeyCompromise;
                }
                kept.revoked_at = kept.revoked_at.min(c.entry.revoked_at);
            }
            None => {
                only_central += 1;
                by_serial.insert(c.entry.serial.clone(), c.entry);
            }
        }
    }
    (by_serial.into_values().collect(), only_central)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn entry(serial: &str, reason: Reason, at: OffsetDateTime) -> RevokedSerial {
        RevokedSerial {
            serial: serial.into(),
            revoked_at: at,
            reason,
        }
    }

    fn central(serial: &str, reason: Reason, at: OffsetDateTime) -> CentralRevocation {
        CentralRevocation {
            entry: entry(serial, reason, at),
            station_id: "other".into(),
        }
    }

    #[test]
    fn merge_keeps_the_stronger_reason_and_the_earlier_time() {
        let (t1, t2) = (
            datetime!(2026-03-01 0:00 UTC),
            datetime!(2026-03-02 0:00 UTC),
        );
        let (merged, only_central) = merge(
            vec![
                entry("0A", Reason::Superseded, t2),
                entry("0B", Reason::KeyCompromise, t1),
                entry("0C", Reason::CessationOfOperation, t1),
            ],
            vec![
                central("0A", Reason::KeyCompromise, t1),
                central("0B", Reason::Superseded, t2),
                central("0C", Reason::Superseded, t2),
                central("01", Reason::AffiliationChanged, t2),
            ],
        );
        assert_eq!(only_central, 1);
        let got: Vec<(&str, Reason, OffsetDateTime)> = merged
            .iter()
            .map(|e| (e.serial.as_str(), e.reason, e.revoked_at))
            .collect();
        assert_eq!(
            got,
            vec![
                ("01", Reason::AffiliationChanged, t2),
                ("0A", Reason::KeyCompromise, t1),
                ("0B", Reason::KeyCompromise, t1),
                ("0C", Reason::CessationOfOperation, t1),
            ]
        );
    }
}
