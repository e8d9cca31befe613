//! The station directory: `station.toml`, `ca/` and `journal.sqlite`.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::error::Coded;
use crate::journal::claim::{Claimed, SessionClaim};
use crate::journal::group::GroupCommit;
use crate::journal::{Journal, JournalError};
use crate::operator::OperatorError;
use crate::pki::{ca, PkiError, UnlockedCa};

mod broker;
mod export_key;
mod publish;

pub use broker::{
    AuditProfile, BrokerProfile, MqttVersion, RetryPolicy, AUDIT_CHECKS, PAYLOAD_FIELDS,
    PIPELINE_AUDIT_CHECKS,
};
pub use export_key::parse_trusted_key;
pub use publish::AnchorCheck;

/// Environment variable naming the station directory.
pub const STATION_ENV: &str = "COMMISSIONER_STATION";
/// Environment variable holding the CA passphrase.
pub const PASSPHRASE_ENV: &str = "COMMISSIONER_CA_PASSPHRASE";

/// `station.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StationConfig {
    pub station_id: String,
    pub organization: String,
    /// A lab station: a lab CA, a lab broker; never for production units.
    #[serde(default)]
    pub lab: bool,
    #[serde(default)]
    pub policy: IssuancePolicy,
    pub broker: Option<BrokerProfile>,
    /// USB VID:PID filters that name the model of the unit behind a port (`[[models]]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<crate::device::watch::ModelFilter>,
    /// Whole-step deadlines (`[timeouts]`); the defaults when absent.
    #[serde(default, skip_serializing_if = "is_default_deadlines")]
    pub timeouts: crate::device::StepDeadlines,
    /// Set once the station's first admin exists, and never unset by Commissioner: from then on
    /// a journal without operators (deleted, archived away, edited) is refused instead of
    /// opening the station to anyone.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub operators_required: bool,
    /// The hash of the journal's first chain entry, recorded when the journal was made (and
    /// when an archive starts a new one): a journal file that is missing, or another one put
    /// in its place, is refused instead of silently starting a new, empty history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal_genesis: Option<String>,
    /// Minutes without a command after which the app signs its operator out and locks the CA
    /// again (no unit may be running); 0 never does. The default is 15.
    #[serde(
        default = "default_idle_minutes",
        skip_serializing_if = "is_default_idle_minutes"
    )]
    pub idle_timeout_minutes: u32,
    /// The one PKCS#11 module this station loads for a CA key in a token, set by `ca init` or
    /// `ca import` with a key URI (admin). The URI file in `ca/` names a module too, but a file
    /// there must not decide which library the station loads and runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pkcs11_module: Option<PathBuf>,
    /// Which device ids this station accepts beyond the protocol's rule (`[device_ids]`).
    #[serde(
        default,
        skip_serializing_if = "crate::device::identity::DeviceIdRule::is_empty"
    )]
    pub device_ids: crate::device::identity::DeviceIdRule,
    /// The export-signing key's Ed25519 public key (base64), pinned at creation: exports and
    /// published heads must be signed with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export_key: Option<String>,
    /// The central store this station syncs to (`[central]`); none: the station stands alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub central: Option<crate::central::CentralProfile>,
}

fn default_idle_minutes() -> u32 {
    15
}

fn is_default_idle_minutes(m: &u32) -> bool {
    *m == default_idle_minutes()
}

fn is_default_deadlines(d: &crate::device::StepDeadlines) -> bool {
    *d == crate::device::StepDeadlines::default()
}

/// How device certificates are issued. Every field but `validity_days` has a default, so an
/// older station.toml keeps working.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IssuancePolicy {
    pub validity_days: i64,
    /// Key types a unit's CSR may carry: `ecdsa-p256`, `ecdsa-p384`, `ed25519`, `rsa-2048`,
    /// `rsa-3072`, `rsa-4096` (an RSA entry allows that size and larger).
    #[serde(default = "default_allowed_keys")]
    pub allowed_keys: Vec<String>,
    /// Subject O of device certificates; the station's organisation if absent.
    #[serde(default)]
    pub organization: Option<String>,
    /// Subject OU of device certificates.
    #[serde(default)]
    pub organizational_unit: Option<String>,
    /// Most certificates this station may sign in any hour, so that a stolen station cannot
    /// mint without limit.
    #[serde(default = "default_max_per_hour")]
    pub max_per_hour: u32,
    /// Whether the station may generate a unit's key itself when the unit cannot; every such
    /// certificate is marked `host` in the journal.
    #[serde(default)]
    pub allow_host_generated_key: bool,
    /// How long a CRL is valid; the broker refuses every client once it has expired.
    #[serde(default = "default_crl_validity_days")]
    pub crl_validity_days: i64,
}

fn default_allowed_keys() -> Vec<String> {
    vec!["ecdsa-p256".into()]
}
fn default_max_per_hour() -> u32 {
    600
}
fn default_crl_validity_days() -> i64 {
    7
}

impl IssuancePolicy {
    /// Refuses a profile that could only sign nonsense: a lifetime under a day or past the
    /// issuing CA's (read from `ca_dir`, when a CA is there yet), a CRL validity out of range.
    pub fn check(&self, ca_dir: &Path, now: time::OffsetDateTime) -> Result<(), PkiError> {
        let issuing = ca::CaPaths::new(ca_dir).issuing_cert;
        let ca_not_after = if issuing.exists() {
            Some(ca::not_after(&ca::read_cert_der(&issuing)?)?)
        } else {
            None
        };
        crate::pki::issue::check_lifetime(self.validity_days, ca_not_after, now)?;
        crate::pki::issue::check_crl_validity(self.crl_validity_days)?;
        Ok(())
    }
}

impl Default for IssuancePolicy {
    fn default() -> Self {
        Self {
            validity_days: 5 * 365,
            allowed_keys: default_allowed_keys(),
            organization: None,
            organizational_unit: None,
            max_per_hour: default_max_per_hour(),
            allow_host_generated_key: false,
            crl_validity_days: default_crl_validity_days(),
        }
    }
}

/// Errors of the station directory.
#[derive(Debug, Error)]
pub enum StationError {
    #[error(
        "no station at {0}: create one with `commissioner lab init` or run `commissioner demo`"
    )]
    Missing(String),
    #[error("a station already exists at {0}")]
    Exists(String),
    #[error("station.toml at {path} is not valid: {reason}")]
    BadConfig { path: String, reason: String },
    #[error("cannot read or write {path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("this station has no broker profile: start the lab broker (`commissioner lab up`) or add [broker] to station.toml")]
    NoBroker,
    #[error(transparent)]
    Pki(#[from] PkiError),
    #[error(transparent)]
    Journal(#[from] JournalError),
}

impl Coded for StationError {
    fn code(&self) -> &'static str {
        match self {
            StationError::Missing(_) => "station.missing",
            StationError::Exists(_) => "station.exists",
            StationError::BadConfig { .. } => "station.bad_config",
            StationError::Io { .. } => "station.io",
            StationError::NoBroker => "station.no_broker",
            StationError::Pki(e) => e.code(),
            StationError::Journal(e) => e.code(),
        }
    }
}

/// An opened station directory.
#[derive(Debug, Clone)]
pub struct Station {
    pub dir: PathBuf,
    pub config: StationConfig,
    /// The journal's group-commit writer, started by the first session and shared by every
    /// session of this station (and its clones).
    writer: Arc<Mutex<Option<Arc<GroupCommit>>>>,
    /// Certificates this process is signing whose record is not committed yet: the hourly
    /// count adds them, so sessions signing side by side see each other's.
    issuing: Arc<Mutex<u64>>,
}

/// Makes the station directory 0700 and its journal files 0600; refuses a journal that is a
/// symbolic link.
fn tighten_station(dir: &Path) -> Result<(), StationError> {
    use crate::secure_fs::{tighten, DIR_MODE, FILE_MODE};
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| StationError::Io { path, source }
    };
    tighten(dir, DIR_MODE).map_err(io(dir))?;
    for name in [
        "station.toml",
        "journal.sqlite",
        "journal.sqlite-wal",
        "journal.sqlite-shm",
    ] {
        let path = dir.join(name);
        tighten(&path, FILE_MODE).map_err(io(&path))?;
    }
    Ok(())
}

impl Station {
    /// `<data dir>/commissioner/station`.
    pub fn default_dir() -> PathBuf {
        dirs::data_dir()
            .unwrap_or_else(|| PathBuf::from("."))
            .join("commissioner")
            .join("station")
    }

    /// `$COMMISSIONER_STATION`, else [`Station::default_dir`].
    pub fn dir_from_env() -> PathBuf {
        std::env::var_os(STATION_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(Self::default_dir)
    }

    pub fn config_path(dir: &Path) -> PathBuf {
        dir.join("station.toml")
    }

    pub fn open(dir: &Path) -> Result<Self, StationError> {
        let path = Self::config_path(dir);
        if !path.exists() {
            return Err(StationError::Missing(dir.display().to_string()));
        }
        let text = fs::read_to_string(&path).map_err(|source| StationError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let config: StationConfig = toml::from_str(&text).map_err(|e| StationError::BadConfig {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        // A station made before files were owner-only, or whose rights someone loosened: the
        // journal holds PIN hashes and tokens, the directory lab keys.
        tighten_station(dir)?;
        if let Err(e) = config.device_ids.validate() {
            return Err(StationError::BadConfig {
                path: path.display().to_string(),
                reason: e.to_string(),
            });
        }
        if let Some(reason) = config.broker.as_ref().and_then(BrokerProfile::problem) {
            return Err(StationError::BadConfig {
                path: path.display().to_string(),
                reason,
            });
        }
        // At load, before anything is signed: a bad lifetime is a configuration error, not an
        // expired or CA-outliving certificate on a unit.
        config
            .policy
            .check(&dir.join("ca"), time::OffsetDateTime::now_utc())?;
        Ok(Self {
            dir: dir.to_owned(),
            config,
            writer: Arc::default(),
            issuing: Arc::default(),
        })
    }

    /// Writes `station.toml` atomically (temp file + rename), so a crash never leaves half a file.
    pub fn save(&self) -> Result<(), StationError> {
        let path = Self::config_path(&self.dir);
        let text = toml::to_string_pretty(&self.config).map_err(|e| StationError::BadConfig {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        crate::secure_fs::write(&path, text.as_bytes()).map_err(|source| StationError::Io {
            path: path.display().to_string(),
            source,
        })
    }

    pub fn ca_dir(&self) -> PathBuf {
        self.dir.join("ca")
    }

    pub fn journal_path(&self) -> PathBuf {
        self.dir.join("journal.sqlite")
    }

    pub fn unlock_ca(&self, passphrase: &str) -> Result<UnlockedCa, PkiError> {
        self.check_pkcs11_module()?;
        UnlockedCa::unlock(&self.ca_dir(), passphrase)
    }

    /// A CA key in a token is opened only through the module the profile names: loading a
    /// library runs its code, and `ca/issuing.pkcs11` is a file, not an admin's decision.
    fn check_pkcs11_module(&self) -> Result<(), PkiError> {
        let uri_path = ca::CaPaths::new(&self.ca_dir()).issuing_key_uri;
        let uri = match fs::read_to_string(&uri_path) {
            Ok(text) => crate::pki::pkcs11::Pkcs11Uri::parse(text.trim())?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(source) => return Err(ca::io_err(&uri_path, source)),
        };
        match &self.config.pkcs11_module {
            Some(allowed) if *allowed == uri.module => Ok(()),
            _ => Err(PkiError::Pkcs11ModuleNotAllowed(
                uri.module.display().to_string(),
            )),
        }
    }

    /// Records the PKCS#11 module of the CA key's URI as the station's (at `ca init` or
    /// `ca import` with a key URI, which only an admin runs).
    pub fn allow_pkcs11_module_of(&mut self, uri: &str) -> Result<(), StationError> {
        let uri =
            crate::pki::pkcs11::Pkcs11Uri::parse(uri).map_err(|e| StationError::BadConfig {
                path: Self::config_path(&self.dir).display().to_string(),
                reason: e.to_string(),
            })?;
        self.config.pkcs11_module = Some(uri.module);
        self.save()
    }

    pub fn journal(&self) -> Result<Journal, JournalError> {
        let path = self.journal_path();
        let Some(expected) = &self.config.journal_genesis else {
            return Journal::open(&path);
        };
        let replaced = |reason: String| JournalError::Replaced {
            path: path.display().to_string(),
            reason,
        };
        // Opening a missing journal would create a new one: check first.
        if std::fs::symlink_metadata(&path).is_err() {
            return Err(replaced("the file is missing".into()));
        }
        let journal = Journal::open(&path)?;
        match journal.genesis_hash()? {
            Some(found) if found == *expected => Ok(journal),
            found => Err(replaced(format!(
                "its chain starts at {}, the station's at {expected}",
                found.as_deref().unwrap_or("nothing")
            ))),
        }
    }

    /// Records the journal's chain start in `station.toml` (a new station, or a new journal
    /// after an archive).
    pub fn record_journal_genesis(&mut self) -> Result<(), StationError> {
        self.config.journal_genesis = None;
        let genesis = self.journal()?.genesis_hash()?;
        self.config.journal_genesis = genesis;
        self.save()
    }

    /// Whether operators must sign in at this station: the journal has operators, or the
    /// station has required them since its first admin, in which case a journal without any is
    /// refused (fails closed).
    pub fn operators_enforced(&self, journal: &Journal) -> Result<bool, OperatorError> {
        let in_journal = crate::operator::enforced(journal)?;
        if self.config.operators_required && !in_journal {
            return Err(OperatorError::OperatorsMissing(
                self.journal_path().display().to_string(),
            ));
        }
        Ok(in_journal)
    }

    /// Records in `station.toml` that this station requires operators from now on.
    pub fn require_operators(&mut self) -> Result<(), StationError> {
        if !self.config.operators_required {
            self.config.operators_required = true;
            self.save()?;
        }
        Ok(())
    }

    /// Keeps what running sessions share (the journal writer, the count of certificates being
    /// signed) when `station.toml` is read again under them.
    pub fn carry_over(&mut self, from: &Station) {
        self.writer = Arc::clone(&from.writer);
        self.issuing = Arc::clone(&from.issuing);
    }

    /// Certificates this process is signing and has not recorded yet (see
    /// [`crate::pki::policy::issue_for_device`]). Processes side by side each count only what
    /// the other has committed; one process runs a line.
    pub(crate) fn signing_now(&self) -> &Mutex<u64> {
        &self.issuing
    }

    /// This process's claim on the sessions it will run, taken before it runs any; sessions
    /// left `running` by a process that is gone are closed as interrupted on the way.
    pub fn claim_sessions(
        &self,
        journal: &Journal,
        now: time::OffsetDateTime,
    ) -> Result<Claimed, JournalError> {
        SessionClaim::take(
            &self.dir.join("sessions.lock"),
            journal,
            &self.config.station_id,
            now,
        )
    }

    /// A copy of this station's handle for writing a changed profile.
    fn clone_config(&self) -> Station {
        Station {
            dir: self.dir.clone(),
            config: self.config.clone(),
            writer: Arc::default(),
            issuing: Arc::default(),
        }
    }

    /// The writer that commits concurrent sessions' pipeline writes together.
    pub fn journal_writer(&self) -> Result<Arc<GroupCommit>, JournalError> {
        let mut slot = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(writer) = slot.as_ref() {
            return Ok(writer.clone());
        }
        let writer = Arc::new(GroupCommit::start(&self.journal_path())?);
        *slot = Some(writer.clone());
        Ok(writer)
    }

    pub fn broker(&self) -> Result<&BrokerProfile, StationError> {
        self.config.broker.as_ref().ok_or(StationError::NoBroker)
    }

    /// The central store's profile (`[central]`).
    pub fn central_profile(
        &self,
    ) -> Result<&crate::central::CentralProfile, crate::central::CentralError> {
        self.config
            .central
            .as_ref()
            .ok_or(crate::central::CentralError::NotConfigured)
    }

    /// Resolves a path from station.toml against the station directory.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_owned()
        } else {
            self.dir.join(path)
        }
    }
}

/// `$COMMISSIONER_CA_PASSPHRASE`, if set and not empty, taken out of the environment: every
/// process this one starts (mosquitto, the responder, WebKit's helpers) would inherit it, and
/// `/proc/<pid>/environ` shows it for the life of the process. Call before starting threads.
pub fn take_passphrase_from_env() -> Option<String> {
    let value = std::env::var(PASSPHRASE_ENV).ok();
    std::env::remove_var(PASSPHRASE_ENV);
    value.filter(|p| !p.is_empty())
}

/// Creates a lab station: a lab CA (keys encrypted with `passphrase`), `station.toml` and an
/// empty journal.
pub fn init_lab_station(dir: &Path, passphrase: &str) -> Result<Station, StationError> {
    if Station::config_path(dir).exists() {
        return Err(StationError::Exists(dir.display().to_string()));
    }
    crate::secure_fs::create_dir(dir).map_err(|source| StationError::Io {
        path: dir.display().to_string(),
        source,
    })?;
    let organization = "Commissioner Lab";
    ca::create_lab_ca(
        &dir.join("ca"),
        organization,
        passphrase,
        time::OffsetDateTime::now_utc(),
    )?;
    create_station(dir, organization, true)
}

/// Writes `station.toml` and an empty journal for a station whose CA is set up separately
/// (`commissioner ca init` / `ca import`).
pub fn create_station(dir: &Path, organization: &str, lab: bool) -> Result<Station, StationError> {
    if Station::config_path(dir).exists() {
        return Err(StationError::Exists(dir.display().to_string()));
    }
    crate::secure_fs::create_dir(dir).map_err(|source| StationError::Io {
        path: dir.display().to_string(),
        source,
    })?;
    let prefix = if lab { "lab" } else { "station" };
    let station = Station {
        writer: Arc::default(),
        issuing: Arc::default(),
        dir: dir.to_owned(),
        config: StationConfig {
            station_id: format!(
                "{prefix}-{}",
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            ),
            organization: organization.to_owned(),
            lab,
            policy: IssuancePolicy::default(),
            broker: None,
            models: Vec::new(),
            timeouts: Default::default(),
            device_ids: Default::default(),
            operators_required: false,
            pkcs11_module: None,
            idle_timeout_minutes: default_idle_minutes(),
            journal_genesis: None,
            export_key: None,
            central: None,
        },
    };
    let mut station = station;
    station.save()?;
    station.record_journal_genesis()?;
    // The key is made and pinned with the station: its identity from the first export on.
    station.export_key().map_err(|e| StationError::BadConfig {
        path: Station::config_path(dir).display().to_string(),
        reason: e.to_string(),
    })?;
    let station = Station::open(dir)?;
    station.journal()?;
    Ok(station)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_profile_in_assets_parses() {
        let text = include_str!("../../../assets/station.example.toml");
        let config: StationConfig = toml::from_str(text).expect("example parses");
        assert_eq!(config.models.len(), 2);
        assert_eq!(config.timeouts.for_step("keygen").as_secs(), 90);
        assert_eq!(config.timeouts.for_step("write_cert").as_secs(), 120);
        let broker = config.broker.expect("broker profile");
        assert_eq!(broker.port, 8883);
        assert_eq!(
            BrokerProfile::topic(&broker.request_topic, "UNIT-7"),
            "provisioning/UNIT-7/request"
        );
    }

    #[test]
    fn a_station_read_again_keeps_counting_what_the_old_copy_is_signing() {
        let dir = tempfile::tempdir().expect("tmp");
        let old = init_lab_station(&dir.path().join("st"), "carry-over-pass").expect("station");
        *old.signing_now().lock().expect("count") = 2;
        let mut fresh = Station::open(&old.dir).expect("reopen");
        assert_eq!(*fresh.signing_now().lock().expect("count"), 0);
        fresh.carry_over(&old);
        assert_eq!(*fresh.signing_now().lock().expect("count"), 2);
    }
}
