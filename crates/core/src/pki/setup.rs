//! Setting up a station's CA: a new lab root and issuing CA (`ca init`), or an existing issuing
//! CA imported from PEM, encrypted PKCS#8 or a PKCS#11 token (`ca import`). Whatever the source,
//! the issuing key is on disk only encrypted, or not on disk at all (PKCS#11).

use std::fs;
use std::path::{Path, PathBuf};

use rcgen::Issuer;
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};
use zeroize::Zeroizing;

use super::ca::{
    ca_params, check_key_matches, encrypt_pkcs8, io_err, read_cert_der, write, write_secret,
    CaPaths,
};
use super::pkcs11::Pkcs11Key;
use super::signer::{CaKey, FileKey};
use super::{cert_pem, fingerprint, PkiError};

/// Where the new issuing key comes from.
#[derive(Debug, Clone, Copy)]
pub enum IssuingKey<'a> {
    /// A new P-256 key, stored encrypted with the passphrase.
    Generate,
    /// A key already in a PKCS#11 token; the passphrase is its user PIN.
    Pkcs11Uri(&'a str),
}

#[derive(Debug, Clone, Copy)]
pub struct InitOptions<'a> {
    pub organization: &'a str,
    pub passphrase: &'a str,
    pub issuing_key: IssuingKey<'a>,
    /// Where to write the encrypted root key (default `ca/root.key.pem`); point it at removable
    /// media to keep it off the station from the start.
    pub root_key_out: Option<&'a Path>,
    /// The root key's own passphrase, so that the station's passphrase (typed at the line
    /// every day) does not also open the key that can make new issuing CAs. `None`: the
    /// station's (lab stations, whose root never leaves them).
    pub root_passphrase: Option<&'a str>,
    /// A lab station may keep its root key in `ca/` under the station passphrase; any other
    /// station must name `root_key_out` and `root_passphrase`, so only the issuing key stays.
    pub lab: bool,
    pub now: OffsetDateTime,
}

/// What `init_ca` made.
#[derive(Debug, Clone)]
pub struct InitReport {
    /// The encrypted root key: move it offline; the station never needs it to commission.
    pub root_key: PathBuf,
    pub root_fingerprint: String,
    pub issuing_fingerprint: String,
    pub key_location: String,
}

/// Creates a root and an issuing CA in `ca_dir`. Refuses to touch an existing CA; the root key
/// file is created, never overwritten.
pub fn init_ca(ca_dir: &Path, opts: &InitOptions<'_>) -> Result<InitReport, PkiError> {
    if opts.passphrase.is_empty() {
        return Err(PkiError::NoPassphrase);
    }
    if !opts.lab && (opts.root_key_out.is_none() || opts.root_passphrase.is_none()) {
        return Err(PkiError::RootKeyMustLeave);
    }
    let root_passphrase = match opts.root_passphrase {
        Some(p) if p.is_empty() || p == opts.passphrase => {
            return Err(PkiError::RootPassphraseReused)
        }
        Some(p) => p,
        None => opts.passphrase,
    };
    crate::secure_fs::create_dir(ca_dir).map_err(|source| io_err(ca_dir, source))?;
    let paths = CaPaths::new(ca_dir);
    let root_key_path = opts.root_key_out.unwrap_or(&paths.root_key).to_owned();
    if !opts.lab && root_key_path.parent() == Some(ca_dir) {
        return Err(PkiError::RootKeyMustLeave);
    }
    for existing in [&paths.issuing_cert, &paths.root_cert, &root_key_path] {
        if existing.exists() {
            return Err(PkiError::CaExists(existing.display().to_string()));
        }
    }
    let org = opts.organization;

    let (root_key, root_pkcs8) = FileKey::generate_p256()?;
    let root_key = CaKey::File(root_key);
    let root = ca_params(org, "Lab Root CA", 1, opts.now, 20 * 365);
    let root_cert = root.self_signed(&root_key).map_err(PkiError::Issue)?;
    let root_issuer = Issuer::new(root, root_key);

    let (issuing_key, issuing_pkcs8) = match opts.issuing_key {
        IssuingKey::Generate => {
            let (k, doc) = FileKey::generate_p256()?;
            (CaKey::File(k), Some(doc))
        }
        IssuingKey::Pkcs11Uri(uri) => (CaKey::Pkcs11(Pkcs11Key::open(uri, opts.passphrase)?), None),
    };
    let mut issuing = ca_params(org, "Lab Issuing CA", 0, opts.now, 10 * 365);
    issuing.use_authority_key_identifier_extension = true;
    let issuing_cert = issuing
        .signed_by(&issuing_key, &root_issuer)
        .map_err(PkiError::Issue)?;

    // The root key first and exclusively: if it cannot be written, nothing else is.
    write_secret_new(
        &root_key_path,
        &encrypt_pkcs8(root_pkcs8.as_ref(), root_passphrase)?,
    )?;
    write(&paths.root_cert, root_cert.pem().as_bytes())?;
    write(&paths.issuing_cert, issuing_cert.pem().as_bytes())?;
    write(
        &paths.chain,
        format!("{}{}", issuing_cert.pem(), root_cert.pem()).as_bytes(),
    )?;
    match (opts.issuing_key, issuing_pkcs8) {
        (IssuingKey::Pkcs11Uri(uri), _) => write(&paths.issuing_key_uri, uri.trim().as_bytes())?,
        (IssuingKey::Generate, Some(doc)) => write_secret(
            &paths.issuing_key,
            &encrypt_pkcs8(doc.as_ref(), opts.passphrase)?,
        )?,
        (IssuingKey::Generate, None) => {}
    }
    Ok(InitReport {
        root_key: root_key_path,
        root_fingerprint: fingerprint(root_cert.der()),
        issuing_fingerprint: fingerprint(issuing_cert.der()),
        key_location: issuing_key.location(),
    })
}

/// Where an imported issuing key comes from.
#[derive(Debug, Clone, Copy)]
pub enum ImportKey<'a> {
    /// A PKCS#8 PEM file: `PRIVATE KEY`, or `ENCRYPTED PRIVATE KEY` with its passphrase.
    Pem {
        path: &'a Path,
        passphrase: Option<&'a str>,
    },
    /// A key in a PKCS#11 token; the station passphrase is its user PIN.
    Pkcs11Uri(&'a str),
}

#[derive(Debug, Clone, Copy)]
pub struct ImportOptions<'a> {
    pub issuing_cert: &'a Path,
    pub root_cert: &'a Path,
    pub key: ImportKey<'a>,
    /// Encrypts the imported file key; for PKCS#11, the PIN.
    pub passphrase: &'a str,
    /// Move an existing CA aside (into `ca/replaced-<time>/`) instead of refusing.
    pub replace: bool,
}

#[derive(Debug, Clone)]
pub struct ImportReport {
    pub issuing_fingerprint: String,
    pub key_location: String,
    /// Where the previous CA went, if one was replaced.
    pub backup: Option<PathBuf>,
    pub warnings: Vec<String>,
}

/// Imports an issuing CA: checks that it is a CA, that the root signed it and that the key
/// belongs to it, then stores the key encrypted (or its URI).
pub fn import_ca(ca_dir: &Path, opts: &ImportOptions<'_>) -> Result<ImportReport, PkiError> {
    if opts.passphrase.is_empty() {
        return Err(PkiError::NoPassphrase);
    }
    let issuing_der = read_cert_der(opts.issuing_cert)?;
    let root_der = read_cert_der(opts.root_cert)?;
    let warnings = check_chain(&issuing_der, &root_der)?;

    let (key, encrypted) = match opts.key {
        ImportKey::Pem { path, passphrase } => {
            let plain = read_pkcs8(path, passphrase)?;
            let key = CaKey::File(FileKey::from_pkcs8(&plain)?);
            (key, Some(encrypt_pkcs8(&plain, opts.passphrase)?))
        }
        ImportKey::Pkcs11Uri(uri) => (CaKey::Pkcs11(Pkcs11Key::open(uri, opts.passphrase)?), None),
    };
    check_key_matches(&issuing_der, &key, opts.issuing_cert)?;

    crate::secure_fs::create_dir(ca_dir).map_err(|source| io_err(ca_dir, source))?;
    let paths = CaPaths::new(ca_dir);
    let backup = move_aside(&paths, ca_dir, opts.replace)?;
    write(&paths.root_cert, cert_pem(&root_der).as_bytes())?;
    write(&paths.issuing_cert, cert_pem(&issuing_der).as_bytes())?;
    write(
        &paths.chain,
        format!("{}{}", cert_pem(&issuing_der), cert_pem(&root_der)).as_bytes(),
    )?;
    match (opts.key, encrypted) {
        (ImportKey::Pkcs11Uri(uri), _) => write(&paths.issuing_key_uri, uri.trim().as_bytes())?,
        (_, Some(pem)) => write_secret(&paths.issuing_key, &pem)?,
        _ => {}
    }
    Ok(ImportReport {
        issuing_fingerprint: fingerprint(&issuing_der),
        key_location: key.location(),
        backup,
        warnings,
    })
}

fn check_chain(issuing_der: &[u8], root_der: &[u8]) -> Result<Vec<String>, PkiError> {
    let parse = |der| {
        X509Certificate::from_der(der)
            .map(|(_, c)| c)
            .map_err(|e| PkiError::CertMalformed(e.to_string()))
    };
    let issuing = parse(issuing_der)?;
    let root = parse(root_der)?;
    let not_ca = |why: &str| PkiError::CaCorrupt {
        path: "issuing certificate".into(),
        reason: why.into(),
    };
    if !issuing.is_ca() {
        return Err(not_ca(
            "it is not a CA certificate (basicConstraints CA:TRUE)",
        ));
    }
    let ku = issuing.key_usage().ok().flatten().map(|k| k.value);
    if ku.is_some_and(|k| !k.key_cert_sign()) {
        return Err(not_ca("its key usage does not allow keyCertSign"));
    }
    issuing
        .verify_signature(Some(root.public_key()))
        .map_err(|_| not_ca("it is not signed by the given root certificate"))?;
    let mut warnings = Vec::new();
    if ku.is_some_and(|k| !k.crl_sign()) {
        warnings.push("the issuing certificate lacks cRLSign: `ca crl` will fail".into());
    }
    Ok(warnings)
}

fn read_pkcs8(path: &Path, passphrase: Option<&str>) -> Result<Zeroizing<Vec<u8>>, PkiError> {
    use pkcs8::der::SecretDocument;
    let pem = Zeroizing::new(fs::read_to_string(path).map_err(|source| io_err(path, source))?);
    let corrupt = |reason: String| PkiError::CaCorrupt {
        path: path.display().to_string(),
        reason,
    };
    let (label, doc) = SecretDocument::from_pem(&pem).map_err(|e| {
        corrupt(format!(
            "{e}: expected PKCS#8 (convert with `openssl pkcs8 -topk8 -in KEY -out KEY.p8`)"
        ))
    })?;
    match label {
        "PRIVATE KEY" => Ok(Zeroizing::new(doc.as_bytes().to_vec())),
        "ENCRYPTED PRIVATE KEY" => {
            let pass = passphrase.ok_or(PkiError::NoPassphrase)?;
            let enc = pkcs8::EncryptedPrivateKeyInfo::try_from(doc.as_bytes())
                .map_err(|e| corrupt(e.to_string()))?;
            let plain = enc
                .decrypt(pass.as_bytes())
                .map_err(|_| PkiError::BadPassphrase)?;
            Ok(Zeroizing::new(plain.as_bytes().to_vec()))
        }
        other => Err(corrupt(format!("{other} is not a PKCS#8 key"))),
    }
}

fn move_aside(paths: &CaPaths, ca_dir: &Path, replace: bool) -> Result<Option<PathBuf>, PkiError> {
    let existing: Vec<&PathBuf> = [
        &paths.root_cert,
        &paths.root_key,
        &paths.issuing_cert,
        &paths.issuing_key,
        &paths.issuing_key_uri,
        &paths.chain,
    ]
    .into_iter()
    .filter(|p| p.exists())
    .collect();
    if existing.is_empty() {
        return Ok(None);
    }
    if !replace {
        return Err(PkiError::CaExists(ca_dir.display().to_string()));
    }
    let backup = ca_dir.join(format!(
        "replaced-{}",
        OffsetDateTime::now_utc().unix_timestamp()
    ));
    crate::secure_fs::create_dir(&backup).map_err(|source| io_err(&backup, source))?;
    for p in existing {
        if let Some(name) = p.file_name() {
            fs::rename(p, backup.join(name)).map_err(|source| io_err(p, source))?;
        }
    }
    Ok(Some(backup))
}

/// Writes an owner-only file that must not exist yet.
fn write_secret_new(path: &Path, text: &str) -> Result<(), PkiError> {
    use std::io::Write;
    let mut file = crate::secure_fs::create_new(path).map_err(|source| io_err(path, source))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|source| io_err(path, source))
}
