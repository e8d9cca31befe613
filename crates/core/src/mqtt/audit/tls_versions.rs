//! Which TLS versions and cipher suites the broker accepts. The station's own client speaks
//! TLS 1.3 (and 1.2 where the profile allows it), so it offers each version on its own: TLS 1.3
//! and every TLS 1.2 suite rustls has, one by one, with rustls; TLS 1.1, TLS 1.0 and the weak
//! TLS 1.2 suites (static RSA key exchange, CBC with HMAC, anonymous), which rustls cannot
//! offer, with `openssl s_client`. Each probe presents the audit's second unit, so that a broker
//! requiring client certificates completes the handshake. A version counts as accepted when the
//! broker answered it with a ServerHello (a suite chosen), whatever it did after.

use std::io;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::{ClientConnection, SupportedCipherSuite};
use rustls_pki_types::ServerName;

use super::{connect_timeout, CheckResult, Configs, Outcome, TestIdentity};
use crate::mqtt::tls::{client_config_with, ClientIdentity, TlsOptions};
use crate::station::BrokerProfile;

const NAME: &str = "tls_versions";

/// TLS 1.2 suites `openssl s_client` offers that no broker should take: static RSA key exchange
/// (no forward secrecy), anonymous and NULL suites; at security level 0, so that OpenSSL does
/// not leave them out itself.
const BROKEN_TLS12: &str = "kRSA:aNULL:eNULL:@SECLEVEL=0";

/// CBC suites with HMAC (forward secret, but MAC-then-encrypt, the family of Lucky 13): in
/// mosquitto's default list, weaker than the AEAD suites, a warning.
const CBC_TLS12: &str = "SHA1:SHA256:SHA384:!kRSA:!aNULL:!eNULL:@SECLEVEL=0";

const BROKEN: &str = "TLS 1.2 suites without forward secrecy or authentication";
const CBC: &str = "TLS 1.2 CBC suites";

/// What one offer got.
enum Answer {
    /// ServerHello: the broker chose this suite.
    Accepted(String),
    /// No ServerHello: an alert or a closed connection.
    Refused(String),
    /// Nothing to judge by: unreachable, silent, or the station could not check the server.
    Unknown(String),
}

/// The check; `probe_id` is a host-held identity of this station's CA.
pub(super) fn tls_versions(p: &BrokerProfile, c: &Configs, probe_id: &TestIdentity) -> CheckResult {
    let t = connect_timeout(p);
    let identity = || ClientIdentity::Local {
        chain: probe_id.chain.clone(),
        key: probe_id.key.clone_key(),
    };
    let base = TlsOptions {
        server_name: p.server_name.as_deref(),
        ..TlsOptions::default()
    };
    let tls13 = match client_config_with(&c.anchors, identity(), &base) {
        Ok(config) => rustls_offer(p, config, t),
        Err(e) => Answer::Unknown(e.to_string()),
    };
    if let Answer::Unknown(why) = &tls13 {
        return CheckResult::new(
            NAME,
            Outcome::Inconclusive,
            format!("the station's TLS 1.3 probe reached no broker to judge: {why}"),
        );
    }
    let mut tls12_accepted = Vec::new();
    let mut tls12_refused = None;
    for suite in tls12_suites() {
        let options = TlsOptions {
            tls12_only: true,
            suite: Some(suite),
            ..base.clone()
        };
        match client_config_with(&c.anchors, identity(), &options) {
            Ok(config) => match rustls_offer(p, config, t) {
                Answer::Accepted(s) => tls12_accepted.push(s),
                Answer::Refused(why) | Answer::Unknown(why) => {
                    tls12_refused.get_or_insert(why);
                }
            },
            Err(e) => {
                tls12_refused.get_or_insert(e.to_string());
            }
        }
    }
    let legacy = Legacy::probe(p, &c.anchors, probe_id, t);
    judge(p, &tls13, &tls12_accepted, tls12_refused, &legacy)
}

fn judge(
    p: &BrokerProfile,
    tls13: &Answer,
    tls12_accepted: &[String],
    tls12_refused: Option<String>,
    legacy: &Legacy,
) -> CheckResult {
    let legacy_accepted =
        matches!(legacy, Legacy::Probed(a) if a.iter().any(|(_, got)| got.is_some()));
    if !matches!(tls13, Answer::Accepted(_)) && tls12_accepted.is_empty() && !legacy_accepted {
        // No ServerHello to any offer: not a TLS listener, or one that refuses every client
        // before choosing anything; nothing about versions is shown.
        return CheckResult::new(
            NAME,
            Outcome::Inconclusive,
            format!(
                "no TLS version was accepted ({}; TLS 1.2: {}): not a TLS listener, or one \
                 that refuses this station's offers before choosing a version",
                match tls13 {
                    Answer::Accepted(_) => String::new(),
                    Answer::Refused(why) | Answer::Unknown(why) => format!("TLS 1.3: {why}"),
                },
                tls12_refused.unwrap_or_else(|| "no suite offered".into())
            ),
        );
    }
    let mut outcome = Outcome::Pass;
    let mut parts = Vec::new();
    match tls13 {
        Answer::Accepted(suite) => parts.push(format!("TLS 1.3 accepted ({suite})")),
        Answer::Refused(why) | Answer::Unknown(why) => {
            parts.push(format!("TLS 1.3 refused ({why})"));
            // A broker without TLS 1.3 is weaker even where the profile accepts TLS 1.2.
            outcome = Outcome::Warn;
        }
    }
    if tls12_accepted.is_empty() {
        parts.push(format!(
            "TLS 1.2 refused ({})",
            tls12_refused.unwrap_or_else(|| "no suite offered".into())
        ));
    } else {
        let suites = tls12_accepted.join(", ");
        if p.tls12_allowed {
            parts.push(format!(
                "TLS 1.2 accepted with {suites} (allowed by the profile's tls12_allowed; weaker \
                 than TLS 1.3)"
            ));
            outcome = outcome.max_with(Outcome::Warn);
        } else {
            parts.push(format!(
                "TLS 1.2 accepted with {suites}, which the profile forbids (tls12_allowed is \
                 false): set the listener's tls_version to tlsv1.3"
            ));
            outcome = Outcome::Fail;
        }
    }
    match legacy {
        Legacy::NotProbed(why) => parts.push(format!(
            "TLS 1.1, TLS 1.0 and legacy TLS 1.2 suites not probed ({why})"
        )),
        Legacy::Probed(answers) => {
            for (what, answer) in answers {
                match answer {
                    Some(got) => {
                        parts.push(format!("{what} ACCEPTED ({got})"));
                        outcome = if *what == CBC {
                            outcome.max_with(Outcome::Warn)
                        } else {
                            Outcome::Fail
                        };
                    }
                    None => parts.push(format!("{what} refused")),
                }
            }
        }
    }
    CheckResult::new(NAME, outcome, parts.join("; "))
}

impl Outcome {
    /// The worse of two outcomes among pass, warn and fail.
    fn max_with(self, other: Outcome) -> Outcome {
        let rank = |o: Outcome| match o {
            Outcome::Fail => 2,
            Outcome::Warn => 1,
            _ => 0,
        };
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

/// Every TLS 1.2 suite of the station's crypto provider.
fn tls12_suites() -> Vec<SupportedCipherSuite> {
    rustls::crypto::aws_lc_rs::default_provider()
        .cipher_suites
        .into_iter()
        .filter(|s| s.version() == &rustls::version::TLS12)
        .collect()
}

/// Whether the broker answers a TLS 1.3-only offer with a ServerHello: `Some(false)` when it
/// refused it, `None` when the probe could not tell (unreachable, silent). Used before a unit's
/// handshake where the profile allows TLS 1.2, because a unit signs only TLS 1.3 handshakes.
pub fn accepts_tls13(p: &BrokerProfile, anchors: &[Vec<u8>]) -> Option<bool> {
    let options = TlsOptions {
        server_name: p.server_name.as_deref(),
        ..TlsOptions::default()
    };
    let config = client_config_with(anchors, ClientIdentity::None, &options).ok()?;
    match rustls_offer(p, config, connect_timeout(p)) {
        Answer::Accepted(_) => Some(true),
        Answer::Refused(_) => Some(false),
        Answer::Unknown(_) => None,
    }
}

/// One TLS handshake with `config`, blocking: the audit runs its checks one after another on
/// its own thread, and a probe is over within the connect limit.
fn rustls_offer(p: &BrokerProfile, config: Arc<rustls::ClientConfig>, t: Duration) -> Answer {
    let addr = match (p.host.as_str(), p.port)
        .to_socket_addrs()
        .map(|mut a| a.next())
    {
        Ok(Some(addr)) => addr,
        Ok(None) | Err(_) => return Answer::Unknown(format!("cannot resolve {}", p.host)),
    };
    let mut sock = match TcpStream::connect_timeout(&addr, t) {
        Ok(s) => s,
        Err(e) => return Answer::Unknown(format!("cannot reach {addr}: {e}")),
    };
    let _ = sock.set_read_timeout(Some(t));
    let _ = sock.set_write_timeout(Some(t));
    let Ok(name) = ServerName::try_from(p.host.clone()) else {
        return Answer::Unknown(format!("{} is not a server name", p.host));
    };
    let mut conn = match ClientConnection::new(config, name) {
        Ok(c) => c,
        Err(e) => return Answer::Unknown(e.to_string()),
    };
    let deadline = Instant::now() + t;
    let mut failure = None;
    while conn.is_handshaking() && Instant::now() < deadline {
        if let Err(e) = conn.complete_io(&mut sock) {
            failure = Some(e);
            break;
        }
    }
    // A ServerHello chose a suite: the version was accepted, whatever came after it (a
    // client certificate refused, the broker's certificate not trusted).
    if let Some(suite) = conn.negotiated_cipher_suite() {
        return Answer::Accepted(format!("{:?}", suite.suite()));
    }
    match failure {
        None => Answer::Unknown("no ServerHello within the connect limit".into()),
        Some(e) => refusal(&e),
    }
}

fn refusal(e: &io::Error) -> Answer {
    match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(rustls::Error::AlertReceived(alert)) => Answer::Refused(format!("alert {alert:?}")),
        Some(other) => Answer::Unknown(other.to_string()),
        None if matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ) =>
        {
            Answer::Unknown("no answer within the connect limit".into())
        }
        None => Answer::Refused(format!("connection closed: {e}")),
    }
}

/// The offers rustls cannot make, by `openssl s_client`.
enum Legacy {
    NotProbed(String),
    /// (what was offered, `Some("protocol, suite")` when accepted).
    Probed(Vec<(&'static str, Option<String>)>),
}

impl Legacy {
    fn probe(p: &BrokerProfile, anchors: &[Vec<u8>], id: &TestIdentity, t: Duration) -> Self {
        let files = match ProbeFiles::write(anchors, id) {
            Ok(f) => f,
            Err(e) => return Legacy::NotProbed(format!("cannot write the probe's files: {e}")),
        };
        let offers: [(&'static str, &str, &str); 4] = [
            ("TLS 1.1", "-tls1_1", "DEFAULT@SECLEVEL=0"),
            ("TLS 1.0", "-tls1", "DEFAULT@SECLEVEL=0"),
            (BROKEN, "-tls1_2", BROKEN_TLS12),
            (CBC, "-tls1_2", CBC_TLS12),
        ];
        let mut answers = Vec::new();
        for (what, version, ciphers) in offers {
            match s_client(p, &files, version, ciphers, t) {
                Ok(answer) => answers.push((what, answer)),
                Err(e) => return Legacy::NotProbed(e),
            }
        }
        Legacy::Probed(answers)
    }
}

/// The probe identity and the broker's CA as files for `openssl`, in a private directory
/// removed on drop.
struct ProbeFiles {
    dir: PathBuf,
}

impl ProbeFiles {
    fn write(anchors: &[Vec<u8>], id: &TestIdentity) -> io::Result<Self> {
        let dir = std::env::temp_dir().join(format!(
            "commissioner-tls-probe-{}",
            uuid::Uuid::new_v4().simple()
        ));
        crate::secure_fs::create_dir(&dir)?;
        let files = Self { dir };
        let pem = |label: &str, der: &[u8]| {
            use base64::Engine;
            let b64 = base64::engine::general_purpose::STANDARD.encode(der);
            let lines: Vec<&str> = b64
                .as_bytes()
                .chunks(64)
                .filter_map(|c| std::str::from_utf8(c).ok())
                .collect();
            format!(
                "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
                lines.join("\n")
            )
        };
        let chain: String = id.chain.iter().map(|c| pem("CERTIFICATE", c)).collect();
        crate::secure_fs::write(&files.path("cert.pem"), chain.as_bytes())?;
        let key = pem("PRIVATE KEY", id.key.secret_der());
        crate::secure_fs::write(&files.path("key.pem"), key.as_bytes())?;
        let ca: String = anchors.iter().map(|c| pem("CERTIFICATE", c)).collect();
        crate::secure_fs::write(&files.path("ca.pem"), ca.as_bytes())?;
        Ok(files)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for ProbeFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One `openssl s_client` offer: `Ok(Some("TLSv1.1, ECDHE-ECDSA-AES256-SHA"))` when the
/// broker chose a suite, `Ok(None)` when it refused, `Err` when openssl could not run.
fn s_client(
    p: &BrokerProfile,
    files: &ProbeFiles,
    version: &str,
    ciphers: &str,
    t: Duration,
) -> Result<Option<String>, String> {
    let mut cmd = Command::new("openssl");
    cmd.arg("s_client")
        .arg("-connect")
        .arg(format!("{}:{}", p.host, p.port))
        .arg(version)
        .args(["-cipher", ciphers])
        .arg("-cert")
        .arg(files.path("cert.pem"))
        .arg("-key")
        .arg(files.path("key.pem"))
        .arg("-CAfile")
        .arg(files.path("ca.pem"))
        .arg("-brief")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(name) = p.server_name.as_deref().or(Some(p.host.as_str())) {
        if name.parse::<std::net::IpAddr>().is_err() {
            cmd.args(["-servername", name]);
        }
    }
    let child = cmd
        .spawn()
        .map_err(|e| format!("openssl not found or not runnable: {e}"))?;
    let out = wait_output(child, t + Duration::from_secs(2))?;
    let text = String::from_utf8_lossy(&out).into_owned();
    let field = |label: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(label))
            .map(|v| v.trim().to_owned())
    };
    Ok(match (field("Protocol version:"), field("Ciphersuite:")) {
        (Some(proto), Some(suite)) => Some(format!("{proto}, {suite}")),
        _ => None,
    })
}

/// Waits for `child` at most `limit`, killing it after; returns stdout and stderr together.
fn wait_output(mut child: std::process::Child, limit: Duration) -> Result<Vec<u8>, String> {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) | Err(_) => {
                let _ = child.kill();
                break;
            }
        }
    }
    child
        .wait_with_output()
        .map(|o| [o.stdout, o.stderr].concat())
        .map_err(|e| format!("openssl: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls12_is_judged_by_the_profile_and_legacy_acceptance_always_fails() {
        let mut p = BrokerProfile::new("h", 1, PathBuf::from("c"));
        let tls13 = Answer::Accepted("TLS13_AES_128_GCM_SHA256".into());
        let none = Legacy::Probed(vec![("TLS 1.1", None), ("TLS 1.0", None)]);
        let r = judge(&p, &tls13, &[], Some("alert ProtocolVersion".into()), &none);
        assert_eq!(r.outcome, Outcome::Pass, "{}", r.evidence);
        let suites = ["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256".to_owned()];
        let r = judge(&p, &tls13, &suites, None, &none);
        assert_eq!(r.outcome, Outcome::Fail, "{}", r.evidence);
        p.tls12_allowed = true;
        let r = judge(&p, &tls13, &suites, None, &none);
        assert_eq!(r.outcome, Outcome::Warn, "{}", r.evidence);
        let cbc = Legacy::Probed(vec![(
            CBC,
            Some("TLSv1.2, ECDHE-ECDSA-AES256-SHA384".into()),
        )]);
        let r = judge(&p, &tls13, &suites, None, &cbc);
        assert_eq!(r.outcome, Outcome::Warn, "{}", r.evidence);
        let old = Legacy::Probed(vec![("TLS 1.1", Some("TLSv1.1, AES256-SHA".into()))]);
        let r = judge(&p, &tls13, &suites, None, &old);
        assert_eq!(r.outcome, Outcome::Fail, "{}", r.evidence);
        assert!(r.evidence.contains("TLS 1.1 ACCEPTED"), "{}", r.evidence);
        let nothing = Answer::Refused("alert HandshakeFailure".into());
        let r = judge(
            &p,
            &nothing,
            &[],
            Some("alert HandshakeFailure".into()),
            &none,
        );
        assert_eq!(r.outcome, Outcome::Inconclusive, "{}", r.evidence);
    }

    #[test]
    fn the_probe_offers_every_tls12_suite_of_the_provider() {
        assert!(tls12_suites().len() >= 3);
    }
}
