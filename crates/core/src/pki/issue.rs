//! Issuance under the station's policy. Every field is set explicitly: rcgen's defaults for
//! serial (derived from the key), validity and subject are unsafe for a factory CA.

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, PublicKeyData, SanType, SerialNumber, SubjectPublicKeyInfo,
};
use time::{Duration, OffsetDateTime};

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{ca, fingerprint, PkiError, UnlockedCa};

/// How far `notBefore` is set before the moment of issue, so that a unit whose clock runs a
/// little behind still accepts its certificate.
pub const BACKDATE: Duration = Duration::minutes(5);

/// A certificate just issued.
#[derive(Debug, Clone)]
pub struct IssuedCert {
    pub der: Vec<u8>,
    pub pem: String,
    /// Upper-case hex, as `openssl x509 -serial` prints it.
    pub serial: String,
    pub fingerprint: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

/// Checks a certificate lifetime before anything is signed: at least a day, and not past the
/// issuing CA's own `notAfter` (a certificate that outlives its CA stops verifying the day the
/// CA expires, whatever it says). `ca_not_after` is `None` where no CA is set up yet.
pub fn check_lifetime(
    validity_days: i64,
    ca_not_after: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> Result<(), PkiError> {
    if validity_days <= 0 {
        return Err(PkiError::BadValidity(validity_days));
    }
    // Checked arithmetic: a huge value must be refused, not overflow the date.
    let not_after = validity_days
        .checked_mul(86_400)
        .map(Duration::seconds)
        .and_then(|d| now.checked_add(d));
    match (not_after, ca_not_after) {
        (Some(end), Some(ca_end)) if end <= ca_end => Ok(()),
        (Some(_), None) => Ok(()),
        (_, ca_end) => Err(PkiError::OutlivesCa {
            validity_days,
            ca_not_after: ca_end.map(|t| t.date().to_string()).unwrap_or_default(),
        }),
    }
}

/// Checks a CRL's validity period from the profile (`crl_validity_days`).
pub fn check_crl_validity(days: i64) -> Result<Duration, PkiError> {
    // A CRL valid for years would let a revoked unit in wherever an old CRL is still loaded.
    if !(1..=366).contains(&days) {
        return Err(PkiError::BadCrlValidity(days));
    }
    Ok(Duration::days(days))
}

/// A random positive 128-bit serial (RFC 5280 allows up to 20 octets; CA/B asks for 64+ bits
/// of entropy). The first octet is kept in 0x01..=0x7f so the DER integer is minimal and positive.
pub fn random_serial() -> SerialNumber {
    let mut bytes: [u8; 16] = rand::random();
    bytes[0] = (bytes[0] & 0x7f) | 0x01;
    SerialNumber::from_slice(&bytes)
}

/// What a TLS identity is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    Client,
    Server,
}

/// Subject and lifetime of a certificate to issue.
#[derive(Debug, Clone)]
pub struct Subject<'a> {
    pub common_name: &'a str,
    pub organization: &'a str,
    pub validity_days: i64,
    pub usage: Usage,
    /// DNS names and IP addresses for server identities.
    pub alt_names: Vec<SanType>,
}

/// The last guard before signing, whoever asks: the CN becomes an MQTT user name and, through
/// ACL patterns such as `provisioning/%u/#`, part of topic filters, so a CN with a topic
/// character would let its holder read or write other identities' topics.
pub fn check_common_name(cn: &str) -> Result<(), PkiError> {
    let unsafe_char = |c: char| matches!(c, '/' | '+' | '#') || c.is_control();
    if cn.is_empty()
        || cn.chars().count() > crate::device::identity::MAX_DEVICE_ID_LEN
        || cn.starts_with('$')
        || cn.chars().any(unsafe_char)
    {
        return Err(PkiError::UnsafeCommonName(format!(
            "'{}'",
            cn.escape_default()
        )));
    }
    Ok(())
}

impl UnlockedCa {
    /// Issues an end-entity certificate for a public key (DER SubjectPublicKeyInfo).
    pub fn issue(
        &self,
        spki_der: &[u8],
        subject: &Subject<'_>,
        now: OffsetDateTime,
    ) -> Result<IssuedCert, PkiError> {
        check_common_name(subject.common_name)?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, subject.organization);
        dn.push(DnType::CommonName, subject.common_name);
        self.sign_leaf(
            spki_der,
            dn,
            subject.validity_days,
            subject.usage,
            &subject.alt_names,
            now,
        )
    }

    /// Issues a unit's client certificate under the station's policy: CN = device id, O and
    /// OU from the profile, the profile's validity.
    pub fn issue_device(
        &self,
        spki_der: &[u8],
        device_id: &str,
        policy: &IssuancePolicy,
        station_organization: &str,
        now: OffsetDateTime,
    ) -> Result<IssuedCert, PkiError> {
        crate::device::identity::check_syntax(device_id)
            .map_err(|_| PkiError::UnsafeCommonName(format!("'{}'", device_id.escape_default())))?;
        // The unit path never produces the service profile: not its names, not its OU.
        if crate::device::identity::ALWAYS_RESERVED
            .iter()
            .any(|r| r.eq_ignore_ascii_case(device_id))
        {
            return Err(PkiError::ServiceName(device_id.to_owned()));
        }
        if policy.organizational_unit.as_deref() == Some(super::service::SERVICE_OU) {
            return Err(PkiError::BadPolicy(format!(
                "policy.organizational_unit '{}' is reserved for backend and broker identities",
                super::service::SERVICE_OU
            )));
        }
        let dn = device_dn(device_id, policy, station_organization);
        self.sign_leaf(spki_der, dn, policy.validity_days, Usage::Client, &[], now)
    }

    /// Issues a unit's in-band bootstrap certificate: the profile's O and OU, `common_name`
    /// (the profile's bootstrap pattern, never the bare device id), and a lifetime counted in
    /// hours, so that an exchange never completed leaves nothing useful for long.
    pub fn issue_bootstrap(
        &self,
        spki_der: &[u8],
        common_name: &str,
        policy: &IssuancePolicy,
        station_organization: &str,
        lifetime: Duration,
        now: OffsetDateTime,
    ) -> Result<IssuedCert, PkiError> {
        check_common_name(common_name)?;
        let hours = lifetime.whole_hours();
        if hours <= 0 || now + lifetime > self.issuing_not_after()? {
            return Err(PkiError::BadPolicy(format!(
                "a bootstrap lifetime of {hours} h must be positive and end before the issuing CA"
            )));
        }
        let dn = device_dn(common_name, policy, station_organization);
        let public_key = SubjectPublicKeyInfo::from_der(spki_der).map_err(PkiError::Issue)?;
        self.sign_leaf_lasting(
            &public_key,
            dn,
            lifetime,
            ExtendedKeyUsagePurpose::ClientAuth,
            &[],
            now,
        )
    }

    pub(super) fn sign_leaf(
        &self,
        spki_der: &[u8],
        dn: DistinguishedName,
        validity_days: i64,
        usage: Usage,
        alt_names: &[SanType],
        now: OffsetDateTime,
    ) -> Result<IssuedCert, PkiError> {
        let eku = match usage {
            Usage::Client => ExtendedKeyUsagePurpose::ClientAuth,
            Usage::Server => ExtendedKeyUsagePurpose::ServerAuth,
        };
        self.sign_leaf_for(spki_der, dn, validity_days, eku, alt_names, now)
    }

    /// [`Self::sign_leaf`] for any extended key usage (the unlock authority's is its own).
    pub(super) fn sign_leaf_for(
        &self,
        spki_der: &[u8],
        dn: DistinguishedName,
        validity_days: i64,
        eku: ExtendedKeyUsagePurpose,
        alt_names: &[SanType],
        now: OffsetDateTime,
    ) -> Result<IssuedCert, PkiError> {
        check_lifetime(validity_days, Some(self.issuing_not_after()?), now)?;
        let public_key = SubjectPublicKeyInfo::from_der(spki_der).map_err(PkiError::Issue)?;
        self.sign_leaf_lasting(
            &public_key,
            dn,
            Duration::days(validity_days),
            eku,
            alt_names,
            now,
        )
    }

    /// Signs a leaf whose lifetime the caller has already checked.
    fn sign_leaf_lasting(
        &self,
        public_key: &SubjectPublicKeyInfo,
        dn: DistinguishedName,
        lifetime: Duration,
        eku: ExtendedKeyUsagePurpose,
        alt_names: &[SanType],
        now: OffsetDateTime,
    ) -> Result<IssuedCert, PkiError> {
        let serial = random_serial();
        let mut params = CertificateParams::default();
        params.serial_number = Some(serial.clone());
        params.not_before = now - BACKDATE;
        params.not_after = now + lifetime;
        params.distinguished_name = dn;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![eku];
        params.subject_alt_names = alt_names.to_vec();
        // AKI from the issuing certificate's SKI; rcgen adds the SKI of the new key itself.
        params.use_authority_key_identifier_extension = true;

        let cert = params
            .signed_by(public_key, &self.issuer)
            .map_err(PkiError::Issue)?;
        let der = cert.der().to_vec();
        Ok(IssuedCert {
            fingerprint: fingerprint(&der),
            pem: cert.pem(),
            serial: hex::encode_upper(serial.as_ref()),
            not_before: params.not_before,
            not_after: params.not_after,
            der,
        })
    }

    /// Generates a key on the host and issues a certificate for it (lab broker and backend
    /// identities). Returns the certificate and the key's PKCS#8 PEM.
    pub fn issue_with_new_key(
        &self,
        subject: &Subject<'_>,
        now: OffsetDateTime,
    ) -> Result<(IssuedCert, String), PkiError> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(PkiError::Issue)?;
        let cert = self.issue(&key.subject_public_key_info(), subject, now)?;
        Ok((cert, key.serialize_pem()))
    }
}

/// How device certificates are issued. Every field but `validity_days` has a default, so an
/// older station.toml keeps working.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IssuancePolicy {
    pub validity_days: i64,
    /// Key types a unit's CSR may carry: `ecdsa-p256`, `ecdsa-p384`, `ed25519`, `rsa-2048`,
    /// `rsa-3072`, `rsa-4096` (an RSA entry allows that size and larger).
    #[serde(default = "default_allowed_keys")]
    pub allowed_keys: Vec<String>,
    /// Subject O of device certificates; the station's organisation if absent.
    #[serde(default)]
    pub organization: Option<String>,
    /// Subject OU of device certificates.
    #[serde(default)]
    pub organizational_unit: Option<String>,
    /// Most certificates this station may sign in any hour, so that a stolen station cannot
    /// mint without limit.
    #[serde(default = "default_max_per_hour")]
    pub max_per_hour: u32,
    /// Whether the station may generate a unit's key itself when the unit cannot; every such
    /// certificate is marked `host` in the journal.
    #[serde(default)]
    pub allow_host_generated_key: bool,
    /// How long a CRL is valid; the broker refuses every client once it has expired.
    #[serde(default = "default_crl_validity_days")]
    pub crl_validity_days: i64,
}

fn default_allowed_keys() -> Vec<String> {
    vec!["ecdsa-p256".into()]
}
fn default_max_per_hour() -> u32 {
    600
}
fn default_crl_validity_days() -> i64 {
    7
}

impl IssuancePolicy {
    /// Refuses a profile that could only sign nonsense: a lifetime under a day or past the
    /// issuing CA's (read from `ca_dir`, when a CA is there yet), a CRL validity out of range.
    pub fn check(&self, ca_dir: &Path, now: time::OffsetDateTime) -> Result<(), PkiError> {
        let issuing = ca::CaPaths::new(ca_dir).issuing_cert;
        let ca_not_after = if issuing.exists() {
            Some(ca::not_after(&ca::read_cert_der(&issuing)?)?)
        } else {
            None
        };
        check_lifetime(self.validity_days, ca_not_after, now)?;
        check_crl_validity(self.crl_validity_days)?;
        Ok(())
    }
}

impl Default for IssuancePolicy {
    fn default() -> Self {
        Self {
            validity_days: 5 * 365,
            allowed_keys: default_allowed_keys(),
            organization: None,
            organizational_unit: None,
            max_per_hour: default_max_per_hour(),
            allow_host_generated_key: false,
            crl_validity_days: default_crl_validity_days(),
        }
    }
}

/// Subject of a unit's certificate: the profile's O (else the station's) and OU, then `cn`.
fn device_dn(cn: &str, policy: &IssuancePolicy, station_organization: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::OrganizationName,
        policy
            .organization
            .as_deref()
            .unwrap_or(station_organization),
    );
    if let Some(ou) = &policy.organizational_unit {
        dn.push(DnType::OrganizationalUnitName, ou.as_str());
    }
    dn.push(DnType::CommonName, cn);
    dn
}
