//! An emulated Zephyr unit's SMP server, free of I/O: a packet in, a packet out. OS group
//! (echo, mcumgr params, info), file-system group (upload, download, status, hash,
//! supported hashes) over an in-memory file store, and Commissioner's group (`group.rs`)
//! where the firmware has it.

use std::collections::BTreeMap;

use ciborium::Value;
use commissioner_core::device::smp::cbor::{self, Refusal};
use commissioner_core::device::smp::client::{
    FS_FILE, FS_HASH, GROUP_FS, GROUP_OS, OS_ECHO, OS_INFO, OS_MCUMGR_PARAMS,
};
use commissioner_core::device::smp::header::{self, Header, Op};
use commissioner_core::device::smp::unit::COMMISSIONER_GROUP;
use rcgen::KeyPair;
use sha2::{Digest, Sha256};

use super::{ZephyrFault, ZephyrSimConfig};

pub const FS_STATUS: u8 = 1;
pub const FS_SUPPORTED_HASHES: u8 = 3;

/// One answer: the response body, or an error in the shape Zephyr uses for it.
pub(super) type Answer = Result<Value, Refusal>;

/// A management error (`rc`, both versions).
pub(super) fn mgmt(rc: i128) -> Refusal {
    Refusal { group: None, rc }
}

/// A group's own error (`err{group, rc}` in version 2).
pub(super) fn group_err(group: u16, rc: i128) -> Refusal {
    Refusal {
        group: Some(group),
        rc,
    }
}

/// The emulated unit's state.
pub struct ZephyrUnit {
    pub(super) cfg: ZephyrSimConfig,
    pub(super) files: BTreeMap<String, Vec<u8>>,
    pub(super) key: Option<KeyPair>,
    pub(super) locked: bool,
    /// Log lines the unit prints next.
    pub(super) log: Vec<String>,
}

impl std::fmt::Debug for ZephyrUnit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZephyrUnit")
            .field("files", &self.files.keys().collect::<Vec<_>>())
            .field("locked", &self.locked)
            .finish_non_exhaustive()
    }
}

impl ZephyrUnit {
    pub fn new(cfg: ZephyrSimConfig) -> Self {
        Self {
            cfg,
            files: BTreeMap::new(),
            key: None,
            locked: false,
            log: Vec::new(),
        }
    }

    pub(super) fn has(&self, f: ZephyrFault) -> bool {
        self.cfg.faults.contains(&f)
    }

    pub fn file(&self, path: &str) -> Option<&[u8]> {
        self.files.get(path).map(Vec::as_slice)
    }

    pub fn is_locked(&self) -> bool {
        self.locked
    }

    /// The response packet to a request packet; `None` for anything that is not a request.
    pub fn handle(&mut self, packet: &[u8]) -> Option<Vec<u8>> {
        let (h, body) = Header::parse(packet)?;
        if !h.op.is_request() {
            return None;
        }
        let answer = match cbor::decode(body) {
            Ok(req) => self.dispatch(&h, &req),
            Err(_) => Err(mgmt(cbor::MGMT_ERR_EINVAL)),
        };
        let body = match answer {
            Ok(v) => v,
            // Version 2 group errors as `err{group, rc}`; management errors, and everything
            // a version 1 client gets, as a bare `rc`.
            Err(Refusal { group: Some(g), rc }) if h.version == header::VERSION_2 => {
                cbor::map(vec![(
                    "err",
                    cbor::map(vec![
                        ("group", Value::from(g)),
                        ("rc", Value::from(rc as i64)),
                    ]),
                )])
            }
            Err(r) => cbor::map(vec![("rc", Value::from(r.rc as i64))]),
        };
        Some(header::packet(
            h.op.response(),
            h.version,
            h.group,
            h.seq,
            h.id,
            &cbor::encode(&body),
        ))
    }

    fn dispatch(&mut self, h: &Header, req: &Value) -> Answer {
        match (h.group, h.id, h.op) {
            (GROUP_OS, OS_ECHO, Op::Write) => {
                let d = cbor::text(req, "d").ok_or(mgmt(cbor::MGMT_ERR_EINVAL))?;
                Ok(cbor::map(vec![("r", d.into())]))
            }
            (GROUP_OS, OS_MCUMGR_PARAMS, Op::Read) => {
                // The mtu-overflow unit claims more than it takes.
                let claimed = if self.has(ZephyrFault::MtuOverflow) {
                    self.cfg.buf_size * 4
                } else {
                    self.cfg.buf_size
                };
                Ok(cbor::map(vec![
                    ("buf_size", Value::from(claimed as u64)),
                    ("buf_count", Value::from(4)),
                ]))
            }
            (GROUP_OS, OS_INFO, Op::Read) => self.os_info(cbor::text(req, "format").unwrap_or("s")),
            (GROUP_FS, FS_FILE, Op::Write) => self.upload(req),
            (GROUP_FS, FS_FILE, Op::Read) => self.download(req),
            (GROUP_FS, FS_STATUS, Op::Read) => {
                let data = self.named(req)?;
                Ok(cbor::map(vec![("len", Value::from(data.len() as u64))]))
            }
            (GROUP_FS, FS_HASH, Op::Read) => self.hash(req),
            (GROUP_FS, FS_SUPPORTED_HASHES, Op::Read) => {
                let kind = |format: u8, size: u8| {
                    cbor::map(vec![("format", format.into()), ("size", size.into())])
                };
                Ok(cbor::map(vec![(
                    "types",
                    cbor::map(vec![("crc32", kind(0, 4)), ("sha256", kind(1, 32))]),
                )]))
            }
            (COMMISSIONER_GROUP, id, op) if self.cfg.commissioner_group => {
                self.group_op(id, op, req)
            }
            _ => Err(mgmt(cbor::MGMT_ERR_ENOTSUP)),
        }
    }

    fn os_info(&self, format: &str) -> Answer {
        let field = |c: char| -> Option<String> {
            Some(match c {
                's' | 'o' => "Zephyr".into(),
                'n' => self.cfg.node_name.clone(),
                'r' => "4.1.0".into(),
                'v' => "v4.1.0-commissioner-sim".into(),
                'b' => "Dec  4 2026 08:00:00".into(),
                'm' => "arm".into(),
                'p' => "cortex-m33".into(),
                'i' => self.cfg.board.clone(),
                _ => return None,
            })
        };
        let letters: Vec<char> = if format == "a" {
            "snrvbmpio".chars().collect()
        } else {
            format.chars().collect()
        };
        let mut parts = Vec::new();
        for c in letters {
            // Zephyr: an unknown format letter is refused (OS_MGMT_ERR_INVALID_FORMAT).
            parts.push(field(c).ok_or(group_err(GROUP_OS, 3))?);
        }
        Ok(cbor::map(vec![("output", parts.join(" ").into())]))
    }

    fn named(&self, req: &Value) -> Result<&Vec<u8>, Refusal> {
        let name = cbor::text(req, "name").ok_or(mgmt(cbor::MGMT_ERR_EINVAL))?;
        self.files
            .get(name)
            .ok_or(group_err(GROUP_FS, cbor::FS_ERR_FILE_NOT_FOUND))
    }

    fn upload(&mut self, req: &Value) -> Answer {
        let name = cbor::text(req, "name").ok_or(mgmt(cbor::MGMT_ERR_EINVAL))?;
        let data = cbor::bytes(req, "data").ok_or(mgmt(cbor::MGMT_ERR_EINVAL))?;
        let off = cbor::int(req, "off")
            .and_then(|n| usize::try_from(n).ok())
            .ok_or(mgmt(cbor::MGMT_ERR_EINVAL))?;
        if off == 0 {
            let len = cbor::int(req, "len")
                .and_then(|n| usize::try_from(n).ok())
                .ok_or(mgmt(cbor::MGMT_ERR_EINVAL))?;
            let others: usize = self
                .files
                .iter()
                .filter(|(k, _)| *k != name)
                .map(|(_, v)| v.len())
                .sum();
            if others + len > self.cfg.fs_capacity {
                self.log
                    .push(format!("<err> fs_mgmt: no space for {name} ({len} bytes)"));
                return Err(group_err(GROUP_FS, cbor::FS_ERR_FILE_WRITE_FAILED));
            }
            self.files.insert(name.to_owned(), Vec::with_capacity(len));
        }
        let file = self
            .files
            .get_mut(name)
            .ok_or(group_err(GROUP_FS, cbor::FS_ERR_OFFSET_NOT_VALID))?;
        if off != file.len() {
            return Err(group_err(GROUP_FS, cbor::FS_ERR_OFFSET_NOT_VALID));
        }
        file.extend_from_slice(data);
        let now = file.len();
        Ok(cbor::map(vec![("off", Value::from(now as u64))]))
    }

    fn download(&self, req: &Value) -> Answer {
        let data = self.named(req)?;
        let off = cbor::int(req, "off")
            .and_then(|n| usize::try_from(n).ok())
            .ok_or(mgmt(cbor::MGMT_ERR_EINVAL))?;
        if off > data.len() {
            return Err(group_err(GROUP_FS, 12));
        }
        // What fits the unit's buffer beside the header, the keys and the frame overhead.
        let room = self.cfg.buf_size.saturating_sub(64).max(16);
        let end = (off + room).min(data.len());
        let mut fields = vec![
            ("off", Value::from(off as u64)),
            ("data", Value::Bytes(data[off..end].to_vec())),
        ];
        if off == 0 {
            fields.push(("len", Value::from(data.len() as u64)));
        }
        Ok(cbor::map(fields))
    }

    fn hash(&self, req: &Value) -> Answer {
        let data = self.named(req)?;
        let kind = cbor::text(req, "type").unwrap_or("crc32");
        let output = match kind {
            "sha256" => {
                let mut d = Sha256::digest(data).to_vec();
                if self.has(ZephyrFault::BadHash) {
                    d[0] ^= 0xff;
                }
                Value::Bytes(d)
            }
            "crc32" => Value::from(crc32fast::hash(data)),
            _ => return Err(group_err(GROUP_FS, 13)),
        };
        Ok(cbor::map(vec![
            ("type", kind.into()),
            ("len", Value::from(data.len() as u64)),
            ("output", output),
        ]))
    }
}
