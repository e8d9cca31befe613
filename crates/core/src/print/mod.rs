//! What the station prints: batch reports (PDF and CSV) and unit labels (ZPL for a Zebra-type
//! printer over raw TCP, or PDF for any printer).

pub mod label;
pub mod pdf;
pub mod report;

use thiserror::Error;

use crate::error::Coded;
use crate::journal::export::ExportError;
use crate::journal::JournalError;

/// Errors of reports and labels.
#[derive(Debug, Error)]
pub enum PrintError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error("the journal has no session for work order {0}: nothing to report")]
    NothingToReport(String),
    #[error("cannot write {path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the label printer at {addr} did not take the label; check that it is on and on the network")]
    Printer {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the station profile's label template is not usable: {0}")]
    Template(String),
    #[error("session {0} has no passing unit with a certificate to label")]
    NothingToLabel(i64),
}

impl Coded for PrintError {
    fn code(&self) -> &'static str {
        match self {
            PrintError::Journal(e) => e.code(),
            PrintError::Export(e) => e.code(),
            PrintError::NothingToReport(_) => "print.nothing_to_report",
            PrintError::Io { .. } => "print.io",
            PrintError::Printer { .. } => "print.printer_unreachable",
            PrintError::Template(_) => "print.label_template",
            PrintError::NothingToLabel(_) => "print.nothing_to_label",
        }
    }
}
