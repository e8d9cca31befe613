//! The station prints a unit's label: from the journal's record of a passed session, to the
//! profile's ZPL printer and/or a PDF in its label folder.

use std::path::PathBuf;

use super::Station;
use crate::journal::{Journal, SessionResult};
use crate::print::label::{pdf, send_zpl, zpl, LabelData, LabelProfile};
use crate::print::PrintError;

/// What printing a label did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrintedLabel {
    pub data: LabelData,
    /// The printer the ZPL went to.
    pub printer: Option<String>,
    pub pdf: Option<PathBuf>,
}

impl Station {
    /// The label profile, or the default one (PDF into `labels/`) when station.toml has none.
    pub fn label_profile(&self) -> LabelProfile {
        self.config.label.clone().unwrap_or(LabelProfile {
            printer: None,
            auto: false,
            pdf_dir: Some(PathBuf::from("labels")),
            zpl_template: None,
            size_mm: (62.0, 29.0),
        })
    }

    /// Prints the label of the unit commissioned in `session_id`, which must have passed and
    /// left an active certificate: the label names what the journal holds, nothing else.
    pub fn print_label(
        &self,
        journal: &Journal,
        session_id: i64,
    ) -> Result<PrintedLabel, PrintError> {
        let session = journal
            .session(session_id)?
            .filter(|s| s.result == SessionResult::Pass)
            .ok_or(PrintError::NothingToLabel(session_id))?;
        let cert = journal
            .certificates_for_session(session_id)?
            .into_iter()
            .find(|c| c.status == "active")
            .ok_or(PrintError::NothingToLabel(session_id))?;
        let data = LabelData {
            device_id: session.device_id.unwrap_or(cert.device_id),
            sha256: cert.sha256,
        };
        let profile = self.label_profile();
        let printer = match &profile.printer {
            Some(addr) => {
                send_zpl(addr, &zpl(&data, profile.zpl_template.as_deref())?)?;
                Some(addr.clone())
            }
            None => None,
        };
        let pdf_path = match &profile.pdf_dir {
            Some(dir) => {
                let dir = self.resolve(dir);
                let io = |path: &std::path::Path| {
                    let path = path.display().to_string();
                    move |source| PrintError::Io { path, source }
                };
                std::fs::create_dir_all(&dir).map_err(io(&dir))?;
                let path = dir.join(format!("{}-{}.pdf", safe_name(&data.device_id), session_id));
                std::fs::write(&path, pdf(&data, profile.size_mm)?).map_err(io(&path))?;
                Some(path)
            }
            None => None,
        };
        Ok(PrintedLabel {
            data,
            printer,
            pdf: pdf_path,
        })
    }
}

/// A device id as a file name: anything but letters, digits, `-` and `_` becomes `_`.
fn safe_name(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
