//! The identities the audit connects as: two units of this station's CA with host-held keys,
//! a unit of a throwaway CA the broker must not trust, and a revoked unit.

use rustls_pki_types::pem::PemObject;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::sign::SigningKey;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use time::OffsetDateTime;

use crate::mqtt::tls::ClientIdentity;

use crate::journal::{CertificateRecords, Journal, KeyOrigin};
use crate::pki::issue::{random_serial, Subject, Usage};
use crate::pki::revoke::Reason;
use crate::pki::{PkiError, UnlockedCa};
use crate::station::admin::{self, AdminError, RevokeTarget};

/// A client identity the audit holds the key of.
pub struct TestIdentity {
    /// Certificate CN: the unit's identity (and MQTT user name on brokers that map it).
    pub id: String,
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    /// Registry serial, for certificates of this station's CA.
    pub serial: Option<String>,
}

impl std::fmt::Debug for TestIdentity {
    // The key stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestIdentity")
            .field("id", &self.id)
            .finish()
    }
}

/// How the unit under audit signs its TLS handshakes.
pub enum UnitKey {
    /// A host-held test key (`commissioner audit`).
    Host(PrivateKeyDer<'static>),
    /// The key of a unit being commissioned, which signs on the unit (the pipeline's step).
    Device(Arc<dyn SigningKey>),
}

/// The identity whose reach the audit measures.
pub struct AuditUnit {
    /// Certificate CN, client id and (on brokers that map it) MQTT user name.
    pub id: String,
    pub chain: Vec<CertificateDer<'static>>,
    pub key: UnitKey,
}

impl std::fmt::Debug for AuditUnit {
    // The key stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditUnit").field("id", &self.id).finish()
    }
}

impl From<TestIdentity> for AuditUnit {
    fn from(t: TestIdentity) -> Self {
        Self {
            id: t.id,
            chain: t.chain,
            key: UnitKey::Host(t.key),
        }
    }
}

impl AuditUnit {
    pub(crate) fn client_identity(&self) -> ClientIdentity {
        match &self.key {
            UnitKey::Host(key) => ClientIdentity::Local {
                chain: self.chain.clone(),
                key: key.clone_key(),
            },
            UnitKey::Device(key) => ClientIdentity::Remote {
                chain: self.chain.clone(),
                key: key.clone(),
            },
        }
    }
}

/// Everyone the audit connects as.
#[derive(Debug)]
pub struct AuditIdentities {
    pub unit: AuditUnit,
    /// Another unit of the same CA, whose topics `unit` must not reach.
    pub other: TestIdentity,
    /// Same CN as `unit`, signed by a CA the broker has never seen.
    pub foreign_ca: TestIdentity,
    /// A unit of this CA revoked in the registry; `None` skips the revocation check.
    pub revoked: Option<TestIdentity>,
    /// Why the CRL with `revoked` on it could not be published to the broker: the revocation
    /// check is then inconclusive rather than skipped.
    pub crl_failure: Option<String>,
}

fn key_der(pem: &str) -> Result<PrivateKeyDer<'static>, PkiError> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes())
        .ok()
        .ok_or(PkiError::Issue(rcgen::Error::CouldNotParseKeyPair))
}

fn subject(cn: &str) -> Subject<'_> {
    Subject {
        common_name: cn,
        organization: "Commissioner broker audit",
        validity_days: 2,
        usage: Usage::Client,
        alt_names: vec![],
    }
}

/// Issues a host-held identity from the station's CA.
pub fn station_identity(
    ca: &UnlockedCa,
    id: &str,
    now: OffsetDateTime,
) -> Result<(TestIdentity, crate::pki::IssuedCert), PkiError> {
    let (cert, key_pem) = ca.issue_with_new_key(&subject(id), now)?;
    Ok((
        TestIdentity {
            id: id.to_owned(),
            chain: vec![
                CertificateDer::from(cert.der.clone()),
                CertificateDer::from(ca.issuing_der().to_vec()),
            ],
            key: key_der(&key_pem)?,
            serial: Some(cert.serial.clone()),
        },
        cert,
    ))
}

/// A throwaway self-signed CA, used once and forgotten, and a client identity `id` under it.
pub fn foreign_identity(id: &str, now: OffsetDateTime) -> Result<TestIdentity, PkiError> {
    let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(PkiError::Issue)?;
    let mut ca = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "Commissioner audit foreign CA");
    ca.distinguished_name = dn;
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.serial_number = Some(random_serial());
    ca.not_before = now - time::Duration::hours(1);
    ca.not_after = now + time::Duration::days(2);
    let ca_cert = ca.self_signed(&ca_key).map_err(PkiError::Issue)?;
    let issuer = Issuer::new(ca, ca_key);

    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(PkiError::Issue)?;
    let mut leaf = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, id);
    leaf.distinguished_name = dn;
    leaf.is_ca = IsCa::ExplicitNoCa;
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    leaf.serial_number = Some(random_serial());
    leaf.not_before = now - time::Duration::hours(1);
    leaf.not_after = now + time::Duration::days(2);
    let cert = leaf.signed_by(&key, &issuer).map_err(PkiError::Issue)?;
    Ok(TestIdentity {
        id: id.to_owned(),
        chain: vec![cert.der().clone(), ca_cert.der().clone()],
        key: key_der(&key.serialize_pem())?,
        serial: None,
    })
}

/// A random prefix of the audit's unit names, so that audits never collide with each other or
/// with real units.
fn random_prefix() -> String {
    format!("audit-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
}

/// Issues the two units and the foreign identity; ids share `prefix` (the profile's
/// `unit_prefix`), or a random one.
pub fn issue(
    ca: &UnlockedCa,
    prefix: Option<&str>,
    now: OffsetDateTime,
) -> Result<AuditIdentities, PkiError> {
    let prefix = prefix.map_or_else(random_prefix, str::to_owned);
    let (unit, _) = station_identity(ca, &format!("{prefix}-a"), now)?;
    for_unit(ca, unit.into(), &prefix, now)
}

/// The identities around a unit being commissioned: the unit itself (its new certificate, its
/// key on the unit), a peer of this CA and a foreign-CA certificate with the unit's CN.
pub fn around_unit(
    ca: &UnlockedCa,
    unit: AuditUnit,
    now: OffsetDateTime,
) -> Result<AuditIdentities, PkiError> {
    for_unit(ca, unit, &random_prefix(), now)
}

fn for_unit(
    ca: &UnlockedCa,
    unit: AuditUnit,
    prefix: &str,
    now: OffsetDateTime,
) -> Result<AuditIdentities, PkiError> {
    let (other, _) = station_identity(ca, &format!("{prefix}-b"), now)?;
    let foreign_ca = foreign_identity(&unit.id, now)?;
    Ok(AuditIdentities {
        unit,
        other,
        foreign_ca,
        revoked: None,
        crl_failure: None,
    })
}

/// Issues a unit, records it in the registry under `session_id` and revokes it there. The
/// broker refuses it only once it has loaded a CRL signed after this call.
pub fn issue_revoked(
    ca: &UnlockedCa,
    journal: &Journal,
    session_id: i64,
    prefix: Option<&str>,
    now: OffsetDateTime,
) -> Result<TestIdentity, AdminError> {
    let id = format!(
        "{}-revoked",
        prefix.map_or_else(random_prefix, str::to_owned)
    );
    let (identity, cert) = station_identity(ca, &id, now)?;
    journal.record_issued(session_id, &id, &cert, now, KeyOrigin::Host)?;
    admin::revoke(
        journal,
        RevokeTarget::Serial(&cert.serial),
        Reason::CessationOfOperation,
        now,
    )?;
    Ok(identity)
}
