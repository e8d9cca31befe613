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
use commissioner_core::pki::admin::{self, RevokeTarget};
use commissioner_core::pki::revoke::Reason;

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
    install_crypto_provider();
    let mut s = station();
    let port = free_port().expect("port");
    let files = lab::prepare(&mut s.station, &s.ca, port).expect("lab files");
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
        port: b.port,
        client_id: id.into(),
        request_topic: format!("provisioning/{id}/request"),
        response_topic: format!("provisioning/{id}/response"),
        user_properties: vec![("deviceType".into(), "TEST".into())],
        payload: serde_json::json!({ "deviceId": id, "certificateSerial": cert.serial })
            .to_string()
            .into_bytes(),
        timeout: Duration::from_secs(20),
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
