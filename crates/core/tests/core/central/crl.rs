//! `ca crl --central` against the real PostgreSQL: a revocation at one station reaches the CRL
//! of every station whose CA signed the certificate, and only those.

use std::path::Path;

use commissioner_core::central::connect;
use commissioner_core::central::outbox::backlog;
use commissioner_core::central::sync::sync_once;
use commissioner_core::error::Coded;
use commissioner_core::journal::Journal;

use super::opts;
use crate::fixture::{central_profile, pg};

/// A unit commissioned at `station` on `journal` with `ca`: its certificate active and its
/// session sealed (so it travels to the central store).
fn commission(
    ca: &commissioner_core::pki::UnlockedCa,
    journal: &Journal,
    station: &str,
    id: &str,
) -> commissioner_core::pki::IssuedCert {
    use commissioner_core::journal::{CertificateRecords, NewSession, SessionResult};
    use commissioner_core::pki::issue::{Subject, Usage};
    let now = time::OffsetDateTime::now_utc();
    let session = journal
        .begin_session(&NewSession {
            station_id: station,
            operator: "test",
            port: "none",
            work_order: None,
            started_at: now,
        })
        .expect("session");
    let (cert, _key) = ca
        .issue_with_new_key(
            &Subject {
                common_name: id,
                organization: "Test",
                validity_days: 30,
                usage: Usage::Client,
                alt_names: vec![],
            },
            now,
        )
        .expect("issue");
    journal
        .record_certificate(session, id, &cert)
        .expect("record");
    journal.activate_certificate(&cert.serial).expect("active");
    journal
        .finish_session(session, SessionResult::Pass, None, now)
        .expect("seal");
    cert
}

fn crl_text(path: &Path) -> String {
    let out = std::process::Command::new("openssl")
        .args(["crl", "-noout", "-text", "-in"])
        .arg(path)
        .output()
        .expect("openssl crl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_revocation_at_one_station_reaches_the_central_crl_of_every_station_of_that_ca() {
    use commissioner_core::pki::revoke::Reason;
    use commissioner_core::station::admin::{self, CrlScope, RevokeTarget};
    use commissioner_core::station::crl_number::CrlCounter;

    let pg = pg().read().unwrap_or_else(|p| p.into_inner());
    let now = time::OffsetDateTime::now_utc;
    // Station A has the CA; station B issues with the same CA into its own journal; station C
    // has a CA of its own.
    let mut a = crate::fixture::station();
    a.station.config.central = Some(central_profile(&pg.server));
    let ja = a.station.journal().expect("journal a");
    let b_dir = tempfile::tempdir().expect("b");
    let jb = Journal::open(&b_dir.path().join("journal.sqlite")).expect("journal b");
    let c = crate::fixture::station();
    let jc = c.station.journal().expect("journal c");

    let a_superseded = commission(&a.ca, &ja, "st-crl-a", "CRL-A1");
    let a_live = commission(&a.ca, &ja, "st-crl-a", "CRL-A2");
    let b_revoked = commission(&a.ca, &jb, "st-crl-b", "CRL-B1");
    let b_live = commission(&a.ca, &jb, "st-crl-b", "CRL-B2");
    let c_revoked = commission(&c.ca, &jc, "st-crl-c", "CRL-C1");
    let revoke = |j: &Journal, serial: &str, reason| {
        admin::revoke(j, RevokeTarget::Serial(serial), reason, now()).expect("revoke");
    };
    revoke(&ja, &a_superseded.serial, Reason::Superseded);
    revoke(&jb, &b_revoked.serial, Reason::KeyCompromise);
    revoke(&jc, &c_revoked.serial, Reason::KeyCompromise);
    let mut central = connect(&central_profile(&pg.server), a.station.dir.as_path()).expect("pg");
    for (j, st) in [(&ja, "st-crl-a"), (&jb, "st-crl-b"), (&jc, "st-crl-c")] {
        sync_once(j, &mut central, &opts(st)).expect("sync");
        assert_eq!(backlog(j).expect("backlog").pending, 0);
    }

    let out = tempfile::tempdir().expect("out");
    // The local CRL knows only A's own revocation.
    let local = out.path().join("local.pem");
    let first = a
        .station
        .publish_crl_from(&a.ca, &ja, &local, now(), CrlScope::Local)
        .expect("local crl");
    let text = crl_text(&local);
    assert!(text.contains(&a_superseded.serial), "{text}");
    assert!(!text.contains(&b_revoked.serial), "{text}");

    let scope = CrlScope::Central {
        profile: a.station.central_profile().expect("profile"),
        station_dir: &a.station.dir,
    };
    let crl = out.path().join("central.pem");
    let anchors_before = a.station.anchors().read().expect("anchors").len();
    let signed = a
        .station
        .publish_crl_from(&a.ca, &ja, &crl, now(), scope)
        .expect("central crl");
    assert_eq!(signed.from_central, 1, "only B's revocation is new to A");
    assert_eq!(signed.crl.revoked, 2);
    assert!(signed.crl.number > first.crl.number);
    assert_eq!(
        a.station.anchors().read().expect("anchors").len(),
        anchors_before + 1
    );
    let text = crl_text(&crl);
    // B's revocation of a certificate A's CA signed is on A's CRL, with B's reason; A's own
    // is there once; live certificates and another CA's revocation are not.
    assert!(text.contains(&b_revoked.serial), "{text}");
    assert!(text.contains("Key Compromise"), "{text}");
    assert_eq!(
        text.matches(a_superseded.serial.as_str()).count(),
        1,
        "{text}"
    );
    assert!(text.contains("Superseded"), "{text}");
    for absent in [&a_live.serial, &b_live.serial, &c_revoked.serial] {
        assert!(!text.contains(absent.as_str()), "{absent} listed: {text}");
    }
    let issuing = a.station.ca_dir().join("issuing.pem");
    let verified = std::process::Command::new("openssl")
        .args(["crl", "-noout", "-in"])
        .arg(&crl)
        .arg("-CAfile")
        .arg(&issuing)
        .output()
        .expect("openssl crl verify");
    let said = String::from_utf8_lossy(&verified.stderr).into_owned()
        + &String::from_utf8_lossy(&verified.stdout);
    assert!(
        verified.status.success() && said.contains("verify OK"),
        "{said}"
    );

    // A local revocation made stronger since A last synced wins over what the server holds.
    revoke(&ja, &a_superseded.serial, Reason::KeyCompromise);
    a.station
        .publish_crl_from(&a.ca, &ja, &crl, now(), scope)
        .expect("central crl again");
    let text = crl_text(&crl);
    assert!(!text.contains("Superseded"), "{text}");

    // The server unreachable: refused with its code, nothing numbered, recorded or written.
    let away = commissioner_core::central::CentralProfile {
        url: format!(
            "postgresql://commissioner@127.0.0.1:{}/commissioner",
            commissioner_core::lab::free_port().expect("port")
        ),
        ..central_profile(&pg.server)
    };
    let away_scope = CrlScope::Central {
        profile: &away,
        station_dir: &a.station.dir,
    };
    let counter = CrlCounter::beside(&a.ca).last().expect("counter");
    let next = ja.next_crl_number().expect("next");
    let anchors = a.station.anchors().read().expect("anchors").len();
    let nowhere = out.path().join("unreachable.pem");
    let err = a
        .station
        .publish_crl_from(&a.ca, &ja, &nowhere, now(), away_scope)
        .expect_err("unreachable");
    assert_eq!(err.code(), "central.unreachable");
    assert!(!nowhere.exists());
    assert_eq!(CrlCounter::beside(&a.ca).last().expect("counter"), counter);
    assert_eq!(ja.next_crl_number().expect("next"), next);
    assert_eq!(a.station.anchors().read().expect("anchors").len(), anchors);

    // The local journal is verified before the server is asked: an altered registry is
    // refused as such, whether or not the server answers.
    ja.connection()
        .execute(
            "UPDATE certificates SET revocation_reason = 'unspecified' WHERE serial = ?1",
            [&a_superseded.serial],
        )
        .expect("tamper");
    let err = a
        .station
        .publish_crl_from(&a.ca, &ja, &nowhere, now(), away_scope)
        .expect_err("altered registry");
    assert_eq!(err.code(), "crl.registry_unverified");
    assert!(!nowhere.exists());
}
