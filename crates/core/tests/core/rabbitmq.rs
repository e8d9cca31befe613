//! The handshake (MQTT 3.1.1) and the audit against a second real broker: RabbitMQ 3.10's MQTT
//! plugin, TLS 1.3 with client certificates and EXTERNAL login by the certificate's CN. A node
//! takes seconds to boot, so one test function owns one node and runs every case on it.

use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use commissioner_core::error::Coded;
use commissioner_core::lab::{self, free_port, LabFiles, BACKEND_IDENTITY};
use commissioner_core::mqtt::audit::identities::station_identity;
use commissioner_core::mqtt::audit::session::audit_station;
use commissioner_core::mqtt::audit::{CheckResult, Outcome};
use commissioner_core::mqtt::handshake_v311;
use commissioner_core::mqtt::tls::{client_config, install_crypto_provider, ClientIdentity};
use commissioner_core::station::MqttVersion;
use rumqttc::{Client, Event, MqttOptions, Packet, QoS, TlsConfiguration, Transport};

use crate::fixture::{handshake_spec, station, LabStation};

const SERVER: &str = "/usr/lib/rabbitmq/bin/rabbitmq-server";
/// Units with a RabbitMQ user (EXTERNAL login needs one per certificate CN).
const UNIT: &str = "RMQ-UNIT-1";
const OTHER: &str = "RMQ-UNIT-2";
/// The profile's `[broker.audit] unit_prefix`: the audit's units get accounts like any unit.
const AUDIT_PREFIX: &str = "audit-rmq";

/// A RabbitMQ node and its own epmd, on free loopback ports; both end on drop and, through a
/// watchdog, when the test binary dies without dropping them.
struct RabbitNode {
    beam: Child,
    epmd: Child,
    watchdog: Option<Child>,
    port: u16,
    log_dir: PathBuf,
}

impl Drop for RabbitNode {
    fn drop(&mut self) {
        for child in [&mut self.beam, &mut self.epmd] {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(mut dog) = self.watchdog.take() {
            let _ = dog.kill();
            let _ = dog.wait();
        }
    }
}

/// The lab's ACL in RabbitMQ's terms: topic permissions on `amq.topic`, whose routing keys
/// are MQTT topics with `/` turned into `.`; `{username}` is the certificate's CN.
fn definitions() -> String {
    let unit = |name: &str| {
        serde_json::json!({"user": name, "vhost": "/", "exchange": "amq.topic",
            "write": "^provisioning\\.{username}\\.request$",
            "read": "^provisioning\\.{username}\\.response$"})
    };
    let (audit_a, audit_b) = (format!("{AUDIT_PREFIX}-a"), format!("{AUDIT_PREFIX}-b"));
    let users = [UNIT, OTHER, &audit_a, &audit_b, BACKEND_IDENTITY];
    serde_json::json!({
        "vhosts": [{"name": "/"}],
        "users": users.iter().map(|u| serde_json::json!(
            {"name": u, "password_hash": "", "tags": ""})).collect::<Vec<_>>(),
        // Queues and the exchange: MQTT subscriptions need them; topics are limited below.
        "permissions": users.iter().map(|u| serde_json::json!(
            {"user": u, "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"}))
            .collect::<Vec<_>>(),
        "topic_permissions": [unit(UNIT), unit(OTHER), unit(&audit_a), unit(&audit_b),
            {"user": BACKEND_IDENTITY, "vhost": "/", "exchange": "amq.topic",
             "write": "^provisioning\\.[^.]+\\.response$",
             "read": "^provisioning\\.[^.]+\\.request$"}],
    })
    .to_string()
}

fn config(files: &LabFiles, port: u16, defs: &Path) -> String {
    format!(
        "listeners.tcp = none\n\
         mqtt.listeners.tcp = none\n\
         mqtt.listeners.ssl.default = 127.0.0.1:{port}\n\
         ssl_options.cacertfile = {ca}\n\
         ssl_options.certfile = {cert}\n\
         ssl_options.keyfile = {key}\n\
         ssl_options.verify = verify_peer\n\
         ssl_options.fail_if_no_peer_cert = true\n\
         ssl_options.versions.1 = tlsv1.3\n\
         mqtt.ssl_cert_login = true\n\
         ssl_cert_login_from = common_name\n\
         mqtt.allow_anonymous = false\n\
         auth_mechanisms.1 = EXTERNAL\n\
         loopback_users = none\n\
         load_definitions = {defs}\n",
        ca = files.cafile.display(),
        cert = files.broker_cert.display(),
        key = files.broker_key.display(),
        defs = defs.display(),
    )
}

fn watchdog(pids: &[u32]) -> Option<Child> {
    let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
    Command::new("sh")
        .env_clear()
        .arg("-c")
        .arg(format!(
            "while read -r _; do :; done; kill -TERM {} 2>/dev/null",
            pids.join(" ")
        ))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()
}

/// Writes the lab's certificates for the station, then boots a node that trusts its CA.
fn start(s: &mut LabStation) -> RabbitNode {
    let port = free_port().expect("port");
    let files = lab::prepare(&mut s.station, &s.ca, port).expect("lab files");
    let dir = files.dir.join("rabbitmq");
    let home = dir.join("home");
    for d in ["home", "mnesia", "log"] {
        std::fs::create_dir_all(dir.join(d)).expect("rabbitmq dirs");
    }
    let defs = dir.join("definitions.json");
    std::fs::write(&defs, definitions()).expect("definitions");
    let conf = dir.join("rabbitmq.conf");
    std::fs::write(&conf, config(&files, port, &defs)).expect("rabbitmq.conf");
    let plugins = dir.join("enabled_plugins");
    std::fs::write(&plugins, "[rabbitmq_mqtt,rabbitmq_auth_mechanism_ssl].\n").expect("plugins");

    let epmd_port = free_port().expect("port");
    let epmd = Command::new("epmd")
        .env_clear()
        .env("ERL_EPMD_ADDRESS", "127.0.0.1")
        .arg("-port")
        .arg(epmd_port.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("epmd (Debian package erlang-base, pulled in by rabbitmq-server)");
    let started = Instant::now();
    let beam = Command::new(SERVER)
        .env_clear()
        .env("PATH", "/usr/bin:/bin:/usr/sbin:/sbin")
        // Its Erlang cookie, the node's only secret, stays in the test's directory.
        .env("HOME", &home)
        .env("ERL_EPMD_PORT", epmd_port.to_string())
        .env(
            "RABBITMQ_NODENAME",
            format!("commissioner-test-{}@localhost", std::process::id()),
        )
        .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
        .env("RABBITMQ_NODE_PORT", free_port().expect("port").to_string())
        .env("RABBITMQ_DIST_PORT", free_port().expect("port").to_string())
        .env(
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS",
            "-kernel inet_dist_use_interface {127,0,0,1}",
        )
        .env("RABBITMQ_CONFIG_FILE", &conf)
        .env("RABBITMQ_ENABLED_PLUGINS_FILE", &plugins)
        .env("RABBITMQ_MNESIA_BASE", dir.join("mnesia"))
        .env("RABBITMQ_LOG_BASE", dir.join("log"))
        // The script then execs the VM: this child's pid is the broker's, and killing it
        // leaves nothing behind. The pipe stays open and unread, so the VM's shell waits.
        .env("RABBITMQ_ALLOW_INPUT", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("rabbitmq-server (scripts/install-deps.sh installs it)");
    let watchdog = watchdog(&[beam.id(), epmd.id()]);
    let mut node = RabbitNode {
        beam,
        epmd,
        watchdog,
        port,
        log_dir: dir.join("log"),
    };
    let deadline = Instant::now() + Duration::from_secs(90);
    // The MQTT listener opens before the virtual host's stores are up; a client connecting
    // in between is dropped. The node logs when it is done.
    while TcpStream::connect(("127.0.0.1", port)).is_err()
        || !node.log().contains("Server startup complete")
    {
        if Instant::now() > deadline || matches!(node.beam.try_wait(), Ok(Some(_))) {
            panic!("RabbitMQ did not start on {port}: {}", node.log());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("RabbitMQ node up in {:?}", started.elapsed());
    let profile = s.station.config.broker.as_mut().expect("profile");
    profile.mqtt_version = MqttVersion::V311;
    node
}

impl RabbitNode {
    fn log(&self) -> String {
        let mut text = String::new();
        if let Ok(dir) = std::fs::read_dir(&self.log_dir) {
            for entry in dir.flatten() {
                if let Ok(mut f) = std::fs::File::open(entry.path()) {
                    let _ = f.read_to_string(&mut text);
                }
            }
        }
        let lines: Vec<&str> = text.lines().rev().take(40).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join("\n")
    }
}

fn tls_as(s: &LabStation, id: &str) -> std::sync::Arc<rustls::ClientConfig> {
    let now = time::OffsetDateTime::now_utc();
    let (unit, _) = station_identity(&s.ca, id, now).expect("identity");
    client_config(
        &[s.ca.root_der().to_vec()],
        ClientIdentity::Local {
            chain: unit.chain.clone(),
            key: unit.key.clone_key(),
        },
    )
    .expect("tls")
}

/// What a 3.1.1 connection as `cert_id` (client id `client_id`) got: the CONNACK, then the
/// answer to `action`, or the error that ended the connection.
enum Action<'a> {
    Publish(&'a str),
    Subscribe(&'a str),
}

fn try_as(
    s: &LabStation,
    port: u16,
    cert_id: &str,
    client_id: &str,
    action: Action,
) -> Result<String, String> {
    let mut opts = MqttOptions::new(client_id, "127.0.0.1", port);
    opts.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
        tls_as(s, cert_id),
    )));
    let (client, mut conn) = Client::new(opts, 8);
    let sent = match action {
        Action::Publish(topic) => client.publish(topic, QoS::AtLeastOnce, false, b"{}".to_vec()),
        Action::Subscribe(topic) => client.subscribe(topic, QoS::AtLeastOnce),
    };
    sent.map_err(|e| e.to_string())?;
    for event in conn.iter() {
        match event {
            Ok(Event::Incoming(Packet::PubAck(_))) => return Ok("PUBACK".into()),
            Ok(Event::Incoming(Packet::SubAck(ack))) => {
                return Ok(format!("{:?}", ack.return_codes))
            }
            Ok(_) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    Err("connection ended".into())
}

/// A 3.1.1 backend as RabbitMQ permits one: no shared subscriptions, no properties; it answers
/// every request Completed and echoes the request's nonce, as the reference responder does.
fn spawn_backend(s: &LabStation, port: u16) -> std::thread::JoinHandle<()> {
    let files = LabFiles::new(&s.station);
    let tls = lab::backend_tls(&files, s.ca.root_der()).expect("backend tls");
    let mut opts = MqttOptions::new(BACKEND_IDENTITY, "127.0.0.1", port);
    opts.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(tls)));
    let (client, mut conn) = Client::new(opts, 16);
    client
        .subscribe("provisioning/+/request", QoS::AtLeastOnce)
        .expect("subscribe");
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        for event in conn.iter() {
            match event {
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    let _ = ready_tx.send(());
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let Some(id) = p.topic.split('/').nth(1) else {
                        continue;
                    };
                    let req: serde_json::Value =
                        serde_json::from_slice(&p.payload).unwrap_or_default();
                    let reply = serde_json::json!({"deviceId": id, "status": "Completed",
                        "reason": null, "nonce": req.get("nonce")});
                    let _ = client.try_publish(
                        format!("provisioning/{id}/response"),
                        QoS::AtLeastOnce,
                        false,
                        reply.to_string().into_bytes(),
                    );
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    });
    ready_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("backend subscribed");
    handle
}

fn handshake(s: &LabStation, port: u16, id: &str) -> Result<String, String> {
    let spec = handshake_spec(port, id, Duration::from_secs(20), Duration::from_secs(5));
    handshake_v311::run(&spec, tls_as(s, id))
        .map(|o| o.status)
        .map_err(|e| format!("{}: {e}", e.code()))
}

fn outcome<'a>(results: &'a [CheckResult], name: &str) -> &'a CheckResult {
    results
        .iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("no {name} in {results:#?}"))
}

#[test]
fn rabbitmq_mqtt_plugin_commissions_over_311_and_is_audited_honestly() {
    install_crypto_provider();
    let mut s = station();
    let node = start(&mut s);
    let port = node.port;
    let _backend = spawn_backend(&s, port);

    // The handshake of a unit RabbitMQ has a user for.
    assert_eq!(
        handshake(&s, port, UNIT).as_deref(),
        Ok("Completed"),
        "{}",
        node.log()
    );
    // A certificate whose CN has no user: EXTERNAL login finds nobody, CONNACK refuses it.
    let err = handshake(&s, port, "RMQ-NO-USER").expect_err("no user");
    assert!(err.contains("mqtt."), "{err}");

    // What RabbitMQ's topic permissions allow: a refused publish or subscribe ends the
    // connection (3.1.1 has no negative PUBACK; RabbitMQ 3.10 closes instead of a 0x80 SUBACK).
    let own = format!("provisioning/{UNIT}/request");
    assert_eq!(
        try_as(&s, port, UNIT, UNIT, Action::Publish(&own)).as_deref(),
        Ok("PUBACK")
    );
    let foreign = format!("provisioning/{OTHER}/request");
    assert!(try_as(&s, port, UNIT, UNIT, Action::Publish(&foreign)).is_err());
    // A forged reply, on its own response topic or another unit's.
    for topic in [UNIT, OTHER].map(|u| format!("provisioning/{u}/response")) {
        assert!(try_as(&s, port, UNIT, UNIT, Action::Publish(&topic)).is_err());
    }
    let other_reply = format!("provisioning/{OTHER}/response");
    assert!(try_as(&s, port, UNIT, UNIT, Action::Subscribe(&other_reply)).is_err());
    assert!(try_as(&s, port, UNIT, UNIT, Action::Subscribe("#")).is_err());
    assert!(try_as(&s, port, UNIT, UNIT, Action::Subscribe("$SYS/#")).is_err());
    // RabbitMQ 3.10 cannot tie the client id to the certificate: a unit connects under
    // another unit's client id; its topics still follow the certificate.
    assert_eq!(
        try_as(&s, port, UNIT, OTHER, Action::Publish(&own)).as_deref(),
        Ok("PUBACK")
    );
    assert!(try_as(&s, port, UNIT, OTHER, Action::Publish(&foreign)).is_err());

    // The audit, over 3.1.1 like the profile. Without a unit_prefix its units have random
    // names RabbitMQ has no account for: CONNACK "bad user name or password" for the
    // station's own connection. TLS answered first, so what TLS judges is judged; what an
    // attacker reaches is not, and the audit fails.
    let a = audit_station(&s.station, &s.ca, "qa", None).expect("audit runs");
    let r = &a.results;
    assert_eq!(outcome(r, "protocol_version").outcome, Outcome::Warn);
    for name in ["server_certificate", "no_client_certificate", "foreign_ca"] {
        let c = outcome(r, name);
        assert_eq!(c.outcome, Outcome::Pass, "{name}: {}", c.evidence);
    }
    for name in ATTACKER_CHECKS {
        let c = outcome(r, name);
        assert_eq!(c.outcome, Outcome::Inconclusive, "{name}: {}", c.evidence);
        assert!(
            c.evidence.contains("mqtt.bad_credentials"),
            "{}",
            c.evidence
        );
    }
    assert_session_error(&s, a.session_id, "audit.inconclusive");

    // With the profile's unit_prefix, whose units have accounts, the audit judges RabbitMQ.
    if let Some(b) = s.station.config.broker.as_mut() {
        b.audit.unit_prefix = Some(AUDIT_PREFIX.into());
    }
    // RabbitMQ ends the connection on every refused publish or subscribe: 3.1.1 gives the
    // audit no refusal to quote, so those checks warn (not proven), and none passes.
    let a = audit_station(&s.station, &s.ca, "qa", None).expect("audit runs");
    let r = &a.results;
    assert_eq!(outcome(r, "protocol_version").outcome, Outcome::Warn);
    for name in [
        "plaintext_listener",
        "server_certificate",
        "tls_versions",
        "no_client_certificate",
        "foreign_ca",
    ] {
        let c = outcome(r, name);
        assert_eq!(c.outcome, Outcome::Pass, "{name}: {}", c.evidence);
    }
    for name in ATTACKER_CHECKS {
        let c = outcome(r, name);
        assert_eq!(c.outcome, Outcome::Warn, "{name}: {}", c.evidence);
        assert!(c.evidence.contains("connection lost"), "{}", c.evidence);
    }
    let binding = outcome(r, "client_id_binding");
    assert!(
        binding.evidence.contains(&format!(
            "client id {AUDIT_PREFIX}-b accepted with the certificate of {AUDIT_PREFIX}-a"
        )),
        "{}",
        binding.evidence
    );
    assert_eq!(outcome(r, "revoked_certificate").outcome, Outcome::Skipped);
    // 3.1.1 has no enhanced authentication to ask about.
    assert_eq!(outcome(r, "enhanced_auth").outcome, Outcome::Skipped);
    let journal = s.station.journal().expect("journal");
    let session = journal.session(a.session_id).expect("query").expect("row");
    assert_eq!(session.error_code, None);
}

const ATTACKER_CHECKS: [&str; 5] = [
    "client_id_binding",
    "publish_foreign_topic",
    "publish_response_topic",
    "subscribe_isolation",
    "sys_topics",
];

fn assert_session_error(s: &LabStation, session_id: i64, code: &str) {
    let journal = s.station.journal().expect("journal");
    let session = journal.session(session_id).expect("query").expect("row");
    assert_eq!(session.error_code.as_deref(), Some(code));
}
