//! A lab start (`lab up`, `demo`, the app's lab) writes its own `[broker]` section and never
//! replaces one written or edited by hand.

use commissioner_core::error::Coded;
use commissioner_core::lab::{Lab, LabFiles};
use commissioner_core::station::{BrokerProfile, Station};

use crate::fixture::station;

#[test]
fn a_hand_written_broker_section_is_never_overwritten_by_the_lab() {
    let mut s = station();
    let hand = BrokerProfile::new("mqtt.example.com", 8883, "ca/broker-ca.pem".into());
    s.station.config.broker = Some(hand.clone());
    s.station.save().expect("save");
    let err = Lab::up(&mut s.station, &s.ca).expect_err("refused");
    assert_eq!(err.code(), "lab.broker_profile_kept", "{err}");
    assert!(err.to_string().contains("mqtt.example.com:8883"), "{err}");
    let reread = Station::open(&s.station.dir).expect("open");
    assert_eq!(reread.config.broker, Some(hand));
    // Refused before anything was written: no lab config, no broker started.
    assert!(!LabFiles::new(&s.station).config.exists());
}

#[test]
fn the_labs_own_section_is_rewritten_but_not_once_edited_by_hand() {
    let mut s = station();
    let first = Lab::up(&mut s.station, &s.ca).expect("first lab up");
    drop(first);
    // Its own section, read back from disk: a second start rewrites it.
    // Read again the way the app does, keeping what the process unlocked (the export key the
    // lab's CRL anchor is signed with).
    let mut s2 = Station::open(&s.station.dir).expect("open");
    s2.carry_over(&s.station);
    let second = Lab::up(&mut s2, &s.ca).expect("second lab up");
    drop(second);
    let mut edited = Station::open(&s.station.dir).expect("open");
    edited.carry_over(&s.station);
    if let Some(b) = edited.config.broker.as_mut() {
        b.timeout_secs = 45;
    }
    edited.save().expect("save");
    let err = Lab::up(&mut edited, &s.ca).expect_err("edited by hand");
    assert_eq!(err.code(), "lab.broker_profile_kept", "{err}");
    let reread = Station::open(&s.station.dir).expect("open");
    assert_eq!(reread.config.broker.map(|b| b.timeout_secs), Some(45));
}
