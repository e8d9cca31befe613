//! The 8-byte SMP header: `res:3 ver:2 op:3`, flags, body length (big-endian), group
//! (big-endian), sequence number, command id.

/// SMP operation codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Read = 0,
    ReadRsp = 1,
    Write = 2,
    WriteRsp = 3,
}

impl Op {
    fn from_bits(b: u8) -> Option<Self> {
        Some(match b {
            0 => Op::Read,
            1 => Op::ReadRsp,
            2 => Op::Write,
            3 => Op::WriteRsp,
            _ => return None,
        })
    }

    /// The response op for this request op.
    pub fn response(self) -> Self {
        match self {
            Op::Read | Op::ReadRsp => Op::ReadRsp,
            Op::Write | Op::WriteRsp => Op::WriteRsp,
        }
    }

    pub fn is_request(self) -> bool {
        matches!(self, Op::Read | Op::Write)
    }
}

/// SMP protocol version 2 (errors as `err{group, rc}`); version 1 answers with a bare `rc`.
pub const VERSION_2: u8 = 1;

pub const HEADER_LEN: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub op: Op,
    pub version: u8,
    pub flags: u8,
    pub len: u16,
    pub group: u16,
    pub seq: u8,
    pub id: u8,
}

impl Header {
    pub fn to_bytes(self) -> [u8; HEADER_LEN] {
        let [l0, l1] = self.len.to_be_bytes();
        let [g0, g1] = self.group.to_be_bytes();
        [
            ((self.version & 0b11) << 3) | (self.op as u8),
            self.flags,
            l0,
            l1,
            g0,
            g1,
            self.seq,
            self.id,
        ]
    }

    /// The header of `packet` and its body, checked against the length it announces.
    pub fn parse(packet: &[u8]) -> Option<(Header, &[u8])> {
        let (h, body) = packet.split_first_chunk::<HEADER_LEN>()?;
        let header = Header {
            op: Op::from_bits(h[0] & 0b111)?,
            version: (h[0] >> 3) & 0b11,
            flags: h[1],
            len: u16::from_be_bytes([h[2], h[3]]),
            group: u16::from_be_bytes([h[4], h[5]]),
            seq: h[6],
            id: h[7],
        };
        (usize::from(header.len) == body.len()).then_some((header, body))
    }
}

/// A whole packet: header then body.
pub fn packet(op: Op, version: u8, group: u16, seq: u8, id: u8, body: &[u8]) -> Vec<u8> {
    let header = Header {
        op,
        version,
        flags: 0,
        len: body.len().min(usize::from(u16::MAX)) as u16,
        group,
        seq,
        id,
    };
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(&header.to_bytes());
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The header of smp 4.2's docstring example (`ImageUploadWrite`, seq 154).
    #[test]
    fn parses_the_python_packages_example_header() {
        let bytes = [0x0a, 0x00, 0x00, 0x74, 0x00, 0x01, 0x9a, 0x01];
        let mut packet = bytes.to_vec();
        packet.extend(std::iter::repeat_n(0u8, 0x74));
        let (h, body) = Header::parse(&packet).expect("header");
        assert_eq!(
            (h.op, h.version, h.len, h.group, h.seq, h.id),
            (Op::Write, 1, 116, 1, 154, 1)
        );
        assert_eq!(body.len(), 116);
        assert_eq!(h.to_bytes(), bytes);
        assert!(Header::parse(&packet[..20]).is_none());
    }
}
