//! Retries against a real broker that is not there yet: the first attempt is refused, the
//! broker starts during the backoff, a later attempt completes the handshake.

use std::time::Duration;

use commissioner_core::lab::{self, free_port};
use commissioner_core::mqtt::audit::identities::station_identity;
use commissioner_core::mqtt::handshake::{self, HandshakeSpec};
use commissioner_core::mqtt::responder::Responder;
use commissioner_core::mqtt::retry::{with_retry, RetryEnv};
use commissioner_core::mqtt::tls::{client_config, install_crypto_provider, ClientIdentity};
use commissioner_core::station::RetryPolicy;
use rustls_pki_types::CertificateDer;

use crate::fixture::station;

#[test]
fn handshake_waits_for_a_broker_that_starts_late() {
    install_crypto_provider();
    let mut s = station();
    let port = free_port().expect("port");
    let files = lab::prepare(&mut s.station, &s.ca, port).expect("lab files");
    let (unit, _) =
        station_identity(&s.ca, "LATE-1", time::OffsetDateTime::now_utc()).expect("identity");
    let tls = client_config(
        &[s.ca.root_der().to_vec()],
        ClientIdentity::Local {
            chain: unit.chain.iter().map(CertificateDer::clone).collect(),
            key: unit.key.clone_key(),
        },
    )
    .expect("tls");
    let spec = HandshakeSpec {
        host: "127.0.0.1".into(),
        port,
        client_id: unit.id.clone(),
        request_topic: "provisioning/LATE-1/request".into(),
        response_topic: "provisioning/LATE-1/response".into(),
        user_properties: vec![],
        payload: b"{}".to_vec(),
        timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(10),
        session_expiry_secs: 0,
    };

    let mut broker = None;
    let mut responder = None;
    let mut errors = Vec::new();
    let mut attempts = 0;
    let outcome = with_retry(
        &RetryPolicy::default(),
        RetryEnv {
            jitter: &mut || 0.0,
            sleep: &mut std::thread::sleep,
            // The broker "comes up" while the station backs off after the first refusal.
            on_retry: &mut |_, err, _| {
                errors.push(commissioner_core::error::Coded::code(err));
                if broker.is_none() {
                    broker = Some(lab::start_broker(&files, port).expect("broker"));
                    let tls = lab::backend_tls(&files, s.ca.root_der()).expect("backend tls");
                    responder = Some(
                        Responder::start(lab::responder_config(port), tls).expect("responder"),
                    );
                }
            },
        },
        || {
            attempts += 1;
            handshake::run(&spec, tls.clone())
        },
    );
    drop(responder);
    if let Some(mut b) = broker {
        let _ = b.kill();
        let _ = b.wait();
    }
    let outcome = outcome.expect("handshake after the broker started");
    assert_eq!(outcome.status, "Completed");
    assert_eq!(errors.first(), Some(&"mqtt.unreachable"), "{errors:?}");
    assert!(attempts >= 2);
}

#[test]
fn a_refused_identity_is_not_retried_against_a_real_broker() {
    install_crypto_provider();
    let (s, lab) = crate::fixture::station_with_lab();
    // A certificate from a CA the broker does not trust: refused by TLS, never retried.
    let foreign = commissioner_core::mqtt::audit::identities::foreign_identity(
        "FOREIGN-1",
        time::OffsetDateTime::now_utc(),
    )
    .expect("foreign");
    let tls = client_config(
        &[s.ca.root_der().to_vec()],
        ClientIdentity::Local {
            chain: foreign.chain.clone(),
            key: foreign.key.clone_key(),
        },
    )
    .expect("tls");
    let spec = HandshakeSpec {
        host: "127.0.0.1".into(),
        port: lab.port(),
        client_id: "FOREIGN-1".into(),
        request_topic: "provisioning/FOREIGN-1/request".into(),
        response_topic: "provisioning/FOREIGN-1/response".into(),
        user_properties: vec![],
        payload: b"{}".to_vec(),
        timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(10),
        session_expiry_secs: 0,
    };
    let mut attempts = 0;
    let err = with_retry(
        &RetryPolicy::default(),
        RetryEnv {
            jitter: &mut || 0.0,
            sleep: &mut |_| {},
            on_retry: &mut |_, _, _| {},
        },
        || {
            attempts += 1;
            handshake::run(&spec, tls.clone())
        },
    )
    .expect_err("refused");
    assert_eq!(
        commissioner_core::error::Coded::code(&err),
        "mqtt.untrusted_client_ca"
    );
    assert_eq!(attempts, 1);
}
