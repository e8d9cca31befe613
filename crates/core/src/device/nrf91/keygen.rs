//! The `%KEYGEN` reply: `<base64url CSR>.<base64url COSE_Sign1>`. The COSE payload names the
//! modem's device UUID and the SHA-256 of the CSR bytes exactly as sent; the station checks that
//! digest before it trusts the CSR, and only then normalises the CSR's encoding.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use sha2::{Digest, Sha256};

use super::error::Nrf91Error;

/// base64url with or without padding: the modem writes none, some tools add it.
const B64URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// What `%KEYGEN` gave, after its checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeygenReply {
    /// The CSR in DER, its signature AlgorithmIdentifier normalised (see [`normalise_csr`]).
    pub csr_der: Vec<u8>,
    /// The CSR as the modem sent it (what the COSE digest covers).
    pub csr_as_sent: Vec<u8>,
    /// The device UUID the attestation names, `8-4-4-4-12` lowercase; `None` without COSE.
    pub device_uuid: Option<String>,
    /// The attestation's CSR digest matched; false when the modem sent no COSE part.
    pub attested: bool,
}

/// Parses the quoted value of a `%KEYGEN:` line (quotes optional).
pub fn parse(value: &str) -> Result<KeygenReply, Nrf91Error> {
    let bad = |reason: &str| Nrf91Error::BadKeygenReply {
        reason: reason.to_owned(),
    };
    let value = value.trim().trim_matches('"');
    let (csr_b64, cose_b64) = match value.split_once('.') {
        Some((c, s)) => (c, Some(s)),
        None => (value, None),
    };
    let csr = B64URL
        .decode(csr_b64)
        .map_err(|e| bad(&format!("the CSR is not base64url: {e}")))?;
    let mut reply = KeygenReply {
        csr_der: normalise_csr(&csr),
        csr_as_sent: csr.clone(),
        device_uuid: None,
        attested: false,
    };
    let Some(cose_b64) = cose_b64.filter(|s| !s.is_empty()) else {
        return Ok(reply);
    };
    let cose = B64URL
        .decode(cose_b64)
        .map_err(|e| bad(&format!("the COSE part is not base64url: {e}")))?;
    let claim = cose_payload(&cose).map_err(|r| bad(&format!("COSE_Sign1: {r}")))?;
    let actual = hex::encode(Sha256::digest(&csr));
    let attested = hex::encode(&claim.digest);
    if actual != attested {
        return Err(Nrf91Error::CoseDigestMismatch { attested, actual });
    }
    reply.device_uuid = Some(format_uuid(&claim.uuid));
    reply.attested = true;
    Ok(reply)
}

fn format_uuid(b: &[u8]) -> String {
    let h = hex::encode(b);
    if h.len() != 32 {
        return h;
    }
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// What the COSE payload claims about the key.
struct Claim {
    uuid: Vec<u8>,
    digest: Vec<u8>,
}

/// COSE_Sign1 (optionally tagged 18) = [protected bstr, unprotected map, payload bstr, sig
/// bstr]; the payload is [message id, device UUID bstr, sec_tag (CBOR in a bstr), SHA-256 bstr,
/// nonce bstr]. The signature is by the modem's identity key, which only Nordic's service
/// knows; the station checks the digest, and records that it could not check the signature.
fn cose_payload(cose: &[u8]) -> Result<Claim, String> {
    let mut r = Cbor { data: cose, pos: 0 };
    let (mut major, mut arg) = r.head()?;
    if major == 6 {
        if arg != 18 {
            return Err(format!("tag {arg}, expected 18 (COSE_Sign1)"));
        }
        (major, arg) = r.head()?;
    }
    if major != 4 || arg != 4 {
        return Err("not a four-element array".into());
    }
    r.skip()?; // protected header
    r.skip()?; // unprotected header
    let payload = r.bytes()?;
    let mut p = Cbor {
        data: payload,
        pos: 0,
    };
    let (major, len) = p.head()?;
    if major != 4 || len < 4 {
        return Err("the payload is not the CSR claim array".into());
    }
    p.skip()?; // message id
    let uuid = p.bytes()?.to_vec();
    p.skip()?; // sec_tag
    let digest = p.bytes()?.to_vec();
    if digest.len() != 32 {
        return Err(format!("a {}-byte digest, expected 32", digest.len()));
    }
    Ok(Claim { uuid, digest })
}

/// Just enough CBOR (RFC 8949) to walk the modem's COSE: definite lengths only.
struct Cbor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cbor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.data.len());
        let end = end.ok_or("truncated")?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn head(&mut self) -> Result<(u8, u64), String> {
        let b = self.take(1)?[0];
        let (major, info) = (b >> 5, b & 0x1f);
        let arg = match info {
            0..=23 => u64::from(info),
            24 => u64::from(self.take(1)?[0]),
            25 => u64::from(u16::from_be_bytes([self.take(1)?[0], self.take(1)?[0]])),
            26 => {
                let s = self.take(4)?;
                u64::from(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
            }
            27 => {
                let s = self.take(8)?;
                u64::from_be_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]])
            }
            _ => return Err("indefinite or reserved length".into()),
        };
        Ok((major, arg))
    }

    fn bytes(&mut self) -> Result<&'a [u8], String> {
        match self.head()? {
            (2, n) => self.take(usize::try_from(n).map_err(|_| "too long")?),
            (m, _) => Err(format!("major type {m}, expected a byte string")),
        }
    }

    fn skip(&mut self) -> Result<(), String> {
        self.skip_depth(0)
    }

    fn skip_depth(&mut self, depth: u32) -> Result<(), String> {
        if depth > 16 {
            return Err("nested too deep".into());
        }
        let (major, arg) = self.head()?;
        let n = usize::try_from(arg).map_err(|_| "too long")?;
        match major {
            0 | 1 | 7 => {}
            2 | 3 => {
                self.take(n)?;
            }
            4 => {
                for _ in 0..n {
                    self.skip_depth(depth + 1)?;
                }
            }
            5 => {
                for _ in 0..n.saturating_mul(2) {
                    self.skip_depth(depth + 1)?;
                }
            }
            6 => self.skip_depth(depth + 1)?,
            _ => return Err("unknown major type".into()),
        }
        Ok(())
    }
}

/// ecdsa-with-SHA256 with an explicit NULL parameter, as older modem firmware writes it.
const ECDSA_SHA256_NULL: &[u8] = &[
    0x30, 0x0c, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02, 0x05, 0x00,
];
/// The same AlgorithmIdentifier as RFC 5758 says it must be: no parameters.
const ECDSA_SHA256: &[u8] = &[
    0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02,
];

/// The CSR with its signature AlgorithmIdentifier's NULL parameter dropped. The signature
/// covers only the CertificationRequestInfo, so this changes no signed byte; any other input
/// is returned as it came, for the CSR policy to judge.
pub fn normalise_csr(der: &[u8]) -> Vec<u8> {
    let Some((_, body)) = der_tlv(der).filter(|(h, b)| h + b.len() == der.len()) else {
        return der.to_vec();
    };
    let Some((info_hdr, info_body)) = der_tlv(body) else {
        return der.to_vec();
    };
    let info_len = info_hdr + info_body.len();
    let rest = &body[info_len..];
    let Some(after) = rest.strip_prefix(ECDSA_SHA256_NULL) else {
        return der.to_vec();
    };
    let mut inner = Vec::with_capacity(body.len());
    inner.extend_from_slice(&body[..info_len]);
    inner.extend_from_slice(ECDSA_SHA256);
    inner.extend_from_slice(after);
    let mut out = vec![0x30];
    push_len(&mut out, inner.len());
    out.extend_from_slice(&inner);
    out
}

/// A DER SEQUENCE's header length and its contents (at most 4 length bytes).
fn der_tlv(der: &[u8]) -> Option<(usize, &[u8])> {
    if der.first()? != &0x30 {
        return None;
    }
    let first = *der.get(1)?;
    let (len, hdr) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for b in der.get(2..2 + n)? {
            len = (len << 8) | usize::from(*b);
        }
        (len, 2 + n)
    };
    Some((hdr, der.get(hdr..hdr + len)?))
}

fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend_from_slice(&bytes);
    }
}
