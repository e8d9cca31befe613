//! A broker meant to admit units by user name and password: with `passwords_intended` the audit
//! logs its units in with the passwords the profile names (mosquitto `password_file`, written
//! by `mosquitto_passwd`) and judges the ACL as those units meet it.

use std::collections::HashMap;

use commissioner_core::mqtt::audit::session::audit_station;
use commissioner_core::mqtt::audit::Outcome;
use commissioner_core::station::AuditPasswords;

use crate::custom_broker::{self, common, CustomBroker};
use crate::fixture::{station, LabStation};

const PREFIX: &str = "audit-pw";

/// A TLS listener without client certificates, on a password file for the audit's two units,
/// with `acl` as its ACL.
fn password_broker(s: &mut LabStation, acl: &'static str) -> CustomBroker {
    custom_broker::start(s, |files, port| {
        let passwords = files.dir.join("passwords");
        std::fs::write(&passwords, "").expect("password file");
        for (user, password) in [("audit-pw-a", "pw-a"), ("audit-pw-b", "pw-b")] {
            let ok = std::process::Command::new("mosquitto_passwd")
                .arg("-b")
                .arg(&passwords)
                .args([user, password])
                .status()
                .expect("mosquitto_passwd");
            assert!(ok.success());
        }
        let acl_file = files.dir.join("password-acl");
        std::fs::write(&acl_file, acl).expect("acl");
        format!(
            "{}listener {port} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\n\
             allow_anonymous false\nrequire_certificate false\npassword_file {}\nacl_file {}\n",
            common(files),
            files.cafile.display(),
            files.broker_cert.display(),
            files.broker_key.display(),
            passwords.display(),
            acl_file.display(),
        )
    })
}

/// Units reach only their own topics, by user name.
const STRICT: &str =
    "pattern write provisioning/%u/request\npattern read provisioning/%u/response\n";
/// Every unit reads and writes every unit's topics.
const BROAD: &str = "pattern readwrite provisioning/#\n";

fn intend_passwords(s: &mut LabStation, with_passwords: bool) {
    if let Some(b) = s.station.config.broker.as_mut() {
        b.audit.passwords_intended = true;
        b.audit.unit_prefix = Some(PREFIX.into());
        b.audit.delivery_wait_ms = 400;
        b.audit.checks = [
            "no_client_certificate",
            "publish_foreign_topic",
            "publish_response_topic",
            "subscribe_isolation",
        ]
        .map(str::to_owned)
        .to_vec();
        b.audit.passwords = AuditPasswords(if with_passwords {
            [("audit-pw-a", "pw-a"), ("audit-pw-b", "pw-b")]
                .map(|(u, p)| (u.to_owned(), p.to_owned()))
                .into()
        } else {
            Default::default()
        });
    }
}

fn outcomes(s: &LabStation) -> HashMap<&'static str, (Outcome, String)> {
    audit_station(&s.station, &s.ca, "qa", None)
        .expect("audit runs")
        .results
        .into_iter()
        .map(|r| (r.name, (r.outcome, r.evidence)))
        .collect()
}

#[test]
fn the_acl_checks_log_in_with_the_profiles_passwords() {
    let mut s = station();
    let _broker = password_broker(&mut s, STRICT);
    intend_passwords(&mut s, true);
    let got = outcomes(&s);
    // Passwords are the plan: a listener without client certificates is a warning.
    assert_eq!(got["no_client_certificate"].0, Outcome::Warn, "{got:#?}");
    for name in [
        "publish_foreign_topic",
        "publish_response_topic",
        "subscribe_isolation",
    ] {
        assert_eq!(got[name].0, Outcome::Pass, "{name}: {}", got[name].1);
    }

    // Without the passwords the audit's units cannot log in: nothing about the ACL is proven.
    intend_passwords(&mut s, false);
    let got = outcomes(&s);
    for name in [
        "publish_foreign_topic",
        "publish_response_topic",
        "subscribe_isolation",
    ] {
        assert_eq!(
            got[name].0,
            Outcome::Inconclusive,
            "{name}: {}",
            got[name].1
        );
        assert!(
            got[name].1.contains("station's own connection"),
            "{}",
            got[name].1
        );
    }
}

#[test]
fn a_broad_acl_behind_passwords_fails() {
    let mut s = station();
    let _broker = password_broker(&mut s, BROAD);
    intend_passwords(&mut s, true);
    let got = outcomes(&s);
    for name in [
        "publish_foreign_topic",
        "publish_response_topic",
        "subscribe_isolation",
    ] {
        assert_eq!(got[name].0, Outcome::Fail, "{name}: {}", got[name].1);
    }
}
