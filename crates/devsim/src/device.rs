//! The unit's behaviour: lifecycle, key store, certificate slots, and injected faults.

use std::collections::HashMap;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use commissioner_core::device::frame::{self, Line};
use commissioner_core::device::protocol::{
    is_tls13_client_cv, pop_message, CertDigest, DeviceFault, Hello, Keygen, Lifecycle, LockAck,
    Op, Request, Response, Signature, Slot, WriteAck, PROTOCOL_VERSION,
};
use rcgen::{
    CertificateParams, DistinguishedName, DnType, KeyPair, SigningKey, PKCS_ECDSA_P256_SHA256,
};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Faults a simulated unit can be told to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The CSR's subject CN is not the id the unit reports in `hello`.
    WrongCsrCn,
}

impl std::str::FromStr for Fault {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "wrong-cn" | "wrong_csr_cn" => Ok(Fault::WrongCsrCn),
            other => Err(format!("unknown fault '{other}' (known: wrong-cn)")),
        }
    }
}

/// Identity and behaviour of a simulated unit.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub device_id: String,
    pub model: String,
    pub hw_rev: String,
    pub firmware: String,
    /// Longest frame line the unit accepts, in bytes.
    pub max_frame: usize,
    pub faults: Vec<Fault>,
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
        }
    }
}

/// The state of one simulated unit.
#[derive(Debug)]
pub struct SimDevice {
    cfg: SimConfig,
    state: Lifecycle,
    key: Option<KeyPair>,
    slots: HashMap<&'static str, Vec<u8>>,
    partial: HashMap<&'static str, Vec<u8>>,
    /// Log lines the unit prints between frames.
    pub log: Vec<String>,
}

fn slot_name(slot: Slot) -> &'static str {
    match slot {
        Slot::Device => "device",
        Slot::Chain => "chain",
        Slot::BrokerCa => "broker_ca",
    }
}

type OpResult = Result<serde_json::Value, DeviceFault>;

fn fault(code: &str, msg: impl Into<String>) -> DeviceFault {
    DeviceFault {
        code: code.into(),
        msg: msg.into(),
    }
}

fn ok<T: Serialize>(v: T) -> OpResult {
    serde_json::to_value(v).map_err(|e| fault("internal", e.to_string()))
}

impl SimDevice {
    pub fn new(cfg: SimConfig) -> Self {
        Self {
            cfg,
            state: Lifecycle::Blank,
            key: None,
            slots: HashMap::new(),
            partial: HashMap::new(),
            log: Vec::new(),
        }
    }

    pub fn config(&self) -> &SimConfig {
        &self.cfg
    }

    pub fn state(&self) -> Lifecycle {
        self.state
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
                    let id = serde_json::from_str::<serde_json::Value>(body)
                        .ok()
                        .and_then(|v| v.get("id").and_then(|i| i.as_u64()))
                        .unwrap_or(0) as u32;
                    let code =
                        if body.contains("\"op\"") && e.to_string().contains("unknown variant") {
                            "unknown_op"
                        } else {
                            "bad_request"
                        };
                    Some(error_response(id, code, &e.to_string()))
                }
            },
            Err(e) => Some(error_response(0, "bad_frame", &e.to_string())),
        }
    }

    /// Handles one request and produces its response.
    pub fn handle(&mut self, req: Request) -> Response {
        let result = self.dispatch(req.op);
        match result {
            Ok(res) => Response {
                id: req.id,
                ok: true,
                res: Some(res),
                err: None,
            },
            Err(err) => Response {
                id: req.id,
                ok: false,
                res: None,
                err: Some(err),
            },
        }
    }

    fn dispatch(&mut self, op: Op) -> OpResult {
        match op {
            Op::Hello => ok(Hello {
                protocol: PROTOCOL_VERSION,
                device_id: self.cfg.device_id.clone(),
                model: self.cfg.model.clone(),
                hw_rev: self.cfg.hw_rev.clone(),
                fw_version: self.cfg.firmware.clone(),
                max_frame: self.cfg.max_frame,
                caps: vec![
                    "keygen:ecdsa-p256".into(),
                    "sign_tls13".into(),
                    "challenge".into(),
                ],
                state: self.state,
            }),
            Op::Keygen { alg } => self.keygen(&alg),
            Op::WriteCert {
                slot,
                offset,
                total,
                data,
            } => self.write_cert(slot, offset, total, &data),
            Op::ReadCert { slot } => {
                let der = self
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
                self.sign(&pop_message(&nonce))
            }
            Op::SignTls13 { msg } => {
                if self.state == Lifecycle::Locked {
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
                self.sign(&msg)
            }
            Op::Lock => {
                if self.state != Lifecycle::Certified {
                    return Err(fault(
                        "bad_state",
                        format!("cannot lock in state {:?}", self.state),
                    ));
                }
                self.state = Lifecycle::Locked;
                self.log
                    .push("lifecycle: factory mode off, unit locked".into());
                ok(LockAck { state: self.state })
            }
        }
    }

    fn keygen(&mut self, alg: &str) -> OpResult {
        if alg != "ecdsa-p256" {
            return Err(fault(
                "unsupported",
                format!("algorithm {alg} not supported"),
            ));
        }
        if matches!(self.state, Lifecycle::Certified | Lifecycle::Locked) {
            return Err(fault(
                "bad_state",
                format!("keygen not allowed in state {:?}", self.state),
            ));
        }
        self.log.push("keystore: generating ecdsa-p256 key".into());
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
            .map_err(|e| fault("internal", e.to_string()))?;
        let cn = if self.cfg.faults.contains(&Fault::WrongCsrCn) {
            format!("{}-WRONG", self.cfg.device_id)
        } else {
            self.cfg.device_id.clone()
        };
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, cn);
        params.distinguished_name = dn;
        let csr = params
            .serialize_request(&key)
            .map_err(|e| fault("internal", e.to_string()))?;
        self.key = Some(key);
        self.slots.clear();
        self.state = Lifecycle::Keyed;
        ok(Keygen {
            csr: B64.encode(csr.der()),
        })
    }

    fn write_cert(&mut self, slot: Slot, offset: usize, total: usize, data: &str) -> OpResult {
        if self.state == Lifecycle::Locked {
            return Err(fault(
                "locked",
                "certificate slots are read-only after lock",
            ));
        }
        if self.key.is_none() {
            return Err(fault("bad_state", "no key: run keygen first"));
        }
        let chunk = B64
            .decode(data)
            .map_err(|_| fault("bad_request", "data is not base64"))?;
        let name = slot_name(slot);
        let buf = self.partial.entry(name).or_default();
        if offset == 0 {
            buf.clear();
        }
        if offset != buf.len() || offset + chunk.len() > total || total > 8192 {
            buf.clear();
            return Err(fault("bad_offset", "chunk does not continue the transfer"));
        }
        buf.extend_from_slice(&chunk);
        let received = buf.len();
        let complete = received == total;
        if complete {
            let der = std::mem::take(buf);
            self.slots.insert(name, der);
            self.log
                .push(format!("flash: slot {name} written ({total} bytes)"));
            if slot == Slot::Device {
                self.state = Lifecycle::Certified;
            }
        }
        ok(WriteAck { received, complete })
    }

    fn sign(&self, msg: &[u8]) -> OpResult {
        let key = self
            .key
            .as_ref()
            .ok_or_else(|| fault("bad_state", "no key: run keygen first"))?;
        let sig = key
            .sign(msg)
            .map_err(|e| fault("internal", e.to_string()))?;
        ok(Signature {
            sig: B64.encode(sig),
        })
    }
}

fn error_response(id: u32, code: &str, msg: &str) -> Response {
    Response {
        id,
        ok: false,
        res: None,
        err: Some(fault(code, msg)),
    }
}

fn hex_sha256(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
