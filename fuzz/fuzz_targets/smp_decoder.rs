//! The SMP console decoder and what follows it (header, CBOR body, error shapes) on arbitrary
//! bytes from a unit: nothing may panic. `cargo +nightly fuzz run smp_decoder`.
#![no_main]

use commissioner_core::device::smp::{cbor, frame, header};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut decoder = frame::Decoder::default();
    let mut events = Vec::new();
    decoder.push(data, &mut events);
    for event in events {
        if let frame::Event::Packet(p) = event {
            if let Some((_, body)) = header::Header::parse(&p) {
                if let Ok(v) = cbor::decode(body) {
                    let _ = cbor::refusal(&v);
                }
            }
        }
    }
});
