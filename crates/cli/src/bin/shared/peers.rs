//! The Python peers' venv for the benches that run a vendor's tool beside the station.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::args::BenchResult;

/// The venv with the vendors' tools, made (once) by the project's script.
pub fn venv() -> BenchResult<PathBuf> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/python-peers.sh");
    let out = Command::new("bash").arg(script).output()?;
    if !out.status.success() {
        return Err(format!(
            "scripts/python-peers.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}
