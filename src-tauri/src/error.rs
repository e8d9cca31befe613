//! The one error shape that crosses IPC: `{code, message, detail}`. The UI branches on `code`.

use commissioner_core::error::{Coded, ErrorInfo};
use commissioner_core::station::PASSPHRASE_ENV;
use commissioner_devsim::SimError;
use serde::Serialize;
use ts_rs::TS;

/// Codes the shell itself produces (the core's are in `ui/src/lib/generated/error-codes.json`).
/// A test below checks the sources use no other; the UI tests check each has wording.
pub const APP_CODES: &[&str] = &[
    "app.no_dialog",
    "app.task_failed",
    "broker.invalid",
    "ca.locked",
    "ca.unlock_throttled",
    "ca.unreadable",
    "journal.no_session",
    "lab.not_a_lab_station",
    "line.busy",
    "line.unknown_port",
    "operator.sign_in_required",
    "setup.admin_id",
    "setup.organization",
    "setup.weak_passphrase",
    "sim.start_failed",
    "sim.unknown_fault",
    "sim.unknown_kind",
    "station.exists",
];

/// An error as the web UI receives it when a command is rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS, thiserror::Error)]
#[serde(rename_all = "camelCase")]
#[error("[{code}] {message}")]
pub struct IpcError {
    /// Stable, dotted, lower-case code, same namespace as the core's.
    pub code: String,
    /// Plain-language message for the operator.
    pub message: String,
    /// The underlying cause, for the log and the details drawer.
    pub detail: Option<String>,
}

impl IpcError {
    pub fn new(code: &str, message: impl Into<String>, detail: Option<String>) -> Self {
        Self {
            code: code.to_owned(),
            message: message.into(),
            detail,
        }
    }

    /// The station was started without the CA passphrase, so nothing can be signed.
    pub fn ca_locked() -> Self {
        Self::new(
            "ca.locked",
            "the station's CA is locked: start the station with its CA passphrase",
            Some(format!("{PASSPHRASE_ENV} is not set")),
        )
    }

    /// The station has operators and nobody is signed in.
    pub fn sign_in_required() -> Self {
        Self::new(
            "operator.sign_in_required",
            "sign in first: this station records who does what",
            None,
        )
    }

    /// A run is already going on this port.
    pub fn busy(target: &str) -> Self {
        Self::new(
            "line.busy",
            format!("{target} is already being commissioned"),
            None,
        )
    }

    /// Input the UI should have caught (an unknown fault name, an empty field).
    pub fn invalid(code: &str, message: impl Into<String>) -> Self {
        Self::new(code, message, None)
    }

    /// The blocking commissioning task died (a panic in the pipeline or the simulator).
    pub fn task_failed(detail: impl ToString) -> Self {
        Self::new(
            "app.task_failed",
            "commissioning stopped unexpectedly; see the station log",
            Some(detail.to_string()),
        )
    }
}

impl From<ErrorInfo> for IpcError {
    fn from(info: ErrorInfo) -> Self {
        Self {
            code: info.code,
            message: info.message,
            detail: info.detail,
        }
    }
}

// A blanket `impl<E: Coded>` would collide with `From<ErrorInfo>` (both foreign to this
// crate), so the core's error enums are listed.
macro_rules! from_coded {
    ($($t:ty),* $(,)?) => {$(
        impl From<$t> for IpcError {
            fn from(e: $t) -> Self {
                tracing::warn!(error = %e, code = e.code(), "command failed");
                e.info().into()
            }
        }
    )*};
}

use commissioner_core::{device, journal, lab, mqtt, operator, pki, station};
from_coded!(
    station::StationError,
    pki::PkiError,
    station::admin::AdminError,
    device::DeviceError,
    journal::JournalError,
    journal::export::ExportError,
    operator::OperatorError,
    mqtt::MqttError,
    mqtt::audit::session::AuditError,
    lab::LabError,
    commissioner_core::print::PrintError,
    commissioner_core::central::CentralError,
);

impl IpcError {
    /// A simulated unit that could not start.
    pub fn sim(e: SimError) -> Self {
        tracing::warn!(error = %e, "simulator failed to start");
        let detail = std::error::Error::source(&e).map(ToString::to_string);
        Self::new(
            "sim.start_failed",
            format!("cannot start the simulated unit: {e}"),
            detail,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_as_code_message_detail() {
        let e = IpcError::ca_locked();
        let v = serde_json_value(&e);
        assert_eq!(v["code"], "ca.locked");
        assert!(v["message"]
            .as_str()
            .is_some_and(|m| m.contains("passphrase")));
        assert_eq!(v["detail"], "COMMISSIONER_CA_PASSPHRASE is not set");
    }

    #[test]
    fn keeps_the_core_code() {
        let e: IpcError =
            commissioner_core::station::StationError::Missing("/nowhere".into()).into();
        assert_eq!(e.code, "station.missing");
    }

    /// Every code given to `IpcError::new` or `IpcError::invalid` in the shell's sources is listed
    /// in `APP_CODES` (or is a core code).
    #[test]
    fn every_code_the_shell_makes_is_listed() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = vec![src.join("error.rs"), src.join("dto.rs")];
        for dir in [&src, &src.join("commands")] {
            for e in std::fs::read_dir(dir).expect("src dir").flatten() {
                if e.path().extension().is_some_and(|x| x == "rs") {
                    files.push(e.path());
                }
            }
        }
        for file in files {
            let full = std::fs::read_to_string(&file).expect("source");
            // Tests may build codes of their own to check the error shape.
            let text = full.split("#[cfg(test)]").next().unwrap_or_default();
            for call in ["IpcError::new(", "IpcError::invalid(", "Self::new("] {
                for (at, _) in text.match_indices(call) {
                    let rest = text[at + call.len()..].trim_start();
                    let Some(lit) = rest.strip_prefix('"') else {
                        continue;
                    };
                    let code = &lit[..lit.find('"').expect("closing quote")];
                    assert!(
                        APP_CODES.contains(&code),
                        "{}: code {code:?} is not in APP_CODES",
                        file.display()
                    );
                }
            }
        }
    }

    fn serde_json_value(e: &IpcError) -> serde_json::Value {
        serde_json::to_value(e).expect("IpcError serialises")
    }
}
