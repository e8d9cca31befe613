//! A Zephyr unit over SMP as a [`UnitLink`]: stock firmware (OS and file-system groups) or
//! firmware with Commissioner's own group ([`COMMISSIONER_GROUP`], specified in
//! `docs/device-families.md`), told apart by whether the unit answers that group.
use ciborium::Value;
use sha2::{Digest, Sha256};

use super::client::{Request, SmpClient, SmpTimeouts};
use super::header::Op;
use super::{cbor, SmpError};
use crate::device::family::{
    Credentials, LinkRequest, UnitIdentity, UnitLink, ZephyrSmp, ZephyrSmpGroup, ZephyrSmpProfile,
};
use crate::device::DeviceError;
use crate::error::{Coded, ErrorInfo};
use crate::pki::cert_pem;

/// Commissioner's SMP group: user groups start at 64 (`MGMT_GROUP_ID_PERUSER`); 64 itself
/// is taken by a vendor group that smpclient knows, so this one is 80.
pub const COMMISSIONER_GROUP: u16 = 80;
pub const CMD_IDENTITY: u8 = 0;
pub const CMD_KEYGEN: u8 = 1;
pub const CMD_CHALLENGE: u8 = 2;
pub const CMD_SIGN_TLS13: u8 = 3;
pub const CMD_LOCK: u8 = 4;
/// The group's own error codes (`err{group: 80, rc}`).
pub const RC_LOCKED: i128 = 1;
pub const RC_NO_KEY: i128 = 2;
pub const RC_BAD_CONTEXT: i128 = 3;
pub const RC_BAD_NONCE: i128 = 4;
pub const RC_KEYSTORE: i128 = 5;

pub struct ZephyrUnit {
    client: SmpClient<Box<dyn serialport::SerialPort>>,
    profile: ZephyrSmpProfile,
}

/// Opens the port of a `zephyr-smp` unit.
pub fn open(req: &LinkRequest<'_>) -> Result<Box<dyn UnitLink>, ErrorInfo> {
    let port = req.open_port()?;
    let t = &req.timeouts;
    let client = SmpClient::new(
        port,
        SmpTimeouts {
            request: t.other.max(t.write),
            slow: t.keygen.max(t.sign),
        },
    )
    .with_interrupt(req.interrupt.clone())
    .with_path(req.port);
    Ok(Box::new(ZephyrUnit {
        client,
        profile: req.config.zephyr_smp.clone(),
    }))
}

fn info(e: SmpError) -> ErrorInfo {
    e.info()
}

impl ZephyrUnit {
    fn group_call(
        &mut self,
        name: &'static str,
        op: Op,
        id: u8,
        body: Value,
    ) -> Result<Value, SmpError> {
        // Key generation and signing may take seconds on a unit; the identity probe, which a
        // stock unit answers at once with ENOTSUP, must not wait that long.
        let t = &self.client.timeouts;
        let timeout = if id == CMD_IDENTITY {
            t.request
        } else {
            t.slow
        };
        let mut req = Request::new(name, op, COMMISSIONER_GROUP, id, body).timeout(timeout);
        if op == Op::Read {
            req = req.idempotent();
        }
        self.client.call(&req)
    }

    fn sig(
        &mut self,
        name: &'static str,
        id: u8,
        field: &str,
        data: &[u8],
    ) -> Result<Vec<u8>, SmpError> {
        let v = self.group_call(
            name,
            Op::Read,
            id,
            cbor::map(vec![(field, Value::Bytes(data.to_vec()))]),
        )?;
        cbor::bytes(&v, "sig")
            .map(<[u8]>::to_vec)
            .ok_or_else(|| SmpError::BadReply {
                op: name,
                reason: "no 'sig'".into(),
            })
    }

    /// Uploads `data` to `path` and has the unit hash what it stored.
    fn write_verified(&mut self, path: &str, data: &[u8]) -> Result<(), SmpError> {
        self.client.fs_upload(path, data)?;
        let (len, digest) = self.client.fs_sha256(path)?;
        let expected = Sha256::digest(data);
        if len != data.len() || digest != expected.as_slice() {
            return Err(SmpError::HashMismatch {
                path: path.into(),
                expected: hex::encode(expected),
                found: format!("{} ({len} bytes)", hex::encode(&digest)),
            });
        }
        Ok(())
    }

    fn identify_stock(&mut self) -> Result<UnitIdentity, SmpError> {
        let mut fields = Vec::new();
        for c in self.profile.id_fields() {
            let value = self.client.os_info(&c.to_string())?;
            fields.push((c, value));
        }
        let device_id = self.profile.device_id_from(&fields);
        let model = self.client.os_info("i")?;
        let firmware = format!(
            "{} {}",
            self.client.os_info("s")?,
            self.client.os_info("r")?
        );
        Ok(UnitIdentity {
            device_id,
            model: model.trim().to_owned(),
            firmware: firmware.trim().to_owned(),
            mode: &ZephyrSmp,
            details: vec![
                ("mode".into(), "stock".into()),
                ("device_id_rule".into(), self.profile.device_id.clone()),
            ],
        })
    }
}

impl UnitLink for ZephyrUnit {
    fn identify(&mut self) -> Result<UnitIdentity, ErrorInfo> {
        let params = self.client.params().map_err(info)?;
        let probe = self.group_call(
            "commissioner identity",
            Op::Read,
            CMD_IDENTITY,
            cbor::map(vec![]),
        );
        let mut id = match probe {
            Ok(v) => {
                let field = |k: &str| {
                    cbor::text(&v, k).map(str::to_owned).ok_or_else(|| {
                        SmpError::BadReply {
                            op: "commissioner identity",
                            reason: format!("no '{k}'"),
                        }
                        .info()
                    })
                };
                UnitIdentity {
                    device_id: field("device_id")?,
                    model: field("model")?,
                    firmware: field("fw")?,
                    mode: &ZephyrSmpGroup,
                    details: vec![
                        ("mode".into(), "commissioner-group".into()),
                        ("state".into(), field("state")?),
                    ],
                }
            }
            // Stock firmware: no such group.
            Err(e) if e.is_not_supported() => self.identify_stock().map_err(info)?,
            Err(e) => return Err(e.info()),
        };
        let buf = params.map_or_else(
            || {
                format!(
                    "{} (assumed: the unit has no mcumgr params)",
                    self.client.buf_size()
                )
            },
            |p| format!("{} x {}", p.buf_size, p.buf_count),
        );
        id.details.push(("smp_buffer".into(), buf));
        Ok(id)
    }

    fn keygen(&mut self, device_id: &str) -> Result<Vec<u8>, ErrorInfo> {
        let v = self
            .group_call(
                "commissioner keygen",
                Op::Write,
                CMD_KEYGEN,
                cbor::map(vec![("cn", device_id.into())]),
            )
            .map_err(info)?;
        cbor::bytes(&v, "csr").map(<[u8]>::to_vec).ok_or_else(|| {
            SmpError::BadReply {
                op: "commissioner keygen",
                reason: "no 'csr'".into(),
            }
            .info()
        })
    }

    fn write_credentials(&mut self, creds: &Credentials<'_>) -> Result<(), ErrorInfo> {
        let profile = self.profile.clone();
        if let Some(key) = creds.host_key_pem {
            self.write_verified(&profile.key_path, key.as_bytes())
                .map_err(info)?;
        }
        let ca: String = creds.broker_ca.iter().map(|d| cert_pem(d)).collect();
        self.write_verified(&profile.ca_path, ca.as_bytes())
            .map_err(info)?;
        // The certificate last: a unit cut off before it is simply commissioned again.
        let cert = format!("{}{}", cert_pem(creds.certificate), cert_pem(creds.chain));
        self.write_verified(&profile.cert_path, cert.as_bytes())
            .map_err(info)
    }

    fn challenge(&mut self, nonce: &[u8]) -> Result<Vec<u8>, ErrorInfo> {
        self.sig("commissioner challenge", CMD_CHALLENGE, "nonce", nonce)
            .map_err(info)
    }

    fn sign_tls13(&mut self, msg: &[u8]) -> Result<Vec<u8>, DeviceError> {
        self.sig("commissioner sign_tls13", CMD_SIGN_TLS13, "msg", msg)
            .map_err(|e| match e {
                SmpError::Link(d) => d,
                other => DeviceError::Refused {
                    op: "sign_tls13",
                    code: other.code().into(),
                    message: other.to_string(),
                },
            })
    }

    fn lock(&mut self) -> Result<(), ErrorInfo> {
        let v = self
            .group_call("commissioner lock", Op::Write, CMD_LOCK, cbor::map(vec![]))
            .map_err(info)?;
        match cbor::text(&v, "state") {
            Some("locked") => Ok(()),
            other => Err(SmpError::BadReply {
                op: "commissioner lock",
                reason: format!("state after lock is {other:?}"),
            }
            .info()),
        }
    }

    fn take_log(&mut self) -> Vec<String> {
        self.client.take_log()
    }
}
