//! Exports for QA (CSV or JSON Lines) with a signed manifest: row count, filters, the chain head
//! at the time of export, the station id and the file's SHA-256, signed with the station's
//! Ed25519 key. `verify_export` detects an edited file or manifest.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rusqlite::params_from_iter;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;
use time::OffsetDateTime;

use super::chain::{self, ChainHead};
use super::query::SessionFilter;
use super::{ts, Journal, JournalError};
use crate::error::Coded;

/// Errors of exporting and verifying exports.
#[derive(Debug, Error)]
pub enum ExportError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("cannot read or write {path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the station's export signing key is unusable: {0}")]
    Key(String),
    #[error("no manifest next to the export (expected {0})")]
    ManifestMissing(String),
    #[error("the manifest is not valid: {0}")]
    ManifestInvalid(String),
    #[error("the manifest's signature does not verify: the manifest was edited")]
    BadSignature,
    #[error("the export file does not match its manifest ({0}): the export was edited")]
    FileModified(String),
    #[error("the export was signed by a key that is not among the trusted station keys")]
    WrongStation,
    #[error("the station's export signing key {0} is missing, but station.toml pins one: restore the key file from backup; a new key would make every earlier export unverifiable")]
    KeyMissing(String),
    #[error("the export signing key {path} is not the one pinned in station.toml ({pinned}): the key file was replaced")]
    KeyNotPinned { path: String, pinned: String },
    #[error("no trusted station key: give --trust KEY or --trust-file FILE (the key QA recorded with `commissioner journal key`)")]
    NoTrustedKey,
    #[error("'{0}' is not a station key (base64 of a 32-byte Ed25519 public key)")]
    TrustedKeyInvalid(String),
    #[error("the export-signing key is encrypted with the station passphrase: unlock the CA (or give COMMISSIONER_CA_PASSPHRASE) first")]
    KeyLocked,
    #[error("the station passphrase does not open the export-signing key {0}: the key file was replaced, or the passphrase is wrong")]
    KeyPassphrase(String),
}

impl Coded for ExportError {
    fn code(&self) -> &'static str {
        match self {
            ExportError::Journal(e) => e.code(),
            ExportError::Io { .. } => "export.io",
            ExportError::Key(_) => "export.key",
            ExportError::ManifestMissing(_) => "export.manifest_missing",
            ExportError::ManifestInvalid(_) => "export.manifest_invalid",
            ExportError::BadSignature => "export.bad_signature",
            ExportError::FileModified(_) => "export.file_modified",
            ExportError::WrongStation => "export.wrong_station",
            ExportError::KeyMissing(_) => "export.key_missing",
            ExportError::KeyNotPinned { .. } => "export.key_not_pinned",
            ExportError::NoTrustedKey => "export.no_trusted_key",
            ExportError::TrustedKeyInvalid(_) => "export.trusted_key_invalid",
            ExportError::KeyLocked => "export.key_locked",
            ExportError::KeyPassphrase(_) => "export.key_passphrase",
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ExportError + '_ {
    move |source| ExportError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Export file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    Csv,
    Jsonl,
}

/// The station's Ed25519 key that signs export manifests and published chain heads. It proves
/// which station produced an export; it is not a CA key. A station keeps it as encrypted PKCS#8
/// like the CA key (see `station::export_key`).
pub struct StationKey(Ed25519KeyPair);

impl std::fmt::Debug for StationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StationKey({})", B64.encode(self.public_key()))
    }
}

impl StationKey {
    /// A new key and its PKCS#8 document (to be stored encrypted by the caller).
    pub fn generate() -> Result<(Self, zeroize::Zeroizing<Vec<u8>>), ExportError> {
        let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .map_err(|e| ExportError::Key(e.to_string()))?;
        let der = zeroize::Zeroizing::new(doc.as_ref().to_vec());
        Ok((Self::from_pkcs8(&der)?, der))
    }

    /// The key from a plaintext PKCS#8 document (v1, as `openssl pkey` writes it, or v2).
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, ExportError> {
        Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
            .map(Self)
            .map_err(|e| ExportError::Key(e.to_string()))
    }

    /// Loads a plaintext key file, creating it on first use: for benches and tests, and the
    /// format stations used before the key was encrypted (migrated at the first unlock).
    pub fn load_or_create(path: &Path) -> Result<Self, ExportError> {
        if !path.exists() {
            let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
                .map_err(|e| ExportError::Key(e.to_string()))?;
            if let Some(dir) = path.parent() {
                fs::create_dir_all(dir).map_err(io(dir))?;
            }
            write_private(path, doc.as_ref())?;
        }
        let bytes = zeroize::Zeroizing::new(fs::read(path).map_err(io(path))?);
        Self::from_pkcs8(&bytes)
    }

    pub fn public_key(&self) -> &[u8] {
        self.0.public_key().as_ref()
    }

    /// The public key as it is pinned and printed (base64).
    pub fn public_key_base64(&self) -> String {
        B64.encode(self.public_key())
    }

    /// Signs `msg` (Ed25519).
    pub(crate) fn sign(&self, msg: &[u8]) -> Vec<u8> {
        self.0.sign(msg).as_ref().to_vec()
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io(path))?;
    f.write_all(bytes).map_err(io(path))
}

/// What an export claims about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub version: u32,
    pub format: ExportFormat,
    /// File name of the export, next to the manifest.
    pub file: String,
    pub sha256: String,
    pub rows: u64,
    pub filters: SessionFilter,
    pub chain_head: ChainHead,
    pub station_id: String,
    pub created_at: String,
    /// Ed25519 public key, base64.
    pub public_key: String,
    /// Signature over the manifest without this field, base64.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub signature: String,
}

impl Manifest {
    fn signed_bytes(&self) -> Result<Vec<u8>, ExportError> {
        let mut unsigned = self.clone();
        unsigned.signature.clear();
        serde_json::to_vec(&unsigned).map_err(|e| ExportError::ManifestInvalid(e.to_string()))
    }
}

/// Path of the manifest that goes with an export file.
pub fn manifest_path(file: &Path) -> PathBuf {
    let mut name = file
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".manifest.json");
    file.with_file_name(name)
}

/// One exported row: a session with its first failed step and its certificate.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ExportRow {
    session_id: i64,
    started_at: String,
    ended_at: Option<String>,
    station_id: String,
    operator: String,
    port: String,
    device_id: Option<String>,
    model: Option<String>,
    firmware: Option<String>,
    work_order: Option<String>,
    result: String,
    error_code: Option<String>,
    error_message: Option<String>,
    failed_step: Option<String>,
    certificate_serial: Option<String>,
    certificate_sha256: Option<String>,
}

impl ExportRow {
    /// CSV files are opened in spreadsheets: a unit's model or firmware string (or an error
    /// message quoting one) must not become a formula on the QA workstation. JSON Lines keeps
    /// the text as recorded.
    fn for_spreadsheet(self) -> Self {
        let text = crate::text::spreadsheet_safe;
        let opt = |s: Option<String>| s.map(crate::text::spreadsheet_safe);
        Self {
            station_id: text(self.station_id),
            operator: text(self.operator),
            port: text(self.port),
            device_id: opt(self.device_id),
            model: opt(self.model),
            firmware: opt(self.firmware),
            work_order: opt(self.work_order),
            error_code: opt(self.error_code),
            error_message: opt(self.error_message),
            failed_step: opt(self.failed_step),
            ..self
        }
    }
}

fn export_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ExportRow> {
    Ok(ExportRow {
        session_id: r.get(0)?,
        started_at: r.get(1)?,
        ended_at: r.get(2)?,
        station_id: r.get(3)?,
        operator: r.get(4)?,
        port: r.get(5)?,
        device_id: r.get(6)?,
        model: r.get(7)?,
        firmware: r.get(8)?,
        work_order: r.get(9)?,
        result: r.get(10)?,
        error_code: r.get(11)?,
        error_message: r.get(12)?,
        failed_step: r.get(13)?,
        certificate_serial: r.get(14)?,
        certificate_sha256: r.get(15)?,
    })
}

/// Hashes what passes through, so the file is hashed as it is written.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Where rows go: CSV or JSON Lines, hashed as written.
enum Sink {
    Csv(Box<csv::Writer<HashingWriter<BufWriter<fs::File>>>>),
    Jsonl(HashingWriter<BufWriter<fs::File>>),
}

impl Sink {
    fn new(format: ExportFormat, file: fs::File) -> Self {
        let w = HashingWriter {
            inner: BufWriter::new(file),
            hasher: Sha256::new(),
        };
        match format {
            ExportFormat::Csv => Sink::Csv(Box::new(csv::Writer::from_writer(w))),
            ExportFormat::Jsonl => Sink::Jsonl(w),
        }
    }

    fn write(&mut self, row: ExportRow) -> std::io::Result<()> {
        match self {
            Sink::Csv(w) => w
                .serialize(row.for_spreadsheet())
                .map_err(std::io::Error::other),
            Sink::Jsonl(w) => {
                serde_json::to_writer(&mut *w, &row).map_err(std::io::Error::other)?;
                w.write_all(b"\n")
            }
        }
    }

    /// Flushes and returns the SHA-256 of everything written.
    fn finish(self) -> std::io::Result<String> {
        let mut w = match self {
            Sink::Csv(w) => w
                .into_inner()
                .map_err(|e| std::io::Error::other(e.to_string()))?,
            Sink::Jsonl(w) => w,
        };
        w.flush()?;
        Ok(hex::encode(w.hasher.finalize()))
    }
}

impl Journal {
    /// Writes the sessions matching `filter` to `out` and a signed manifest next to it.
    pub fn export(
        &self,
        filter: &SessionFilter,
        format: ExportFormat,
        out: &Path,
        station_id: &str,
        key: &StationKey,
        now: OffsetDateTime,
    ) -> Result<Manifest, ExportError> {
        // One read transaction: the rows and the chain head come from the same snapshot.
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(JournalError::from)?;
        let head =
            chain::head(&tx)?.ok_or_else(|| ExportError::ManifestInvalid("empty chain".into()))?;
        let (clause, values) = filter.to_sql_on("s.");
        let mut stmt = tx
            .prepare(&format!(
                "SELECT s.id, s.started_at, s.ended_at, s.station_id, s.operator, s.port, s.device_id,
                        s.model, s.firmware, s.work_order, s.result, s.error_code, s.error_message,
                        s.failed_step, c.serial, c.sha256
                 FROM sessions s
                 LEFT JOIN certificates c ON c.rowid =
                     (SELECT max(rowid) FROM certificates WHERE session_id = s.id)
                 {clause} ORDER BY s.id"
            ))
            .map_err(JournalError::from)?;
        let file = fs::File::create(out).map_err(io(out))?;
        let mut sink = Sink::new(format, file);
        let mut rows = 0u64;
        let mut query = stmt
            .query(params_from_iter(values))
            .map_err(JournalError::from)?;
        while let Some(r) = query.next().map_err(JournalError::from)? {
            let row = export_row(r).map_err(JournalError::from)?;
            sink.write(row).map_err(io(out))?;
            rows += 1;
        }
        drop(query);
        let sha256 = sink.finish().map_err(io(out))?;
        drop(stmt);
        tx.commit().map_err(JournalError::from)?;

        let mut manifest = Manifest {
            version: 1,
            format,
            file: out
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            sha256,
            rows,
            filters: filter.clone(),
            chain_head: head,
            station_id: station_id.to_owned(),
            created_at: ts(now),
            public_key: B64.encode(key.public_key()),
            signature: String::new(),
        };
        manifest.signature = B64.encode(key.0.sign(&manifest.signed_bytes()?).as_ref());
        let mpath = manifest_path(out);
        let text = serde_json::to_string_pretty(&manifest)
            .map_err(|e| ExportError::ManifestInvalid(e.to_string()))?;
        fs::write(&mpath, text).map_err(io(&mpath))?;
        self.conn
            .execute(
                "INSERT INTO exports (at, format, path, rows, filters, chain_head, sha256)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                rusqlite::params![
                    manifest.created_at,
                    if format == ExportFormat::Csv {
                        "csv"
                    } else {
                        "jsonl"
                    },
                    out.display().to_string(),
                    rows as i64,
                    serde_json::to_string(filter).unwrap_or_default(),
                    manifest.chain_head.hash,
                    manifest.sha256
                ],
            )
            .map_err(JournalError::from)?;
        Ok(manifest)
    }
}

/// Checks an export against its manifest: the signature, the file's hash and row count, and,
/// when `trusted` is given, that one of those station keys signed it.
pub fn verify_export(file: &Path, trusted: Option<&[Vec<u8>]>) -> Result<Manifest, ExportError> {
    let mpath = manifest_path(file);
    if !mpath.exists() {
        return Err(ExportError::ManifestMissing(mpath.display().to_string()));
    }
    let text = fs::read_to_string(&mpath).map_err(io(&mpath))?;
    let manifest: Manifest =
        serde_json::from_str(&text).map_err(|e| ExportError::ManifestInvalid(e.to_string()))?;
    let public_key = B64
        .decode(&manifest.public_key)
        .map_err(|e| ExportError::ManifestInvalid(e.to_string()))?;
    let signature = B64
        .decode(&manifest.signature)
        .map_err(|e| ExportError::ManifestInvalid(e.to_string()))?;
    UnparsedPublicKey::new(&ED25519, &public_key)
        .verify(&manifest.signed_bytes()?, &signature)
        .map_err(|_| ExportError::BadSignature)?;
    if trusted.is_some_and(|keys| !keys.contains(&public_key)) {
        return Err(ExportError::WrongStation);
    }
    let bytes = fs::read(file).map_err(io(file))?;
    if hex::encode(Sha256::digest(&bytes)) != manifest.sha256 {
        return Err(ExportError::FileModified("SHA-256 differs".into()));
    }
    let lines = bytes.iter().filter(|&&b| b == b'\n').count() as u64;
    let data_rows = match manifest.format {
        ExportFormat::Csv => lines.saturating_sub(u64::from(manifest.rows > 0)),
        ExportFormat::Jsonl => lines,
    };
    // CSV fields may hold newlines; the hash check above is what proves integrity, the count
    // is a sanity check for JSON Lines only.
    if manifest.format == ExportFormat::Jsonl && data_rows != manifest.rows {
        return Err(ExportError::FileModified(format!(
            "{data_rows} rows, manifest says {}",
            manifest.rows
        )));
    }
    Ok(manifest)
}
