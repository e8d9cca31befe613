//! Chain heads the station has published, remembered outside the journal file.
//!
//! A hash chain shows edits and gaps, but not that its newest entries were cut off: delete the
//! last sessions with their chain entries and what is left is a shorter, consistent chain.
//! Every head the station hands out (an export's manifest, a CRL, an archive) is therefore
//! appended to `anchors.jsonl` in the station directory, one line per head, each signed with
//! the station's export-signing key; `journal verify` checks that every one of them is still
//! in the chain. A copy of the file kept off the station (`journal verify --anchors FILE`)
//! also catches a station whose anchor file was cut back along with its journal.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use aws_lc_rs::signature::{UnparsedPublicKey, ED25519};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::chain::{ChainHead, ChainProblem};
use super::export::{ExportError, StationKey};
use super::JournalError;

/// One published head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Anchor {
    /// `export`, `crl`, `archive`, `verified` (a verify that found nothing) or `seal` (the
    /// head a running line published after its sessions were sealed).
    pub kind: String,
    /// What carried it: the export's path, the CRL's number and path, the archive's directory.
    pub source: String,
    pub seq: i64,
    pub hash: String,
    pub at: String,
    /// Ed25519 over the line without this field, base64.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub signature: String,
}

impl Anchor {
    fn signed_bytes(&self) -> Result<Vec<u8>, ExportError> {
        let mut unsigned = self.clone();
        unsigned.signature.clear();
        serde_json::to_vec(&unsigned).map_err(|e| ExportError::ManifestInvalid(e.to_string()))
    }

    /// A head signed with the station's key.
    pub fn signed(
        key: &StationKey,
        kind: &str,
        source: &str,
        head: &ChainHead,
        at: &str,
    ) -> Result<Self, ExportError> {
        let mut anchor = Anchor {
            kind: kind.to_owned(),
            source: source.to_owned(),
            seq: head.seq,
            hash: head.hash.clone(),
            at: at.to_owned(),
            signature: String::new(),
        };
        anchor.signature = B64.encode(key.sign(&anchor.signed_bytes()?));
        Ok(anchor)
    }

    /// The anchor as one line of an anchor file (JSON, newline-terminated).
    pub fn line(&self) -> Result<Vec<u8>, ExportError> {
        let mut line =
            serde_json::to_vec(self).map_err(|e| ExportError::ManifestInvalid(e.to_string()))?;
        line.push(b'\n');
        Ok(line)
    }

    /// Where it came from, as `journal verify` names it.
    pub fn describe(&self) -> String {
        format!(
            "{} {} (head {} at entry {}, {})",
            self.kind, self.source, self.hash, self.seq, self.at
        )
    }
}

/// An anchor file.
#[derive(Debug, Clone)]
pub struct AnchorLog {
    pub path: PathBuf,
}

impl AnchorLog {
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
        }
    }

    /// Appends a head, signed, and syncs it before returning: what was published is
    /// remembered even across a power cut right after. Returns the signed line.
    pub fn append(
        &self,
        key: &StationKey,
        kind: &str,
        source: &str,
        head: &ChainHead,
        at: &str,
    ) -> Result<Anchor, ExportError> {
        let anchor = Anchor::signed(key, kind, source, head, at)?;
        self.append_signed(&anchor)?;
        Ok(anchor)
    }

    /// Appends an anchor signed elsewhere (a copy of the station's line).
    pub fn append_signed(&self, anchor: &Anchor) -> Result<(), ExportError> {
        use std::os::unix::fs::OpenOptionsExt;
        let line = anchor.line()?;
        let io = |source| ExportError::Io {
            path: self.path.display().to_string(),
            source,
        };
        let mut file = fs::OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&self.path)
            .map_err(io)?;
        file.write_all(&line)
            .and_then(|()| file.sync_all())
            .map_err(io)
    }

    /// Replaces the whole file with `anchors` (atomically); no anchors removes it.
    pub fn replace(&self, anchors: &[Anchor]) -> Result<(), ExportError> {
        let io = |source| ExportError::Io {
            path: self.path.display().to_string(),
            source,
        };
        if anchors.is_empty() {
            return match fs::remove_file(&self.path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(e)),
                _ => Ok(()),
            };
        }
        let mut text = Vec::new();
        for a in anchors {
            text.extend(a.line()?);
        }
        crate::secure_fs::write(&self.path, &text).map_err(io)
    }

    /// Every line, in order; no file is no anchors. A line that does not parse is kept as an
    /// anchor without a signature, so that the check reports it instead of skipping it.
    pub fn read(&self) -> Result<Vec<Anchor>, ExportError> {
        let text = match fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(ExportError::Io {
                    path: self.path.display().to_string(),
                    source,
                })
            }
        };
        Ok(text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|_| Anchor {
                    kind: "unreadable".into(),
                    source: l.chars().take(80).collect(),
                    seq: 0,
                    hash: String::new(),
                    at: String::new(),
                    signature: String::new(),
                })
            })
            .collect())
    }
}

/// The first anchor the journal no longer contains, or whose line is not the station's
/// (signature by `public_key`). Anchors from before the last archive belong to the archived
/// journal: the archive's own anchor is checked against the head this journal continues from.
pub fn check(
    conn: &Connection,
    anchors: &[Anchor],
    public_key: &[u8],
) -> Result<Option<ChainProblem>, JournalError> {
    let key = UnparsedPublicKey::new(&ED25519, public_key);
    for (i, a) in anchors.iter().enumerate() {
        let signed = a.signed_bytes().ok();
        let signature = B64.decode(&a.signature).ok();
        let genuine = signed
            .zip(signature)
            .is_some_and(|(m, s)| key.verify(&m, &s).is_ok());
        if !genuine {
            return Ok(Some(ChainProblem {
                code: "chain.anchor_invalid",
                seq: None,
                message: format!(
                    "line {} of the anchor file is not signed by this station's key: {}",
                    i + 1,
                    a.describe()
                ),
            }));
        }
    }
    let current = anchors
        .iter()
        .rposition(|a| a.kind == "archive")
        .unwrap_or(0);
    let mut entry = conn.prepare("SELECT hash FROM chain WHERE seq = ?1")?;
    let genesis: Option<String> = conn
        .query_row(
            "SELECT ref FROM chain WHERE kind = 'genesis' ORDER BY seq LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()?;
    for a in &anchors[current..] {
        let held = if a.kind == "archive" {
            genesis.as_deref() == Some(a.hash.as_str())
        } else {
            let found: Option<String> = entry.query_row(params![a.seq], |r| r.get(0)).optional()?;
            found.as_deref() == Some(a.hash.as_str())
        };
        if !held {
            return Ok(Some(ChainProblem {
                code: "chain.anchor_missing",
                seq: Some(a.seq),
                message: format!(
                    "the journal no longer contains the chain head published in {}: its newest entries were cut off or the chain was rewritten",
                    a.describe()
                ),
            }));
        }
    }
    Ok(None)
}
