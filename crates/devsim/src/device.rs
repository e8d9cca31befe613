//! The unit's behaviour: lifecycle, key store, certificate slots, and device-side faults.
//! Free of I/O (apart from the optional store file) so it can be tested frame by frame.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use commissioner_core::device::frame::{self, Line};
use commissioner_core::device::protocol::{
    is_tls13_client_cv, pop_message, CertDigest, DeviceFault, Hello, Lifecycle, LockAck, Op,
    Request, Response, Slot, BOOT_EVENT, PROTOCOL_VERSION,
};
use rcgen::{KeyPair, PKCS_ECDSA_P256_SHA256};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::fault::Fault;
use crate::ops;
use crate::store::Flash;

/// Device-side delays, as slow parts have them.
#[derive(Debug, Clone)]
pub struct Delays {
    /// Added to every `keygen` (real secure elements take seconds).
    pub keygen: Duration,
    /// Added to every `write_cert` chunk (flash programming).
    pub flash_write: Duration,
    /// How late every reply is under [`Fault::LateReply`].
    pub late_reply: Duration,
}

impl Default for Delays {
    fn default() -> Self {
        Self {
            keygen: Duration::ZERO,
            flash_write: Duration::ZERO,
            // Longer than the station's default `hello` timeout of 2 s.
            late_reply: Duration::from_secs(3),
        }
    }
}

/// Identity and behaviour of a simulated unit.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The id of a new unit; a unit loaded from `store` keeps the id it was created with.
    pub device_id: String,
    pub model: String,
    pub hw_rev: String,
    pub firmware: String,
    /// Longest frame line the unit accepts, in bytes.
    pub max_frame: usize,
    pub faults: Vec<Fault>,
    /// File holding the unit's flash (key, slots, lifecycle) across runs; `None` keeps it in
    /// memory for the life of the simulator.
    pub store: Option<PathBuf>,
    /// Paces the unit's output at this many bits per second, like a real UART (8N1: ten bits
    /// a byte); `None` sends as fast as the pseudo-terminal takes it.
    pub baud: Option<u32>,
    pub delays: Delays,
    /// What the unit's clock reads (Unix seconds), for reproducible transcripts; `None`
    /// follows the system clock.
    pub fixed_time: Option<i64>,
    /// Firmware from before the unlock authority: no `unlock_authority` in `hello`, and the
    /// unlock is checked against the factory CA's own key.
    pub legacy_unlock: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            device_id: format!("SIM-{:08X}", rand::random::<u32>()),
            model: "CM-SENSOR-1".into(),
            hw_rev: "B".into(),
            firmware: "1.4.2".into(),
            max_frame: 512,
            faults: Vec::new(),
            store: None,
            baud: None,
            delays: Delays::default(),
            fixed_time: None,
            legacy_unlock: false,
        }
    }
}

/// Capabilities this simulator announces in `hello`.
pub const CAPS: [&str; 9] = [
    "keygen:ecdsa-p256",
    "sign_tls13",
    "challenge",
    "clock",
    "set_config",
    "reboot",
    "unlock",
    "unlock_authority",
    "inject_key",
];

/// The state of one simulated unit.
#[derive(Debug)]
pub struct SimDevice {
    pub(crate) cfg: SimConfig,
    pub(crate) flash: Flash,
    pub(crate) partial: HashMap<&'static str, Vec<u8>>,
    pub(crate) unlock_nonce: Option<Vec<u8>>,
    /// The unlock authority's certificate as `unlock_cert` sends it (RAM only).
    pub(crate) unlock_cert: Vec<u8>,
    booted: Instant,
    reboot_requested: bool,
    /// Log lines the unit prints between frames.
    pub log: Vec<String>,
}

pub(crate) fn slot_name(slot: Slot) -> &'static str {
    match slot {
        Slot::Device => "device",
        Slot::Chain => "chain",
        Slot::BrokerCa => "broker_ca",
    }
}

pub(crate) type OpResult = Result<serde_json::Value, DeviceFault>;

pub(crate) fn fault(code: &str, msg: impl Into<String>) -> DeviceFault {
    DeviceFault {
        code: code.into(),
        msg: msg.into(),
    }
}

pub(crate) fn ok<T: Serialize>(v: T) -> OpResult {
    serde_json::to_value(v).map_err(|e| fault("internal", e.to_string()))
}

impl SimDevice {
    pub fn new(cfg: SimConfig) -> Self {
        let mut log = Vec::new();
        // A unit's RNG is seeded while it boots, not inside its first keygen. aws-lc seeds its
        // process-wide generator from CPU jitter on first use, about 20 ms of CPU, and sixteen
        // units keying at once in a fresh simulator process all waited on that one seeding:
        // their keygen took 61 ms instead of 37 (see the line benchmark).
        if aws_lc_rs::rand::fill(&mut [0u8; 1]).is_err() {
            log.push("rng: cannot draw random bytes".into());
        }
        let loaded = match cfg.store.as_deref().map(Flash::load).transpose() {
            Ok(flash) => flash.flatten(),
            Err(e) => {
                log.push(format!("flash: store unreadable, starting blank: {e}"));
                None
            }
        };
        let mut flash = loaded.unwrap_or_else(|| Flash::blank(cfg.device_id.clone()));
        if cfg.faults.contains(&Fault::Locked) && flash.state != Lifecycle::Locked {
            // A unit commissioned and locked on some earlier day.
            flash.key = flash
                .key
                .take()
                .or_else(|| KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).ok());
            flash.state = Lifecycle::Locked;
        }
        let mut device = Self {
            cfg,
            flash,
            partial: HashMap::new(),
            unlock_nonce: None,
            unlock_cert: Vec::new(),
            booted: Instant::now(),
            reboot_requested: false,
            log,
        };
        if let Err(e) = device.persist() {
            device.log.push(e.msg);
        }
        device
    }

    pub fn config(&self) -> &SimConfig {
        &self.cfg
    }

    pub fn state(&self) -> Lifecycle {
        self.flash.state
    }

    pub fn device_id(&self) -> &str {
        &self.flash.device_id
    }

    pub(crate) fn has(&self, f: Fault) -> bool {
        self.cfg.faults.contains(&f)
    }

    /// Forgets what lives in RAM, as a reset does; flash stays.
    pub fn reset(&mut self) {
        self.partial.clear();
        self.unlock_nonce = None;
        self.unlock_cert.clear();
        self.reboot_requested = false;
        self.booted = Instant::now();
    }

    /// True once after a `reboot` request was answered: the link layer then resets the unit.
    pub fn take_reboot_request(&mut self) -> bool {
        std::mem::take(&mut self.reboot_requested)
    }

    /// The unsolicited frame a unit sends after every reset: id 0, event `boot`, and what
    /// `hello` would answer.
    pub fn boot_event(&self) -> Response {
        Response {
            id: 0,
            ok: true,
            evt: Some(BOOT_EVENT.into()),
            res: ok(self.hello()).ok(),
            err: None,
        }
    }

    pub(crate) fn persist(&self) -> Result<(), DeviceFault> {
        match &self.cfg.store {
            Some(path) => self
                .flash
                .save(path)
                .map_err(|e| fault("internal", format!("flash: cannot save the key store: {e}"))),
            None => Ok(()),
        }
    }

    /// What the unit's clock reads, Unix seconds.
    pub(crate) fn now(&self) -> i64 {
        if self.has(Fault::Clock1970) {
            self.booted.elapsed().as_secs() as i64
        } else {
            self.cfg
                .fixed_time
                .unwrap_or_else(|| time::OffsetDateTime::now_utc().unix_timestamp())
        }
    }

    fn hello(&self) -> Hello {
        let time = self.now();
        Hello {
            protocol: PROTOCOL_VERSION,
            device_id: self.flash.device_id.clone(),
            model: self.cfg.model.clone(),
            hw_rev: self.cfg.hw_rev.clone(),
            fw_version: self.cfg.firmware.clone(),
            max_frame: self.cfg.max_frame,
            caps: CAPS
                .iter()
                .filter(|c| !(self.has(Fault::NoKeygen) && c.starts_with("keygen:")))
                .filter(|c| !(self.cfg.legacy_unlock && **c == "unlock_authority"))
                .map(|c| (*c).to_owned())
                .collect(),
            state: self.flash.state,
            time: Some(time),
        }
    }

    /// The unit's reaction to one line from the station: a response, or nothing for log
    /// lines and for response frames (an echoing line must not loop).
    pub fn respond_to_line(&mut self, line: &str) -> Option<Response> {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.len() + 1 > self.cfg.max_frame {
            return Some(error_response(0, "too_large", "frame exceeds max_frame"));
        }
        match frame::decode_line(line) {
            Ok(Line::Log(_)) => None,
            Ok(Line::Frame(body)) => match serde_json::from_str::<Request>(body) {
                Ok(req) => Some(self.handle(req)),
                Err(_) if serde_json::from_str::<Response>(body).is_ok() => None,
                Err(e) => {
                    let value = serde_json::from_str::<serde_json::Value>(body).ok();
                    let field = |k: &str| value.as_ref().and_then(|v| v.get(k));
                    let id = field("id")
                        .and_then(|i| i.as_u64())
                        .and_then(|i| u32::try_from(i).ok())
                        .unwrap_or(0);
                    // The message names the operation, not the simulator's parser.
                    match field("op").and_then(|o| o.as_str()) {
                        Some(op) if e.to_string().contains("unknown variant") => Some(
                            error_response(id, "unknown_op", &format!("unknown operation '{op}'")),
                        ),
                        _ => Some(error_response(id, "bad_request", &e.to_string())),
                    }
                }
            },
            Err(e) => Some(error_response(0, "bad_frame", &e.to_string())),
        }
    }

    /// Handles one request and produces its response.
    pub fn handle(&mut self, req: Request) -> Response {
        match self.dispatch(req.op) {
            Ok(res) => Response {
                id: req.id,
                ok: true,
                evt: None,
                res: Some(res),
                err: None,
            },
            Err(err) => Response {
                id: req.id,
                ok: false,
                evt: None,
                res: None,
                err: Some(err),
            },
        }
    }

    fn dispatch(&mut self, op: Op) -> OpResult {
        let state = self.flash.state;
        match op {
            Op::Hello { versions } => {
                if versions.is_some_and(|v| !v.contains(&PROTOCOL_VERSION)) {
                    return Err(fault(
                        "unsupported_version",
                        format!("this unit speaks protocol {PROTOCOL_VERSION} only"),
                    ));
                }
                ok(self.hello())
            }
            Op::Keygen { alg } => ops::keygen(self, &alg),
            Op::InjectKey { key } => ops::inject_key(self, key.expose()),
            Op::WriteCert {
                slot,
                offset,
                total,
                data,
            } => ops::write_cert(self, slot, offset, total, &data),
            Op::ReadCert { slot } => {
                let der = self
                    .flash
                    .slots
                    .get(slot_name(slot))
                    .ok_or_else(|| fault("empty_slot", "nothing stored in this slot"))?;
                ok(CertDigest {
                    len: der.len(),
                    sha256: hex_sha256(der),
                })
            }
            Op::Challenge { nonce } => {
                let nonce = B64
                    .decode(nonce)
                    .map_err(|_| fault("bad_request", "nonce is not base64"))?;
                if !(16..=64).contains(&nonce.len()) {
                    return Err(fault("bad_request", "nonce must be 16 to 64 bytes"));
                }
                if self.has(Fault::WrongPopKey) {
                    let other = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
                        .map_err(|e| fault("internal", e.to_string()))?;
                    return ops::sign_with(&other, &pop_message(&nonce));
                }
                self.sign(&pop_message(&nonce))
            }
            Op::SignTls13 { msg } => {
                if state == Lifecycle::Locked {
                    return Err(fault("locked", "sign_tls13 is a factory-mode operation"));
                }
                let msg = B64
                    .decode(msg)
                    .map_err(|_| fault("bad_request", "msg is not base64"))?;
                if !is_tls13_client_cv(&msg) {
                    return Err(fault(
                        "bad_context",
                        "only TLS 1.3 client CertificateVerify input is signed",
                    ));
                }
                // A line a real unit would print too: the station's journal then shows which
                // connections the unit's own key signed.
                self.log
                    .push("tls: signed a TLS 1.3 CertificateVerify with the unit key".into());
                self.sign(&msg)
            }
            Op::SetConfig(config) => ops::set_config(self, config),
            Op::Lock => {
                if state != Lifecycle::Certified {
                    return Err(fault(
                        "bad_state",
                        format!("cannot lock in state {state:?}"),
                    ));
                }
                self.flash.state = Lifecycle::Locked;
                self.persist()?;
                self.log
                    .push("lifecycle: factory mode off, unit locked".into());
                ok(LockAck {
                    state: Lifecycle::Locked,
                })
            }
            Op::Reboot => {
                self.reboot_requested = true;
                ok(LockAck { state })
            }
            Op::UnlockBegin => ops::unlock_begin(self),
            Op::UnlockCert {
                offset,
                total,
                data,
            } => ops::unlock_cert(self, offset, total, &data),
            Op::Unlock { sig } => ops::unlock(self, &sig),
        }
    }

    fn sign(&self, msg: &[u8]) -> OpResult {
        if self.flash.state == Lifecycle::Blank {
            return Err(fault("bad_state", "no key: run keygen first"));
        }
        let key = self
            .flash
            .key
            .as_ref()
            .ok_or_else(|| fault("bad_state", "no key: run keygen first"))?;
        ops::sign_with(key, msg)
    }
}

pub(crate) fn error_response(id: u32, code: &str, msg: &str) -> Response {
    Response {
        id,
        ok: false,
        evt: None,
        res: None,
        err: Some(fault(code, msg)),
    }
}

pub(crate) fn hex_sha256(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
