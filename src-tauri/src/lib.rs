//! Commissioner's desktop shell: thin Tauri commands over `commissioner_core`. The web UI lives
//! in `ui/` and is embedded from `ui/dist`.
//!
//! Module map:
//! - [`commands`]: the `#[tauri::command]`s, by screen (setup, line, journal, audit, settings)
//!   and the status bar (sync).
//! - [`state`]: what the app holds for its life (station, unlocked CA, signed-in operator,
//!   simulated units, lab broker, runs that can be cancelled).
//! - [`dto`]: the shapes only the desktop needs (station status, the broker form).
//! - [`error`]: the one error shape that crosses IPC, `{code, message, detail}`.
//! - [`logs`]: tracing to a rolling file and to the UI's live console.
//! - [`dialog`]: native file dialogs, with a fixed-directory seam for the end-to-end tests.
//! - [`metrics`]: start-up time and memory, for the benchmark.
//! - [`bindings`]: the generated TypeScript mirror of the IPC types, checked for drift.

pub mod bindings;
pub mod commands;
pub mod dialog;
pub mod dto;
pub mod error;
pub mod logs;
pub mod metrics;
pub mod state;

use std::sync::Arc;

use tauri::{Builder, Manager, Runtime};

pub use error::IpcError;
pub use state::AppState;

/// Registers the state, the dialog plugin and the commands on `builder`. Used by [`run`] with
/// the real runtime and by tests with `tauri::test::mock_builder()`.
pub fn run_app<R: Runtime>(builder: Builder<R>, state: AppState) -> Builder<R> {
    use commands::{audit, journal, line, settings, setup, sync, yields};
    builder
        .plugin(tauri_plugin_dialog::init())
        .setup(|app| {
            let state = app.state::<AppState>();
            state.set_chooser(Arc::new(dialog::NativeDialog(app.handle().clone())));
            Ok(())
        })
        .manage(state)
        .invoke_handler(tauri::generate_handler![
            setup::station_status,
            setup::setup_station,
            setup::start_lab_broker,
            setup::save_broker_profile,
            setup::test_broker,
            setup::unlock_ca,
            setup::login,
            setup::logout,
            setup::add_operator,
            setup::disable_operator,
            setup::change_pin,
            line::list_targets,
            line::sim_faults,
            line::sim_kinds,
            line::start_simulated_unit,
            line::stop_simulated_unit,
            line::commission,
            line::cancel_commission,
            journal::query_sessions,
            journal::session_details,
            journal::export_journal,
            journal::verify_journal,
            journal::verify_export,
            audit::run_audit,
            settings::settings,
            settings::set_host_keys,
            settings::export_crl,
            settings::recent_logs,
            settings::subscribe_logs,
            settings::ui_ready,
            settings::app_metrics,
            yields::yield_stats,
            yields::line_strip,
            yields::batch_report,
            yields::print_label,
            sync::sync_status,
        ])
}

/// Starts the desktop app. Logs go to stderr, to `<station>/logs/` and to the log console.
pub fn run() {
    commissioner_core::secure_fs::restrict_umask();
    let hub = logs::LogHub::default();
    // First, before any thread: takes the CA passphrase out of the environment.
    let state = AppState::from_env(hub.clone());
    let _flush = logs::init(&state.station_dir.join("logs"), hub);
    tracing::info!(?state, "starting Commissioner");
    let app = match run_app(Builder::default(), state).build(tauri::generate_context!()) {
        Ok(app) => app,
        Err(e) => {
            tracing::error!(error = %e, "the desktop app failed to start");
            eprintln!("commissioner-app: {e}");
            std::process::exit(1);
        }
    };
    app.run(|handle, event| {
        if let tauri::RunEvent::Exit = event {
            // A lab mosquitto must not outlive the window that started it.
            handle.state::<AppState>().shut_down();
        }
    });
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

    fn state(dir: PathBuf, passphrase: Option<&str>) -> AppState {
        AppState::new(dir, passphrase.map(Into::into), logs::LogHub::default())
    }

    fn window(
        app: &tauri::App<tauri::test::MockRuntime>,
    ) -> tauri::WebviewWindow<tauri::test::MockRuntime> {
        WebviewWindowBuilder::new(app, "main", Default::default())
            .build()
            .expect("mock window")
    }

    /// A lab station (passphrase "pass phrase") in a temp dir, which lives as long as the
    /// first value.
    fn lab_station() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("temp dir");
        let station_dir = dir.path().join("station");
        commissioner_core::station::init_lab_station(&station_dir, "pass phrase")
            .expect("lab station");
        (dir, station_dir)
    }

    fn no_args() -> Value {
        Value::Object(Default::default())
    }

    #[test]
    fn a_started_simulated_unit_is_listed_as_a_target() {
        let (_dir, station_dir) = lab_station();
        let app = app(state(station_dir, Some("pass phrase")));
        let webview = window(&app);
        let started = invoke(
            &webview,
            "start_simulated_unit",
            serde_json::json!({ "fault": null }),
        )
        .expect("simulated unit starts");
        let targets = invoke(&webview, "list_targets", no_args()).expect("list_targets succeeds");
        let sim = targets
            .as_array()
            .expect("an array of ports")
            .iter()
            .find(|p| p["path"] == started["path"])
            .expect("the simulated unit is listed");
        assert_eq!(sim["kind"], "simulated");
        assert!(
            sim["serialNumber"]
                .as_str()
                .is_some_and(|s| s.starts_with("SIM-")),
            "camelCase device id"
        );
        let bad = invoke(
            &webview,
            "start_simulated_unit",
            serde_json::json!({ "fault": "gremlins" }),
        )
        .expect_err("unknown fault");
        assert_eq!(bad["code"], "sim.unknown_fault");

        // Units of the other families, each listed with the family the station will speak.
        for (kind, family) in [
            ("nrf91-at", "nrf91-at"),
            ("zephyr-smp-stock", "zephyr-smp"),
            ("zephyr-smp-group", "zephyr-smp"),
        ] {
            let started = invoke(
                &webview,
                "start_simulated_unit",
                serde_json::json!({ "fault": null, "kind": kind }),
            )
            .expect("simulated unit of another family starts");
            let targets = invoke(&webview, "list_targets", no_args()).expect("list_targets");
            let listed = targets
                .as_array()
                .expect("an array of ports")
                .iter()
                .find(|p| p["path"] == started["path"])
                .cloned()
                .expect("listed");
            assert_eq!(listed["family"], family, "{kind}");
        }
        let bad = invoke(
            &webview,
            "start_simulated_unit",
            serde_json::json!({ "fault": null, "kind": "nrf53" }),
        )
        .expect_err("unknown kind");
        assert_eq!(bad["code"], "sim.unknown_kind");
        let bad = invoke(
            &webview,
            "start_simulated_unit",
            serde_json::json!({ "fault": "timeout", "kind": "nrf91-at" }),
        )
        .expect_err("faults on reference units only");
        assert_eq!(bad["code"], "sim.unknown_fault");

        // A path no port listing named, chosen by a hand-made IPC call: refused.
        let body = serde_json::json!({ "target": "/dev/null", "onProgress": "__CHANNEL__:3" });
        let err = invoke(&webview, "commission", body).expect_err("not a listed port");
        assert_eq!(err["code"], "line.unknown_port");
    }

    #[test]
    fn simulated_units_run_only_on_a_lab_station() {
        let dir = tempfile::tempdir().expect("temp dir");
        let station_dir = dir.path().join("station");
        let mut station =
            commissioner_core::station::init_lab_station(&station_dir, "pass").expect("station");
        station.config.lab = false;
        station.save().expect("save");
        let app = app(state(station_dir, Some("pass")));
        let webview = window(&app);
        let err = invoke(
            &webview,
            "start_simulated_unit",
            serde_json::json!({ "fault": null }),
        )
        .expect_err("production station");
        assert_eq!(err["code"], "lab.not_a_lab_station");
    }

    #[test]
    fn commission_without_a_station_is_a_coded_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let app = app(state(dir.path().join("no-station"), Some("irrelevant")));
        let webview = window(&app);
        // A channel id the mock webview never listens on; the command fails before using it.
        let body = serde_json::json!({ "target": "/dev/null", "onProgress": "__CHANNEL__:1" });
        let err = invoke(&webview, "commission", body).expect_err("no station");
        assert_eq!(err["code"], "station.missing");
        assert!(err["message"].is_string());
    }

    #[test]
    fn commission_without_a_passphrase_says_the_ca_is_locked() {
        let (_dir, station_dir) = lab_station();
        let app = app(state(station_dir, None));
        let webview = window(&app);
        let status = invoke(&webview, "station_status", no_args()).expect("status");
        assert_eq!(status["configured"], true);
        assert_eq!(status["hasCa"], true);
        assert_eq!(status["caUnlocked"], false);
        let body = serde_json::json!({ "target": "/dev/null", "onProgress": "__CHANNEL__:2" });
        let err = invoke(&webview, "commission", body).expect_err("CA locked");
        assert_eq!(err["code"], "ca.locked");
        let wrong = invoke(
            &webview,
            "unlock_ca",
            serde_json::json!({ "passphrase": "nope" }),
        )
        .expect_err("wrong passphrase");
        assert_eq!(wrong["code"], "ca.bad_passphrase");
        let status = invoke(
            &webview,
            "unlock_ca",
            serde_json::json!({ "passphrase": "pass phrase" }),
        )
        .expect("right passphrase");
        assert_eq!(status["caUnlocked"], true);
    }

    /// A clock the test moves.
    struct TestClock(std::sync::Mutex<time::OffsetDateTime>);

    impl commissioner_core::clock::Clock for TestClock {
        fn now(&self) -> time::OffsetDateTime {
            *self.0.lock().unwrap_or_else(|p| p.into_inner())
        }
    }

    #[test]
    fn an_idle_station_signs_out_and_locks_its_ca() {
        let (_dir, station_dir) = lab_station();
        let clock = std::sync::Arc::new(TestClock(std::sync::Mutex::new(
            time::OffsetDateTime::now_utc(),
        )));
        let state = AppState::with_clock(station_dir, None, logs::LogHub::default(), clock.clone());
        state.sign_in(Some(commissioner_core::operator::Operator {
            id: "ada".into(),
            role: commissioner_core::operator::Role::Admin,
        }));
        let app = app(state);
        let webview = window(&app);
        invoke(
            &webview,
            "unlock_ca",
            serde_json::json!({ "passphrase": "pass phrase" }),
        )
        .expect("unlock");
        let advance = |minutes: i64| {
            let mut now = clock.0.lock().unwrap_or_else(|p| p.into_inner());
            *now += time::Duration::minutes(minutes);
        };
        advance(14);
        let status = invoke(&webview, "station_status", no_args()).expect("status");
        assert_eq!(status["caUnlocked"], true);
        assert_eq!(status["operator"]["id"], "ada");
        // The status bar's sync indicator polls too; that is not activity.
        invoke(&webview, "sync_status", no_args()).expect("sync status");
        // Screens that refresh themselves are not someone at the station.
        let stats = serde_json::json!({ "request": { "filter": {}, "bucket": "hour" } });
        invoke(&webview, "yield_stats", stats).expect("dashboard");
        let strip = invoke(
            &webview,
            "line_strip",
            serde_json::json!({ "utcOffsetMinutes": 0 }),
        )
        .expect("strip");
        assert_eq!(strip["tally"]["total"], 0);
        // Fifteen minutes without a command (the profile's default): signed out, CA locked.
        advance(2);
        let status = invoke(&webview, "station_status", no_args()).expect("status");
        assert_eq!(status["caUnlocked"], false);
        assert!(status["operator"].is_null(), "{status}");
    }

    #[test]
    fn guessing_the_ca_passphrase_is_slowed_down() {
        let (_dir, station_dir) = lab_station();
        // Time pinned: the 2 s wait must not pass between two tries on a busy machine.
        let clock = std::sync::Arc::new(TestClock(std::sync::Mutex::new(
            time::OffsetDateTime::now_utc(),
        )));
        let app = app(AppState::with_clock(
            station_dir,
            None,
            logs::LogHub::default(),
            clock,
        ));
        let webview = window(&app);
        let try_unlock = |p: &str| {
            invoke(
                &webview,
                "unlock_ca",
                serde_json::json!({ "passphrase": p }),
            )
        };
        for _ in 0..crate::state::FREE_UNLOCK_TRIES {
            let err = try_unlock("guess").expect_err("wrong");
            assert_eq!(err["code"], "ca.bad_passphrase");
        }
        // The next try waits, even with the right passphrase: a guesser cannot tell.
        let err = try_unlock("pass phrase").expect_err("throttled");
        assert_eq!(err["code"], "ca.unlock_throttled");
    }

    #[test]
    fn setup_creates_the_station_its_ca_and_a_signed_in_admin() {
        let dir = tempfile::tempdir().expect("temp dir");
        let app = app(state(dir.path().join("station"), None));
        let webview = window(&app);
        let status = invoke(&webview, "station_status", no_args()).expect("status");
        assert_eq!(status["configured"], false);

        let weak = serde_json::json!({ "request": {
            "organization": "ACME", "passphrase": "short", "ca": { "kind": "create" },
            "lab": true, "admin": { "id": "alice", "pin": "246802" } } });
        let err = invoke(&webview, "setup_station", weak).expect_err("weak passphrase");
        assert_eq!(err["code"], "setup.weak_passphrase");
        let status = invoke(&webview, "station_status", no_args()).expect("status");
        assert_eq!(
            status["configured"], false,
            "nothing created by a refused setup"
        );

        let request = serde_json::json!({ "request": {
            "organization": "ACME", "passphrase": "long enough passphrase", "ca": { "kind": "create" },
            "lab": true, "admin": { "id": "alice", "pin": "246802" } } });
        let status = invoke(&webview, "setup_station", request).expect("setup");
        assert_eq!(status["configured"], true);
        assert_eq!(status["hasCa"], true);
        assert_eq!(status["caUnlocked"], true);
        assert_eq!(status["operatorsEnforced"], true);
        assert_eq!(status["operator"]["id"], "alice");
        assert_eq!(status["operator"]["role"], "admin");

        let settings = invoke(&webview, "settings", no_args()).expect("settings");
        assert!(settings["ca"]["subject"]
            .as_str()
            .is_some_and(|s| s.contains("ACME")));

        invoke(&webview, "logout", no_args()).expect("logout");
        let body = serde_json::json!({ "target": "/dev/null", "onProgress": "__CHANNEL__:3" });
        let err = invoke(&webview, "commission", body).expect_err("signed out");
        assert_eq!(err["code"], "operator.sign_in_required");
        let bad = invoke(
            &webview,
            "login",
            serde_json::json!({ "operator": "alice", "pin": "000000" }),
        )
        .expect_err("wrong PIN");
        assert!(
            bad["code"]
                .as_str()
                .is_some_and(|c| c.starts_with("operator.")),
            "{bad}"
        );
        let op = invoke(
            &webview,
            "login",
            serde_json::json!({ "operator": "alice", "pin": "246802" }),
        )
        .expect("right PIN");
        assert_eq!(op["role"], "admin");
    }

    /// Roles hold at the IPC boundary, not only in the tab list: what the UI hides is refused
    /// to a hand-made call too.
    #[test]
    fn each_role_is_refused_what_its_job_does_not_need() {
        use commissioner_core::journal::NewSession;

        let dir = tempfile::tempdir().expect("temp dir");
        let station_dir = dir.path().join("station");
        let app = app(state(station_dir.clone(), None));
        let webview = window(&app);
        let root_key = dir.path().join("offline/root.key.pem");
        std::fs::create_dir_all(root_key.parent().expect("parent")).expect("mkdir");
        let ca = |root_key_out: Option<&std::path::Path>| {
            serde_json::json!({ "kind": "create", "rootKeyOut": root_key_out,
                                "rootPassphrase": "another long passphrase" })
        };
        // Issue 18: the wizard used to leave a new production station's root key in ca/,
        // under the passphrase typed at the line every day.
        let request = serde_json::json!({ "request": {
            "organization": "ACME", "passphrase": "long enough passphrase", "ca": ca(None),
            "lab": false, "admin": { "id": "alice", "pin": "246802" } } });
        let err = invoke(&webview, "setup_station", request).expect_err("root key kept");
        assert_eq!(err["code"], "ca.root_key_out_required");
        assert!(!station_dir.join("station.toml").exists());
        let request = serde_json::json!({ "request": {
            "organization": "ACME", "passphrase": "long enough passphrase",
            "ca": ca(Some(&root_key)),
            "lab": false, "admin": { "id": "alice", "pin": "246802" } } });
        invoke(&webview, "setup_station", request).expect("setup");
        assert!(
            root_key.exists(),
            "the root key is written where the admin chose"
        );
        assert!(!station_dir.join("ca/root.key.pem").exists());
        assert!(station_dir.join("ca/issuing.key.pem").exists());
        for (id, role) in [("tom", "technician"), ("quinn", "qa")] {
            let body = serde_json::json!({ "id": id, "role": role, "pin": "135799" });
            invoke(&webview, "add_operator", body).expect("operator added");
        }
        let journal = commissioner_core::station::Station::open(&station_dir)
            .expect("station")
            .journal()
            .expect("journal");
        let session = |operator| {
            journal
                .begin_session(&NewSession {
                    station_id: "ST",
                    operator,
                    port: "/dev/null",
                    work_order: None,
                    started_at: time::OffsetDateTime::now_utc(),
                })
                .expect("session")
        };
        let (toms, alices) = (session("tom"), session("alice"));
        let sign_in = |id: &str| {
            invoke(&webview, "logout", no_args()).expect("logout");
            let body = serde_json::json!({ "operator": id, "pin": "135799" });
            invoke(&webview, "login", body).expect("login");
        };
        let code = |cmd: &str, body: Value| {
            // Success is Null; an error without a code (an unknown command) shows whole.
            invoke(&webview, cmd, body)
                .map_or_else(|e| e.get("code").cloned().unwrap_or(e), |_| Value::Null)
        };
        let page = || serde_json::json!({ "filter": {}, "limit": 10, "offset": 0 });
        let details = |id: i64| serde_json::json!({ "id": id });
        let forbidden = Value::from("operator.forbidden");

        sign_in("tom");
        // The sync indicator is every role's (no [central] here: null, a success).
        assert_eq!(code("sync_status", no_args()), Value::Null);
        assert_eq!(code("query_sessions", page()), forbidden);
        assert_eq!(code("verify_journal", no_args()), forbidden);
        assert_eq!(code("session_details", details(alices)), forbidden);
        assert_eq!(code("session_details", details(toms)), Value::Null);
        let export = serde_json::json!({ "filter": {}, "format": "csv" });
        assert_eq!(code("export_journal", export), forbidden);
        let stats = serde_json::json!({ "request": { "filter": {}, "bucket": "hour" } });
        assert_eq!(code("yield_stats", stats.clone()), forbidden);
        let report = serde_json::json!({ "workOrder": "WO-1" });
        assert_eq!(code("batch_report", report), forbidden);
        // The Line's strip: today's counts only, and the day is not the caller's to choose.
        let strip = serde_json::json!({ "utcOffsetMinutes": 60 });
        assert_eq!(code("line_strip", strip.clone()), Value::Null);
        let recommission = serde_json::json!({ "target": "/dev/null",
            "options": { "recommission": true, "workOrder": null }, "onProgress": "__CHANNEL__:4" });
        assert_eq!(code("commission", recommission), forbidden);

        sign_in("quinn");
        assert_eq!(code("query_sessions", page()), Value::Null);
        // Every station's sessions come from the central store, which this station has not.
        let all_stations =
            serde_json::json!({ "filter": {}, "limit": 10, "offset": 0, "central": true });
        assert_eq!(
            code("query_sessions", all_stations),
            Value::from("central.not_configured")
        );
        assert_eq!(code("yield_stats", stats), Value::Null);
        // QA reads the dashboard; the strip is the line's, for those who commission.
        assert_eq!(code("line_strip", strip), forbidden);
        assert_eq!(code("session_details", details(alices)), Value::Null);
        let commission =
            serde_json::json!({ "target": "/dev/null", "onProgress": "__CHANNEL__:5" });
        assert_eq!(code("commission", commission), forbidden);

        // Issue 18: disabling an operator and changing a PIN, each role-checked. Settings
        // shows a non-admin their PIN only: no CA, no operators.
        let settings = invoke(&webview, "settings", no_args()).expect("settings");
        assert!(settings["ca"].is_null() && settings["operators"] == serde_json::json!([]));
        let disable_tom = || serde_json::json!({ "id": "tom" });
        assert_eq!(code("disable_operator", disable_tom()), forbidden);
        // The station's key policy is the admin's.
        let host_keys = serde_json::json!({ "allowed": true });
        assert_eq!(code("set_host_keys", host_keys), forbidden);
        assert_eq!(settings["hostKeysAllowed"], false);
        let change = |old: &str, new: &str| serde_json::json!({ "oldPin": old, "newPin": new });
        assert_eq!(
            code("change_pin", change("000000", "864200")),
            Value::from("operator.bad_credentials")
        );
        assert_eq!(code("change_pin", change("135799", "864200")), Value::Null);
        invoke(&webview, "logout", no_args()).expect("logout");
        let login =
            |id: &str, pin: &str| code("login", serde_json::json!({ "operator": id, "pin": pin }));
        assert_eq!(
            login("quinn", "135799"),
            Value::from("operator.bad_credentials")
        );
        assert_eq!(
            login("quinn", "864200"),
            Value::Null,
            "the new PIN signs in"
        );
        invoke(&webview, "logout", no_args()).expect("logout");
        assert_eq!(
            code("change_pin", change("864200", "864202")),
            Value::from("operator.sign_in_required")
        );
        assert_eq!(login("alice", "246802"), Value::Null);
        assert_eq!(code("disable_operator", disable_tom()), Value::Null);
        invoke(&webview, "logout", no_args()).expect("logout");
        assert_eq!(
            login("tom", "135799"),
            Value::from("operator.bad_credentials")
        );

        invoke(&webview, "logout", no_args()).expect("logout");
        assert_eq!(
            code("query_sessions", page()),
            Value::from("operator.sign_in_required")
        );
        assert_eq!(
            code("sync_status", no_args()),
            Value::from("operator.sign_in_required")
        );
    }

    /// The sync indicator reads the backlog from the journal: it answers with the central
    /// store unreachable, and says nothing at a station without one.
    #[test]
    fn sync_status_shows_the_backlog_only_with_a_central_store() {
        use commissioner_core::journal::{NewSession, SessionResult};

        let (_dir, station_dir) = lab_station();
        let app = app(state(station_dir.clone(), Some("pass phrase")));
        let webview = window(&app);
        assert!(invoke(&webview, "sync_status", no_args())
            .expect("no central")
            .is_null());

        let mut station = commissioner_core::station::Station::open(&station_dir).expect("station");
        station.config.central = Some(commissioner_core::central::CentralProfile {
            // Nothing listens there; the indicator does not need the server.
            url: "postgresql://commissioner@127.0.0.1:9/commissioner".into(),
            tls: commissioner_core::central::CentralTls::Disable,
            ca_file: None,
            password: None,
            when_unreachable: commissioner_core::central::WhenUnreachable::Refuse,
            batch: 100,
        });
        station.save().expect("save");
        let journal = station.journal().expect("journal");
        let now = time::OffsetDateTime::now_utc();
        let session = journal
            .begin_session(&NewSession {
                station_id: "ST",
                operator: "cli",
                port: "/dev/null",
                work_order: None,
                started_at: now,
            })
            .expect("session");
        journal
            .finish_session(session, SessionResult::Fail, None, now)
            .expect("seal");
        app.state::<AppState>().station_changed();
        let sync = invoke(&webview, "sync_status", no_args()).expect("backlog");
        assert_eq!(sync["pendingSessions"], 1, "{sync}");
        assert!(sync["pending"].as_i64().is_some_and(|n| n >= 1), "{sync}");
        assert!(sync["lastSync"].is_null(), "never synced: {sync}");
    }
}
