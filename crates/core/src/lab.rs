//! The lab broker: a real mosquitto with generated TLS config and ACLs on a free loopback port,
//! plus the reference provisioning responder. For demos, tests and bench work; never production.

use rustls_pki_types::pem::PemObject;
use std::fs;
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::SanType;
use rustls::ClientConfig;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use thiserror::Error;

use crate::error::Coded;

mod config;
mod crl;
pub mod inband;
use crate::journal::CertKind;
use crate::mqtt::responder::{Responder, ResponderConfig};
use crate::mqtt::tls::{client_config, ClientIdentity};
use crate::mqtt::MqttError;
use crate::pki::service::ServiceSubject;
use crate::pki::{PkiError, UnlockedCa};
use crate::station::admin::AdminError;
use crate::station::{BrokerProfile, ServiceRequest, Station, StationError};
pub use config::LabKind;
pub use crl::{is_lab_broker_of, signal_reload, write_lab_crl};

/// Certificate identity (CN, hence MQTT user name) of the provisioning backend.
pub const BACKEND_IDENTITY: &str = "commissioner-backend";
/// Certificate identity (CN) of the lab broker.
pub const BROKER_IDENTITY: &str = "commissioner-lab-broker";
const LOOPBACK: &str = "127.0.0.1";

/// Errors of the lab set-up.
#[derive(Debug, Error)]
pub enum LabError {
    #[error("mosquitto is not installed: run `make demo` (it installs it) or `apt-get install mosquitto`")]
    MosquittoMissing,
    #[error("the lab broker did not start: {log}")]
    BrokerFailed { log: String },
    #[error("cannot write lab file {path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("no lab broker is running for this station")]
    NotRunning,
    #[error(
        "station.toml has a [broker] section the lab did not write ({host}:{port}); the lab \
         never overwrites it: run the lab or the demo on another station directory \
         (--station), or remove that section to let the lab write its own"
    )]
    BrokerProfileKept { host: String, port: u16 },
    #[error(transparent)]
    Pki(#[from] PkiError),
    #[error(transparent)]
    Mqtt(#[from] MqttError),
    #[error(transparent)]
    Station(#[from] StationError),
    #[error(transparent)]
    Admin(#[from] AdminError),
}

impl Coded for LabError {
    fn code(&self) -> &'static str {
        match self {
            LabError::MosquittoMissing => "lab.mosquitto_missing",
            LabError::BrokerFailed { .. } => "lab.broker_failed",
            LabError::Io { .. } => "lab.io",
            LabError::NotRunning => "lab.not_running",
            LabError::BrokerProfileKept { .. } => "lab.broker_profile_kept",
            LabError::Pki(e) => e.code(),
            LabError::Mqtt(e) => e.code(),
            LabError::Station(e) => e.code(),
            LabError::Admin(e) => e.code(),
        }
    }
}

/// Files of the lab broker under `<station>/lab/`.
#[derive(Debug, Clone)]
pub struct LabFiles {
    pub dir: PathBuf,
    pub config: PathBuf,
    pub acl: PathBuf,
    pub cafile: PathBuf,
    pub broker_cert: PathBuf,
    pub broker_key: PathBuf,
    pub backend_cert: PathBuf,
    pub backend_key: PathBuf,
    /// The CRL mosquitto loads (`crlfile`); refreshed by `commissioner lab reload`.
    pub crl: PathBuf,
    pub log: PathBuf,
    pub broker_pid: PathBuf,
    pub responder_pid: PathBuf,
}

impl LabFiles {
    pub fn new(station: &Station) -> Self {
        let dir = station.dir.join("lab");
        Self {
            config: dir.join("mosquitto.conf"),
            acl: dir.join("acl"),
            cafile: dir.join("ca.pem"),
            broker_cert: dir.join("broker.pem"),
            broker_key: dir.join("broker.key"),
            backend_cert: dir.join("backend.pem"),
            backend_key: dir.join("backend.key"),
            crl: dir.join("crl.pem"),
            log: dir.join("mosquitto.log"),
            broker_pid: dir.join("mosquitto.pid"),
            responder_pid: dir.join("responder.pid"),
            dir,
        }
    }
}

/// Finds the mosquitto binary; Debian installs it in /usr/sbin, which is not on every PATH.
pub fn mosquitto_binary() -> Result<PathBuf, LabError> {
    let from_path = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("mosquitto"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    from_path
        .into_iter()
        .chain([
            PathBuf::from("/usr/sbin/mosquitto"),
            PathBuf::from("/usr/local/sbin/mosquitto"),
        ])
        .find(|p| p.is_file())
        .ok_or(LabError::MosquittoMissing)
}

/// A free loopback port. Another process could take it before mosquitto binds; start-up
/// failure is then reported with the broker's log.
pub fn free_port() -> Result<u16, LabError> {
    TcpListener::bind((LOOPBACK, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|source| LabError::Io {
            path: "127.0.0.1:0".into(),
            source,
        })
}

/// Generates the broker and backend identities and the default lab's mosquitto config, and
/// points the station's broker profile at the lab broker.
pub fn prepare(station: &mut Station, ca: &UnlockedCa, port: u16) -> Result<LabFiles, LabError> {
    prepare_kind(station, ca, port, LabKind::Default)
}

/// [`prepare`] for either kind of lab broker.
pub fn prepare_kind(
    station: &mut Station,
    ca: &UnlockedCa,
    port: u16,
    kind: LabKind,
) -> Result<LabFiles, LabError> {
    if let Some(kept) = station
        .config
        .broker
        .as_ref()
        .filter(|p| !written_by_lab(p))
    {
        return Err(LabError::BrokerProfileKept {
            host: kept.host.clone(),
            port: kept.port,
        });
    }
    let files = LabFiles::new(station);
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| LabError::Io { path, source }
    };
    crate::secure_fs::create_dir(&files.dir).map_err(io(&files.dir))?;
    let now = time::OffsetDateTime::now_utc();
    let org = station.config.organization.clone();
    let issuing_pem = crate::pki::cert_pem(ca.issuing_der());
    let root_pem = crate::pki::cert_pem(ca.root_der());

    // Registered like any service identity, each in a session of its own (operator `lab`):
    // listed by `ca list`, revocable, and each new lab start's pair revokes the last one
    // (superseded).
    let service = |kind, name, alt_names| {
        station.issue_service_identity(
            ca,
            &ServiceRequest {
                subject: ServiceSubject {
                    kind,
                    name,
                    organization: &org,
                    validity_days: 365,
                    alt_names,
                },
                operator: "lab",
            },
            now,
        )
    };
    let broker = service(
        CertKind::Broker,
        BROKER_IDENTITY,
        vec![
            SanType::IpAddress(std::net::IpAddr::from([127, 0, 0, 1])),
            SanType::DnsName("localhost".try_into().map_err(PkiError::Issue)?),
        ],
    )?;
    let backend = service(CertKind::Backend, BACKEND_IDENTITY, vec![])?;
    let (broker, broker_key) = (broker.cert, broker.key_pem);
    let (backend, backend_key) = (backend.cert, backend.key_pem);

    // Keys and config alike: owner only, never through a link another account planted.
    let write =
        |path: &Path, text: &str| crate::secure_fs::write(path, text.as_bytes()).map_err(io(path));
    // mosquitto sends certfile as the chain: leaf then issuing CA.
    write(&files.broker_cert, &format!("{}{issuing_pem}", broker.pem))?;
    write(&files.broker_key, &broker_key)?;
    write(
        &files.backend_cert,
        &format!("{}{issuing_pem}", backend.pem),
    )?;
    write(&files.backend_key, &backend_key)?;
    write(&files.cafile, &format!("{issuing_pem}{root_pem}"))?;
    write(&files.acl, &config::acl(kind))?;
    // mosquitto refuses to start when `crlfile` names a missing file, and refuses every client
    // once the CRL's nextUpdate has passed: always start from a fresh CRL of the registry.
    write_lab_crl(station, ca, &files)?;
    // The audit probes this port for plaintext MQTT; only the weak lab listens on it.
    let plaintext_port = free_port()?;
    write(
        &files.config,
        &config::mosquitto_config(&files, port, plaintext_port, kind),
    )?;

    station.config.broker = Some(lab_profile(port, plaintext_port));
    station.save()?;
    Ok(files)
}

/// The `[broker]` section the lab writes for a broker on `port`.
fn lab_profile(port: u16, plaintext_port: u16) -> BrokerProfile {
    let mut profile = BrokerProfile::new(LOOPBACK, port, PathBuf::from("ca/root.pem"));
    profile.lab = true;
    profile.audit.plaintext_ports = vec![plaintext_port];
    // The lab broker runs on this host: a short wait proves non-delivery well enough.
    profile.audit.delivery_wait_ms = 1_000;
    profile
}

/// Whether `profile` is exactly what an earlier `lab up` wrote (ports aside): anything else was
/// written or edited by hand, and a lab start must not replace it.
fn written_by_lab(profile: &BrokerProfile) -> bool {
    match profile.audit.plaintext_ports.as_slice() {
        [plaintext] => *profile == lab_profile(profile.port, *plaintext),
        _ => false,
    }
}

/// Starts mosquitto on the prepared files and waits until it accepts connections.
pub fn start_broker(files: &LabFiles, port: u16) -> Result<Child, LabError> {
    let child = spawn_broker(files)?;
    wait_listening(child, files, port)
}

fn spawn_broker(files: &LabFiles) -> Result<Child, LabError> {
    let _ = fs::remove_file(&files.log);
    Command::new(mosquitto_binary()?)
        // Nothing of the station's environment (a CA passphrase, tokens) reaches the broker.
        .env_clear()
        .arg("-c")
        .arg(&files.config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| LabError::Io {
            path: "mosquitto".into(),
            source,
        })
}

fn wait_listening(mut child: Child, files: &LabFiles, port: u16) -> Result<Child, LabError> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if TcpStream::connect((LOOPBACK, port)).is_ok() {
            return Ok(child);
        }
        if let Ok(Some(status)) = child.try_wait() {
            let mut err = String::new();
            if let Some(mut stderr) = child.stderr.take() {
                let _ = stderr.read_to_string(&mut err);
            }
            let log = fs::read_to_string(&files.log).unwrap_or_default();
            return Err(LabError::BrokerFailed {
                log: format!("exited with {status}: {}{}", err.trim(), tail(&log)),
            });
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(LabError::BrokerFailed {
                log: format!(
                    "not listening on port {port} after 10 s{}",
                    tail(&fs::read_to_string(&files.log).unwrap_or_default())
                ),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().rev().take(5).collect();
    if lines.is_empty() {
        String::new()
    } else {
        format!(
            " (log: {})",
            lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
        )
    }
}

/// TLS config of the provisioning backend. Needs only the root certificate, never the CA key,
/// so a detached responder process runs without the passphrase.
pub fn backend_tls(files: &LabFiles, root_der: &[u8]) -> Result<Arc<ClientConfig>, LabError> {
    let read = |path: &Path| {
        fs::read(path).map_err(|source| LabError::Io {
            path: path.display().to_string(),
            source,
        })
    };
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(read(&files.backend_cert)?.as_slice())
            .filter_map(Result::ok)
            .collect();
    let key: PrivateKeyDer<'static> =
        PrivateKeyDer::from_pem_slice(read(&files.backend_key)?.as_slice())
            .ok()
            .ok_or_else(|| MqttError::Config("backend key unreadable".into()))?;
    Ok(client_config(
        &[root_der.to_vec()],
        ClientIdentity::Local { chain, key },
    )?)
}

/// A lab broker and responder owned by this process; both stop on drop.
#[derive(Debug)]
pub struct Lab {
    port: u16,
    responder: Option<Responder>,
    /// The in-band backend (`Lab::up_in_band`), beside the station's own responder.
    fleet: Option<Responder>,
    broker: Child,
    /// Ends the broker when this process dies without dropping the lab (SIGKILL, or a SIGTERM
    /// that GTK handles by exiting).
    watchdog: Option<Child>,
    files: LabFiles,
}

/// Starts a watchdog that terminates `pid` once this process is gone: a shell blocked reading
/// a pipe whose only writer is this process. The kernel closes the pipe however the process
/// ends, `read` returns, and the shell sends SIGTERM. (`PR_SET_PDEATHSIG` would follow the
/// thread that spawned the broker, not the process, and needs `unsafe` in `pre_exec`.)
fn spawn_watchdog(pid: u32) -> Option<Child> {
    Command::new("sh")
        .env_clear()
        .arg("-c")
        // The loop: `read` also returns on a line; only EOF means the owner is gone.
        .arg(r#"while read -r _; do :; done; kill -TERM "$0" 2>/dev/null"#)
        .arg(pid.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| tracing::warn!("no watchdog for the lab broker: {e}"))
        .ok()
}

impl Lab {
    /// Prepares the files, starts mosquitto and the responder, and points the station's broker
    /// profile at them.
    pub fn up(station: &mut Station, ca: &UnlockedCa) -> Result<Self, LabError> {
        Self::up_kind(station, ca, LabKind::Default)
    }

    /// [`Lab::up`] with the deliberately weak broker of `lab up --weak`.
    pub fn up_weak(station: &mut Station, ca: &UnlockedCa) -> Result<Self, LabError> {
        Self::up_kind(station, ca, LabKind::Weak)
    }

    fn up_kind(station: &mut Station, ca: &UnlockedCa, kind: LabKind) -> Result<Self, LabError> {
        Self::up_with_acl(station, ca, kind, "")
    }

    /// [`Lab::up_kind`] with `extra_acl` appended to the generated ACL before mosquitto reads
    /// it.
    fn up_with_acl(
        station: &mut Station,
        ca: &UnlockedCa,
        kind: LabKind,
        extra_acl: &str,
    ) -> Result<Self, LabError> {
        crate::mqtt::tls::install_crypto_provider();
        let port = free_port()?;
        let files = prepare_kind(station, ca, port, kind)?;
        if !extra_acl.is_empty() {
            let acl = fs::read_to_string(&files.acl).map_err(|source| LabError::Io {
                path: files.acl.display().to_string(),
                source,
            })?;
            crate::secure_fs::write(&files.acl, format!("{acl}{extra_acl}").as_bytes()).map_err(
                |source| LabError::Io {
                    path: files.acl.display().to_string(),
                    source,
                },
            )?;
        }
        // The watchdog before the wait: a kill while mosquitto starts must not orphan it.
        let broker = spawn_broker(&files)?;
        let watchdog = spawn_watchdog(broker.id());
        let broker = match wait_listening(broker, &files, port) {
            Ok(b) => b,
            Err(e) => {
                if let Some(mut dog) = watchdog {
                    let _ = dog.kill();
                    let _ = dog.wait();
                }
                return Err(e);
            }
        };
        // Where the station looks for its running lab broker, to hand it a new CRL after a
        // revocation (as `lab up` writes it for the broker it leaves running).
        crate::secure_fs::write(&files.broker_pid, broker.id().to_string().as_bytes()).map_err(
            |source| LabError::Io {
                path: files.broker_pid.display().to_string(),
                source,
            },
        )?;
        let mut lab = Self {
            port,
            responder: None,
            fleet: None,
            watchdog,
            broker,
            files,
        };
        let tls = backend_tls(&lab.files, ca.root_der())?;
        lab.responder = Some(Responder::start(
            station_responder_config(station, port),
            tls,
        )?);
        Ok(lab)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The broker's process id, for signalling a CRL reload.
    pub fn pid(&self) -> u32 {
        self.broker.id()
    }

    pub fn files(&self) -> &LabFiles {
        &self.files
    }

    /// Publishes a fresh CRL of the registry to this broker and makes it load it.
    pub fn reload_crl(
        &self,
        station: &Station,
        ca: &UnlockedCa,
    ) -> Result<crate::pki::revoke::Crl, LabError> {
        let crl = write_lab_crl(station, ca, &self.files)?;
        signal_reload(self.broker.id())?;
        Ok(crl)
    }
}

/// The responder config for a lab broker on `port`, without a registry.
pub fn responder_config(port: u16) -> ResponderConfig {
    ResponderConfig {
        host: LOOPBACK.into(),
        port,
        client_id: BACKEND_IDENTITY.into(),
        registry: None,
        pending_first: 0,
        request_topic: "provisioning/{device_id}/request".into(),
        response_topic: "provisioning/{device_id}/response".into(),
    }
}

/// The responder config for the station's lab broker: requesters are checked against the
/// station's certificate registry.
pub fn station_responder_config(station: &Station, port: u16) -> ResponderConfig {
    let base = responder_config(port);
    let (request_topic, response_topic) = match station.broker() {
        Ok(b) => (b.request_topic.clone(), b.response_topic.clone()),
        Err(_) => (base.request_topic.clone(), base.response_topic.clone()),
    };
    ResponderConfig {
        registry: Some(station.journal_path()),
        request_topic,
        response_topic,
        ..base
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.fleet.take();
        self.responder.take();
        // Only our own: a `lab up` since may have written its broker's pid there.
        let ours = self.broker.id().to_string();
        if fs::read_to_string(&self.files.broker_pid).is_ok_and(|pid| pid.trim() == ours) {
            let _ = fs::remove_file(&self.files.broker_pid);
        }
        let _ = self.broker.kill();
        let _ = self.broker.wait();
        if let Some(mut dog) = self.watchdog.take() {
            let _ = dog.kill();
            let _ = dog.wait();
        }
    }
}
