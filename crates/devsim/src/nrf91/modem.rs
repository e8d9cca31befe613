//! An nRF91 modem's AT command set as far as credentials go, free of I/O: `+CGSN`, `+CGMM`,
//! `+CGMR`, `%DEVICEUUID`, `+CFUN`, `+CMEE`, `%KEYGEN` (P-256 key per sec_tag, CSR and a
//! COSE_Sign1 over its digest), `%CMNG` (write, list with SHA-256, delete) and
//! `%ATTESTTOKEN`, with the `+CME ERROR`s the real modem gives.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, PKCS_ECDSA_P256_SHA256};
use sha2::{Digest, Sha256};

/// How an emulated modem behaves.
#[derive(Debug, Clone)]
pub struct ModemConfig {
    pub imei: String,
    pub uuid: [u8; 16],
    pub firmware: String,
    /// Functional mode at power-on; 1 is a modem an application left active.
    pub cfun: u8,
    /// CSRs in the older modems' encoding (NULL parameter in the signature algorithm).
    pub null_parameter: bool,
    /// The COSE digest does not match the CSR.
    pub bad_cose_digest: bool,
    /// How many credentials the store holds before CME 515.
    pub capacity: usize,
    /// Writes store something other than what was sent.
    pub corrupt_write: bool,
    /// The first client-certificate write restarts the modem: the write is lost, the modem
    /// comes back in its power-on mode with verbose errors off, and prints a boot banner.
    pub reboot_mid_write: bool,
    /// How long `%KEYGEN` takes (seconds on a real modem).
    pub keygen_delay: Duration,
}

impl Default for ModemConfig {
    fn default() -> Self {
        let uuid: [u8; 16] = rand::random();
        let imei = format!("35265610{:07}", rand::random::<u32>() % 10_000_000);
        Self {
            imei,
            uuid,
            firmware: "mfw_nrf9160_1.3.5".into(),
            cfun: 0,
            null_parameter: false,
            bad_cose_digest: false,
            capacity: 32,
            corrupt_write: false,
            reboot_mid_write: false,
            keygen_delay: Duration::ZERO,
        }
    }
}

/// One emulated modem.
pub struct Modem {
    pub cfg: ModemConfig,
    cfun: u8,
    cmee: bool,
    /// (sec_tag, type) → content as stored.
    pub(super) store: BTreeMap<(u32, u8), Vec<u8>>,
    pub(super) keys: BTreeMap<u32, KeyPair>,
    /// The store changed since the last save (`--store`).
    pub(super) dirty: bool,
    /// The reboot fault has fired (it fires once per power-up of the emulator).
    rebooted: bool,
    reboot_now: bool,
}

/// What Zephyr prints when the unit restarts.
pub const BOOT_BANNER: &str = "*** Booting nRF Connect SDK v2.6.1 ***\r\n";

/// `%CMNG` type of a private key (listed, never readable).
const CLIENT_KEY: u8 = 2;

impl Modem {
    pub fn new(cfg: ModemConfig) -> Self {
        Self {
            cfun: cfg.cfun,
            cfg,
            cmee: false,
            store: BTreeMap::new(),
            keys: BTreeMap::new(),
            dirty: false,
            rebooted: false,
            reboot_now: false,
        }
    }

    pub fn uuid_string(&self) -> String {
        let h = hex::encode(self.cfg.uuid);
        format!(
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..]
        )
    }

    pub fn cfun(&self) -> u8 {
        self.cfun
    }

    /// The modem's whole answer to one command line, CR LF terminated.
    pub fn handle(&mut self, cmd: &str) -> String {
        let cmd = cmd.trim();
        let result = match cmd.to_ascii_uppercase().as_str() {
            "" => return String::new(),
            "AT" => Ok(Vec::new()),
            "AT+CMEE=1" => {
                self.cmee = true;
                Ok(Vec::new())
            }
            "AT+CMEE=0" => {
                self.cmee = false;
                Ok(Vec::new())
            }
            "AT+CGSN" => Ok(vec![self.cfg.imei.clone()]),
            "AT+CGSN=1" => Ok(vec![format!("+CGSN: \"{}\"", self.cfg.imei)]),
            "AT+CGMM" => Ok(vec!["nRF9160-SICA".into()]),
            "AT+CGMR" => Ok(vec![self.cfg.firmware.clone()]),
            "AT%DEVICEUUID" => Ok(vec![format!(
                "%DEVICEUUID: {}",
                self.uuid_string().to_uppercase()
            )]),
            "AT+CFUN?" => Ok(vec![format!("+CFUN: {}", self.cfun)]),
            "AT%ATTESTTOKEN" => Ok(vec![format!("%ATTESTTOKEN: \"{}\"", self.attest_token())]),
            _ => self.with_args(cmd),
        };
        if std::mem::take(&mut self.reboot_now) {
            self.cfun = self.cfg.cfun;
            self.cmee = false;
            return format!("\r\n{BOOT_BANNER}");
        }
        match result {
            Ok(lines) => {
                let mut out: String = lines.iter().map(|l| format!("{l}\r\n")).collect();
                out.push_str("OK\r\n");
                out
            }
            Err(Some(code)) if self.cmee => format!("+CME ERROR: {code}\r\n"),
            Err(_) => "ERROR\r\n".into(),
        }
    }

    /// Commands with arguments. `Err(Some(code))` is a CME error, `Err(None)` plain ERROR.
    fn with_args(&mut self, cmd: &str) -> Result<Vec<String>, Option<u32>> {
        if let Some(mode) = cmd.strip_prefix("AT+CFUN=") {
            self.cfun = match mode.trim() {
                m @ ("0" | "1" | "4" | "20" | "21" | "30" | "31" | "40" | "41" | "44") => {
                    m.parse().map_err(|_| None)?
                }
                _ => return Err(None),
            };
            return Ok(Vec::new());
        }
        if let Some(args) = cmd.strip_prefix("AT%KEYGEN=") {
            return self.keygen(args).map(|reply| vec![reply]);
        }
        if let Some(args) = cmd.strip_prefix("AT%CMNG=") {
            return self.cmng(args);
        }
        Err(None)
    }

    /// Credential work needs the modem's radio off: CFUN=0 or 4 (CME 518 otherwise).
    fn offline(&self) -> Result<(), Option<u32>> {
        match self.cfun {
            0 | 4 => Ok(()),
            _ => Err(Some(518)),
        }
    }

    fn keygen(&mut self, args: &str) -> Result<String, Option<u32>> {
        let (nums, attrs) = match args.split_once(",\"") {
            Some((n, a)) => (n, Some(a.trim_end_matches('"'))),
            None => (args, None),
        };
        let mut f = nums.split(',').map(str::trim);
        let sec_tag: u32 = f.next().and_then(|t| t.parse().ok()).ok_or(None)?;
        let (format, kind) = (f.next(), f.next());
        if format != Some("2") || kind != Some("0") {
            // Only the CSR (format 2, key type 0) is emulated.
            return Err(None);
        }
        if sec_tag >= 2_147_483_648 {
            return Err(Some(514));
        }
        self.offline()?;
        std::thread::sleep(self.cfg.keygen_delay);
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|_| Some(523))?;
        let cn = attrs
            .and_then(|a| a.split(',').find_map(|p| p.trim().strip_prefix("CN=")))
            .map(str::to_owned)
            .unwrap_or_else(|| self.uuid_string());
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, cn);
        params.distinguished_name = dn;
        let csr = params.serialize_request(&key).map_err(|_| Some(523))?;
        let mut der = csr.der().to_vec();
        if self.cfg.null_parameter {
            der = with_null_parameter(&der).ok_or(Some(523))?;
        }
        let mut digest = Sha256::digest(&der).to_vec();
        if self.cfg.bad_cose_digest {
            digest[0] ^= 0x01;
        }
        let cose = cose_sign1(&self.cfg.uuid, sec_tag, &digest);
        self.store
            .insert((sec_tag, CLIENT_KEY), key.serialize_der());
        self.keys.insert(sec_tag, key);
        self.dirty = true;
        Ok(format!(
            "%KEYGEN: \"{}.{}\"",
            URL_SAFE_NO_PAD.encode(&der),
            URL_SAFE_NO_PAD.encode(cose)
        ))
    }

    fn cmng(&mut self, args: &str) -> Result<Vec<String>, Option<u32>> {
        let (head, content) = match args.split_once(",\"") {
            Some((h, c)) => (h, Some(c.strip_suffix('"').unwrap_or(c))),
            None => (args, None),
        };
        let mut f = head.split(',').map(str::trim);
        let op = f.next().ok_or(None)?;
        let tag: Option<u32> = f.next().map(|t| t.parse().map_err(|_| None)).transpose()?;
        let kind: Option<u8> = f.next().map(|t| t.parse().map_err(|_| None)).transpose()?;
        match op {
            "0" => {
                let (tag, kind, content) =
                    (tag.ok_or(None)?, kind.ok_or(None)?, content.ok_or(None)?);
                self.offline()?;
                if tag >= 2_147_483_648 {
                    return Err(Some(514));
                }
                // A certificate without its armour is refused. CR LF line endings are taken as
                // sent (and digested as sent): Nordic's device_credentials_installer writes
                // them, so a modem that refused them would fail Nordic's own tool.
                if kind <= 1 && !content.contains("-----BEGIN") {
                    return Err(Some(527));
                }
                if !self.store.contains_key(&(tag, kind)) && self.store.len() >= self.cfg.capacity {
                    return Err(Some(515));
                }
                if kind == 1 && self.cfg.reboot_mid_write && !self.rebooted {
                    self.rebooted = true;
                    self.reboot_now = true;
                    return Ok(Vec::new());
                }
                let mut stored = content.as_bytes().to_vec();
                if self.cfg.corrupt_write {
                    stored.push(b'\n');
                }
                self.store.insert((tag, kind), stored);
                self.dirty = true;
                Ok(Vec::new())
            }
            "1" => Ok(self
                .store
                .iter()
                .filter(|((t, k), _)| tag.is_none_or(|x| x == *t) && kind.is_none_or(|x| x == *k))
                .map(|((t, k), v)| {
                    format!(
                        "%CMNG: {t},{k},\"{}\"",
                        hex::encode_upper(Sha256::digest(v))
                    )
                })
                .collect()),
            "3" => {
                let (tag, kind) = (tag.ok_or(None)?, kind.ok_or(None)?);
                self.offline()?;
                if self.store.remove(&(tag, kind)).is_none() {
                    return Err(Some(513));
                }
                if kind == CLIENT_KEY {
                    self.keys.remove(&tag);
                }
                self.dirty = true;
                Ok(Vec::new())
            }
            _ => Err(None),
        }
    }

    /// A device identity token: CBOR [1, UUID, device type, firmware UUID] and a COSE part.
    fn attest_token(&self) -> String {
        let mut body = Vec::new();
        cbor_head(&mut body, 4, 4);
        body.push(1);
        cbor_bytes(&mut body, &self.cfg.uuid);
        body.push(1);
        cbor_bytes(
            &mut body,
            &Sha256::digest(self.cfg.firmware.as_bytes())[..16],
        );
        let cose = cose_sign1(&self.cfg.uuid, 0, &Sha256::digest(&body));
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&body),
            URL_SAFE_NO_PAD.encode(cose)
        )
    }
}

fn cbor_head(out: &mut Vec<u8>, major: u8, n: u64) {
    let m = major << 5;
    match n {
        0..=23 => out.push(m | n as u8),
        24..=0xff => out.extend([m | 24, n as u8]),
        0x100..=0xffff => {
            out.push(m | 25);
            out.extend((n as u16).to_be_bytes());
        }
        _ => {
            out.push(m | 26);
            out.extend((n as u32).to_be_bytes());
        }
    }
}

fn cbor_bytes(out: &mut Vec<u8>, b: &[u8]) {
    cbor_head(out, 2, b.len() as u64);
    out.extend_from_slice(b);
}

/// COSE_Sign1 (tag 18): protected {1: -7} (ES256), an empty unprotected map, the CSR claim
/// [9, UUID, sec_tag as CBOR, SHA-256, nonce] and a signature. The emulator has no Nordic
/// identity key, so the signature is random bytes: no verifier outside Nordic can check it.
fn cose_sign1(uuid: &[u8; 16], sec_tag: u32, digest: &[u8]) -> Vec<u8> {
    let mut tag = Vec::new();
    cbor_head(&mut tag, 0, u64::from(sec_tag));
    let mut payload = Vec::new();
    cbor_head(&mut payload, 4, 5);
    payload.push(9);
    cbor_bytes(&mut payload, uuid);
    cbor_bytes(&mut payload, &tag);
    cbor_bytes(&mut payload, digest);
    cbor_bytes(&mut payload, &rand::random::<[u8; 16]>());
    let mut out = vec![0xd2];
    cbor_head(&mut out, 4, 4);
    cbor_bytes(&mut out, &[0xa1, 0x01, 0x26]);
    out.push(0xa0);
    cbor_bytes(&mut out, &payload);
    let sig: Vec<u8> = (0..64).map(|_| rand::random::<u8>()).collect();
    cbor_bytes(&mut out, &sig);
    out
}

/// The CSR re-encoded as older modem firmware writes it: the signature AlgorithmIdentifier
/// with an explicit NULL parameter (outside the signed part, so the signature still holds).
fn with_null_parameter(der: &[u8]) -> Option<Vec<u8>> {
    const CANONICAL: &[u8] = &[
        0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02,
    ];
    const WITH_NULL: &[u8] = &[
        0x30, 0x0c, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02, 0x05, 0x00,
    ];
    let hdr = match *der.get(1)? {
        n if n < 0x80 => 2,
        0x81 => 3,
        0x82 => 4,
        _ => return None,
    };
    let at = der.windows(CANONICAL.len()).rposition(|w| w == CANONICAL)?;
    let mut body = der.get(hdr..at)?.to_vec();
    body.extend_from_slice(WITH_NULL);
    body.extend_from_slice(der.get(at + CANONICAL.len()..)?);
    let mut out = vec![0x30];
    match body.len() {
        n if n < 0x80 => out.push(n as u8),
        n if n <= 0xff => out.extend([0x81, n as u8]),
        n => {
            out.push(0x82);
            out.extend((n as u16).to_be_bytes());
        }
    }
    out.extend_from_slice(&body);
    Some(out)
}
