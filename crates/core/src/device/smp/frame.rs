//! MCUmgr's SMP-over-console framing (Zephyr's `smp_shell`/`smp_uart` transport): a packet is
//! prefixed with its big-endian length (packet + CRC), followed by its CRC16-XMODEM,
//! base64-encoded and cut into lines of at most [`MAX_LINE`] bytes; the first line starts
//! `0x06 0x09`, every further one `0x04 0x14`. Any other line on the console is log.
//!
//! The decoder takes bytes as they come from a hostile unit: every length is checked before
//! it is used, and nothing here panics on any input (`tests::random_bytes_never_panic`, and
//! the cargo-fuzz target `smp_decoder`).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

pub const START: [u8; 2] = [0x06, 0x09];
pub const CONTINUE: [u8; 2] = [0x04, 0x14];
/// Longest console line either side sends (Zephyr's `MCUMGR_SERIAL_MAX_FRAME`), newline
/// included.
pub const MAX_LINE: usize = 127;
/// Largest packet the decoder reassembles; anything longer a unit claims is damage, not a
/// reason to allocate.
pub const MAX_PACKET: usize = 16 * 1024;
/// Longest run of console bytes without a newline the decoder keeps; the rest is cut.
const MAX_CONSOLE_LINE: usize = 4096;

/// CRC16-XMODEM (polynomial 0x1021, initial value 0, no reflection, no final XOR).
pub fn crc16_xmodem(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in data {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The console lines that carry `packet`, each at most `line_len` bytes (newline included).
pub fn encode(packet: &[u8], line_len: usize) -> Vec<Vec<u8>> {
    let mut raw = Vec::with_capacity(packet.len() + 4);
    // Lengths beyond u16 cannot be framed; callers keep packets within the unit's buffer.
    raw.extend_from_slice(&((packet.len() + 2) as u16).to_be_bytes());
    raw.extend_from_slice(packet);
    raw.extend_from_slice(&crc16_xmodem(packet).to_be_bytes());
    let text = B64.encode(&raw);
    // Whole base64 quads per line, so that each line decodes on its own as the unit reads it.
    let per_line = ((line_len.clamp(8, MAX_LINE) - 4) / 4) * 4;
    text.as_bytes()
        .chunks(per_line)
        .enumerate()
        .map(|(i, chunk)| {
            let mut line = Vec::with_capacity(chunk.len() + 3);
            line.extend_from_slice(if i == 0 { &START } else { &CONTINUE });
            line.extend_from_slice(chunk);
            line.push(b'\n');
            line
        })
        .collect()
}

/// What the console carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A whole SMP packet (header and body), its CRC checked.
    Packet(Vec<u8>),
    /// A line that is not SMP: the unit's log.
    Log(String),
    /// SMP lines that could not be a packet: bad base64, a bad length, a bad CRC, a
    /// continuation without a start.
    Damaged(String),
}

/// Reassembles packets from console bytes, setting log lines aside.
#[derive(Debug, Default)]
pub struct Decoder {
    line: Vec<u8>,
    /// The bytes of a packet whose first line has arrived: the length it announced and what
    /// has been decoded so far.
    partial: Option<(usize, Vec<u8>)>,
}

impl Decoder {
    /// Feeds bytes; whatever they complete is appended to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<Event>) {
        for &b in bytes {
            if b == b'\n' {
                let line = std::mem::take(&mut self.line);
                self.line_done(&line, out);
            } else if self.line.len() < MAX_CONSOLE_LINE {
                self.line.push(b);
            } else {
                let line = std::mem::replace(&mut self.line, vec![b]);
                self.line_done(&line, out);
            }
        }
    }

    fn line_done(&mut self, line: &[u8], out: &mut Vec<Event>) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let start = find(line, &START);
        let cont = find(line, &CONTINUE);
        let (at, first) = match (start, cont) {
            (Some(s), Some(c)) if c < s => (c, false),
            (Some(s), _) => (s, true),
            (None, Some(c)) => (c, false),
            (None, None) => {
                if !line.is_empty() {
                    out.push(Event::Log(String::from_utf8_lossy(line).into_owned()));
                }
                return;
            }
        };
        // A log line cut short by a frame: its text is still log.
        if at > 0 {
            out.push(Event::Log(
                String::from_utf8_lossy(&line[..at]).into_owned(),
            ));
        }
        let body = &line[at + 2..];
        let decoded = match B64.decode(body) {
            Ok(d) => d,
            Err(e) => {
                self.partial = None;
                out.push(Event::Damaged(format!("bad base64 in an SMP line: {e}")));
                return;
            }
        };
        if first {
            if self.partial.take().is_some() {
                out.push(Event::Damaged(
                    "an SMP packet was cut off by the start of another".into(),
                ));
            }
            let Some((len, rest)) = decoded.split_first_chunk::<2>() else {
                out.push(Event::Damaged(
                    "an SMP packet too short for its length".into(),
                ));
                return;
            };
            let expected = usize::from(u16::from_be_bytes(*len));
            if !(2 + 8..=MAX_PACKET + 2).contains(&expected) {
                out.push(Event::Damaged(format!(
                    "an SMP packet announced {expected} bytes"
                )));
                return;
            }
            self.partial = Some((expected, rest.to_vec()));
        } else {
            match self.partial.as_mut() {
                Some((_, data)) => data.extend_from_slice(&decoded),
                None => {
                    out.push(Event::Damaged(
                        "an SMP continuation line without a start".into(),
                    ));
                    return;
                }
            }
        }
        let Some((expected, data)) = self.partial.take() else {
            return;
        };
        if data.len() < expected {
            self.partial = Some((expected, data));
            return;
        }
        out.push(finish(expected, data));
    }
}

fn finish(expected: usize, mut data: Vec<u8>) -> Event {
    if data.len() != expected {
        return Event::Damaged(format!(
            "an SMP packet announced {expected} bytes but carried {}",
            data.len()
        ));
    }
    let crc_at = expected - 2;
    let crc = u16::from_be_bytes([data[crc_at], data[crc_at + 1]]);
    data.truncate(crc_at);
    let computed = crc16_xmodem(&data);
    if crc != computed {
        return Event::Damaged(format!(
            "SMP packet CRC mismatch: it says {crc:04x}, its bytes give {computed:04x}"
        ));
    }
    Event::Packet(data)
}

fn find(hay: &[u8], needle: &[u8; 2]) -> Option<usize> {
    hay.windows(2).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn crc16_xmodem_check_value() {
        assert_eq!(crc16_xmodem(b"123456789"), 0x31c3);
    }

    /// smp 4.2's own docstring: `encode(b"Hello, world!")`.
    #[test]
    fn encodes_like_the_python_smp_package() {
        let lines = encode(b"Hello, world!", 127);
        assert_eq!(lines, vec![b"\x06\tAA9IZWxsbywgd29ybGQhet4=\n".to_vec()]);
        let small = encode(b"Hello, world!", 8);
        assert_eq!(small.len(), 6);
        assert_eq!(small[0], b"\x06\tAA9I\n");
        assert_eq!(small[5], b"\x04\x14et4=\n");
    }

    #[test]
    fn round_trip_with_log_lines_between() {
        let packet: Vec<u8> = (0..700u32).map(|i| (i * 7) as u8).collect();
        let mut wire = b"[00:00:01.000,000] <inf> app: booting\r\n".to_vec();
        for (i, line) in encode(&packet, 127).iter().enumerate() {
            assert!(line.len() <= MAX_LINE);
            wire.extend_from_slice(line);
            if i == 1 {
                wire.extend_from_slice(b"uart:~$ \r\n");
            }
        }
        let mut d = Decoder::default();
        let mut out = Vec::new();
        // Byte by byte: the port may hand over any split.
        for b in &wire {
            d.push(std::slice::from_ref(b), &mut out);
        }
        assert_eq!(out.len(), 3, "{out:?}");
        assert_eq!(out[2], Event::Packet(packet));
        assert!(matches!(&out[0], Event::Log(l) if l.contains("booting")));
    }

    #[test]
    fn a_flipped_byte_is_damage() {
        let mut line = encode(b"abcdefghij", 127).remove(0);
        line[5] = if line[5] == b'A' { b'B' } else { b'A' };
        let mut out = Vec::new();
        Decoder::default().push(&line, &mut out);
        assert!(
            matches!(&out[..], [Event::Damaged(r)] if r.contains("CRC")),
            "{out:?}"
        );
    }

    #[test]
    fn a_continuation_without_start_is_damage() {
        let mut out = Vec::new();
        Decoder::default().push(b"\x04\x14AAAA\n", &mut out);
        assert!(matches!(&out[..], [Event::Damaged(_)]));
    }

    /// The decoder sees whatever a hostile unit sends: random bytes, and random bytes that
    /// look like SMP lines, must never panic or grow without bound.
    #[test]
    fn random_bytes_never_panic() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
        for round in 0..3000 {
            let mut d = Decoder::default();
            let mut out = Vec::new();
            let n = rng.gen_range(0..600);
            let mut bytes: Vec<u8> = (0..n).map(|_| rng.gen()).collect();
            if round % 3 == 0 {
                // Mostly well-formed: a real frame with a few bytes changed.
                let packet: Vec<u8> = (0..rng.gen_range(0..300)).map(|_| rng.gen()).collect();
                bytes = encode(&packet, rng.gen_range(0..200)).concat();
                for _ in 0..rng.gen_range(0..4) {
                    if !bytes.is_empty() {
                        let i = rng.gen_range(0..bytes.len());
                        bytes[i] = rng.gen();
                    }
                }
            }
            d.push(&bytes, &mut out);
            assert!(d.line.len() <= MAX_CONSOLE_LINE);
            if let Some((_, data)) = &d.partial {
                assert!(data.len() <= MAX_PACKET + 2 + MAX_CONSOLE_LINE);
            }
            for e in &out {
                if let Event::Packet(p) = e {
                    let _ = super::super::header::Header::parse(p);
                }
            }
        }
    }
}
