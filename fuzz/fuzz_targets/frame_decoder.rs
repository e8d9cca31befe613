//! Fuzzes what the station does with bytes from a device: line splitting, frame decoding and
//! parsing of the frame body as a response (and as a request, as the simulator does).
//!
//! Run: `cargo +nightly fuzz run frame_decoder -s none` from the repository root.

#![no_main]

use commissioner_core::device::frame::{self, Line, LineBuffer, HOST_MAX_LINE};
use commissioner_core::device::protocol::{Request, Response};
use libfuzzer_sys::fuzz_target;

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

fuzz_target!(|data: &[u8]| {
    // The first byte picks how reads split the stream; the lines must not depend on it.
    let Some((&split, stream)) = data.split_first() else {
        return;
    };
    let whole = lines_of(stream, stream.len());
    assert_eq!(whole, lines_of(stream, usize::from(split)));
    for line in &whole {
        assert!(line.chars().count() <= HOST_MAX_LINE);
        if let Ok(Line::Frame(body)) = frame::decode_line(line) {
            let _ = serde_json::from_str::<Response>(body);
            let _ = serde_json::from_str::<Request>(body);
        }
    }
    // Any body without a newline survives encoding and decoding unchanged.
    if let Ok(body) = std::str::from_utf8(stream) {
        if !body.contains('\n') {
            let framed = frame::encode(body);
            assert_eq!(
                frame::decode_line(framed.trim_end_matches('\n')),
                Ok(Line::Frame(body))
            );
        }
    }
});
