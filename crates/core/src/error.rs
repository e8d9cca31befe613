//! The shape every error takes when it leaves the core: a stable machine code, a message a
//! technician can act on, and the underlying cause kept for the log.

use serde::Serialize;
use ts_rs::TS;

/// An error as the UI, the CLI report and the journal see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ErrorInfo {
    /// Stable, dotted, lower-case code (`csr.cn_mismatch`); the UI branches on it.
    pub code: String,
    /// Plain-language message for the operator.
    pub message: String,
    /// The underlying cause, for the log and the details drawer.
    pub detail: Option<String>,
}

/// Implemented by every error enum of the core.
pub trait Coded: std::error::Error {
    /// The stable machine code of this error.
    fn code(&self) -> &'static str;

    /// The error as it crosses a boundary (IPC, journal, report).
    fn info(&self) -> ErrorInfo {
        let mut chain = Vec::new();
        let mut source = self.source();
        while let Some(cause) = source {
            chain.push(cause.to_string());
            source = cause.source();
        }
        ErrorInfo {
            code: self.code().to_owned(),
            message: self.to_string(),
            detail: (!chain.is_empty()).then(|| chain.join(": ")),
        }
    }
}
