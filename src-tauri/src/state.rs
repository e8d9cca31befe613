//! What the app knows for its whole life: where the station is and how to unlock its CA.

use std::fmt;
use std::path::PathBuf;

use commissioner_core::station::{passphrase_from_env, Station};

/// Operator recorded in the journal when the environment names none.
const DEFAULT_OPERATOR: &str = "operator";

/// Shared state of the desktop app, managed by Tauri.
pub struct AppState {
    /// The station directory (`$COMMISSIONER_STATION` or the platform default).
    pub station_dir: PathBuf,
    /// The CA passphrase, read once at start-up; `None` means the CA stays locked.
    pub passphrase: Option<String>,
    /// Who is commissioning, as the journal records it.
    pub operator: String,
}

impl AppState {
    /// Reads the station, passphrase and operator from the environment.
    pub fn from_env() -> Self {
        let operator = std::env::var("COMMISSIONER_OPERATOR")
            .or_else(|_| std::env::var("USER"))
            .ok()
            .filter(|o| !o.is_empty())
            .unwrap_or_else(|| DEFAULT_OPERATOR.to_owned());
        Self {
            station_dir: Station::dir_from_env(),
            passphrase: passphrase_from_env(),
            operator,
        }
    }
}

impl fmt::Debug for AppState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppState")
            .field("station_dir", &self.station_dir)
            .field(
                "passphrase",
                &self.passphrase.as_ref().map(|_| "<redacted>"),
            )
            .field("operator", &self.operator)
            .finish()
    }
}
