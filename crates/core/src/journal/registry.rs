//! The certificate registry: every certificate the station signed, its status and revocation,
//! the hourly issuance count, and the CRL sequence.

use std::fmt;
use std::str::FromStr;

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;
use time::OffsetDateTime;
use ts_rs::TS;

use super::group::GroupCommit;
use super::write::{chain_revocation, chain_status};
use super::{ts, Journal, JournalError};
use crate::pki::IssuedCert;

/// Life of a certificate in the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CertStatus {
    /// Signed, not yet confirmed on the unit (an interrupted session leaves it so).
    Issued,
    /// On the unit, proven and used in the handshake.
    Active,
    /// On the CRL.
    Revoked,
    /// Replaced by a newer active certificate for the same unit.
    Superseded,
}

impl CertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CertStatus::Issued => "issued",
            CertStatus::Active => "active",
            CertStatus::Revoked => "revoked",
            CertStatus::Superseded => "superseded",
        }
    }
}

impl fmt::Display for CertStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // pad, not write_str: the CLI's tables align these with `{:<10}`.
        f.pad(self.as_str())
    }
}

impl FromStr for CertStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "issued" => Ok(CertStatus::Issued),
            "active" => Ok(CertStatus::Active),
            "revoked" => Ok(CertStatus::Revoked),
            "superseded" => Ok(CertStatus::Superseded),
            other => Err(format!(
                "unknown status '{other}' (issued, active, revoked, superseded)"
            )),
        }
    }
}

/// Where a unit's key was generated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum KeyOrigin {
    /// On the unit; the key never left it.
    Device,
    /// On the station, by a policy decision (`allow_host_generated_key`).
    Host,
}

impl KeyOrigin {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyOrigin::Device => "device",
            KeyOrigin::Host => "host",
        }
    }
}

impl fmt::Display for KeyOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for KeyOrigin {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "device" => Ok(KeyOrigin::Device),
            "host" => Ok(KeyOrigin::Host),
            other => Err(format!("unknown key origin '{other}' (device, host)")),
        }
    }
}

pub use crate::pki::service::CertKind;

/// Reads a text column into one of the registry's enums (status, key origin). The schema's
/// CHECKs admit only known values, so anything else is a damaged row and is reported as one.
pub(super) fn parsed<T: FromStr<Err = String>>(r: &Row<'_>, idx: usize) -> rusqlite::Result<T> {
    let text: String = r.get(idx)?;
    text.parse().map_err(|e: String| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, e.into())
    })
}

/// A registry row.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryEntry {
    pub serial: String,
    pub sha256: String,
    pub device_id: String,
    /// `None` for a certificate carried over by an archive: its session is in the archived file.
    pub session_id: Option<i64>,
    pub issued_at: String,
    pub not_before: String,
    pub not_after: String,
    pub status: CertStatus,
    pub key_origin: KeyOrigin,
    pub revoked_at: Option<String>,
    pub revocation_reason: Option<String>,
    pub kind: CertKind,
}

/// Which rows to list; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct CertFilter<'a> {
    pub device_id: Option<&'a str>,
    pub status: Option<CertStatus>,
    /// Matches a serial or a SHA-256 fingerprint by prefix (case-insensitive).
    pub search: Option<&'a str>,
}

const COLUMNS: &str = "serial, sha256, device_id, session_id, COALESCE(issued_at, not_before),
     not_before, not_after, status, key_origin, revoked_at, revocation_reason, kind";

fn entry(r: &Row<'_>) -> rusqlite::Result<RegistryEntry> {
    Ok(RegistryEntry {
        serial: r.get(0)?,
        sha256: r.get(1)?,
        device_id: r.get(2)?,
        session_id: r.get(3)?,
        issued_at: r.get(4)?,
        not_before: r.get(5)?,
        not_after: r.get(6)?,
        status: parsed(r, 7)?,
        key_origin: parsed(r, 8)?,
        revoked_at: r.get(9)?,
        revocation_reason: r.get(10)?,
        kind: parsed(r, 11)?,
    })
}

/// Where a session's certificate records go: a journal connection of its own, or the
/// station's group commit, which sessions running side by side share so that sixteen units
/// issued in the same instant wait for one disk flush instead of sixteen in a row.
pub trait CertificateRecords: fmt::Debug {
    /// Records a certificate the moment it is signed, with where its key came from.
    fn record_issued(
        &self,
        session_id: i64,
        device_id: &str,
        cert: &IssuedCert,
        issued_at: OffsetDateTime,
        origin: KeyOrigin,
    ) -> Result<(), JournalError>;

    /// Makes a certificate the unit's active one; its earlier active certificates become
    /// superseded in the same transaction, so a unit never has two.
    fn activate_certificate(&self, serial: &str) -> Result<(), JournalError>;
}

impl CertificateRecords for Journal {
    fn record_issued(
        &self,
        session_id: i64,
        device_id: &str,
        cert: &IssuedCert,
        issued_at: OffsetDateTime,
        origin: KeyOrigin,
    ) -> Result<(), JournalError> {
        self.immediate(|conn| insert_issued(conn, session_id, device_id, cert, issued_at, origin))
    }

    fn activate_certificate(&self, serial: &str) -> Result<(), JournalError> {
        self.immediate(|conn| activate(conn, serial))
    }
}

impl CertificateRecords for GroupCommit {
    fn record_issued(
        &self,
        session_id: i64,
        device_id: &str,
        cert: &IssuedCert,
        issued_at: OffsetDateTime,
        origin: KeyOrigin,
    ) -> Result<(), JournalError> {
        let (device_id, cert) = (device_id.to_owned(), cert.clone());
        self.run(move |conn| insert_issued(conn, session_id, &device_id, &cert, issued_at, origin))
    }

    fn activate_certificate(&self, serial: &str) -> Result<(), JournalError> {
        let serial = serial.to_owned();
        self.run(move |conn| activate(conn, &serial))
    }
}

pub(super) fn insert_issued(
    conn: &Connection,
    session_id: i64,
    device_id: &str,
    cert: &IssuedCert,
    issued_at: OffsetDateTime,
    origin: KeyOrigin,
) -> Result<(), JournalError> {
    conn.execute(
        "INSERT INTO certificates (serial, session_id, device_id, sha256, not_before, not_after,
                                   pem, status, issued_at, key_origin)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'issued', ?8, ?9)",
        params![
            cert.serial,
            session_id,
            device_id,
            cert.fingerprint,
            ts(cert.not_before),
            ts(cert.not_after),
            cert.pem,
            ts(issued_at),
            origin.as_str(),
        ],
    )?;
    chain_status(conn, &cert.serial, "issued")?;
    Ok(())
}

pub(super) fn activate(conn: &Connection, serial: &str) -> Result<(), JournalError> {
    let superseded: Vec<String> = conn
        .prepare(
            "SELECT serial FROM certificates
             WHERE status = 'active' AND serial != ?1
               AND device_id = (SELECT device_id FROM certificates WHERE serial = ?1)",
        )?
        .query_map(params![serial], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    // Revoked (reason superseded) in the transaction that activates the new one: a crash
    // between activating and a later revocation used to leave the old certificate valid at
    // the broker, off every CRL, next to the new one.
    let at = ts(OffsetDateTime::now_utc());
    for old in &superseded {
        conn.execute(
            "UPDATE certificates SET status = 'revoked', revoked_at = ?2,
                    revocation_reason = 'superseded'
             WHERE serial = ?1",
            params![old, at],
        )?;
        chain_revocation(conn, old, &at, "superseded")?;
    }
    let changed = conn.execute(
        "UPDATE certificates SET status = 'active' WHERE serial = ?1 AND status != 'active'",
        params![serial],
    )?;
    if changed > 0 {
        chain_status(conn, serial, "active")?;
    }
    Ok(())
}

impl Journal {
    pub fn list_certificates(
        &self,
        filter: &CertFilter<'_>,
    ) -> Result<Vec<RegistryEntry>, JournalError> {
        let search = filter.search.map(|s| format!("{}%", s.to_lowercase()));
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {COLUMNS} FROM certificates
             WHERE (?1 IS NULL OR device_id = ?1) AND (?2 IS NULL OR status = ?2)
               AND (?3 IS NULL OR lower(serial) LIKE ?3 OR sha256 LIKE ?3)
             ORDER BY COALESCE(issued_at, not_before), serial"
        ))?;
        let rows = stmt.query_map(
            params![
                filter.device_id,
                filter.status.map(CertStatus::as_str),
                search
            ],
            entry,
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn certificate(&self, serial: &str) -> Result<Option<RegistryEntry>, JournalError> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM certificates WHERE serial = ?1"),
                params![serial.to_uppercase()],
                entry,
            )
            .optional()?)
    }

    /// The unit's active certificate, if it has one.
    pub fn active_certificate(
        &self,
        device_id: &str,
    ) -> Result<Option<RegistryEntry>, JournalError> {
        Ok(self
            .conn
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM certificates WHERE device_id = ?1 AND status = 'active'
                     ORDER BY issued_at DESC LIMIT 1"
                ),
                params![device_id],
                entry,
            )
            .optional()?)
    }

    /// Records that certificate `new` replaces `old` on the same unit (a recommission). The
    /// link is sealed with `new`'s session, so it is written while that session runs; once
    /// sealed it never changes.
    pub fn set_supersedes(&self, new: &str, old: &str) -> Result<(), JournalError> {
        self.immediate(|conn| {
            let running: Option<bool> = conn
                .query_row(
                    "SELECT s.result = 'running' FROM certificates c
                     JOIN sessions s ON s.id = c.session_id WHERE c.serial = ?1",
                    params![new],
                    |r| r.get(0),
                )
                .optional()?;
            match running {
                None => Err(JournalError::UnknownCertificate(new.to_owned())),
                Some(false) => Err(JournalError::Sealed(new.to_owned())),
                Some(true) => {
                    conn.execute(
                        "UPDATE certificates SET supersedes = ?2 WHERE serial = ?1",
                        params![new, old],
                    )?;
                    Ok(())
                }
            }
        })
    }

    /// The certificate that `serial` replaced, if it was issued by a recommission.
    pub fn supersedes(&self, serial: &str) -> Result<Option<String>, JournalError> {
        Ok(self
            .conn
            .query_row(
                "SELECT supersedes FROM certificates WHERE serial = ?1",
                params![serial],
                |r| r.get(0),
            )
            .optional()?
            .flatten())
    }

    /// Marks certificates revoked. Already revoked ones keep their first revocation.
    /// Returns the rows that changed.
    pub fn revoke(
        &self,
        serials: &[String],
        reason: &str,
        at: OffsetDateTime,
    ) -> Result<Vec<RegistryEntry>, JournalError> {
        let at = ts(at);
        self.immediate(|conn| {
            for serial in serials {
                let changed = conn.execute(
                    "UPDATE certificates SET status = 'revoked', revoked_at = ?2, revocation_reason = ?3
                     WHERE serial = ?1 AND status != 'revoked'",
                    params![serial, at, reason],
                )?;
                if changed > 0 {
                    chain_revocation(conn, serial, &at, reason)?;
                }
            }
            Ok(())
        })?;
        self.entries(serials)
    }

    /// Gives revoked certificates a new revocation reason, keeping their revocation date, and
    /// chains the change. Returns the rows that changed.
    pub fn strengthen_revocation(
        &self,
        serials: &[String],
        reason: &str,
    ) -> Result<Vec<RegistryEntry>, JournalError> {
        self.immediate(|conn| {
            for serial in serials {
                let revoked_at: Option<String> = conn
                    .query_row(
                        "UPDATE certificates SET revocation_reason = ?2
                         WHERE serial = ?1 AND status = 'revoked' AND revoked_at IS NOT NULL
                           AND revocation_reason IS NOT ?2
                         RETURNING revoked_at",
                        params![serial, reason],
                        |r| r.get(0),
                    )
                    .optional()?;
                if let Some(at) = revoked_at {
                    chain_revocation(conn, serial, &at, reason)?;
                }
            }
            Ok(())
        })?;
        self.entries(serials)
    }

    /// The registry rows of `serials`, skipping unknown ones.
    fn entries(&self, serials: &[String]) -> Result<Vec<RegistryEntry>, JournalError> {
        let mut out = Vec::new();
        for serial in serials {
            if let Some(e) = self.certificate(serial)? {
                out.push(e);
            }
        }
        Ok(out)
    }

    /// Records a backend's or broker's certificate (key made on the station) and activates it
    /// in one transaction, which revokes the one it replaces.
    pub fn record_service_identity(
        &self,
        session_id: i64,
        kind: CertKind,
        cert: &IssuedCert,
        name: &str,
        issued_at: OffsetDateTime,
    ) -> Result<(), JournalError> {
        self.immediate(|conn| {
            conn.execute(
                "INSERT INTO certificates (serial, session_id, device_id, sha256, not_before,
                                           not_after, pem, status, issued_at, key_origin, kind)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'issued', ?8, 'host', ?9)",
                params![
                    cert.serial,
                    session_id,
                    name,
                    cert.fingerprint,
                    ts(cert.not_before),
                    ts(cert.not_after),
                    cert.pem,
                    ts(issued_at),
                    kind.as_str(),
                ],
            )?;
            chain_status(conn, &cert.serial, "issued")?;
            activate(conn, &cert.serial)
        })
    }

    /// The kinds of the certificates ever issued to `name`, whatever their status.
    pub fn kinds_named(&self, name: &str) -> Result<Vec<CertKind>, JournalError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT DISTINCT kind FROM certificates WHERE device_id = ?1")?;
        let rows = stmt.query_map(params![name], |r| parsed(r, 0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Certificates signed at or after `since` (the hourly quota).
    pub fn issued_since(&self, since: OffsetDateTime) -> Result<u64, JournalError> {
        Ok(self.conn.query_row(
            "SELECT count(*) FROM certificates WHERE COALESCE(issued_at, not_before) >= ?1",
            params![ts(since)],
            |r| r.get(0),
        )?)
    }

    /// The number the next CRL must carry: one more than any CRL signed before.
    pub fn next_crl_number(&self) -> Result<u64, JournalError> {
        Ok(self
            .conn
            .query_row("SELECT COALESCE(max(number), 0) + 1 FROM crls", [], |r| {
                r.get(0)
            })?)
    }

    pub fn record_crl(
        &self,
        number: u64,
        this_update: OffsetDateTime,
        next_update: OffsetDateTime,
        revoked_count: usize,
        sha256: &str,
    ) -> Result<(), JournalError> {
        self.conn.execute(
            "INSERT INTO crls (number, this_update, next_update, revoked_count, sha256)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                number,
                ts(this_update),
                ts(next_update),
                revoked_count as i64,
                sha256
            ],
        )?;
        Ok(())
    }
}
