//! The responder as the broker profile describes it: custom topic templates, the broker's
//! server name and the backend identity of `[broker.backend]`, against a mosquitto whose ACL
//! knows only those topics. A unit commissions end to end through it.

use commissioner_core::error::Coded;
use commissioner_core::lab::{LabFiles, BACKEND_IDENTITY};
use commissioner_core::mqtt::audit::session::trust_anchors;
use commissioner_core::mqtt::responder::backend::{self, BackendOverrides};
use commissioner_core::mqtt::responder::Responder;
use commissioner_devsim::{SimConfig, SimDevice};

use crate::custom_broker::{self, common};
use crate::fixture::{commission_sim, station};

#[test]
fn the_responder_serves_the_profiles_topics_name_and_identity() {
    let mut s = station();
    let _broker = custom_broker::start(&mut s, |files, port| {
        let acl = files.dir.join("factory-acl");
        std::fs::write(
            &acl,
            format!(
                "user {BACKEND_IDENTITY}\ntopic readwrite factory/#\n\n\
                 pattern write factory/%u/prov/req\npattern read factory/%u/prov/resp\n"
            ),
        )
        .expect("acl");
        format!(
            "{}listener {port} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\nacl_file {}\n\
             allow_anonymous false\nrequire_certificate true\nuse_identity_as_username true\n",
            common(files),
            files.cafile.display(),
            files.broker_cert.display(),
            files.broker_key.display(),
            acl.display(),
        )
    });
    // The backend's files where an operator keeps them, named by the profile.
    let lab = LabFiles::new(&s.station);
    let kept = s.station.dir.join("backend");
    std::fs::create_dir_all(&kept).expect("dir");
    std::fs::copy(&lab.backend_cert, kept.join("backend.pem")).expect("cert");
    std::fs::copy(&lab.backend_key, kept.join("backend.key")).expect("key");
    std::fs::remove_file(&lab.backend_cert).expect("no lab default left");
    if let Some(b) = s.station.config.broker.as_mut() {
        b.request_topic = "factory/{device_id}/prov/req".into();
        b.response_topic = "factory/{device_id}/prov/resp".into();
        // The broker's certificate names localhost; the profile dials its IP.
        b.server_name = Some("localhost".into());
        b.backend.cert = Some("backend/backend.pem".into());
        b.backend.key = Some("backend/backend.key".into());
        b.backend.client_id = Some("backend-7".into());
    }
    let anchors = trust_anchors(&s.station).expect("anchors");
    let (cfg, tls) =
        backend::for_station(&s.station, &anchors, BackendOverrides::default()).expect("config");
    assert_eq!(cfg.client_id, "backend-7");
    let responder = Responder::start(cfg, tls).expect("responder on the profile's topics");

    let sim = SimDevice::spawn(SimConfig::default()).expect("simulator");
    let report = commission_sim(&s, &sim);
    assert!(report.passed(), "{}", report.render());
    drop(responder);

    // A server name the broker's certificate does not carry: the backend refuses the broker.
    if let Some(b) = s.station.config.broker.as_mut() {
        b.server_name = Some("broker.example.com".into());
    }
    let (cfg, tls) =
        backend::for_station(&s.station, &anchors, BackendOverrides::default()).expect("config");
    let e = Responder::start(cfg, tls).expect_err("wrong server name");
    assert_eq!(e.code(), "mqtt.server_name_mismatch", "{e}");
}
