//! Commissioner's desktop shell: thin Tauri commands over `commissioner_core`, the app state,
//! and the progress channel. The web UI lives in `ui/` and is embedded from `ui/dist`.

pub mod commands;
pub mod error;
pub mod state;

use tauri::{Builder, Runtime};

pub use error::IpcError;
pub use state::AppState;

/// Registers the state and the commands on `builder`. Used by [`run`] with the real runtime
/// and by tests with `tauri::test::mock_builder()`.
pub fn run_app<R: Runtime>(builder: Builder<R>, state: AppState) -> Builder<R> {
    builder
        .manage(state)
        .invoke_handler(tauri::generate_handler![
            commands::list_targets,
            commands::commission
        ])
}

/// Starts the desktop app. Logs go to stderr (`RUST_LOG` filters them).
pub fn run() {
    init_tracing();
    let state = AppState::from_env();
    tracing::info!(?state, "starting Commissioner");
    if let Err(e) = run_app(Builder::default(), state).run(tauri::generate_context!()) {
        tracing::error!(error = %e, "the desktop app failed");
        eprintln!("commissioner-app: {e}");
        std::process::exit(1);
    }
}

fn init_tracing() {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,tao=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use serde_json::Value;
    use tauri::ipc::{CallbackFn, InvokeBody};
    use tauri::test::{get_ipc_response, mock_builder, mock_context, noop_assets, INVOKE_KEY};
    use tauri::webview::InvokeRequest;
    use tauri::WebviewWindowBuilder;

    use super::*;

    fn invoke(
        webview: &tauri::WebviewWindow<tauri::test::MockRuntime>,
        cmd: &str,
        body: Value,
    ) -> Result<Value, Value> {
        get_ipc_response(
            webview,
            InvokeRequest {
                cmd: cmd.into(),
                callback: CallbackFn(0),
                error: CallbackFn(1),
                url: "tauri://localhost".parse().expect("static url"),
                body: InvokeBody::Json(body),
                headers: Default::default(),
                invoke_key: INVOKE_KEY.to_string(),
            },
        )
        .map(|b| b.deserialize::<Value>().expect("json response"))
    }

    fn app(state: AppState) -> tauri::App<tauri::test::MockRuntime> {
        run_app(mock_builder(), state)
            .build(mock_context(noop_assets()))
            .expect("mock app builds")
    }

    #[test]
    fn list_targets_offers_the_simulated_unit() {
        let app = app(AppState {
            station_dir: PathBuf::from("/nonexistent"),
            passphrase: None,
            operator: "test".into(),
        });
        let webview = WebviewWindowBuilder::new(&app, "main", Default::default())
            .build()
            .expect("mock window");
        let targets = invoke(&webview, "list_targets", Value::Object(Default::default()))
            .expect("list_targets succeeds");
        let sim = targets
            .as_array()
            .expect("an array of ports")
            .iter()
            .find(|p| p["path"] == "sim")
            .expect("the simulated unit is listed");
        assert_eq!(sim["kind"], "simulated");
        assert!(sim.get("serialNumber").is_some(), "fields are camelCase");
    }

    #[test]
    fn commission_without_a_station_is_a_coded_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let app = app(AppState {
            station_dir: dir.path().join("no-station"),
            passphrase: Some("irrelevant".into()),
            operator: "test".into(),
        });
        let webview = WebviewWindowBuilder::new(&app, "main", Default::default())
            .build()
            .expect("mock window");
        // A channel id the mock webview never listens on; the command fails before using it.
        let body = serde_json::json!({ "target": "sim", "onProgress": "__CHANNEL__:1" });
        let err = invoke(&webview, "commission", body).expect_err("no station");
        assert_eq!(err["code"], "station.missing");
        assert!(err["message"].is_string());
    }

    #[test]
    fn commission_without_a_passphrase_says_the_ca_is_locked() {
        let dir = tempfile::tempdir().expect("temp dir");
        let station_dir = dir.path().join("station");
        commissioner_core::station::init_lab_station(&station_dir, "pass phrase")
            .expect("lab station");
        let app = app(AppState {
            station_dir,
            passphrase: None,
            operator: "test".into(),
        });
        let webview = WebviewWindowBuilder::new(&app, "main", Default::default())
            .build()
            .expect("mock window");
        let body = serde_json::json!({ "target": "sim", "onProgress": "__CHANNEL__:2" });
        let err = invoke(&webview, "commission", body).expect_err("CA locked");
        assert_eq!(err["code"], "ca.locked");
    }
}
