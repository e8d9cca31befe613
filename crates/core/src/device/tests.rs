//! The driver against a scripted unit in memory: retries, late replies, restarts and noise,
//! without a pseudo-terminal or a clock to wait for.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::time::Duration;

use super::frame::{self, Line};
use super::protocol::Request;
use super::{DeviceError, Driver, Timeouts};
use crate::error::Coded;

/// A port whose unit answers each request line through `script`.
struct Scripted<F> {
    script: F,
    pending: Vec<u8>,
    out: VecDeque<u8>,
    requests: Vec<Request>,
}

impl<F: FnMut(&Request, usize) -> String> Scripted<F> {
    fn new(script: F) -> Self {
        Self {
            script,
            pending: Vec::new(),
            out: VecDeque::new(),
            requests: Vec::new(),
        }
    }
}

impl<F> Read for Scripted<F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.out.is_empty() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        let n = buf.len().min(self.out.len());
        for b in buf.iter_mut().take(n) {
            *b = self.out.pop_front().unwrap_or_default();
        }
        Ok(n)
    }
}

impl<F: FnMut(&Request, usize) -> String> Write for Scripted<F> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        while let Some(pos) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=pos).collect();
            let text = String::from_utf8_lossy(&line[..pos]).into_owned();
            if let Ok(Line::Frame(body)) = frame::decode_line(&text) {
                if let Ok(req) = serde_json::from_str::<Request>(body) {
                    let n = self.requests.len();
                    let reply = (self.script)(&req, n);
                    self.requests.push(req);
                    self.out.extend(reply.into_bytes());
                }
            }
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn fast() -> Timeouts {
    let t = Duration::from_millis(30);
    Timeouts {
        hello: t,
        keygen: t,
        write: t,
        sign: t,
        other: t,
        attempts: 3,
        step: None,
    }
}

const HELLO: &str = r#""res":{"protocol":1,"device_id":"U-1","model":"M","hw_rev":"A","fw_version":"1","max_frame":512,"caps":[],"state":"blank"}"#;

fn reply(id: u32, rest: &str) -> String {
    frame::encode(&format!(r#"{{"id":{id},"ok":true,{rest}}}"#))
}

fn corrupted(id: u32, rest: &str) -> String {
    reply(id, rest).replacen("\"ok\"", "\"oK\"", 1)
}

#[test]
fn idempotent_requests_are_resent_after_a_damaged_reply() {
    let port = Scripted::new(|req: &Request, n| match n {
        0 => format!("boot noise *{{}}\r\n{}", corrupted(req.id, HELLO)),
        _ => reply(req.id, HELLO),
    });
    let mut driver = Driver::new(port, fast());
    let hello = driver.hello().expect("second hello gets through");
    assert_eq!(hello.device_id, "U-1");
    let log = driver.take_log();
    assert!(log.iter().any(|l| l.contains("boot noise")), "{log:?}");
    assert!(log.iter().any(|l| l.starts_with("[bad frame")), "{log:?}");
}

#[test]
fn keygen_is_never_resent() {
    let port = Scripted::new(|req: &Request, _| corrupted(req.id, r#""res":{"csr":""}"#));
    let mut driver = Driver::new(port, fast());
    let err = driver.keygen().expect_err("corrupted keygen reply");
    assert_eq!(err.code(), "device.corrupted_frame");
    assert_eq!(driver.port.requests.len(), 1, "keygen sent once");

    let port = Scripted::new(|_: &Request, _| String::new());
    let mut driver = Driver::new(port, fast());
    let err = driver.keygen().expect_err("silent unit");
    assert_eq!(err.code(), "device.timeout");
    assert_eq!(driver.port.requests.len(), 1);
}

#[test]
fn a_damaged_request_is_resent_once_even_if_not_idempotent() {
    let port = Scripted::new(|req: &Request, n| match n {
        0 => frame::encode(r#"{"id":0,"ok":false,"err":{"code":"bad_frame","msg":"crc"}}"#),
        _ => reply(req.id, r#""res":{"csr":"AAAA"}"#),
    });
    let mut driver = Driver::new(port, fast());
    assert_eq!(driver.keygen().expect("resent keygen"), vec![0, 0, 0]);
    assert_eq!(driver.port.requests.len(), 2);
}

#[test]
fn answers_to_earlier_requests_mean_slow_not_dead() {
    // Each answer carries the previous request's id: always one request behind.
    let port = Scripted::new(|req: &Request, n| match n {
        0 => String::new(),
        _ => reply(req.id - 1, HELLO),
    });
    let mut driver = Driver::new(port, fast());
    let err = driver.hello().expect_err("never in time");
    assert_eq!(err.code(), "device.slow_reply");
    assert_eq!(driver.port.requests.len(), 3);
}

#[test]
fn a_boot_announcement_after_hello_is_a_restart() {
    let boot = frame::encode(&format!(r#"{{"id":0,"ok":true,"evt":"boot",{HELLO}}}"#));
    let port = Scripted::new(move |req: &Request, n| match n {
        // Before hello the announcement is just a unit powering up.
        0 => format!("{boot}{}", reply(req.id, HELLO)),
        _ => boot.clone(),
    });
    let mut driver = Driver::new(port, fast());
    driver.hello().expect("hello");
    let err = driver
        .read_cert(super::protocol::Slot::Device)
        .expect_err("restart");
    assert!(matches!(err, DeviceError::Rebooted { .. }), "{err:?}");
    assert!(err.is_interruption());
    assert_eq!(err.code(), "device.rebooted");
}

#[test]
fn requests_match_the_spec_transcript() {
    // The host lines of docs/device-protocol.md §7, as this driver writes them.
    let spec = include_str!("../../../../docs/device-protocol.md");
    let port = Scripted::new(|req: &Request, _| reply(req.id, HELLO));
    let mut driver = Driver::new(port, fast());
    driver.hello().expect("hello");
    let sent = frame::encode(&serde_json::to_string(&driver.port.requests[0]).expect("json"));
    let line = format!("H: {}", sent.trim_end());
    assert!(spec.contains(&line), "spec lacks {line}");
}

#[test]
fn a_vanished_port_is_an_unplug() {
    struct Gone;
    impl Read for Gone {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
    }
    impl Write for Gone {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let err = Driver::new(Gone, fast()).hello().expect_err("gone");
    assert_eq!(err.code(), "device.unplugged");
    // A quiet line whose device node disappeared is an unplug too, not a timeout.
    let port = Scripted::new(|_: &Request, _| String::new());
    let mut driver = Driver::new(port, fast()).with_path("/dev/commissioner-test-no-such-port");
    assert_eq!(driver.hello().expect_err("gone").code(), "device.unplugged");
}
