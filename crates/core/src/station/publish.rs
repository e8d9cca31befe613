//! What the station hands out (exports, CRLs, archives, verified heads, the heads a running line
//! seals), each remembered by its chain head in the station's anchor file (see
//! [`crate::journal::anchor`]) and sent to the profile's off-station target (see
//! [`super::anchor_target`]), so that a journal later cut back below what was published is
//! caught by `journal verify`. One entry point per operation: the CLI, the desktop app and the
//! lab broker all publish through here.

use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use super::anchor_target::OffStation;
use super::Station;
use crate::journal::anchor::{Anchor, AnchorLog};
use crate::journal::archive::{archive, Archived};
use crate::journal::batch::BatchSummary;
use crate::journal::chain::incremental::{last_verified, record_verified, verify_since};
use crate::journal::chain::{ChainHead, ChainProblem, VerifyReport};
use crate::journal::export::{ExportError, ExportFormat, Manifest};
use crate::journal::query::SessionFilter;
use crate::journal::{ts, Journal};
use crate::pki::revoke::Crl;
use crate::pki::UnlockedCa;
use crate::print::report::{render_pdf, write_csv, ReportContext};
use crate::print::PrintError;
use crate::station::admin::{self, AdminError, CrlScope, VerifiedCrl};

/// The files of a published batch report.
#[derive(Debug, Clone)]
pub struct PublishedReport {
    pub pdf: PathBuf,
    pub csv: PathBuf,
    pub summary: BatchSummary,
}

/// What [`Station::check_anchors`] found.
#[derive(Debug, Clone)]
pub struct AnchorCheck {
    /// Anchors read (every line of the file).
    pub anchors: usize,
    pub problem: Option<ChainProblem>,
}

impl Station {
    /// `anchors.jsonl` in the station directory.
    pub fn anchors(&self) -> AnchorLog {
        AnchorLog::new(&self.dir.join("anchors.jsonl"))
    }

    /// Checks the journal against every head the station published: its own anchor file, or
    /// `file` (a copy kept off the station).
    pub fn check_anchors(
        &self,
        journal: &Journal,
        file: Option<&Path>,
    ) -> Result<AnchorCheck, ExportError> {
        let log = file.map_or_else(|| self.anchors(), AnchorLog::new);
        let anchors = log.read()?;
        if anchors.is_empty() {
            return Ok(AnchorCheck {
                anchors: 0,
                problem: None,
            });
        }
        // The pin, not the key file: checking needs no passphrase and never makes a key.
        let [key] = &self.trusted_export_keys()?[..] else {
            return Err(ExportError::NoTrustedKey);
        };
        Ok(AnchorCheck {
            anchors: anchors.len(),
            problem: journal.check_anchors(&anchors, key)?,
        })
    }

    /// Signs `head`, appends it to `anchors.jsonl` and sends it to the off-station target;
    /// what happened to the off-station copy is kept for [`Station::take_off_station`].
    fn publish(
        &self,
        kind: &str,
        source: &str,
        head: &ChainHead,
        at: &str,
    ) -> Result<Anchor, ExportError> {
        let key = self.export_key()?;
        let anchor = self.anchors().append(&key, kind, source, head, at)?;
        let sent = match &self.config.anchor_target {
            None => OffStation::NotConfigured,
            Some(target) => target.deliver(&self.dir.join("anchor-outbox.jsonl"), &anchor),
        };
        if let OffStation::Queued { pending, reason } = &sent {
            tracing::warn!(
                pending,
                reason,
                "chain head not sent off the station; queued"
            );
        }
        *self.off_station.lock().unwrap_or_else(|p| p.into_inner()) = Some(sent);
        Ok(anchor)
    }

    /// What happened to the off-station copy of the last head this station published.
    pub fn take_off_station(&self) -> Option<OffStation> {
        self.off_station
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    /// Publishes the journal's current head as `kind` unless it is already the last head
    /// published: what a running line calls after its sessions are sealed. `None`: nothing new.
    pub fn publish_head(
        &self,
        journal: &Journal,
        kind: &str,
        source: &str,
    ) -> Result<Option<Anchor>, ExportError> {
        let Some(head) = crate::journal::chain::head(journal.connection())? else {
            return Ok(None);
        };
        let last = self.anchors().read()?.pop();
        if last.is_some_and(|a| a.seq == head.seq && a.hash == head.hash) {
            return Ok(None);
        }
        self.publish(kind, source, &head, &ts(OffsetDateTime::now_utc()))
            .map(Some)
    }

    /// Exports sessions with a signed manifest and anchors the head it carries.
    pub fn export_journal(
        &self,
        journal: &Journal,
        filter: &SessionFilter,
        format: ExportFormat,
        out: &Path,
        now: OffsetDateTime,
    ) -> Result<Manifest, ExportError> {
        let key = self.export_key()?;
        let manifest = journal.export(filter, format, out, &self.config.station_id, &key, now)?;
        self.publish(
            "export",
            &out.display().to_string(),
            &manifest.chain_head,
            &manifest.created_at,
        )?;
        Ok(manifest)
    }

    /// Writes the batch report of `work_order` to `out` (PDF) and beside it as CSV (same
    /// name, `.csv`), and anchors the chain head it was read at: `journal verify` then names
    /// the report if the journal is later cut back below it.
    pub fn publish_report(
        &self,
        journal: &Journal,
        work_order: &str,
        out: &Path,
        now: OffsetDateTime,
    ) -> Result<PublishedReport, PrintError> {
        let summary = journal.batch_summary(work_order)?;
        if summary.stats.tally.total == 0 {
            return Err(PrintError::NothingToReport(work_order.to_owned()));
        }
        let generated_at = ts(now);
        let ca = self.ca_summary();
        let pdf = render_pdf(
            &summary,
            &ReportContext {
                ca: &ca,
                generated_at: &generated_at,
            },
        );
        let csv_path = out.with_extension("csv");
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |source| PrintError::Io { path, source }
        };
        std::fs::write(out, pdf).map_err(io(out))?;
        let file = std::fs::File::create(&csv_path).map_err(io(&csv_path))?;
        write_csv(&summary, file).map_err(|e| PrintError::Io {
            path: csv_path.display().to_string(),
            source: std::io::Error::other(e),
        })?;
        // Anchored like exports and CRLs, off the station too where the profile says.
        self.publish(
            "report",
            &format!("work order {} {}", work_order, out.display()),
            &summary.chain_head,
            &generated_at,
        )?;
        Ok(PublishedReport {
            pdf: out.to_owned(),
            csv: csv_path,
            summary,
        })
    }

    /// The issuing CA's subject and the start of its SHA-256 fingerprint, for reports.
    fn ca_summary(&self) -> String {
        use sha2::{Digest, Sha256};
        let path = crate::pki::ca::CaPaths::new(&self.ca_dir()).issuing_cert;
        let Ok(pem) = std::fs::read(&path) else {
            return format!("(no issuing certificate at {})", path.display());
        };
        match x509_parser::pem::parse_x509_pem(&pem) {
            Ok((_, block)) => {
                let fp = hex::encode(Sha256::digest(&block.contents));
                let subject = block
                    .parse_x509()
                    .map(|c| c.subject().to_string())
                    .unwrap_or_else(|_| "(unreadable certificate)".into());
                format!("{subject} (SHA-256 {}...)", &fp[..16])
            }
            Err(_) => format!("(unreadable certificate at {})", path.display()),
        }
    }

    /// Signs the CRL into `out` under the profile's CRL validity, after the journal verifies
    /// and still holds every published head, and anchors the head it was signed over.
    pub fn publish_crl(
        &self,
        ca: &UnlockedCa,
        journal: &Journal,
        out: &Path,
        now: OffsetDateTime,
    ) -> Result<Crl, AdminError> {
        self.publish_crl_from(ca, journal, out, now, CrlScope::Local)
            .map(|signed| signed.crl)
    }

    /// [`Station::publish_crl`] with the revocations of `scope`: with
    /// [`CrlScope::Central`], every station's revocations of certificates this CA signed join
    /// the local ones (`ca crl --central`). The local journal is checked first either way.
    pub fn publish_crl_from(
        &self,
        ca: &UnlockedCa,
        journal: &Journal,
        out: &Path,
        now: OffsetDateTime,
        scope: CrlScope<'_>,
    ) -> Result<VerifiedCrl, AdminError> {
        let validity = crate::pki::issue::check_crl_validity(self.config.policy.crl_validity_days)?;
        // A revocation cut off the end of the chain leaves a consistent chain; only the heads
        // published since show it is gone.
        if let Some(p) = self.check_anchors(journal, None)?.problem {
            return Err(AdminError::RegistryUnverified {
                code: p.code,
                message: p.message,
            });
        }
        // The CRL's head is signed into the anchors: no CRL goes out unless it can be.
        self.export_key()?;
        let signed = admin::write_crl(ca, journal, out, now, validity, scope)?;
        let source = match scope {
            CrlScope::Local => format!("#{} {}", signed.crl.number, out.display()),
            CrlScope::Central { .. } => format!(
                "#{} {} (central: {} from other stations)",
                signed.crl.number,
                out.display(),
                signed.from_central
            ),
        };
        self.publish("crl", &source, &signed.chain_head, &ts(now))?;
        Ok(signed)
    }

    /// Archives the journal into `out_dir` and anchors the head the new journal continues
    /// from.
    pub fn archive_journal(
        &self,
        out_dir: &Path,
        now: OffsetDateTime,
    ) -> Result<Archived, ExportError> {
        let key = self.export_key()?;
        if let Some(p) = self.check_anchors(&self.journal()?, None)?.problem {
            return Err(ExportError::ManifestInvalid(format!(
                "the journal does not verify ({}: {}); archive refused",
                p.code, p.message
            )));
        }
        let done = archive(
            &self.journal_path(),
            out_dir,
            &self.config.station_id,
            &key,
            now,
        )?;
        self.publish(
            "archive",
            &out_dir.display().to_string(),
            &done.head,
            &ts(now),
        )?;
        Ok(done)
    }

    /// Verifies the journal's chain: in full or, with `incremental`, from the last verified
    /// head, when the journal's record of it is also the station's last `verified` anchor (an
    /// edited `meta` row cannot skip ahead). Returns the report and the head it started from
    /// (`None`: a full verify).
    pub fn verify_journal(
        &self,
        journal: &Journal,
        incremental: bool,
    ) -> Result<(VerifyReport, Option<ChainHead>), ExportError> {
        let conn = journal.connection();
        if incremental {
            let anchored = self
                .anchors()
                .read()?
                .into_iter()
                .rev()
                .find(|a| a.kind == "verified")
                .map(|a| ChainHead {
                    seq: a.seq,
                    hash: a.hash,
                });
            if let Some(from) = last_verified(conn)?.filter(|v| Some(&v.head) == anchored.as_ref())
            {
                return Ok((verify_since(conn, &from)?, Some(from.head)));
            }
        }
        Ok((journal.verify()?, None))
    }

    /// Records `head` (of a verify that found nothing, anchors included) as verified: in the
    /// journal and as a signed `verified` anchor, where the next incremental verify starts.
    pub fn record_verified(&self, journal: &Journal, head: &ChainHead) -> Result<(), ExportError> {
        let conn = journal.connection();
        if last_verified(conn)?.is_some_and(|v| v.head == *head) {
            return Ok(());
        }
        // Signed first: a locked key records nothing, rather than a head no anchor confirms.
        self.export_key()?;
        record_verified(conn, head)?;
        self.publish(
            "verified",
            "journal verify",
            head,
            &ts(OffsetDateTime::now_utc()),
        )
        .map(drop)
    }
}
