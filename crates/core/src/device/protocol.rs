//! Messages of the reference protocol, version 1 (docs/device-protocol.md). Shared by the
//! station's driver and the simulator so that both are held to the same definition.

use serde::{Deserialize, Serialize};

/// Protocol version this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// Prefix of every message a device may sign with `sign_tls13`: RFC 8446 §4.4.3, the client
/// CertificateVerify context. A device refuses anything else, so the operation cannot be abused
/// as a general-purpose signing oracle.
pub const TLS13_CLIENT_CV_CONTEXT: &[u8] = b"TLS 1.3, client CertificateVerify\0";

/// Domain separation for proof of possession; see `challenge`.
pub const POP_CONTEXT: &[u8] = b"commissioner-pop-v1\0";

/// Domain separation for the authorised unlock.
pub const UNLOCK_CONTEXT: &[u8] = b"commissioner-unlock-v1\0";

/// `hello` capability of a unit that takes unlocks from the unlock authority (a certificate
/// the factory CA issued, OU [`crate::pki::unlock::UNLOCK_OU`]) and from nothing else.
pub const CAP_UNLOCK_AUTHORITY: &str = "unlock_authority";

/// What the factory CA signs to unlock one unit: context, the unit's id, a NUL, its nonce.
/// The id keeps a signature for one unit from unlocking another.
pub fn unlock_message(device_id: &str, nonce: &[u8]) -> Vec<u8> {
    [UNLOCK_CONTEXT, device_id.as_bytes(), b"\0", nonce].concat()
}

/// Capabilities a unit must announce for the station to commission it.
pub const REQUIRED_CAPS: [&str; 3] = ["keygen:ecdsa-p256", "challenge", "sign_tls13"];

/// Builds the message a device signs for a `challenge` nonce.
pub fn pop_message(nonce: &[u8]) -> Vec<u8> {
    [POP_CONTEXT, nonce].concat()
}

/// True when `msg` is a TLS 1.3 client CertificateVerify input: 64 spaces, the context
/// string, then the transcript hash.
pub fn is_tls13_client_cv(msg: &[u8]) -> bool {
    msg.len() > 64 + TLS13_CLIENT_CV_CONTEXT.len()
        && msg[..64].iter().all(|&b| b == b' ')
        && msg[64..].starts_with(TLS13_CLIENT_CV_CONTEXT)
}

/// Lifecycle state of a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lifecycle {
    Blank,
    Keyed,
    Certified,
    Locked,
}

/// Certificate slots on a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Slot {
    Device,
    Chain,
    BrokerCa,
}

/// A request frame body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub id: u32,
    #[serde(flatten)]
    pub op: Op,
}

/// [`Request`] over a borrowed operation, for sending: the same JSON without a copy of the
/// operation (which may carry a secret).
#[derive(Debug, Serialize)]
pub struct RequestRef<'a> {
    pub id: u32,
    #[serde(flatten)]
    pub op: &'a Op,
}

/// Operations and their arguments; binary fields are standard base64.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    Hello {
        /// Protocol versions the station speaks; the unit answers in the highest one it shares.
        /// Absent from pre-negotiation stations, in which case the unit answers in its own.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        versions: Option<Vec<u32>>,
    },
    Keygen {
        alg: String,
    },
    WriteCert {
        slot: Slot,
        offset: usize,
        total: usize,
        data: String,
    },
    ReadCert {
        slot: Slot,
    },
    Challenge {
        nonce: String,
    },
    SignTls13 {
        msg: String,
    },
    Lock,
    /// Stores the broker endpoint and topics the unit uses in the field.
    SetConfig(DeviceConfig),
    /// Restarts the unit; it answers first, then reboots and announces itself with a boot event.
    Reboot,
    /// First half of the authorised unlock: the unit returns a fresh nonce.
    UnlockBegin,
    /// Between the halves, on units with [`CAP_UNLOCK_AUTHORITY`]: the unlock authority's
    /// certificate, in chunks like `write_cert` (RAM only, spent by the next `unlock`).
    UnlockCert {
        offset: usize,
        total: usize,
        data: String,
    },
    /// Second half: a signature over [`unlock_message`], by the unlock authority whose
    /// certificate `unlock_cert` sent (units with [`CAP_UNLOCK_AUTHORITY`]), else by the
    /// factory CA.
    Unlock {
        sig: String,
    },
    /// Host-generated key, only where the station's policy allows it: PKCS#8 DER, base64.
    InjectKey {
        key: Secret,
    },
}

/// A secret a request carries (a host-generated private key, base64): wiped when dropped,
/// so that neither the request nor its retries leave the key behind; never printed.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(text: String) -> Self {
        Self(text)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Broker settings a unit keeps for the field (`set_config`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceConfig {
    pub broker_host: String,
    pub broker_port: u16,
    pub request_topic: String,
    pub response_topic: String,
}

impl Op {
    /// Whether sending the request twice has the same effect as sending it once, so that the
    /// driver may resend it after a timeout or a damaged frame. Anything that creates a key,
    /// moves a transfer or changes the lifecycle is not.
    pub fn is_idempotent(&self) -> bool {
        matches!(
            self,
            Op::Hello { .. }
                | Op::ReadCert { .. }
                | Op::Challenge { .. }
                | Op::SignTls13 { .. }
                | Op::SetConfig(_)
        )
    }

    /// The operation's wire name, for messages and the journal.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Hello { .. } => "hello",
            Op::Keygen { .. } => "keygen",
            Op::WriteCert { .. } => "write_cert",
            Op::ReadCert { .. } => "read_cert",
            Op::Challenge { .. } => "challenge",
            Op::SignTls13 { .. } => "sign_tls13",
            Op::Lock => "lock",
            Op::SetConfig(_) => "set_config",
            Op::Reboot => "reboot",
            Op::UnlockBegin => "unlock_begin",
            Op::UnlockCert { .. } => "unlock_cert",
            Op::Unlock { .. } => "unlock",
            Op::InjectKey { .. } => "inject_key",
        }
    }
}

/// Event name of the unsolicited frame a unit sends after every reset.
pub const BOOT_EVENT: &str = "boot";

/// A response frame body: `res` on success, `err` on failure. An unsolicited event (id 0)
/// carries its name in `evt`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub id: u32,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub res: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub err: Option<DeviceFault>,
}

/// An error reported by the device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceFault {
    pub code: String,
    pub msg: String,
}

/// Result of `hello`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub protocol: u32,
    pub device_id: String,
    pub model: String,
    pub hw_rev: String,
    pub fw_version: String,
    /// Longest frame line, in bytes including marker, CRC and newline, the device accepts.
    pub max_frame: usize,
    pub caps: Vec<String>,
    pub state: Lifecycle,
    /// The unit's clock, Unix seconds UTC, when it has one (capability `clock`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<i64>,
}

/// Result of `keygen`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Keygen {
    /// DER of a PKCS#10 request, base64.
    pub csr: String,
}

/// Result of one `write_cert` chunk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteAck {
    pub received: usize,
    pub complete: bool,
}

/// Result of `read_cert`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertDigest {
    pub len: usize,
    /// SHA-256 of the stored DER, lower-case hex.
    pub sha256: String,
}

/// Result of `challenge` and `sign_tls13`: an ECDSA P-256 / SHA-256 signature, DER, base64.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    pub sig: String,
}

/// Result of `unlock_begin`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnlockNonce {
    pub nonce: String,
}

/// Result of `lock`, `unlock` and `reboot`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockAck {
    pub state: Lifecycle,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_wire_shape() {
        let req = Request {
            id: 3,
            op: Op::ReadCert {
                slot: Slot::BrokerCa,
            },
        };
        let json = serde_json::to_string(&req).expect("serialise");
        assert_eq!(json, r#"{"id":3,"op":"read_cert","slot":"broker_ca"}"#);
        assert_eq!(serde_json::from_str::<Request>(&json).expect("parse"), req);
    }

    #[test]
    fn tls13_context_check() {
        let mut msg = vec![b' '; 64];
        msg.extend_from_slice(TLS13_CLIENT_CV_CONTEXT);
        msg.extend_from_slice(&[7u8; 32]);
        assert!(is_tls13_client_cv(&msg));
        msg[70] = b'X';
        assert!(!is_tls13_client_cv(&msg));
        assert!(!is_tls13_client_cv(&pop_message(b"nonce")));
    }
}
