//! TLS versions and suites: the audit's `tls_versions` check against mosquittos configured to
//! accept TLS 1.3 only, TLS 1.2, and TLS 1.1 with CBC suites; and the handshake against a
//! TLS 1.2-only broker, allowed or not by the profile.

use std::sync::Arc;
use std::time::Duration;

use commissioner_core::error::Coded;
use commissioner_core::lab::{responder_config, Lab, LabFiles};
use commissioner_core::mqtt::audit::identities::station_identity;
use commissioner_core::mqtt::audit::reach::test_connection;
use commissioner_core::mqtt::audit::session::{audit_station, trust_anchors, StationAudit};
use commissioner_core::mqtt::audit::{CheckResult, Outcome};
use commissioner_core::mqtt::handshake;
use commissioner_core::mqtt::responder::Responder;
use commissioner_core::mqtt::tls::{
    client_config_with, ClientIdentity, NegotiatedVersion, TlsOptions, TlsVersion,
};
use commissioner_core::mqtt::MqttError;
use commissioner_devsim::{SimConfig, SimDevice};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::custom_broker::{self, common, tls_listener, CustomBroker, TLS12_ONLY};
use crate::fixture::{commission_sim, handshake_spec, station, LabStation};

fn only_tls_versions(s: &mut LabStation) {
    if let Some(b) = s.station.config.broker.as_mut() {
        b.audit.checks = vec!["tls_versions".into()];
    }
}

fn tls_check(a: &StationAudit) -> &CheckResult {
    a.results
        .iter()
        .find(|r| r.name == "tls_versions")
        .expect("tls_versions reported")
}

/// The lab's TLS listener with `extra` lines (TLS version, ciphers).
fn broker_with(s: &mut LabStation, openssl: Option<&str>, extra: &str) -> CustomBroker {
    let extra = extra.to_owned();
    custom_broker::start_with_openssl(s, openssl, move |files, port| {
        format!(
            "{}{}allow_anonymous false\nrequire_certificate true\n\
             use_identity_as_username true\n{extra}",
            common(files),
            tls_listener(files, port)
        )
    })
}

#[test]
fn the_lab_broker_speaks_tls13_only_and_passes() {
    let mut s = station();
    let _lab = Lab::up(&mut s.station, &s.ca).expect("lab up");
    only_tls_versions(&mut s);
    let a = audit_station(&s.station, &s.ca, "qa", None).expect("audit runs");
    let r = tls_check(&a);
    assert_eq!(r.outcome, Outcome::Pass, "{}", r.evidence);
    for part in [
        "TLS 1.3 accepted",
        "TLS 1.2 refused",
        "TLS 1.1 refused",
        "TLS 1.0 refused",
        "TLS 1.2 suites without forward secrecy or authentication refused",
        "TLS 1.2 CBC suites refused",
    ] {
        assert!(r.evidence.contains(part), "{part}: {}", r.evidence);
    }
}

#[test]
fn tls12_fails_unless_the_profile_allows_it() {
    let mut s = station();
    // mosquitto's tls_version is a minimum: this listener takes TLS 1.3 and TLS 1.2. Its
    // default cipher list has CBC suites too: the profile's policy is about the version, CBC is
    // a warning of its own, so the listener names AEAD suites only.
    let _broker = broker_with(
        &mut s,
        None,
        "tls_version tlsv1.2\nciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384\n",
    );
    only_tls_versions(&mut s);
    let a = audit_station(&s.station, &s.ca, "qa", None).expect("audit runs");
    let r = tls_check(&a);
    assert_eq!(r.outcome, Outcome::Fail, "{}", r.evidence);
    assert!(
        r.evidence
            .contains("TLS 1.2 accepted with TLS_ECDHE_ECDSA_WITH_"),
        "{}",
        r.evidence
    );
    assert!(r.evidence.contains("profile forbids"), "{}", r.evidence);

    if let Some(b) = s.station.config.broker.as_mut() {
        b.tls12_allowed = true;
    }
    let a = audit_station(&s.station, &s.ca, "qa", None).expect("audit runs");
    let r = tls_check(&a);
    assert_eq!(r.outcome, Outcome::Warn, "{}", r.evidence);
    assert!(
        r.evidence.contains("allowed by the profile"),
        "{}",
        r.evidence
    );
}

/// OpenSSL at security level 0 with TLS 1.0 as its floor: what an old broker image runs.
const LEGACY_OPENSSL: &str = "openssl_conf = default_conf\n\
    [default_conf]\nssl_conf = ssl_sect\n\
    [ssl_sect]\nsystem_default = system_default_sect\n\
    [system_default_sect]\nMinProtocol = TLSv1\nCipherString = ALL:@SECLEVEL=0\n";

#[test]
fn tls11_and_cbc_suites_fail_even_where_tls12_is_allowed() {
    let mut s = station();
    let _broker = broker_with(
        &mut s,
        Some(LEGACY_OPENSSL),
        "tls_version tlsv1.1\nciphers ALL:@SECLEVEL=0\n",
    );
    only_tls_versions(&mut s);
    if let Some(b) = s.station.config.broker.as_mut() {
        b.tls12_allowed = true;
    }
    let a = audit_station(&s.station, &s.ca, "qa", None).expect("audit runs");
    let r = tls_check(&a);
    assert_eq!(r.outcome, Outcome::Fail, "{}", r.evidence);
    assert!(r.evidence.contains("TLS 1.1 ACCEPTED"), "{}", r.evidence);
    assert!(
        r.evidence.contains("TLS 1.2 CBC suites ACCEPTED"),
        "{}",
        r.evidence
    );
}

/// A handshake of a host-held identity of the station against the broker on `port`.
fn host_handshake(
    s: &LabStation,
    port: u16,
    tls12: bool,
) -> (Result<(), MqttError>, Option<TlsVersion>) {
    let id = format!("TLS12-{}", rand_suffix());
    let (unit, _) =
        station_identity(&s.ca, &id, time::OffsetDateTime::now_utc()).expect("identity");
    let seen = Arc::new(NegotiatedVersion::default());
    let tls = client_config_with(
        &[s.ca.root_der().to_vec()],
        ClientIdentity::Local {
            chain: unit.chain.clone(),
            key: unit.key.clone_key(),
        },
        &TlsOptions {
            tls12,
            record: Some(seen.clone()),
            ..TlsOptions::default()
        },
    )
    .expect("tls");
    let spec = handshake_spec(port, &id, Duration::from_secs(5), Duration::from_secs(2));
    let outcome = handshake::run(&spec, tls).map(|_| ());
    (outcome, seen.get())
}

fn rand_suffix() -> String {
    format!("{:08x}", rand::random::<u32>())
}

#[test]
fn a_tls12_only_broker_commissions_where_allowed_and_is_refused_with_a_code_where_not() {
    let mut s = station();
    let broker = broker_with(&mut s, Some(TLS12_ONLY), "tls_version tlsv1.2\n");
    let port = s.station.broker().expect("profile").port;
    // The backend on the same TLS 1.2 broker, as the profile lets it.
    let files = LabFiles::new(&s.station);
    let backend = client_config_with(
        &[s.ca.root_der().to_vec()],
        ClientIdentity::Local {
            chain: CertificateDer::pem_file_iter(&files.backend_cert)
                .expect("backend cert")
                .filter_map(Result::ok)
                .collect(),
            key: PrivateKeyDer::from_pem_file(&files.backend_key).expect("backend key"),
        },
        &TlsOptions {
            tls12: true,
            ..TlsOptions::default()
        },
    )
    .expect("backend tls");
    let _responder =
        Responder::start(responder_config(port), backend).expect("responder on TLS 1.2");

    let (refused, _) = host_handshake(&s, port, false);
    let e = refused.expect_err("TLS 1.3 only against a TLS 1.2 broker");
    assert_eq!(e.code(), "mqtt.tls_version", "{e}");
    assert!(e.to_string().contains("tls12_allowed"), "{e}");

    let (done, seen) = host_handshake(&s, port, true);
    done.expect("a TLS 1.2 handshake where the profile allows it");
    assert_eq!(seen, Some(TlsVersion::Tls12));

    // `broker check` (the app's Test connection) says which version it got, and refuses the
    // profile that does not allow it.
    let anchors = trust_anchors(&s.station).expect("anchors");
    let mut profile = s.station.broker().expect("profile").clone();
    let refused = test_connection(&profile, &anchors);
    assert!(!refused.ok, "{}", refused.message);
    assert_eq!(refused.code.as_deref(), Some("mqtt.tls_version"));
    profile.tls12_allowed = true;
    let checked = test_connection(&profile, &anchors);
    assert!(checked.ok, "{}", checked.message);
    assert!(
        checked.message.contains("over TLS 1.2"),
        "{}",
        checked.message
    );

    // A unit whose key signs on the unit: its protocol signs TLS 1.3 input only, so against
    // this broker (which the profile allows) the unit is commissioned without the handshake,
    // and its assurance says so.
    if let Some(b) = s.station.config.broker.as_mut() {
        b.tls12_allowed = true;
    }
    let sim = SimDevice::spawn(SimConfig::default()).expect("simulator");
    let report = commission_sim(&s, &sim);
    assert!(report.passed(), "{}", report.render());
    let skipped: Vec<&str> = report
        .steps
        .iter()
        .filter(|st| st.outcome == "skipped")
        .map(|st| st.name.as_str())
        .collect();
    assert_eq!(skipped, ["handshake", "audit"], "{}", report.render());
    let assurance = report.assurance.clone().expect("assurance");
    assert!(!assurance.handshake_as_unit);
    assert_eq!(
        assurance.handshake_note.as_deref(),
        Some("the broker speaks TLS 1.2 only")
    );
    assert!(
        assurance
            .summary()
            .ends_with("handshake not run as the unit (the broker speaks TLS 1.2 only)"),
        "{}",
        assurance.summary()
    );
    drop(broker);
}
