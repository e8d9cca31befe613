//! The TypeScript mirror of every type that crosses IPC, generated from the Rust types with
//! ts-rs into `ui/src/lib/generated/bindings.ts`. The test below fails when the committed file
//! drifts from the Rust; `UPDATE_BINDINGS=1 cargo test -p commissioner-app bindings`
//! rewrites it.

use ts_rs::{Config, TS};

/// Where the generated file lives, from this crate's directory.
pub const GENERATED: &str = "../ui/src/lib/generated/bindings.ts";

macro_rules! declarations {
    ($cfg:expr; $($t:ty),* $(,)?) => {
        vec![$(declare::<$t>($cfg)),*]
    };
}

fn declare<T: TS>(cfg: &Config) -> String {
    let docs = T::docs().map(|d| format!("{d}\n")).unwrap_or_default();
    format!("{docs}export {}", T::decl(cfg))
}

/// The whole generated file.
pub fn typescript() -> String {
    use commissioner_core::{device, journal, mqtt, operator, pipeline};
    // serde_json writes every integer as a JSON number.
    let cfg = &Config::new().with_large_int("number");
    let decls = declarations!(cfg;
        commissioner_core::error::ErrorInfo,
        crate::error::IpcError,
        device::discovery::PortInfo,
        pipeline::StepStatus,
        pipeline::ProgressEvent,
        pipeline::StepReport,
        pipeline::Report,
        device::family::Assurance,
        journal::SessionResult,
        journal::SessionRow,
        journal::StepRow,
        journal::CertificateRow,
        journal::KeyOrigin,
        journal::query::SessionFilter,
        journal::stats::Bucket,
        journal::stats::StatsRequest,
        journal::stats::Tally,
        journal::stats::TimePoint,
        journal::stats::Group,
        journal::stats::ParetoBar,
        journal::stats::StepTime,
        journal::stats::YieldStats,
        journal::stats::LineStrip,
        journal::export::ExportFormat,
        mqtt::audit::Outcome,
        mqtt::audit::CheckResult,
        mqtt::audit::reach::ConnectionTest,
        operator::Role,
        operator::Operator,
        crate::logs::LogLine,
        crate::dto::BrokerForm,
        crate::dto::StationStatus,
        crate::commands::setup::CaSource,
        crate::commands::setup::AdminForm,
        crate::commands::setup::SetupRequest,
        crate::commands::line::RunOptions,
        crate::commands::line::Target,
        crate::commands::journal::SessionPage,
        crate::commands::journal::StoredCheck,
        crate::commands::journal::SessionDetails,
        crate::commands::journal::ExportOutcome,
        crate::commands::journal::VerifySummary,
        crate::commands::journal::ExportCheck,
        crate::commands::audit::AuditRun,
        crate::commands::settings::CaDetails,
        crate::commands::settings::SettingsView,
        crate::commands::sync::SyncStatus,
        crate::metrics::AppMetrics,
    );
    let steps = pipeline::STEPS
        .iter()
        .map(|s| format!("\"{s}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let app_codes = crate::error::APP_CODES
        .iter()
        .map(|s| format!("\"{s}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "// Generated from the Rust types by src-tauri/src/bindings.rs (ts-rs). Do not edit:\n\
         // change the Rust, then run `UPDATE_BINDINGS=1 cargo test -p commissioner-app bindings`.\n\
         \n\
         {}\n\n\
         /** `commissioner_core::pipeline::STEPS`, in order. */\n\
         export const STEPS = [{steps}] as const;\n\n\
         /** Error codes the desktop shell itself produces (`commissioner_app::error::APP_CODES`). */\n\
         export const APP_ERROR_CODES = [{app_codes}] as const;\n",
        decls.join("\n\n")
    )
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    #[test]
    fn generated_typescript_matches_the_rust_types() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(super::GENERATED);
        let fresh = super::typescript();
        if std::env::var_os("UPDATE_BINDINGS").is_some() {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).expect("create the generated dir");
            }
            std::fs::write(&path, &fresh).expect("write the bindings");
            return;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == fresh,
            "{} is out of date with the Rust types: run \
             `UPDATE_BINDINGS=1 cargo test -p commissioner-app bindings` and commit it",
            path.display()
        );
    }
}
