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

pub mod admin;
mod anchor_target;
mod broker;
mod create;
pub mod crl_number;
mod export_key;
mod head_publisher;
pub mod issuing;
mod label;
mod mes;
pub mod provisioning;
pub use mes::MesSender;
mod publish;
mod service;

pub use crate::pki::issue::IssuancePolicy;
pub use anchor_target::{AnchorTarget, OffStation};
pub use broker::{
    AuditPasswords, AuditProfile, BackendProfile, BrokerProfile, CrlHook, MqttVersion, RetryPolicy,
    AUDIT_CHECKS, PAYLOAD_FIELDS, PIPELINE_AUDIT_CHECKS,
};
pub use create::{create_station, init_lab_station};
pub use export_key::parse_trusted_key;
pub use head_publisher::{HeadPublisher, SEAL_ANCHOR_EVERY};
pub use publish::AnchorCheck;
pub use service::ServiceRequest;

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
    /// The nRF91 AT family's settings (`[nrf91]`: the sec_tag credentials go to).
    #[serde(
        default,
        skip_serializing_if = "crate::device::family::Nrf91Profile::is_default"
    )]
    pub nrf91: crate::device::family::Nrf91Profile,
    /// Stock Zephyr units over SMP: the device-id rule and the credential paths
    /// (`[zephyr_smp]`).
    #[serde(
        default,
        skip_serializing_if = "crate::device::family::ZephyrSmpProfile::is_default"
    )]
    pub zephyr_smp: crate::device::family::ZephyrSmpProfile,
    /// Where every published chain head is also sent, signed (`[anchor_target]` with one of
    /// `file`, `syslog` or `http`): the record a local attacker cannot cut back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor_target: Option<AnchorTarget>,
    /// Unit labels (`[label]`): printer, template, automatic on PASS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<crate::print::label::LabelProfile>,
    /// The factory MES (`[mes]`): where session events are POSTed, signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mes: Option<crate::mes::MesProfile>,
    /// The central store this station syncs to (`[central]`); none: the station stands alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub central: Option<crate::central::CentralProfile>,
    /// Out-of-band or in-band provisioning, and the in-band bootstrap identity
    /// (`[provisioning]`); absent: out-of-band.
    #[serde(
        default,
        skip_serializing_if = "provisioning::ProvisioningProfile::is_default"
    )]
    pub provisioning: provisioning::ProvisioningProfile,
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
    #[error(transparent)]
    Provisioning(#[from] provisioning::ProvisioningProblem),
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
            StationError::Provisioning(e) => e.code(),
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
    /// The export-signing key: locked, to be opened with the passphrase the CA was unlocked
    /// with, or open.
    export_signer: Arc<Mutex<export_key::Signer>>,
    /// What happened to the off-station copy of the last head published.
    off_station: Arc<Mutex<Option<OffStation>>>,
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
        if let Some(reason) =
            (config.broker.as_ref().and_then(BrokerProfile::problem)).or_else(|| {
                config
                    .anchor_target
                    .as_ref()
                    .and_then(AnchorTarget::problem)
            })
        {
            return Err(StationError::BadConfig {
                path: path.display().to_string(),
                reason,
            });
        }
        config.provisioning.check()?;
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
            export_signer: Arc::default(),
            off_station: Arc::default(),
        })
    }

    /// Writes `station.toml` atomically (temp file + rename), so a crash never leaves half a file.
    pub fn save(&self) -> Result<(), StationError> {
        let path = Self::config_path(&self.dir);
        // A copy read before the export key was pinned (the first unlock pins it) never drops
        // the pin: Commissioner never unpins.
        let mut config = self.config.clone();
        if config.export_key.is_none() {
            config.export_key = fs::read_to_string(&path)
                .ok()
                .and_then(|t| toml::from_str::<StationConfig>(&t).ok())
                .and_then(|c| c.export_key);
        }
        let text = toml::to_string_pretty(&config).map_err(|e| StationError::BadConfig {
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

    /// Unlocks the CA; the export-signing key is opened with the same passphrase when first
    /// needed (see [`Station::export_key`]), so a command that signs nothing but certificates
    /// pays no second scrypt, and a key that does not open fails what needs it with its own code.
    pub fn unlock_ca(&self, passphrase: &str) -> Result<UnlockedCa, PkiError> {
        self.check_pkcs11_module()?;
        let ca = UnlockedCa::unlock(&self.ca_dir(), passphrase)?;
        self.export_key_passphrase(passphrase);
        Ok(ca)
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
        self.export_signer = Arc::clone(&from.export_signer);
    }

    /// Certificates this process is signing and has not recorded yet (see
    /// [`crate::station::issuing::issue_for_device`]). Processes side by side each count only what
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
            export_signer: Arc::default(),
            off_station: Arc::default(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_profile_in_assets_parses() {
        let text = include_str!("../../../assets/station.example.toml");
        let config: StationConfig = toml::from_str(text).expect("example parses");
        assert_eq!(config.models.len(), 3);
        assert_eq!(config.models[2].family.as_deref(), Some("zephyr-smp"));
        assert_eq!(config.zephyr_smp.id_fields(), vec!['n']);
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
