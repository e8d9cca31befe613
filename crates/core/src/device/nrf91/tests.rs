use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::time::Duration;

use base64::Engine;
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, PKCS_ECDSA_P256_SHA256};
use sha2::{Digest, Sha256};

use super::*;
use crate::error::Coded;

/// A port whose far end answers each line with `reply(line)`.
struct Scripted<F: FnMut(&str) -> String> {
    reply: F,
    line: Vec<u8>,
    out: VecDeque<u8>,
    seen: Vec<String>,
}

impl<F: FnMut(&str) -> String> Scripted<F> {
    fn new(reply: F) -> Self {
        Self {
            reply,
            line: Vec::new(),
            out: VecDeque::new(),
            seen: Vec::new(),
        }
    }
}

impl<F: FnMut(&str) -> String> Read for Scripted<F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.out.is_empty() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        let n = buf.len().min(self.out.len());
        for (i, b) in self.out.drain(..n).enumerate() {
            buf[i] = b;
        }
        Ok(n)
    }
}

impl<F: FnMut(&str) -> String> Write for Scripted<F> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.line.extend_from_slice(buf);
        // A command ends at its CR LF (a PEM inside quotes carries bare LFs).
        while let Some(pos) = self.line.windows(2).position(|w| w == b"\r\n") {
            let line: Vec<u8> = self.line.drain(..pos + 2).collect();
            let text = String::from_utf8_lossy(&line[..pos]).into_owned();
            let answer = (self.reply)(&text);
            self.seen.push(text);
            self.out.extend(answer.bytes());
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

const IMEI: &str = "352656100123456";
const UUID: &str = "50363154-3931-4e7a-80cb-0e1f6c0a2b3c";

fn fast() -> AtTimeouts {
    AtTimeouts {
        command: Duration::from_millis(200),
        keygen: Duration::from_millis(200),
    }
}

/// A raw AT modem with chatter: a log line and colour codes around some replies.
fn raw_modem(fw: &'static str) -> impl FnMut(&str) -> String {
    move |cmd: &str| match cmd {
        "AT+CGSN" => format!("[00:00:01.100,000] <inf> app: hello\r\n\x1b[0m{IMEI}\r\nOK\r\n"),
        "AT+CMEE=1" => "OK\r\n".into(),
        "AT%DEVICEUUID" => format!("%DEVICEUUID: {}\r\nOK\r\n", UUID.to_uppercase()),
        "AT+CGMR" => format!("\x1b[1;32m{fw}\x1b[0m\r\nOK\r\n"),
        c if c.starts_with("at '") => "ERROR\r\n".into(),
        _ => "ERROR\r\n".into(),
    }
}

#[test]
fn raw_modem_is_detected_and_identified_through_log_lines_and_colour_codes() {
    let mut m =
        Nrf91::connect(Scripted::new(raw_modem("mfw_nrf9160_1.3.5")), fast()).expect("connect");
    assert_eq!(m.mode(), AtMode::Raw);
    let id = m.identify().expect("identify");
    assert_eq!(id.imei, IMEI);
    assert_eq!(id.device_uuid.as_deref(), Some(UUID));
    assert_eq!(id.firmware, "mfw_nrf9160_1.3.5");
    assert!(m.take_log().iter().any(|l| l.contains("<inf> app: hello")));
}

#[test]
fn zephyr_shell_is_detected() {
    let shell = |cmd: &str| -> String {
        let Some(inner) = cmd.strip_prefix("at '").and_then(|c| c.strip_suffix('\'')) else {
            return format!("{cmd}: command not found\r\nuart:~$ ");
        };
        // The shell echoes the line, then the modem's reply, then its prompt.
        let reply = match inner {
            "AT+CGSN" => format!("{IMEI}\r\nOK\r\n"),
            "AT+CMEE=1" => "OK\r\n".into(),
            _ => "ERROR\r\n".into(),
        };
        format!("uart:~$ {cmd}\r\n{reply}uart:~$ ")
    };
    let m = Nrf91::connect(Scripted::new(shell), fast()).expect("connect");
    assert_eq!(m.mode(), AtMode::Shell);
}

#[test]
fn no_at_client_has_its_own_code() {
    let silent = |_: &str| String::new();
    let e = Nrf91::connect(Scripted::new(silent), fast())
        .err()
        .expect("refused");
    assert_eq!(e.code(), "nrf91.no_at_client");
}

#[test]
fn firmware_too_old_for_keygen_is_refused_with_its_own_code() {
    let mut m =
        Nrf91::connect(Scripted::new(raw_modem("mfw_nrf9160_1.2.3")), fast()).expect("connect");
    let e = m.identify().expect_err("old firmware refused");
    assert_eq!(e.code(), "nrf91.firmware_too_old");
    assert!(e.to_string().contains("mfw_nrf9160_1.2.3"));
    assert_eq!(firmware_version("mfw_nrf91x1_2.0.1"), Some((2, 0, 1)));
    assert_eq!(
        firmware_version("mfw_nrf9160_1.3.0-FOTA-TEST"),
        Some((1, 3, 0))
    );
}

#[test]
fn every_credential_cme_error_has_a_stable_code() {
    for (cme, code) in [
        (513, "nrf91.not_found"),
        (514, "nrf91.no_access"),
        (515, "nrf91.memory_full"),
        (518, "nrf91.modem_active"),
        (519, "nrf91.exists"),
        (523, "nrf91.keygen_failed"),
        (527, "nrf91.invalid_content"),
        (528, "nrf91.power_off_warning"),
        (999, "nrf91.cme_error"),
    ] {
        assert_eq!(Nrf91Error::cme("AT%CMNG", cme).code(), code, "CME {cme}");
    }
    // A reply line carries it through the link.
    let mut link = AtLink::new(
        Scripted::new(|_: &str| "+CME ERROR: 518\r\n".to_owned()),
        AtMode::Raw,
    );
    let e = link
        .command("AT%KEYGEN=16842753,2,0", Duration::from_millis(200))
        .expect_err("518");
    assert_eq!(e.code(), "nrf91.modem_active");
    assert!(
        !e.to_string().contains("16842753"),
        "no arguments in the message: {e}"
    );
}

// ---- %KEYGEN ----

fn csr(cn: &str) -> Vec<u8> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("key");
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    params.distinguished_name = dn;
    params.serialize_request(&key).expect("csr").der().to_vec()
}

fn cbor_head(out: &mut Vec<u8>, major: u8, n: usize) {
    match n {
        0..=23 => out.push(major << 5 | n as u8),
        24..=255 => out.extend([major << 5 | 24, n as u8]),
        _ => {
            out.push(major << 5 | 25);
            out.extend((n as u16).to_be_bytes());
        }
    }
}

fn cbor_bytes(out: &mut Vec<u8>, b: &[u8]) {
    cbor_head(out, 2, b.len());
    out.extend_from_slice(b);
}

/// COSE_Sign1 over the modem's CSR claim (the signature is filler: the station cannot check
/// it without Nordic's key, and does not pretend to).
fn cose(uuid: &[u8; 16], digest: &[u8]) -> Vec<u8> {
    let mut payload = Vec::new();
    cbor_head(&mut payload, 4, 5);
    payload.push(9);
    cbor_bytes(&mut payload, uuid);
    cbor_bytes(&mut payload, &[0x1a, 0x01, 0x01, 0x00, 0x01]);
    cbor_bytes(&mut payload, digest);
    cbor_bytes(&mut payload, &[0u8; 16]);
    let mut out = vec![0xd2];
    cbor_head(&mut out, 4, 4);
    cbor_bytes(&mut out, &[0xa1, 0x01, 0x26]);
    out.push(0xa0);
    cbor_bytes(&mut out, &payload);
    cbor_bytes(&mut out, &[0x55; 64]);
    out
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

const UUID_BYTES: [u8; 16] = [
    0x50, 0x36, 0x31, 0x54, 0x39, 0x31, 0x4e, 0x7a, 0x80, 0xcb, 0x0e, 0x1f, 0x6c, 0x0a, 0x2b, 0x3c,
];

#[test]
fn keygen_reply_is_parsed_and_its_cose_digest_checked() {
    let der = csr(UUID);
    let digest = Sha256::digest(&der);
    let reply = keygen::parse(&format!(
        "\"{}.{}\"",
        b64(&der),
        b64(&cose(&UUID_BYTES, &digest))
    ))
    .expect("parsed");
    assert_eq!(reply.csr_der, der);
    assert!(reply.attested);
    assert_eq!(reply.device_uuid.as_deref(), Some(UUID));

    let mut other = digest.to_vec();
    other[0] ^= 1;
    let e = keygen::parse(&format!(
        "{}.{}",
        b64(&der),
        b64(&cose(&UUID_BYTES, &other))
    ))
    .expect_err("mismatch");
    assert_eq!(e.code(), "nrf91.cose_digest_mismatch");

    let e =
        keygen::parse(&format!("{}.{}", b64(&der), b64(b"\x82\x01\x02"))).expect_err("not COSE");
    assert_eq!(e.code(), "nrf91.bad_keygen_reply");
}

/// The older modems' encoding: the signature AlgorithmIdentifier with a NULL parameter.
fn with_null_parameter(der: &[u8]) -> Vec<u8> {
    let canonical: &[u8] = &[
        0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02,
    ];
    let with_null: &[u8] = &[
        0x30, 0x0c, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02, 0x05, 0x00,
    ];
    // rcgen's P-256 CSRs are 128..255 bytes long: a one-byte long-form outer length.
    assert_eq!(der[1], 0x81, "test assumes a one-byte long-form length");
    let at = der
        .windows(canonical.len())
        .rposition(|w| w == canonical)
        .expect("signature algorithm");
    let mut body = der[3..at].to_vec();
    body.extend_from_slice(with_null);
    body.extend_from_slice(&der[at + canonical.len()..]);
    let mut out = vec![0x30, 0x81, u8::try_from(body.len()).expect("short CSR")];
    out.extend_from_slice(&body);
    out
}

#[test]
fn csr_with_null_signature_parameter_is_accepted_and_normalised() {
    let der = csr(UUID);
    let old = with_null_parameter(&der);
    assert_ne!(old, der);
    assert_eq!(keygen::normalise_csr(&old), der);
    // The digest is over the bytes as sent, NULL and all.
    let reply = keygen::parse(&format!(
        "{}.{}",
        b64(&old),
        b64(&cose(&UUID_BYTES, &Sha256::digest(&old)))
    ))
    .expect("accepted");
    assert_eq!(reply.csr_as_sent, old);
    assert_eq!(reply.csr_der, der);
    crate::pki::csr::validate(&reply.csr_der, UUID).expect("the station's CSR policy accepts it");
    // Anything else passes through untouched for the policy to judge.
    assert_eq!(
        keygen::normalise_csr(b"\x30\x03\x02\x01\x00"),
        b"\x30\x03\x02\x01\x00"
    );
}

// ---- %CMNG and CFUN ----

/// A modem with a `%CMNG` store that digests what it received, and a CFUN state that gates
/// writes as the real one does.
fn store_modem(
    cfun: std::rc::Rc<std::cell::Cell<u8>>,
    corrupt: bool,
) -> impl FnMut(&str) -> String {
    let mut store = std::collections::BTreeMap::<(u32, u8), String>::new();
    move |cmd: &str| {
        if cmd == "AT+CGSN" {
            return format!("{IMEI}\r\nOK\r\n");
        }
        if cmd == "AT+CMEE=1" {
            return "OK\r\n".into();
        }
        if cmd == "AT+CFUN?" {
            return format!("+CFUN: {}\r\nOK\r\n", cfun.get());
        }
        if let Some(m) = cmd.strip_prefix("AT+CFUN=") {
            cfun.set(m.parse().unwrap_or(0));
            return "OK\r\n".into();
        }
        if let Some(rest) = cmd.strip_prefix("AT%CMNG=0,") {
            if cfun.get() != 4 {
                return "+CME ERROR: 518\r\n".into();
            }
            let mut f = rest.splitn(3, ',');
            let tag: u32 = f.next().and_then(|t| t.parse().ok()).unwrap_or(0);
            let ty: u8 = f.next().and_then(|t| t.parse().ok()).unwrap_or(0);
            let mut text = f.next().unwrap_or("").trim_matches('"').to_owned();
            if corrupt {
                text.push('x');
            }
            store.insert((tag, ty), text);
            return "OK\r\n".into();
        }
        if let Some(rest) = cmd.strip_prefix("AT%CMNG=1,") {
            let mut f = rest.split(',');
            let tag: u32 = f.next().and_then(|t| t.parse().ok()).unwrap_or(0);
            let ty: u8 = f.next().and_then(|t| t.parse().ok()).unwrap_or(0);
            return match store.get(&(tag, ty)) {
                Some(t) => format!(
                    "%CMNG: {tag},{ty},\"{}\"\r\nOK\r\n",
                    hex::encode_upper(Sha256::digest(t.as_bytes()))
                ),
                None => "OK\r\n".into(),
            };
        }
        "ERROR\r\n".into()
    }
}

const PEM: &str =
    "-----BEGIN CERTIFICATE-----\r\nMIIBszCCAVmgAwIBAgIU\r\n-----END CERTIFICATE-----\r\n";

#[test]
fn a_modem_left_active_is_taken_offline_for_the_write_and_restored() {
    let cfun = std::rc::Rc::new(std::cell::Cell::new(1));
    let mut m =
        Nrf91::connect(Scripted::new(store_modem(cfun.clone(), false)), fast()).expect("connect");
    let e = m
        .write_verified(42, ROOT_CA_CERT, PEM)
        .expect_err("active modem refuses");
    assert_eq!(e.code(), "nrf91.modem_active");
    m.go_offline().expect("offline");
    assert_eq!(cfun.get(), 4);
    m.write_verified(42, ROOT_CA_CERT, PEM)
        .expect("written and verified");
    // Written with LF endings, and verified against the digest of exactly that text.
    assert_eq!(
        m.stored_digest(42, ROOT_CA_CERT).expect("listed"),
        hex::encode_upper(Sha256::digest(lf_pem(PEM).as_bytes()))
    );
    assert!(!lf_pem(PEM).contains('\r'));
    m.leave_offline().expect("restored");
    assert_eq!(cfun.get(), 1);
}

#[test]
fn a_write_that_does_not_persist_as_sent_is_caught() {
    let cfun = std::rc::Rc::new(std::cell::Cell::new(4));
    let mut m = Nrf91::connect(Scripted::new(store_modem(cfun, true)), fast()).expect("connect");
    let e = m
        .write_verified(42, CLIENT_CERT, PEM)
        .expect_err("mismatch");
    assert_eq!(e.code(), "nrf91.write_mismatch");
}
