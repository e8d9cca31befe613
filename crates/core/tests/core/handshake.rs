//! The provisioning handshake against a real mosquitto and the reference responder (shared
//! subscription, registry validation): Pending polled until Completed, unknown and revoked
//! units Rejected with their reason.

use std::process::Child;
use std::time::Duration;

use commissioner_core::error::Coded;
use commissioner_core::journal::{CertificateRecords, KeyOrigin, NewSession};
use commissioner_core::lab::{self, free_port};
use commissioner_core::mqtt::audit::identities::station_identity;
use commissioner_core::mqtt::handshake::{self, HandshakeOutcome, HandshakeSpec};
use commissioner_core::mqtt::handshake_v311;
use commissioner_core::mqtt::responder::Responder;
use commissioner_core::mqtt::tls::{client_config, install_crypto_provider, ClientIdentity};
use commissioner_core::mqtt::MqttError;
use commissioner_core::pki::revoke::Reason;
use commissioner_core::station::admin::{self, RevokeTarget};

use crate::fixture::{station, LabStation};

/// A broker and a registry-checking responder that answers Pending `pending_first` times.
struct Backend {
    s: LabStation,
    port: u16,
    /// Run the handshake over MQTT 3.1.1.
    v311: bool,
    _responder: Responder,
    broker: Child,
}

impl Drop for Backend {
    fn drop(&mut self) {
        let _ = self.broker.kill();
        let _ = self.broker.wait();
    }
}

fn backend(pending_first: u32) -> Backend {
    backend_with(pending_first, "")
}

/// [`backend`] with `extra_acl` appended to the lab's ACL.
fn backend_with(pending_first: u32, extra_acl: &str) -> Backend {
    install_crypto_provider();
    let mut s = station();
    let port = free_port().expect("port");
    let files = lab::prepare(&mut s.station, &s.ca, port).expect("lab files");
    if !extra_acl.is_empty() {
        let acl = std::fs::read_to_string(&files.acl).expect("acl");
        std::fs::write(&files.acl, format!("{acl}\n{extra_acl}")).expect("acl");
    }
    let broker = lab::start_broker(&files, port).expect("broker");
    let mut cfg = lab::station_responder_config(&s.station, port);
    cfg.pending_first = pending_first;
    let tls = lab::backend_tls(&files, s.ca.root_der()).expect("backend tls");
    let responder = Responder::start(cfg, tls).expect("responder");
    Backend {
        s,
        port,
        v311: false,
        _responder: responder,
        broker,
    }
}

/// Issues `id` (registered unless `register` is false) and runs the handshake as it.
fn handshake_as(
    b: &Backend,
    id: &str,
    register: bool,
    revoke: bool,
) -> Result<HandshakeOutcome, MqttError> {
    handshake_to(b, b.port, id, register, revoke, Duration::from_secs(20))
}

/// [`handshake_as`] to any port, with `timeout` as the reply timeout.
fn handshake_to(
    b: &Backend,
    port: u16,
    id: &str,
    register: bool,
    revoke: bool,
    timeout: Duration,
) -> Result<HandshakeOutcome, MqttError> {
    let now = time::OffsetDateTime::now_utc();
    let (unit, cert) = station_identity(&b.s.ca, id, now).expect("identity");
    if register {
        let journal = b.s.station.journal().expect("journal");
        let session = journal
            .begin_session(&NewSession {
                station_id: "test",
                operator: "test",
                port: "none",
                work_order: None,
                started_at: now,
            })
            .expect("session");
        journal
            .record_issued(session, id, &cert, now, KeyOrigin::Host)
            .expect("record");
        if revoke {
            admin::revoke(
                &journal,
                RevokeTarget::Serial(&cert.serial),
                Reason::KeyCompromise,
                now,
            )
            .expect("revoke");
        }
    }
    let tls = client_config(
        &[b.s.ca.root_der().to_vec()],
        ClientIdentity::Local {
            chain: unit.chain.clone(),
            key: unit.key.clone_key(),
        },
    )
    .expect("tls");
    let spec = HandshakeSpec {
        host: "127.0.0.1".into(),
        port,
        client_id: id.into(),
        request_topic: format!("provisioning/{id}/request"),
        response_topic: format!("provisioning/{id}/response"),
        user_properties: vec![("deviceType".into(), "TEST".into())],
        payload: serde_json::json!({ "deviceId": id, "certificateSerial": cert.serial })
            .to_string()
            .into_bytes(),
        timeout,
        connect_timeout: Duration::from_secs(2),
        session_expiry_secs: 30,
    };
    if b.v311 {
        handshake_v311::run(&spec, tls)
    } else {
        handshake::run(&spec, tls)
    }
}

#[test]
fn pending_is_polled_until_completed() {
    let b = backend(2);
    let outcome = handshake_as(&b, "PEND-1", true, false).expect("completed");
    assert_eq!(outcome.status, "Completed");
    assert_eq!(outcome.pending_polls, 2);
}

#[test]
fn unknown_and_revoked_units_are_rejected_with_a_reason() {
    let b = backend(0);
    let err = handshake_as(&b, "GHOST-1", false, false).expect_err("unknown");
    assert_eq!(err.code(), "handshake.rejected");
    assert!(err.to_string().contains("unknown unit GHOST-1"), "{err}");
    // Revoked in the registry, CRL not yet on the broker: the backend still says no.
    let err = handshake_as(&b, "REVOKED-1", true, true).expect_err("revoked");
    assert_eq!(err.code(), "handshake.rejected");
    assert!(err.to_string().contains("revoked"), "{err}");
}

#[test]
fn mqtt_311_handshake_reads_the_status_from_the_payload() {
    let mut b = backend(1);
    b.v311 = true;
    let outcome = handshake_as(&b, "V311-1", true, false).expect("completed");
    assert_eq!(
        (outcome.status.as_str(), outcome.pending_polls),
        ("Completed", 1)
    );
    let err = handshake_as(&b, "V311-GHOST", false, false).expect_err("unknown");
    assert_eq!(err.code(), "handshake.rejected");
}

#[test]
fn a_silent_peer_costs_the_connect_timeout_not_the_reply_timeout() {
    let mut b = backend(0);
    // Accepts TCP (the kernel does, from the backlog) and never says a word.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port();
    for v311 in [false, true] {
        b.v311 = v311;
        let started = std::time::Instant::now();
        let err = handshake_to(&b, port, "SILENT-1", true, false, Duration::from_secs(60))
            .expect_err("no broker there");
        let took = started.elapsed();
        assert_eq!(err.code(), "mqtt.timeout", "{err}");
        assert!(err.to_string().contains("connecting"), "{err}");
        // Far below the 60 s reply timeout: only the 2 s connect limit was spent.
        assert!(took < Duration::from_secs(30), "v311 {v311}: took {took:?}");
    }
    drop(silent);
}

/// The identity that leaves a forged reply: a client whose ACL lets it write every
/// response topic (a weak ACL, or a leaked identity).
const FORGER: &str = "FORGER-1";

/// Publishes a retained "Completed" reply on `victim`'s response topic as [`FORGER`], in both
/// dialects (status property for MQTT 5, JSON body for 3.1.1).
fn leave_retained_completed(b: &Backend, victim: &str) {
    use commissioner_core::mqtt::handshake::STATUS_PROPERTY;
    use rumqttc::v5::mqttbytes::v5::{Packet, PublishProperties};
    use rumqttc::v5::mqttbytes::QoS;
    use rumqttc::v5::{AsyncClient, Event, MqttOptions};
    use rumqttc::{TlsConfiguration, Transport};

    let now = time::OffsetDateTime::now_utc();
    let (forger, _) = station_identity(&b.s.ca, FORGER, now).expect("identity");
    let tls = client_config(
        &[b.s.ca.root_der().to_vec()],
        ClientIdentity::Local {
            chain: forger.chain.clone(),
            key: forger.key.clone_key(),
        },
    )
    .expect("tls");
    let mut opts = MqttOptions::new(FORGER, "127.0.0.1", b.port);
    opts.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(tls)));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (client, mut events) = AsyncClient::new(opts, 8);
        let props = PublishProperties {
            correlation_data: Some(bytes::Bytes::from_static(b"guessed-correlation")),
            user_properties: vec![(STATUS_PROPERTY.into(), "Completed".into())],
            ..Default::default()
        };
        let body = serde_json::json!({ "deviceId": victim, "status": "Completed" }).to_string();
        client
            .publish_with_properties(
                format!("provisioning/{victim}/response"),
                QoS::AtLeastOnce,
                true,
                body.into_bytes(),
                props,
            )
            .await
            .expect("publish");
        let acked = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::PubAck(ack))) => break ack.reason,
                    Ok(_) => {}
                    Err(e) => panic!("forger connection: {e}"),
                }
            }
        })
        .await
        .expect("PUBACK");
        assert!(
            matches!(
                acked,
                rumqttc::v5::mqttbytes::v5::PubAckReason::Success
                    | rumqttc::v5::mqttbytes::v5::PubAckReason::NoMatchingSubscribers
            ),
            "the test broker must let the forger write: {acked:?}"
        );
        let _ = client.disconnect().await;
    });
}

#[test]
fn a_retained_completed_left_by_another_identity_never_passes_the_handshake() {
    let mut b = backend_with(
        0,
        &format!("user {FORGER}\ntopic write provisioning/+/response\n"),
    );
    for v311 in [true, false] {
        b.v311 = v311;
        let victim = if v311 { "VICTIM-311" } else { "VICTIM-5" };
        leave_retained_completed(&b, victim);
        // The victim is not registered: the real backend rejects it. Only the forged,
        // retained reply could make it pass.
        let err = handshake_as(&b, victim, false, false).expect_err("not the forged Completed");
        assert_eq!(err.code(), "handshake.rejected", "v311 {v311}: {err}");
        assert!(err.to_string().contains("unknown unit"), "{err}");
    }
}
