//! No unit is bricked by an interrupted session. A unit can be cut off (unplugged, power lost,
//! station killed) after any of the certificate writes; whatever it then holds, the station can
//! still commission it (a `keyed` unit) or recommission it (a `certified` one), never leaving a
//! unit locked with no way to verify its unlock.

use commissioner_core::device::protocol::{Lifecycle, Slot};
use commissioner_core::device::{open_serial, Timeouts};
use commissioner_core::journal::SessionResult;
use commissioner_core::pipeline::write::WRITE_ORDER;
use commissioner_devsim::{SimConfig, SimDevice};

use crate::fixture::{station_with_lab, LabStation};
use crate::recommission::run;

/// Plays a station that stopped after writing `slots`: keygen, then those writes, nothing more.
fn leave_after_writes(s: &LabStation, port: &str, slots: &[Slot]) -> Lifecycle {
    let mut unit = open_serial(port, 115_200, Timeouts::default()).expect("open");
    unit.hello().expect("hello");
    unit.keygen().expect("keygen");
    for slot in slots {
        let der = match slot {
            Slot::Chain => s.ca.issuing_der(),
            Slot::BrokerCa => s.ca.root_der(),
            // Any certificate will do: the session never got further.
            Slot::Device => s.ca.issuing_der(),
        };
        unit.write_cert(*slot, der).expect("write");
    }
    unit.hello().expect("hello").state
}

#[test]
fn a_unit_cut_off_after_any_write_is_commissioned_or_recommissioned() {
    let (s, _lab) = station_with_lab();
    for written in 0..=WRITE_ORDER.len() {
        let sim = SimDevice::spawn(SimConfig {
            device_id: format!("SIM-CUT{written}"),
            ..SimConfig::default()
        })
        .expect("simulator");
        let state = leave_after_writes(&s, sim.path(), &WRITE_ORDER[..written]);
        // The device certificate is written last: until then the unit is simply `keyed`.
        let certified = written == WRITE_ORDER.len();
        assert_eq!(
            state,
            if certified {
                Lifecycle::Certified
            } else {
                Lifecycle::Keyed
            },
            "after {written} write(s)"
        );
        let report = run(&s, sim.path(), certified);
        assert_eq!(
            report.result,
            SessionResult::Pass,
            "after {written} write(s): {:?}",
            report.error
        );
    }
}

#[test]
fn a_unit_an_older_station_left_certified_without_its_chain_is_recommissioned() {
    let (s, _lab) = station_with_lab();
    let sim = SimDevice::spawn(SimConfig {
        device_id: "SIM-NOCHAIN".into(),
        ..SimConfig::default()
    })
    .expect("simulator");
    // The old order wrote the device certificate first: cut off there, the unit is certified
    // with an empty chain slot, and locking it for the unlock would have bricked it.
    let state = leave_after_writes(&s, sim.path(), &[Slot::Device]);
    assert_eq!(state, Lifecycle::Certified);
    let report = run(&s, sim.path(), true);
    assert_eq!(report.result, SessionResult::Pass, "{:?}", report.error);
}
