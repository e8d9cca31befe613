//! The CA on disk: chain PEMs in the clear, keys only as encrypted PKCS#8 (scrypt + AES-256-CBC,
//! readable by `openssl pkey`).

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use pkcs8::der::pem::LineEnding;
use pkcs8::der::SecretDocument;
use pkcs8::{EncryptedPrivateKeyInfo, PrivateKeyInfo};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};
use time::{Duration, OffsetDateTime};

use super::issue::random_serial;
use super::PkiError;

/// Where the CA's files live inside a station's `ca/` directory.
#[derive(Debug, Clone)]
pub struct CaPaths {
    pub root_cert: PathBuf,
    pub root_key: PathBuf,
    pub issuing_cert: PathBuf,
    pub issuing_key: PathBuf,
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
    if passphrase.is_empty() {
        return Err(PkiError::NoPassphrase);
    }
    fs::create_dir_all(ca_dir).map_err(|source| io_err(ca_dir, source))?;
    let paths = CaPaths::new(ca_dir);

    let root_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(PkiError::Issue)?;
    let mut root = ca_params(organization, "Lab Root CA", 1, now, 20 * 365);
    root.serial_number = Some(random_serial());
    let root_cert = root.self_signed(&root_key).map_err(PkiError::Issue)?;
    let root_issuer = Issuer::new(root, root_key);

    let issuing_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(PkiError::Issue)?;
    let mut issuing = ca_params(organization, "Lab Issuing CA", 0, now, 10 * 365);
    issuing.serial_number = Some(random_serial());
    issuing.use_authority_key_identifier_extension = true;
    let issuing_cert = issuing
        .signed_by(&issuing_key, &root_issuer)
        .map_err(PkiError::Issue)?;

    write(&paths.root_cert, root_cert.pem().as_bytes())?;
    write(&paths.issuing_cert, issuing_cert.pem().as_bytes())?;
    write(
        &paths.chain,
        format!("{}{}", issuing_cert.pem(), root_cert.pem()).as_bytes(),
    )?;
    write_secret(
        &paths.root_key,
        &encrypt_key(root_issuer.key(), passphrase)?,
    )?;
    write_secret(&paths.issuing_key, &encrypt_key(&issuing_key, passphrase)?)?;
    Ok(())
}

fn ca_params(
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
    params
}

/// Encrypts a key pair's PKCS#8 with the passphrase (PBES2: scrypt, AES-256-CBC).
pub fn encrypt_key(key: &KeyPair, passphrase: &str) -> Result<String, PkiError> {
    let der = zeroize::Zeroizing::new(key.serialize_der());
    let info = PrivateKeyInfo::try_from(der.as_slice()).map_err(|e| PkiError::CaCorrupt {
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
    let pem = fs::read_to_string(path).map_err(|source| io_err(path, source))?;
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
    KeyPair::try_from(plain.as_bytes()).map_err(|e| corrupt(e.to_string()))
}

/// The issuing CA with its key decrypted in memory, ready to sign.
pub struct UnlockedCa {
    pub(crate) issuer: Issuer<'static, KeyPair>,
    issuing_der: Vec<u8>,
    root_der: Vec<u8>,
    pub(crate) paths: CaPaths,
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
    /// Reads the chain and decrypts the issuing key.
    pub fn unlock(ca_dir: &Path, passphrase: &str) -> Result<Self, PkiError> {
        let paths = CaPaths::new(ca_dir);
        if !paths.issuing_cert.exists() || !paths.issuing_key.exists() {
            return Err(PkiError::CaMissing(ca_dir.display().to_string()));
        }
        if passphrase.is_empty() {
            return Err(PkiError::NoPassphrase);
        }
        let issuing_der = read_cert_der(&paths.issuing_cert)?;
        let root_der = read_cert_der(&paths.root_cert)?;
        let key = decrypt_key(&paths.issuing_key, passphrase)?;
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
        })
    }

    pub fn issuing_der(&self) -> &[u8] {
        &self.issuing_der
    }

    pub fn root_der(&self) -> &[u8] {
        &self.root_der
    }

    pub fn paths(&self) -> &CaPaths {
        &self.paths
    }
}

/// Reads the first certificate of a PEM file as DER.
pub fn read_cert_der(path: &Path) -> Result<Vec<u8>, PkiError> {
    let pem = fs::read(path).map_err(|source| io_err(path, source))?;
    let first = rustls_pemfile::certs(&mut pem.as_slice())
        .next()
        .and_then(Result::ok)
        .map(|der| der.to_vec());
    first.ok_or_else(|| PkiError::CaCorrupt {
        path: path.display().to_string(),
        reason: "no certificate in file".into(),
    })
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), PkiError> {
    fs::write(path, bytes).map_err(|source| io_err(path, source))
}

/// Writes a file readable by its owner only.
pub(crate) fn write_secret(path: &Path, text: &str) -> Result<(), PkiError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|source| io_err(path, source))?;
    file.write_all(text.as_bytes())
        .map_err(|source| io_err(path, source))
}

fn io_err(path: &Path, source: std::io::Error) -> PkiError {
    PkiError::Io {
        path: path.display().to_string(),
        source,
    }
}
