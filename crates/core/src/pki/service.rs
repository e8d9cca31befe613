//! The backend's and broker's identities: issued under a profile of their own, which the unit
//! path can never produce. Their subject carries [`SERVICE_OU`] (a unit's policy may not use
//! it), their names are refused to units (see [`crate::station::issuing::issue_for_device`]), the
//! broker's carries serverAuth only, and the registry records their kind, so `ca list` shows
//! them and `ca revoke` revokes them like any certificate.

use rcgen::{DistinguishedName, DnType, KeyPair, PublicKeyData, SanType};
use time::OffsetDateTime;

use super::issue::{check_common_name, Usage};
use super::{IssuedCert, PkiError, UnlockedCa};
use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// Subject OU of every backend and broker certificate; never a unit's.
pub const SERVICE_OU: &str = "Commissioner service identity";

/// A service certificate and its key's PKCS#8 PEM (made on the station).
#[derive(Debug, Clone)]
pub struct IssuedService {
    pub cert: IssuedCert,
    pub key_pem: String,
}

/// A backend or broker identity to issue.
#[derive(Debug, Clone)]
pub struct ServiceSubject<'a> {
    /// `Backend` (clientAuth) or `Broker` (serverAuth); `Unit` is refused.
    pub kind: CertKind,
    pub name: &'a str,
    pub organization: &'a str,
    pub validity_days: i64,
    /// DNS names and IP addresses of a broker.
    pub alt_names: Vec<SanType>,
}

impl UnlockedCa {
    /// Generates a P-256 key on the station and issues the service certificate for it.
    pub fn issue_service(
        &self,
        subject: &ServiceSubject<'_>,
        now: OffsetDateTime,
    ) -> Result<IssuedService, PkiError> {
        check_common_name(subject.name)?;
        let usage = match subject.kind {
            CertKind::Backend => Usage::Client,
            CertKind::Broker => Usage::Server,
            CertKind::Unit => return Err(PkiError::ServiceNameTaken(subject.name.to_owned())),
        };
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, subject.organization);
        dn.push(DnType::OrganizationalUnitName, SERVICE_OU);
        dn.push(DnType::CommonName, subject.name);
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(PkiError::Issue)?;
        let cert = self.sign_leaf(
            &key.subject_public_key_info(),
            dn,
            subject.validity_days,
            usage,
            &subject.alt_names,
            now,
        )?;
        Ok(IssuedService {
            cert,
            key_pem: key.serialize_pem(),
        })
    }
}

/// What a certificate identifies. Units come from the pipeline; the backend and broker from
/// `ca issue-backend`, `ca issue-server` and the lab, under a profile of their own (see
/// [`crate::pki::issue::SERVICE_OU`]). A name held by one kind is never issued to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CertKind {
    Unit,
    /// The provisioning backend's client identity.
    Backend,
    /// A broker's server identity.
    Broker,
}

impl CertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CertKind::Unit => "unit",
            CertKind::Backend => "backend",
            CertKind::Broker => "broker",
        }
    }
}

impl fmt::Display for CertKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for CertKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "unit" => Ok(CertKind::Unit),
            "backend" => Ok(CertKind::Backend),
            "broker" => Ok(CertKind::Broker),
            other => Err(format!("unknown kind '{other}' (unit, backend, broker)")),
        }
    }
}
