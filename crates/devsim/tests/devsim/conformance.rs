use commissioner_core::device::frame;
use std::time::Duration;

use commissioner_core::device::protocol::{Lifecycle, Response, Slot};
use commissioner_core::device::{Driver, Timeouts};
use commissioner_devsim::{DeviceState, SimConfig, SimDevice};

const SPEC: &str = include_str!("../../../../docs/device-protocol.md");

/// The `transcript` block of the spec, as (is_host, line) pairs.
fn transcript() -> Vec<(bool, &'static str)> {
    let start = SPEC
        .find("```transcript\n")
        .expect("spec has a transcript block")
        + 14;
    let end = start + SPEC[start..].find("```").expect("closed block");
    SPEC[start..end]
        .lines()
        .map(|l| match l.split_once(": ") {
            Some(("H", rest)) => (true, rest),
            Some(("D", rest)) => (false, rest),
            _ => panic!("transcript line without H:/D: prefix: {l}"),
        })
        .collect()
}

/// The transcript's unit: a fixed id and a clock that reads 2026-01-01T00:00:00Z.
fn transcript_unit() -> SimConfig {
    SimConfig {
        device_id: "SIM-0000002A".into(),
        fixed_time: Some(1_767_225_600),
        ..SimConfig::default()
    }
}

#[test]
fn simulator_answers_the_spec_transcript_byte_for_byte() {
    let mut device = DeviceState::new(transcript_unit());
    let lines = transcript();
    let encode = |r: &Response| {
        let body = serde_json::to_string(r).expect("json");
        frame::encode(&body).trim_end().to_owned()
    };
    // Every frame the unit sends, in order: its boot announcement, then for each host line
    // its answer, and a new announcement after a reboot.
    let mut produced = vec![encode(&device.boot_event())];
    for (_, line) in lines.iter().filter(|(host, _)| *host) {
        let reply = device
            .respond_to_line(line)
            .expect("a request gets a reply");
        produced.push(encode(&reply));
        if device.take_reboot_request() {
            device.reset();
            produced.push(encode(&device.boot_event()));
        }
    }
    let expected: Vec<&str> = lines
        .iter()
        .filter(|(host, l)| !host && l.starts_with(frame::MARKER))
        .map(|(_, l)| *l)
        .collect();
    assert_eq!(produced, expected);
    assert!(
        expected.len() >= 9,
        "the transcript covers boot, errors, set_config, reboot"
    );
}

#[test]
fn simulator_boots_on_a_pty_as_the_transcript_shows() {
    use std::io::Read;
    let sim = SimDevice::spawn(transcript_unit()).expect("sim");
    let mut port = serialport::new(sim.path(), 115_200)
        .timeout(Duration::from_millis(50))
        .open()
        .expect("open pty");
    let mut lines = frame::LineBuffer::default();
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !seen
        .last()
        .is_some_and(|l: &String| l.starts_with(frame::MARKER))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no boot event: {seen:?}"
        );
        let mut buf = [0u8; 256];
        if let Ok(n) = port.read(&mut buf) {
            lines.push(&buf[..n]);
        }
        while let Some(line) = lines.next_line() {
            let line = line.trim_end_matches('\r').to_owned();
            if !line.is_empty() {
                seen.push(line);
            }
        }
    }
    let boot: Vec<&str> = transcript()
        .into_iter()
        .take_while(|(host, _)| !host)
        .map(|(_, l)| l)
        .collect();
    assert_eq!(seen, boot);
}

#[test]
fn simulator_refuses_corrupted_and_oversized_frames() {
    let mut device = DeviceState::new(SimConfig::default());
    let good = frame::encode(r#"{"id":9,"op":"hello"}"#);
    let corrupted = good.trim_end().replace("hello", "hellO");
    let reply = device.respond_to_line(&corrupted).expect("reply");
    assert_eq!(reply.err.map(|e| e.code).as_deref(), Some("bad_frame"));

    let long = frame::encode(&format!(
        r#"{{"id":9,"op":"hello","pad":"{}"}}"#,
        "x".repeat(600)
    ));
    let reply = device.respond_to_line(long.trim_end()).expect("reply");
    assert_eq!(reply.err.map(|e| e.code).as_deref(), Some("too_large"));

    let unknown = frame::encode(r#"{"id":4,"op":"self_destruct"}"#);
    let reply = device.respond_to_line(unknown.trim_end()).expect("reply");
    assert_eq!(reply.id, 4);
    assert_eq!(reply.err.map(|e| e.code).as_deref(), Some("unknown_op"));

    assert!(device.respond_to_line("plain log line").is_none());
}

#[test]
fn driver_against_simulator_over_a_pty_follows_the_lifecycle() {
    let sim = SimDevice::spawn(SimConfig {
        max_frame: 256,
        ..SimConfig::default()
    })
    .expect("sim");
    let mut driver =
        commissioner_core::device::open_serial(sim.path(), 115_200, Timeouts::default())
            .expect("open pty");
    let hello = driver.hello().expect("hello");
    assert_eq!(hello.state, Lifecycle::Blank);
    assert_eq!(hello.device_id, sim.device_id());
    // The boot banner arrived as log, not as a frame.
    assert!(driver.take_log().iter().any(|l| l.contains("ROM boot")));

    // Lock before a certificate is refused with the spec's code.
    let err = driver.lock().expect_err("lock in blank");
    assert!(err.to_string().contains("bad_state"), "{err}");

    driver.keygen().expect("keygen");
    // A 1000-byte blob needs several chunks at max_frame 256.
    let blob: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    driver
        .write_cert(Slot::Device, &blob)
        .expect("chunked write");
    let digest = driver.read_cert(Slot::Device).expect("read back");
    assert_eq!(digest.len, 1000);
    assert_eq!(digest.sha256, commissioner_core::pki::fingerprint(&blob));

    // sign_tls13 signs only the TLS 1.3 client CertificateVerify context.
    let err = driver
        .sign_tls13(b"any message")
        .expect_err("wrong context");
    assert!(err.to_string().contains("bad_context"), "{err}");

    assert_eq!(driver.lock().expect("lock").state, Lifecycle::Locked);
    let err = driver.keygen().expect_err("keygen when locked");
    assert_eq!(commissioner_core::error::Coded::code(&err), "device.locked");

    // Unused but keeps the generic driver constructor exercised over an in-memory stream.
    let _ = Driver::new(std::io::Cursor::new(Vec::<u8>::new()), Timeouts::default());
}
