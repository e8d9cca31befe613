//! The CA on disk: chain PEMs in the clear, keys only as encrypted PKCS#8 (scrypt + AES-256-CBC,
//! readable by `openssl pkey`).

use rustls_pki_types::{pem::PemObject, CertificateDer};
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use pkcs8::der::pem::LineEnding;
use pkcs8::der::SecretDocument;
use pkcs8::{EncryptedPrivateKeyInfo, PrivateKeyInfo};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PublicKeyData,
};
use time::{Duration, OffsetDateTime};
use x509_parser::prelude::{FromDer, X509Certificate};
use zeroize::Zeroizing;

use super::issue::random_serial;
use super::pkcs11::Pkcs11Key;
use super::signer::{CaKey, FileKey};
use super::PkiError;

/// Where the CA's files live inside a station's `ca/` directory.
#[derive(Debug, Clone)]
pub struct CaPaths {
    pub root_cert: PathBuf,
    pub root_key: PathBuf,
    pub issuing_cert: PathBuf,
    pub issuing_key: PathBuf,
    /// Instead of `issuing_key`: a `pkcs11:` URI (no PIN) naming the key in a token.
    pub issuing_key_uri: PathBuf,
    /// Issuing then root: what a broker needs as `cafile` and a unit as its chain.
    pub chain: PathBuf,
}

impl CaPaths {
    pub fn new(ca_dir: &Path) -> Self {
        Self {
            root_cert: ca_dir.join("root.pem"),
            root_key: ca_dir.join("root.key.pem"),
            issuing_cert: ca_dir.join("issuing.pem"),
            issuing_key: ca_dir.join("issuing.key.pem"),
            issuing_key_uri: ca_dir.join("issuing.key.uri"),
            chain: ca_dir.join("chain.pem"),
        }
    }
}

/// Creates a lab CA: a root and an issuing intermediate, both P-256, keys encrypted.
pub fn create_lab_ca(
    ca_dir: &Path,
    organization: &str,
    passphrase: &str,
    now: OffsetDateTime,
) -> Result<(), PkiError> {
    super::setup::init_ca(
        ca_dir,
        &super::setup::InitOptions {
            organization,
            passphrase,
            issuing_key: super::setup::IssuingKey::Generate,
            root_key_out: None,
            root_passphrase: None,
            lab: true,
            now,
        },
    )
    .map(|_| ())
}

pub(crate) fn ca_params(
    organization: &str,
    name: &str,
    path_len: u8,
    now: OffsetDateTime,
    days: i64,
) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, organization);
    dn.push(DnType::CommonName, format!("{organization} {name}"));
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(path_len));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = now - Duration::minutes(5);
    params.not_after = now + Duration::days(days);
    params.serial_number = Some(random_serial());
    params
}

/// Encrypts a key pair's PKCS#8 with the passphrase (PBES2: scrypt, AES-256-CBC).
pub fn encrypt_key(key: &KeyPair, passphrase: &str) -> Result<String, PkiError> {
    let der = zeroize::Zeroizing::new(key.serialize_der());
    encrypt_pkcs8(&der, passphrase)
}

/// Encrypts a plaintext PKCS#8 DER key with the passphrase (PBES2: scrypt, AES-256-CBC).
pub fn encrypt_pkcs8(der: &[u8], passphrase: &str) -> Result<String, PkiError> {
    if passphrase.is_empty() {
        return Err(PkiError::NoPassphrase);
    }
    let info = PrivateKeyInfo::try_from(der).map_err(|e| PkiError::CaCorrupt {
        path: "<new key>".into(),
        reason: e.to_string(),
    })?;
    // scrypt N=2^14, r=8, p=1 (16 MiB): memory-hard, and inside OpenSSL's default 32 MiB
    // scrypt limit so that `openssl pkey` can open the file too (pkcs8's default exceeds it).
    let salt: [u8; 16] = rand::random();
    let iv: [u8; 16] = rand::random();
    let params = pkcs8::pkcs5::scrypt::Params::new(14, 8, 1, 32)
        .map_err(|e| PkiError::CaCorrupt {
            path: "<new key>".into(),
            reason: e.to_string(),
        })
        .and_then(|p| {
            pkcs8::pkcs5::pbes2::Parameters::scrypt_aes256cbc(p, &salt, &iv).map_err(|e| {
                PkiError::CaCorrupt {
                    path: "<new key>".into(),
                    reason: e.to_string(),
                }
            })
        })?;
    let doc = info
        .encrypt_with_params(params, passphrase.as_bytes())
        .map_err(|e| PkiError::CaCorrupt {
            path: "<new key>".into(),
            reason: e.to_string(),
        })?;
    doc.to_pem("ENCRYPTED PRIVATE KEY", LineEnding::LF)
        .map(|pem| pem.to_string())
        .map_err(|e| PkiError::CaCorrupt {
            path: "<new key>".into(),
            reason: e.to_string(),
        })
}

/// Decrypts an encrypted PKCS#8 PEM file into a signing key.
pub fn decrypt_key(path: &Path, passphrase: &str) -> Result<KeyPair, PkiError> {
    let plain = decrypt_pkcs8(path, passphrase)?;
    KeyPair::try_from(plain.as_slice()).map_err(|e| PkiError::CaCorrupt {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// Decrypts an encrypted PKCS#8 PEM file; the plaintext DER is wiped when dropped.
pub fn decrypt_pkcs8(path: &Path, passphrase: &str) -> Result<Zeroizing<Vec<u8>>, PkiError> {
    let pem = Zeroizing::new(fs::read_to_string(path).map_err(|source| io_err(path, source))?);
    let corrupt = |reason: String| PkiError::CaCorrupt {
        path: path.display().to_string(),
        reason,
    };
    let (label, doc) = SecretDocument::from_pem(&pem).map_err(|e| corrupt(e.to_string()))?;
    if label != "ENCRYPTED PRIVATE KEY" {
        return Err(corrupt(format!(
            "expected an ENCRYPTED PRIVATE KEY, found {label}: CA keys are never stored in the clear"
        )));
    }
    let enc =
        EncryptedPrivateKeyInfo::try_from(doc.as_bytes()).map_err(|e| corrupt(e.to_string()))?;
    let plain = enc
        .decrypt(passphrase.as_bytes())
        .map_err(|_| PkiError::BadPassphrase)?;
    Ok(Zeroizing::new(plain.as_bytes().to_vec()))
}

/// The issuing CA with its key decrypted in memory, ready to sign.
pub struct UnlockedCa {
    pub(crate) issuer: Issuer<'static, CaKey>,
    issuing_der: Vec<u8>,
    root_der: Vec<u8>,
    pub(crate) paths: CaPaths,
    pub(crate) unlock_authority: super::unlock::AuthoritySlot,
}

impl fmt::Debug for UnlockedCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print key material.
        f.debug_struct("UnlockedCa")
            .field("issuing", &super::fingerprint(&self.issuing_der))
            .finish_non_exhaustive()
    }
}

impl UnlockedCa {
    /// Reads the chain and unlocks the issuing key: decrypts the file key with the
    /// passphrase, or logs in to the PKCS#11 token with it as the user PIN.
    pub fn unlock(ca_dir: &Path, passphrase: &str) -> Result<Self, PkiError> {
        let paths = CaPaths::new(ca_dir);
        let has_key = paths.issuing_key.exists() || paths.issuing_key_uri.exists();
        if !paths.issuing_cert.exists() || !has_key {
            return Err(PkiError::CaMissing(ca_dir.display().to_string()));
        }
        if passphrase.is_empty() {
            return Err(PkiError::NoPassphrase);
        }
        let key = if paths.issuing_key_uri.exists() {
            let uri = fs::read_to_string(&paths.issuing_key_uri)
                .map_err(|source| io_err(&paths.issuing_key_uri, source))?;
            CaKey::Pkcs11(Pkcs11Key::open(uri.trim(), passphrase)?)
        } else {
            CaKey::File(FileKey::from_pkcs8(&decrypt_pkcs8(
                &paths.issuing_key,
                passphrase,
            )?)?)
        };
        Self::from_parts(paths, key)
    }

    /// An unlocked CA from its files and a key already opened; checks they belong together.
    pub fn from_parts(paths: CaPaths, key: CaKey) -> Result<Self, PkiError> {
        let issuing_der = read_cert_der(&paths.issuing_cert)?;
        let root_der = read_cert_der(&paths.root_cert)?;
        check_key_matches(&issuing_der, &key, &paths.issuing_cert)?;
        let issuer =
            Issuer::from_ca_cert_der(&issuing_der.as_slice().into(), key).map_err(|e| {
                PkiError::CaCorrupt {
                    path: paths.issuing_cert.display().to_string(),
                    reason: e.to_string(),
                }
            })?;
        Ok(Self {
            issuer,
            issuing_der,
            root_der,
            paths,
            unlock_authority: Default::default(),
        })
    }

    /// Signs one unit's authorised-unlock message (docs/device-protocol.md §6.11) with the
    /// issuing key, the key the unit trusts through its `chain` slot: only for units whose
    /// firmware predates the unlock authority ([`UnlockedCa::unlock_authority`]). DER ECDSA
    /// signature.
    pub fn sign_unlock(&self, device_id: &str, nonce: &[u8]) -> Result<Vec<u8>, PkiError> {
        use rcgen::SigningKey;
        let msg = crate::device::protocol::unlock_message(device_id, nonce);
        self.issuer
            .key()
            .sign(&msg)
            .map_err(|e| PkiError::UnlockSign(e.to_string()))
    }

    /// Where the issuing key lives (file or PKCS#11 URI), for the operator.
    pub fn key_location(&self) -> String {
        self.issuer.key().location()
    }

    pub fn issuing_der(&self) -> &[u8] {
        &self.issuing_der
    }

    /// When the issuing certificate expires: no certificate it signs may outlive it.
    pub fn issuing_not_after(&self) -> Result<OffsetDateTime, PkiError> {
        not_after(&self.issuing_der)
    }

    pub fn root_der(&self) -> &[u8] {
        &self.root_der
    }

    pub fn paths(&self) -> &CaPaths {
        &self.paths
    }
}

/// Refuses a key whose public half is not the one in the certificate: signing with it would
/// produce certificates nobody can verify.
pub fn check_key_matches(cert_der: &[u8], key: &CaKey, path: &Path) -> Result<(), PkiError> {
    let (_, cert) =
        X509Certificate::from_der(cert_der).map_err(|e| PkiError::CertMalformed(e.to_string()))?;
    if cert.public_key().subject_public_key.data.as_ref() != key.der_bytes() {
        return Err(PkiError::KeyMismatch(path.display().to_string()));
    }
    Ok(())
}

/// A certificate's `notAfter`.
pub fn not_after(cert_der: &[u8]) -> Result<OffsetDateTime, PkiError> {
    let (_, cert) =
        X509Certificate::from_der(cert_der).map_err(|e| PkiError::CertMalformed(e.to_string()))?;
    Ok(cert.validity().not_after.to_datetime())
}

/// Reads the first certificate of a PEM file as DER.
pub fn read_cert_der(path: &Path) -> Result<Vec<u8>, PkiError> {
    let pem = fs::read(path).map_err(|source| io_err(path, source))?;
    let first = CertificateDer::pem_slice_iter(pem.as_slice())
        .next()
        .and_then(Result::ok)
        .map(|der| der.to_vec());
    first.ok_or_else(|| PkiError::CaCorrupt {
        path: path.display().to_string(),
        reason: "no certificate in file".into(),
    })
}

pub(crate) fn write(path: &Path, bytes: &[u8]) -> Result<(), PkiError> {
    crate::secure_fs::write(path, bytes).map_err(|source| io_err(path, source))
}

/// Writes a file readable by its owner only (every CA file is; this name marks the secrets).
pub(crate) fn write_secret(path: &Path, text: &str) -> Result<(), PkiError> {
    write(path, text.as_bytes())
}

pub(crate) fn io_err(path: &Path, source: std::io::Error) -> PkiError {
    PkiError::Io {
        path: path.display().to_string(),
        source,
    }
}
