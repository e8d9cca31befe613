//! The commands the web UI invokes, by screen. Each is a few lines over `commissioner_core`;
//! anything slow runs on a blocking thread so the window never freezes.

pub mod audit;
pub mod journal;
pub mod line;
pub mod settings;
pub mod setup;
pub mod sync;
pub mod yields;

use crate::error::IpcError;

/// Runs blocking work (SQLite, serial, key generation) off the async runtime's workers.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, IpcError> + Send + 'static,
) -> Result<T, IpcError> {
    tauri::async_runtime::spawn_blocking(work)
        .await
        .map_err(IpcError::task_failed)?
}
