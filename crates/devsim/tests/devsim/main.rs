//! Tests of the simulator against the normative spec and against the station's driver.

mod conformance;
mod lifecycle;
