//! Other listeners on the broker's host: each port of `[broker.audit] plaintext_ports` (by
//! default the usual MQTT ports 1883, 8883, 8080, 8081, 9001) is probed for MQTT in plaintext
//! and for MQTT over plain WebSockets. Each open one is reported; what answers neither (a TLS
//! listener, a web server) is noted and not judged.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::probe::{self, evidence, Connect};
use super::{connect_timeout, CheckResult, Outcome};
use crate::station::BrokerProfile;

const NAME: &str = "plaintext_listener";

pub(super) async fn plaintext_listener(p: &BrokerProfile) -> CheckResult {
    let t = connect_timeout(p);
    let mut ports: Vec<u16> = p.audit.plaintext_ports.clone();
    if !p.tls && !ports.contains(&p.port) {
        ports.insert(0, p.port);
    }
    if ports.is_empty() {
        return CheckResult::new(NAME, Outcome::Skipped, "no port to probe configured");
    }
    // Credentials in clear are a finding unless the profile says passwords are the plan.
    let by_password = if p.audit.passwords_intended {
        Outcome::Warn
    } else {
        Outcome::Fail
    };
    let mut findings = Vec::new();
    let mut notes = Vec::new();
    let mut worst = Outcome::Pass;
    let mut raise = |o: Outcome| {
        if o == Outcome::Fail || (o == Outcome::Warn && worst == Outcome::Pass) {
            worst = o;
        }
    };
    for &port in &ports {
        if !probe::port_open(&p.host, port, t).await {
            continue;
        }
        let at = format!("{}:{port}", p.host);
        let id = format!("commissioner-audit-{}", rand::random::<u32>());
        match probe::connect(&p.host, port, None, &id, t, p.mqtt_version, None).await {
            Connect::Accepted(s) => {
                s.close().await;
                raise(Outcome::Fail);
                findings.push(format!(
                    "{at} accepts plaintext MQTT without credentials (CONNACK success)"
                ));
                continue;
            }
            Connect::Refused(e) if e.is_connack_refusal() => {
                raise(by_password);
                findings.push(format!(
                    "{at} is open to plaintext MQTT (user names and passwords in clear); \
                     anonymous CONNECT refused: {}",
                    evidence(&e)
                ));
                continue;
            }
            Connect::Refused(_) => {}
        }
        match websocket_connect(&p.host, port, &id, t).await {
            WsAnswer::Connack(0) => {
                raise(Outcome::Fail);
                findings.push(format!(
                    "{at} accepts MQTT over WebSockets without TLS or credentials (CONNACK 0)"
                ));
            }
            WsAnswer::Connack(code) => {
                raise(by_password);
                findings.push(format!(
                    "{at} is open to MQTT over plain WebSockets (credentials in clear); \
                     anonymous CONNECT refused with 3.1.1 code {code}"
                ));
            }
            WsAnswer::Upgraded(why) => {
                raise(Outcome::Warn);
                findings.push(format!(
                    "{at} upgrades to a WebSocket for MQTT without TLS, then {why}"
                ));
            }
            WsAnswer::NotWebSocket => notes.push(format!(
                "{at} is open but answers neither plaintext MQTT nor MQTT over WebSockets \
                 (TLS or another service), not judged"
            )),
        }
    }
    let probed = ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let mut text = if findings.is_empty() {
        format!(
            "no plaintext MQTT or WebSocket listener on {} port(s) {probed}",
            p.host
        )
    } else {
        findings.join("; ")
    };
    if !notes.is_empty() {
        text = format!("{text}; {}", notes.join("; "));
    }
    CheckResult::new(NAME, worst, text)
}

/// What a port said to a WebSocket upgrade for MQTT and a CONNECT inside it.
enum WsAnswer {
    /// No `101 Switching Protocols`: not a WebSocket endpoint.
    NotWebSocket,
    /// Upgraded, and the 3.1.1 CONNACK return code.
    Connack(u8),
    /// Upgraded, but no CONNACK (the text says what happened).
    Upgraded(String),
}

/// Upgrades to a WebSocket with the `mqtt` subprotocol and sends an anonymous MQTT 3.1.1
/// CONNECT in one masked binary frame, as a browser client would.
async fn websocket_connect(host: &str, port: u16, client_id: &str, t: Duration) -> WsAnswer {
    match tokio::time::timeout(t, websocket_exchange(host, port, client_id)).await {
        Ok(answer) => answer,
        Err(_) => WsAnswer::NotWebSocket,
    }
}

async fn websocket_exchange(host: &str, port: u16, client_id: &str) -> WsAnswer {
    let Ok(mut stream) = TcpStream::connect((host, port)).await else {
        return WsAnswer::NotWebSocket;
    };
    let key = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 16]>())
    };
    let request = format!(
        "GET /mqtt HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: mqtt\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).await.is_err() {
        return WsAnswer::NotWebSocket;
    }
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte).await {
            Ok(1) if head.len() < 8192 => head.push(byte[0]),
            _ => return WsAnswer::NotWebSocket,
        }
    }
    let status = String::from_utf8_lossy(&head);
    if !status.starts_with("HTTP/1.1 101") {
        return WsAnswer::NotWebSocket;
    }
    if stream
        .write_all(&ws_frame(&connect_packet(client_id)))
        .await
        .is_err()
    {
        return WsAnswer::Upgraded("closed before the CONNECT".into());
    }
    match read_frame(&mut stream).await {
        Ok(payload) if payload.len() >= 4 && payload[0] == 0x20 => WsAnswer::Connack(payload[3]),
        Ok(payload) => WsAnswer::Upgraded(format!(
            "answered the CONNECT with something else ({} bytes)",
            payload.len()
        )),
        Err(e) => WsAnswer::Upgraded(format!("no CONNACK: {e}")),
    }
}

/// An anonymous MQTT 3.1.1 CONNECT with a clean session.
fn connect_packet(client_id: &str) -> Vec<u8> {
    let id = client_id.as_bytes();
    let mut body = vec![0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 30];
    body.extend_from_slice(&(id.len() as u16).to_be_bytes());
    body.extend_from_slice(id);
    // Short client ids only: the remaining length fits one byte.
    let mut packet = vec![0x10, body.len() as u8];
    packet.extend(body);
    packet
}

/// One masked binary WebSocket frame (a client must mask); payloads under 126 bytes.
fn ws_frame(payload: &[u8]) -> Vec<u8> {
    let mask: [u8; 4] = rand::random();
    let mut frame = vec![0x82, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

/// Reads one unmasked frame from the server and returns its payload.
async fn read_frame(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut head = [0u8; 2];
    stream.read_exact(&mut head).await?;
    let len = match head[1] & 0x7f {
        126 => {
            let mut l = [0u8; 2];
            stream.read_exact(&mut l).await?;
            u16::from_be_bytes(l) as usize
        }
        127 => return Err(std::io::Error::other("frame too large for a CONNACK")),
        n => n as usize,
    };
    let mut payload = vec![0u8; len];
    stream.read_exact(&mut payload).await?;
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connect_is_a_valid_311_packet_in_a_masked_frame() {
        let packet = connect_packet("abc");
        // Fixed header, remaining length = 10 (variable header) + 2 + 3 (client id).
        assert_eq!(&packet[..2], &[0x10, 15]);
        assert_eq!(&packet[2..12], &[0, 4, b'M', b'Q', b'T', b'T', 4, 2, 0, 30]);
        assert_eq!(&packet[12..], &[0, 3, b'a', b'b', b'c']);
        let frame = ws_frame(&packet);
        assert_eq!(frame[0], 0x82);
        assert_eq!(frame[1], 0x80 | packet.len() as u8);
        let mask = &frame[2..6];
        let unmasked: Vec<u8> = frame[6..]
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ mask[i % 4])
            .collect();
        assert_eq!(unmasked, packet);
    }
}
