//! What the app holds for its whole life: the station directory, the unlocked CA, who is
//! signed in, the simulated units and lab broker it started, runs that can be cancelled,
//! and the log hub. One value managed by Tauri; no globals.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use commissioner_core::clock::{Clock, SystemClock};
use commissioner_core::journal::claim::SessionClaim;
use commissioner_core::journal::Journal;
use commissioner_core::lab::Lab;
use commissioner_core::operator::{Action, Operator};
use commissioner_core::pipeline::StopSignal;
use commissioner_core::pki::UnlockedCa;
use commissioner_core::station::{take_passphrase_from_env, Station};
use commissioner_devsim::AnySim;
use zeroize::Zeroizing;

use crate::dialog::FileChooser;
use crate::error::IpcError;
use crate::logs::LogHub;

/// Operator recorded in the journal when the station has no operators and the environment
/// names none.
const DEFAULT_OPERATOR: &str = "operator";
/// Where file dialogs are answered without a window, for the end-to-end tests: a save goes to
/// `<dir>/<suggested name>`, an open picks the newest export there.
#[cfg(feature = "test-seams")]
pub const DIALOG_DIR_ENV: &str = "COMMISSIONER_DIALOG_DIR";

#[cfg(feature = "test-seams")]
fn dialog_dir_from_env() -> Option<PathBuf> {
    std::env::var_os(DIALOG_DIR_ENV).map(PathBuf::from)
}

/// A factory package never answers its file dialogs from a directory named in the
/// environment: the seam is not compiled in.
#[cfg(not(feature = "test-seams"))]
fn dialog_dir_from_env() -> Option<PathBuf> {
    None
}

/// Shared state of the desktop app: a handle that commands clone onto blocking threads.
#[derive(Clone, Debug)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// Wrong CA passphrases tried without delay.
pub const FREE_UNLOCK_TRIES: u32 = 3;
/// The longest wait between CA passphrase tries.
pub const MAX_UNLOCK_WAIT: time::Duration = time::Duration::minutes(5);

/// How long to wait after `failures` wrong passphrases: none for the first few, then 2, 4,
/// 8 … seconds.
fn unlock_wait(failures: u32) -> Option<time::Duration> {
    let over = failures.checked_sub(FREE_UNLOCK_TRIES)?;
    let secs = 1_i64.checked_shl(over + 1).unwrap_or(i64::MAX);
    Some(time::Duration::seconds(secs).min(MAX_UNLOCK_WAIT))
}

impl AppState {
    pub fn new(station_dir: PathBuf, passphrase: Option<String>, logs: LogHub) -> Self {
        Self(Arc::new(Shared::new(station_dir, passphrase, logs)))
    }

    /// [`AppState::new`] with time passed in (tests pin it).
    pub fn with_clock(
        station_dir: PathBuf,
        passphrase: Option<String>,
        logs: LogHub,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let mut shared = Shared::new(station_dir, passphrase, logs);
        shared.last_activity = Mutex::new(clock.now());
        shared.clock = clock;
        Self(Arc::new(shared))
    }

    /// Station, passphrase and dialog seam from the environment.
    pub fn from_env(logs: LogHub) -> Self {
        Self::new(Station::dir_from_env(), take_passphrase_from_env(), logs)
    }

    /// A handle for a blocking thread.
    pub fn clone_handle(&self) -> Self {
        self.clone()
    }
}

/// What [`AppState`] points to.
pub struct Shared {
    pub station_dir: PathBuf,
    /// Read at start; unlocks the CA on first use so the technician is not asked. Taken on
    /// that first try: a wrong one is not re-tried (an scrypt run) on every status read.
    env_passphrase: Mutex<Option<Zeroizing<String>>>,
    ca: Mutex<Option<Arc<UnlockedCa>>>,
    /// Wrong CA passphrases in a row and when the last one came: each one after
    /// [`FREE_UNLOCK_TRIES`] doubles the wait before the next try is even checked.
    unlock_failures: Mutex<(u32, Option<time::OffsetDateTime>)>,
    /// When the operator last did something that needed their role (or signed in, or
    /// unlocked the CA): the idle timeout counts from here.
    last_activity: Mutex<time::OffsetDateTime>,
    /// The opened station, kept so that concurrent sessions share its journal writer.
    station: Mutex<Option<Station>>,
    signed_in: Mutex<Option<Operator>>,
    /// Who the journal names when the station has no operators.
    default_operator: String,
    sims: Mutex<BTreeMap<String, AnySim>>,
    runs: Mutex<HashMap<String, Arc<StopSignal>>>,
    /// Held from the first run on, so another process starting up leaves our sessions alone.
    claim: Mutex<Option<SessionClaim>>,
    /// Publishes the newest sealed head (anchors.jsonl and the off-station target) while the
    /// app runs sessions, from the first run on.
    heads: Mutex<Option<commissioner_core::station::HeadPublisher>>,
    lab: Mutex<Option<Lab>>,
    pub logs: LogHub,
    pub dialog_dir: Option<PathBuf>,
    chooser: OnceLock<Arc<dyn FileChooser>>,
    pub clock: Arc<dyn Clock>,
    /// Process age when the UI first said it was interactive.
    pub interactive: OnceLock<Option<std::time::Duration>>,
}

impl Shared {
    fn new(station_dir: PathBuf, passphrase: Option<String>, logs: LogHub) -> Self {
        Self {
            station_dir,
            env_passphrase: Mutex::new(passphrase.map(Zeroizing::new)),
            ca: Mutex::new(None),
            unlock_failures: Mutex::default(),
            last_activity: Mutex::new(SystemClock.now()),
            station: Mutex::new(None),
            signed_in: Mutex::new(None),
            default_operator: std::env::var("COMMISSIONER_OPERATOR")
                .or_else(|_| std::env::var("USER"))
                .ok()
                .filter(|o| !o.is_empty())
                .unwrap_or_else(|| DEFAULT_OPERATOR.to_owned()),
            sims: Mutex::default(),
            runs: Mutex::default(),
            claim: Mutex::default(),
            heads: Mutex::default(),
            lab: Mutex::default(),
            logs,
            dialog_dir: dialog_dir_from_env(),
            chooser: OnceLock::new(),
            clock: Arc::new(SystemClock),
            interactive: OnceLock::new(),
        }
        .with_fixed_dialog()
    }

    fn with_fixed_dialog(self) -> Self {
        #[cfg(feature = "test-seams")]
        if let Some(dir) = &self.dialog_dir {
            let _ = self
                .chooser
                .set(Arc::new(crate::dialog::FixedDir(dir.clone())));
        }
        self
    }

    /// Installs the native file dialog, unless the test seam already answers.
    pub fn set_chooser(&self, chooser: Arc<dyn FileChooser>) {
        let _ = self.chooser.set(chooser);
    }

    pub fn chooser(&self) -> Result<Arc<dyn FileChooser>, IpcError> {
        self.chooser.get().cloned().ok_or_else(|| {
            IpcError::invalid(
                "app.no_dialog",
                "no file dialog is available in this window",
            )
        })
    }

    /// The station, opened once; clones share its journal writer (group commit).
    pub fn station(&self) -> Result<Station, IpcError> {
        let mut slot = lock(&self.station);
        if let Some(station) = slot.as_ref() {
            return Ok(station.clone());
        }
        let station = Station::open(&self.station_dir)?;
        *slot = Some(station.clone());
        Ok(station)
    }

    /// Reads station.toml again after it was rewritten.
    pub fn station_changed(&self) {
        let mut slot = lock(&self.station);
        let Some(old) = slot.take() else { return };
        // Sessions still running on the old copy keep their writer, and the hourly quota
        // keeps counting what they are signing.
        match Station::open(&self.station_dir) {
            Ok(mut fresh) => {
                fresh.carry_over(&old);
                *slot = Some(fresh);
            }
            Err(e) => tracing::warn!(error = %e, "station.toml cannot be read again"),
        }
    }

    /// Takes this app's claim on the sessions it runs, once, before its first one; sessions a
    /// process that is gone left running are closed as interrupted then.
    pub fn claim_sessions(&self, station: &Station) -> Result<(), IpcError> {
        let mut slot = lock(&self.claim);
        if slot.is_some() {
            return Ok(());
        }
        let claimed = station.claim_sessions(&station.journal()?, self.clock.now())?;
        for s in &claimed.interrupted {
            tracing::warn!(
                session = s.session_id,
                revoked = ?s.revoked_serials,
                "a session left running by a process that is gone is now marked interrupted"
            );
        }
        *slot = Some(claimed.claim);
        *lock(&self.heads) =
            Some(station.publish_heads(commissioner_core::station::SEAL_ANCHOR_EVERY));
        Ok(())
    }

    /// The unlocked CA: unlocked before, or now with the start-up passphrase.
    pub fn ca(&self, station: &Station) -> Result<Arc<UnlockedCa>, IpcError> {
        let mut ca = lock(&self.ca);
        if let Some(ca) = ca.as_ref() {
            return Ok(ca.clone());
        }
        let pass = lock(&self.env_passphrase)
            .take()
            .ok_or_else(IpcError::ca_locked)?;
        let unlocked = Arc::new(station.unlock_ca(&pass)?);
        *ca = Some(unlocked.clone());
        self.keep_station(station);
        self.pinned_now(station);
        Ok(unlocked)
    }

    /// Keeps the station the CA was unlocked with when none is kept yet (the setup wizard
    /// unlocks with the station it just made): the export key opens with the passphrase it
    /// holds, and every later copy of the kept station shares it.
    fn keep_station(&self, station: &Station) {
        let mut slot = lock(&self.station);
        if slot.is_none() {
            *slot = Some(station.clone());
        }
    }

    /// The first unlock of a station made without its export key makes and pins the key in
    /// station.toml: open it now and read the file again, so that a later save from the kept
    /// copy keeps the pin.
    fn pinned_now(&self, station: &Station) {
        if station.config.export_key.is_none() {
            if let Err(e) = station.export_key() {
                tracing::warn!(error = %e, "the export-signing key does not open");
            }
            self.station_changed();
        }
    }

    pub fn ca_unlocked(&self, station: &Station) -> bool {
        self.ca(station).is_ok()
    }

    /// Unlocks the CA with `passphrase`. A walk-up user may try (the passphrase comes before
    /// sign-in), but not quickly: after [`FREE_UNLOCK_TRIES`] wrong ones each further try waits
    /// twice as long as the last (up to [`MAX_UNLOCK_WAIT`]), whatever passphrase it brings.
    pub fn unlock(&self, station: &Station, passphrase: &str) -> Result<(), IpcError> {
        let now = self.clock.now();
        let (failures, last) = *lock(&self.unlock_failures);
        if let (Some(last), Some(wait)) = (last, unlock_wait(failures)) {
            let left = (last + wait - now).whole_seconds();
            if left > 0 {
                return Err(IpcError::new(
                    "ca.unlock_throttled",
                    format!("too many wrong CA passphrases: try again in {left} s"),
                    None,
                ));
            }
        }
        match station.unlock_ca(passphrase) {
            Ok(unlocked) => {
                *lock(&self.unlock_failures) = (0, None);
                *lock(&self.ca) = Some(Arc::new(unlocked));
                self.keep_station(station);
                self.pinned_now(station);
                self.touch();
                Ok(())
            }
            Err(e) => {
                if matches!(e, commissioner_core::pki::PkiError::BadPassphrase) {
                    let mut f = lock(&self.unlock_failures);
                    *f = (f.0.saturating_add(1), Some(now));
                    tracing::warn!(failures = f.0, "wrong CA passphrase");
                }
                Err(e.into())
            }
        }
    }

    pub fn signed_in(&self) -> Option<Operator> {
        lock(&self.signed_in).clone()
    }

    pub fn sign_in(&self, op: Option<Operator>) {
        *lock(&self.signed_in) = op;
        self.touch();
    }

    /// Counts as activity for the idle timeout.
    pub fn touch(&self) {
        *lock(&self.last_activity) = self.clock.now();
    }

    /// After the profile's idle timeout with no unit running, signs the operator out and
    /// locks the CA again: a station left alone is a walk-up user's otherwise.
    pub fn expire_if_idle(&self, station: &Station) {
        let minutes = station.config.idle_timeout_minutes;
        if minutes == 0 || !lock(&self.runs).is_empty() {
            return;
        }
        let idle = self.clock.now() - *lock(&self.last_activity);
        if idle < time::Duration::minutes(i64::from(minutes)) {
            return;
        }
        let was_signed_in = lock(&self.signed_in).take();
        let had_ca = lock(&self.ca).take().is_some();
        // The export-signing key was unlocked with the CA and is locked with it.
        if let Some(station) = lock(&self.station).as_ref() {
            station.lock_export_key();
        }
        if was_signed_in.is_some() || had_ca {
            tracing::info!(
                operator = ?was_signed_in.map(|o| o.id),
                had_ca,
                idle_minutes = idle.whole_minutes(),
                "idle: signed out and CA locked"
            );
        }
    }

    /// Who may do `action`: the signed-in operator when the station has operators, else the
    /// default name. The id is what the journal records.
    pub fn authorize(&self, journal: &Journal, action: Action) -> Result<String, IpcError> {
        let id = self.authorize_quietly(journal, action)?;
        self.touch();
        Ok(id)
    }

    /// [`Self::authorize`] without counting as activity: for reads a screen repeats on its own
    /// (the yield dashboard, the Line's strip), which must not keep an idle station signed in.
    pub fn authorize_quietly(&self, journal: &Journal, action: Action) -> Result<String, IpcError> {
        let station = self.station()?;
        self.expire_if_idle(&station);
        if !station.operators_enforced(journal)? {
            return Ok(self.default_operator.clone());
        }
        let op = self.signed_in().ok_or_else(IpcError::sign_in_required)?;
        op.authorize(action)?;
        Ok(op.id)
    }

    /// [`Self::authorize`] for `action`, or else the signed-in operator reading a record of
    /// their own: a technician's details drawer shows the sessions they ran, nothing more.
    pub fn authorize_or_own(
        &self,
        journal: &Journal,
        action: Action,
        owner: &str,
    ) -> Result<String, IpcError> {
        match self.authorize(journal, action) {
            Err(_) if self.signed_in().is_some_and(|op| op.id == owner) => Ok(owner.to_owned()),
            other => other,
        }
    }

    pub fn sims(&self) -> MutexGuard<'_, BTreeMap<String, AnySim>> {
        lock(&self.sims)
    }

    pub fn lab(&self) -> MutexGuard<'_, Option<Lab>> {
        lock(&self.lab)
    }

    /// Registers a run on `target`; `None` when one is already running there. The run ends
    /// when the returned guard drops, even if the pipeline panics.
    pub fn begin_run(&self, target: &str) -> Option<RunGuard<'_>> {
        let mut runs = lock(&self.runs);
        if runs.contains_key(target) {
            return None;
        }
        let cancel = Arc::new(StopSignal::default());
        runs.insert(target.to_owned(), cancel.clone());
        Some(RunGuard {
            runs: &self.runs,
            target: target.to_owned(),
            cancel,
        })
    }

    /// The cancel flag of the run on `target`, if one is running.
    pub fn cancel_flag(&self, target: &str) -> Option<Arc<StopSignal>> {
        lock(&self.runs).get(target).cloned()
    }

    /// Stops the lab broker and the simulated units this app started.
    pub fn shut_down(&self) {
        self.lab().take();
        self.sims().clear();
    }

    pub fn station_dir(&self) -> &Path {
        &self.station_dir
    }
}

/// A run in progress on one target; dropping it frees the target.
pub struct RunGuard<'a> {
    runs: &'a Mutex<HashMap<String, Arc<StopSignal>>>,
    target: String,
    pub cancel: Arc<StopSignal>,
}

impl Drop for RunGuard<'_> {
    fn drop(&mut self) {
        lock(self.runs).remove(&self.target);
    }
}

/// A poisoned lock only means another command panicked mid-update of a map or an option;
/// the data is still usable, and refusing every later command would be worse.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppState")
            .field("station_dir", &self.station_dir)
            .field(
                "passphrase",
                &lock(&self.env_passphrase).as_ref().map(|_| "<redacted>"),
            )
            .field("signed_in", &self.signed_in())
            .field("dialog_dir", &self.dialog_dir)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commissioner_core::pipeline::Stop;

    #[test]
    fn a_target_runs_once_at_a_time_and_is_freed_when_its_run_ends() {
        let state = AppState::new(PathBuf::from("/nonexistent"), None, LogHub::default());
        let run = state.begin_run("/dev/ttyUSB0").expect("first run");
        assert!(
            state.begin_run("/dev/ttyUSB0").is_none(),
            "busy while running"
        );
        assert!(
            state.begin_run("/dev/ttyUSB1").is_some(),
            "other ports are free"
        );
        let flag = state
            .cancel_flag("/dev/ttyUSB0")
            .expect("a running target can be cancelled");
        flag.stop(Stop::Cancelled);
        assert_eq!(
            run.cancel.reason(),
            Some(Stop::Cancelled),
            "the run sees the cancel"
        );
        drop(run);
        assert!(state.cancel_flag("/dev/ttyUSB0").is_none());
        assert!(state.begin_run("/dev/ttyUSB0").is_some(), "free again");
    }
}
