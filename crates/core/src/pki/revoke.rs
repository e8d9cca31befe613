//! Revocation reasons and CRL signing. Which serials are revoked is the registry's business
//! (the journal); this module only turns that list into a signed CRL.

use std::fmt;
use std::str::FromStr;

use rcgen::{
    CertificateRevocationListParams, KeyIdMethod, RevocationReason, RevokedCertParams, SerialNumber,
};
use time::{Duration, OffsetDateTime};
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::{fingerprint, PkiError, UnlockedCa};

/// Why a certificate was revoked (RFC 5280 CRLReason), as the operator types it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Unspecified,
    KeyCompromise,
    AffiliationChanged,
    Superseded,
    CessationOfOperation,
    PrivilegeWithdrawn,
}

impl Reason {
    pub const ALL: [Reason; 6] = [
        Reason::Unspecified,
        Reason::KeyCompromise,
        Reason::AffiliationChanged,
        Reason::Superseded,
        Reason::CessationOfOperation,
        Reason::PrivilegeWithdrawn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Unspecified => "unspecified",
            Reason::KeyCompromise => "key-compromise",
            Reason::AffiliationChanged => "affiliation-changed",
            Reason::Superseded => "superseded",
            Reason::CessationOfOperation => "cessation-of-operation",
            Reason::PrivilegeWithdrawn => "privilege-withdrawn",
        }
    }

    fn to_rcgen(self) -> RevocationReason {
        match self {
            Reason::Unspecified => RevocationReason::Unspecified,
            Reason::KeyCompromise => RevocationReason::KeyCompromise,
            Reason::AffiliationChanged => RevocationReason::AffiliationChanged,
            Reason::Superseded => RevocationReason::Superseded,
            Reason::CessationOfOperation => RevocationReason::CessationOfOperation,
            Reason::PrivilegeWithdrawn => RevocationReason::PrivilegeWithdrawn,
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for Reason {
    type Err = PkiError;
    fn from_str(s: &str) -> Result<Self, PkiError> {
        let norm = s.trim().to_ascii_lowercase().replace('_', "-");
        Reason::ALL
            .into_iter()
            .find(|r| r.as_str() == norm)
            .ok_or_else(|| PkiError::BadReason(s.to_owned()))
    }
}

/// One entry of a CRL.
#[derive(Debug, Clone)]
pub struct RevokedSerial {
    /// Upper-case hex, as the registry stores it.
    pub serial: String,
    pub revoked_at: OffsetDateTime,
    pub reason: Reason,
}

/// A signed CRL.
#[derive(Debug, Clone)]
pub struct Crl {
    pub der: Vec<u8>,
    pub pem: String,
    pub number: u64,
    pub this_update: OffsetDateTime,
    pub next_update: OffsetDateTime,
    pub revoked: usize,
    pub sha256: String,
    /// The number the journal alone would have given: below `number` when journal rows were
    /// deleted and the number kept beside the CA took over.
    pub journal_number: u64,
}

impl UnlockedCa {
    /// Signs a CRL listing `revoked`, valid from `now` for `validity`.
    pub fn sign_crl(
        &self,
        revoked: &[RevokedSerial],
        number: u64,
        now: OffsetDateTime,
        validity: Duration,
    ) -> Result<Crl, PkiError> {
        let mut revoked_certs = Vec::with_capacity(revoked.len());
        for r in revoked {
            let bytes =
                hex::decode(&r.serial).map_err(|_| PkiError::BadSerial(r.serial.clone()))?;
            revoked_certs.push(RevokedCertParams {
                serial_number: SerialNumber::from_slice(&bytes),
                revocation_time: r.revoked_at,
                reason_code: Some(r.reason.to_rcgen()),
                invalidity_date: None,
            });
        }
        // Seconds precision: a CRL's times are encoded without fractions anyway.
        let this_update = now.replace_nanosecond(0).unwrap_or(now);
        let params = CertificateRevocationListParams {
            this_update,
            next_update: this_update + validity,
            crl_number: SerialNumber::from(number),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: self.key_id_method(),
        };
        let crl = params.signed_by(&self.issuer).map_err(PkiError::Issue)?;
        let der = crl.der().to_vec();
        Ok(Crl {
            pem: crl.pem().map_err(PkiError::Issue)?,
            sha256: fingerprint(&der),
            der,
            number,
            this_update,
            next_update: params.next_update,
            revoked: revoked.len(),
            journal_number: number,
        })
    }

    /// The CRL's authority key identifier must equal the issuing certificate's subject key
    /// identifier, whatever method made it (an imported CA may use SHA-1 from openssl).
    fn key_id_method(&self) -> KeyIdMethod {
        X509Certificate::from_der(self.issuing_der())
            .ok()
            .and_then(|(_, cert)| {
                cert.extensions()
                    .iter()
                    .find_map(|e| match e.parsed_extension() {
                        ParsedExtension::SubjectKeyIdentifier(ski) => Some(ski.0.to_vec()),
                        _ => None,
                    })
            })
            .map(KeyIdMethod::PreSpecified)
            .unwrap_or(KeyIdMethod::Sha256)
    }
}

/// Signs the root's CRL: the root has revoked none of its issuing CAs. What `openssl verify
/// -crl_check_all` needs besides the issuing CA's CRL, since it wants a CRL from every CA in
/// the chain. The root key is the encrypted one `ca init` wrote (`ca/root.key.pem`, or
/// wherever it was moved offline). Its number is the signing time in seconds, so a later root
/// CRL always has a higher one without a counter the station would have to keep.
pub fn sign_root_crl(
    ca_dir: &std::path::Path,
    root_key: Option<&std::path::Path>,
    passphrase: &str,
    now: OffsetDateTime,
    validity: Duration,
) -> Result<Crl, PkiError> {
    use super::ca::{decrypt_pkcs8, CaPaths};
    use super::signer::{CaKey, FileKey};
    let mut paths = CaPaths::new(ca_dir);
    let key_path = root_key.unwrap_or(&paths.root_key).to_owned();
    let key = CaKey::File(FileKey::from_pkcs8(&decrypt_pkcs8(&key_path, passphrase)?)?);
    // The root signs as the "issuing" CA of this one CRL: same checks (key matches cert).
    paths.issuing_cert = paths.root_cert.clone();
    let root = UnlockedCa::from_parts(paths, key)?;
    let number = u64::try_from(now.unix_timestamp()).unwrap_or(0);
    root.sign_crl(&[], number, now, validity)
}
