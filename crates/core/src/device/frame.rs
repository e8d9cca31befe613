//! Line framing of the reference protocol (docs/device-protocol.md, "Framing").
//!
//! A frame is one line: `@@` marker, a JSON object, `*`, the CRC-32 (IEEE) of the JSON bytes as
//! eight lower-case hex digits, then `\n` (a preceding `\r` is tolerated). Any other line is device
//! log output. The marker lets frames share a UART with boot logs; the CRC catches line noise.

use thiserror::Error;

/// Marker that starts every frame.
pub const MARKER: &str = "@@";

/// Upper bound for any line the host accepts from a device, frame or log.
pub const HOST_MAX_LINE: usize = 16 * 1024;

/// A line as classified by [`decode_line`].
#[derive(Debug, PartialEq)]
pub enum Line<'a> {
    /// A frame with a valid CRC; the JSON body, still unparsed.
    Frame(&'a str),
    /// A line without the marker: device log output.
    Log(&'a str),
}

/// Why a marked line is not a valid frame.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("frame has no CRC field")]
    MissingCrc,
    #[error("frame CRC is not eight hex digits")]
    MalformedCrc,
    #[error("frame CRC mismatch: line says {stated:08x}, body hashes to {actual:08x}")]
    CrcMismatch { stated: u32, actual: u32 },
}

/// Encodes a JSON body into a complete frame line, newline included.
pub fn encode(body: &str) -> String {
    format!("{MARKER}{body}*{:08x}\n", crc32fast::hash(body.as_bytes()))
}

/// [`encode`] into a buffer allocated once at its final size, so that a body holding a
/// secret leaves no stray copy behind in memory that a growing buffer gave back.
pub fn encode_exact(body: &[u8]) -> Vec<u8> {
    let crc = format!("*{:08x}\n", crc32fast::hash(body));
    let mut out = Vec::with_capacity(MARKER.len() + body.len() + crc.len());
    out.extend_from_slice(MARKER.as_bytes());
    out.extend_from_slice(body);
    out.extend_from_slice(crc.as_bytes());
    out
}

/// Classifies one line (without its trailing `\n`).
pub fn decode_line(line: &str) -> Result<Line<'_>, FrameError> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    // Boot logs may leave partial output before the marker on the same line; a frame is
    // recognised wherever its marker starts.
    let Some(start) = line.find(MARKER) else {
        return Ok(Line::Log(line));
    };
    let rest = &line[start + MARKER.len()..];
    let (body, crc) = rest.rsplit_once('*').ok_or(FrameError::MissingCrc)?;
    if crc.len() != 8 {
        return Err(FrameError::MalformedCrc);
    }
    let stated = u32::from_str_radix(crc, 16).map_err(|_| FrameError::MalformedCrc)?;
    let actual = crc32fast::hash(body.as_bytes());
    if stated != actual {
        return Err(FrameError::CrcMismatch { stated, actual });
    }
    Ok(Line::Frame(body))
}

/// Splits a byte stream into lines; keeps the unfinished tail between reads.
#[derive(Debug, Default)]
pub struct LineBuffer {
    buf: Vec<u8>,
}

impl LineBuffer {
    /// Appends bytes read from the port.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Reads once from a port with a short read timeout. A timeout is not an error: it returns
    /// `Ok(0)` so callers can check their deadline; real errors (port gone) are returned.
    pub fn fill_from(&mut self, port: &mut impl std::io::Read) -> std::io::Result<usize> {
        use std::io::ErrorKind;
        let mut buf = [0u8; 1024];
        match port.read(&mut buf) {
            Ok(0) => {
                // EOF-like on a tty with no data: back off instead of spinning.
                std::thread::sleep(std::time::Duration::from_millis(5));
                Ok(0)
            }
            Ok(n) => {
                self.push(&buf[..n]);
                Ok(n)
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::TimedOut | ErrorKind::WouldBlock | ErrorKind::Interrupted
                ) =>
            {
                Ok(0)
            }
            Err(e) => Err(e),
        }
    }

    /// Takes the next complete line, lossily decoded; over-long garbage is cut at
    /// [`HOST_MAX_LINE`] so a babbling device cannot grow the buffer without bound.
    ///
    /// Only the first `HOST_MAX_LINE + 1` bytes are searched for the newline, so that how the
    /// stream was split into reads never changes the lines it yields (a long line whose
    /// newline happened to arrive in the same read would otherwise pass uncut).
    pub fn next_line(&mut self) -> Option<String> {
        let window = self.buf.len().min(HOST_MAX_LINE + 1);
        if let Some(pos) = self.buf[..window].iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=pos).collect();
            return Some(String::from_utf8_lossy(&line[..line.len() - 1]).into_owned());
        }
        if self.buf.len() > HOST_MAX_LINE {
            let line: Vec<u8> = self.buf.drain(..HOST_MAX_LINE).collect();
            return Some(String::from_utf8_lossy(&line).into_owned());
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_encoding_is_the_same_frame() {
        let body = r#"{"id":7,"op":"lock"}"#;
        let exact = encode_exact(body.as_bytes());
        assert_eq!(exact, encode(body).into_bytes());
        assert_eq!(exact.capacity(), exact.len());
    }

    #[test]
    fn round_trip() {
        let line = encode(r#"{"id":1,"op":"hello"}"#);
        assert!(line.ends_with('\n'));
        let decoded = decode_line(line.trim_end_matches('\n'));
        assert_eq!(decoded, Ok(Line::Frame(r#"{"id":1,"op":"hello"}"#)));
    }

    #[test]
    fn corrupted_byte_fails_crc() {
        let line = encode(r#"{"id":1,"op":"hello"}"#).replace("hello", "hellp");
        assert!(matches!(
            decode_line(line.trim_end()),
            Err(FrameError::CrcMismatch { .. })
        ));
    }

    #[test]
    fn log_lines_and_noise_prefix() {
        assert_eq!(decode_line("boot: ok\r"), Ok(Line::Log("boot: ok")));
        let framed = format!("garbage{}", encode("{}"));
        assert_eq!(decode_line(framed.trim_end()), Ok(Line::Frame("{}")));
    }

    fn lines_of(data: &[u8], chunk: usize) -> Vec<String> {
        let mut lb = LineBuffer::default();
        let mut out = Vec::new();
        for part in data.chunks(chunk.max(1)) {
            lb.push(part);
            while let Some(line) = lb.next_line() {
                out.push(line);
            }
        }
        out
    }

    /// The randomized companion of the cargo-fuzz target in `fuzz/`: lines do not depend on
    /// how reads split the stream, none is longer than the limit, and any body round-trips.
    #[test]
    fn randomized_streams_split_the_same_whatever_the_reads() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x00c0_ffee);
        let alphabet = b"@@*{}\"\r\n0123456789abcdef \xff\x00";
        for round in 0..300 {
            let len = if round % 50 == 0 {
                HOST_MAX_LINE * 2 + rng.gen_range(0..64)
            } else {
                rng.gen_range(0..400)
            };
            let data: Vec<u8> = (0..len)
                .map(|_| alphabet[rng.gen_range(0..alphabet.len())])
                .collect();
            let whole = lines_of(&data, data.len());
            assert_eq!(
                whole,
                lines_of(&data, rng.gen_range(1..64)),
                "round {round}"
            );
            for line in &whole {
                assert!(line.chars().count() <= HOST_MAX_LINE);
                let _ = decode_line(line);
            }
            let body = String::from_utf8_lossy(&data).replace('\n', " ");
            let framed = encode(&body);
            assert_eq!(
                decode_line(framed.trim_end_matches('\n')),
                Ok(Line::Frame(body.as_str()))
            );
        }
    }

    #[test]
    fn an_over_long_line_is_cut_even_when_its_newline_is_already_buffered() {
        let mut data = vec![b'x'; HOST_MAX_LINE + 10];
        data.push(b'\n');
        let lines = lines_of(&data, data.len());
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].len(), HOST_MAX_LINE);
        assert_eq!(lines, lines_of(&data, 7));
    }

    #[test]
    fn line_buffer_keeps_partial_tail() {
        let mut lb = LineBuffer::default();
        lb.push(b"abc\nde");
        assert_eq!(lb.next_line().as_deref(), Some("abc"));
        assert_eq!(lb.next_line(), None);
        lb.push(b"f\n");
        assert_eq!(lb.next_line().as_deref(), Some("def"));
    }
}
