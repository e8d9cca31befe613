//! The issuing key inside a PKCS#11 token (an HSM, or SoftHSM in tests), through `cryptoki`.
//! Tokens such as SoftHSM 2.6 offer only CKM_ECDSA: the host hashes, the token signs the
//! digest and returns raw `r || s`, which is DER-encoded here for X.509.

use std::path::PathBuf;
use std::sync::Mutex;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use rcgen::{SignatureAlgorithm, PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384};
use sha2::{Digest, Sha256, Sha384};

use super::signer::ecdsa_raw_to_der;
use super::PkiError;

/// DER OIDs of the curves, as CKA_EC_PARAMS holds them.
pub const EC_PARAMS_P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
pub const EC_PARAMS_P384: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];

/// A parsed `pkcs11:` URI (RFC 7512): which module, token and key. A PIN in the URI is
/// refused: the PIN is asked for like a passphrase and never stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pkcs11Uri {
    pub module: PathBuf,
    pub token: Option<String>,
    pub object: Option<String>,
    pub id: Option<Vec<u8>>,
    pub slot_id: Option<u64>,
}

impl Pkcs11Uri {
    pub fn parse(uri: &str) -> Result<Self, PkiError> {
        let bad = |why: &str| PkiError::BadPkcs11Uri(format!("{why}: {}", redact(uri)));
        let rest = uri
            .trim()
            .strip_prefix("pkcs11:")
            .ok_or_else(|| bad("it must start with pkcs11:"))?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut out = Self {
            module: PathBuf::new(),
            token: None,
            object: None,
            id: None,
            slot_id: None,
        };
        for (k, v) in path
            .split(';')
            .chain(query.split('&'))
            .filter_map(|kv| kv.split_once('='))
        {
            let v = percent_decode(v).ok_or_else(|| bad("bad percent-encoding"))?;
            match k {
                "token" => out.token = Some(String::from_utf8_lossy(&v).into_owned()),
                "object" => out.object = Some(String::from_utf8_lossy(&v).into_owned()),
                "id" => out.id = Some(v),
                "slot-id" => {
                    out.slot_id = String::from_utf8_lossy(&v).parse().ok();
                }
                "module-path" => out.module = PathBuf::from(String::from_utf8_lossy(&v).as_ref()),
                "pin-value" | "pin-source" => {
                    return Err(bad(
                        "remove the PIN from the URI; it is asked for like a passphrase",
                    ))
                }
                _ => {}
            }
        }
        if out.module.as_os_str().is_empty() {
            return Err(bad("add ?module-path=/path/to/the/pkcs11/library.so"));
        }
        if out.object.is_none() && out.id.is_none() {
            return Err(bad("name the key with object= or id="));
        }
        Ok(out)
    }
}

/// The URI with any PIN value blanked, for messages.
fn redact(uri: &str) -> String {
    match uri.find("pin-value=") {
        Some(start) => {
            let value = start + "pin-value=".len();
            let end = uri[value..]
                .find([';', '&'])
                .map_or(uri.len(), |i| value + i);
            format!("{}<redacted>{}", &uri[..value], &uri[end..])
        }
        None => uri.to_owned(),
    }
}

fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

/// A logged-in session on the token holding the issuing key.
pub struct Pkcs11Key {
    // The session is not Sync; the CA may be shared between threads (the desktop app).
    session: Mutex<Session>,
    key: ObjectHandle,
    public: Vec<u8>,
    alg: &'static SignatureAlgorithm,
    uri: String,
    // Keeps the library loaded and initialised as long as the key is in use.
    _ctx: Pkcs11,
}

fn ck(what: &'static str) -> impl Fn(CkError) -> PkiError {
    move |e| match e {
        CkError::Pkcs11(RvError::PinIncorrect | RvError::PinLenRange, _) => PkiError::BadPassphrase,
        other => PkiError::Pkcs11 {
            what,
            reason: other.to_string(),
        },
    }
}

/// Loads and initialises a PKCS#11 module; a module already initialised by this process is fine.
pub fn load_module(uri: &Pkcs11Uri) -> Result<Pkcs11, PkiError> {
    let ctx = Pkcs11::new(&uri.module).map_err(ck("load the PKCS#11 module"))?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => Ok(ctx),
        Err(e) => Err(ck("initialise the PKCS#11 module")(e)),
    }
}

/// Opens a read-only session on the token the URI names and logs in with the user PIN.
pub fn login(ctx: &Pkcs11, uri: &Pkcs11Uri, pin: &str) -> Result<Session, PkiError> {
    let slots = ctx
        .get_slots_with_token()
        .map_err(ck("list PKCS#11 slots"))?;
    let mut found = None;
    for slot in slots {
        let label = ctx
            .get_token_info(slot)
            .map(|t| t.label().trim().to_owned())
            .unwrap_or_default();
        let token_ok = uri.token.as_deref().is_none_or(|t| t == label);
        let slot_ok = uri.slot_id.is_none_or(|id| id == slot.id());
        if token_ok && slot_ok {
            found = Some(slot);
            break;
        }
    }
    let slot = found.ok_or_else(|| PkiError::Pkcs11 {
        what: "find the token",
        reason: format!("no token labelled {:?}", uri.token.as_deref().unwrap_or("")),
    })?;
    let session = ctx.open_ro_session(slot).map_err(ck("open a session"))?;
    session
        .login(UserType::User, Some(&AuthPin::new(pin.into())))
        .map_err(ck("log in to the token"))?;
    Ok(session)
}

fn key_template(uri: &Pkcs11Uri, class: ObjectClass) -> Vec<Attribute> {
    let mut t = vec![Attribute::Class(class), Attribute::KeyType(KeyType::EC)];
    if let Some(label) = &uri.object {
        t.push(Attribute::Label(label.as_bytes().to_vec()));
    }
    if let Some(id) = &uri.id {
        t.push(Attribute::Id(id.clone()));
    }
    t
}

impl Pkcs11Key {
    /// Finds the EC private key the URI names, and its public half for the certificate.
    pub fn open(uri_text: &str, pin: &str) -> Result<Self, PkiError> {
        let uri = Pkcs11Uri::parse(uri_text)?;
        let ctx = load_module(&uri)?;
        let session = login(&ctx, &uri, pin)?;
        let find = |class| -> Result<ObjectHandle, PkiError> {
            let found = session
                .find_objects(&key_template(&uri, class))
                .map_err(ck("search the token"))?;
            match found.as_slice() {
                [one] => Ok(*one),
                [] => Err(PkiError::Pkcs11 {
                    what: "find the key",
                    reason: format!("no {class} matches {}", redact(uri_text)),
                }),
                _ => Err(PkiError::Pkcs11 {
                    what: "find the key",
                    reason: format!("several keys match {}; add id=", redact(uri_text)),
                }),
            }
        };
        let key = find(ObjectClass::PRIVATE_KEY)?;
        let public_handle = find(ObjectClass::PUBLIC_KEY)?;
        let attrs = session
            .get_attributes(
                public_handle,
                &[AttributeType::EcParams, AttributeType::EcPoint],
            )
            .map_err(ck("read the public key"))?;
        let (mut params, mut point) = (Vec::new(), Vec::new());
        for a in attrs {
            match a {
                Attribute::EcParams(p) => params = p,
                Attribute::EcPoint(p) => point = p,
                _ => {}
            }
        }
        let (alg, coord): (&'static SignatureAlgorithm, usize) = match params.as_slice() {
            EC_PARAMS_P256 => (&PKCS_ECDSA_P256_SHA256, 32),
            EC_PARAMS_P384 => (&PKCS_ECDSA_P384_SHA384, 48),
            _ => {
                return Err(PkiError::UnsupportedCaKey(
                    "the token's key must be on P-256 or P-384".into(),
                ))
            }
        };
        let public = unwrap_ec_point(&point, coord).ok_or_else(|| PkiError::Pkcs11 {
            what: "read the public key",
            reason: "CKA_EC_POINT is not an uncompressed point".into(),
        })?;
        Ok(Self {
            session: Mutex::new(session),
            key,
            public,
            alg,
            uri: redact(uri_text),
            _ctx: ctx,
        })
    }

    pub fn public_point(&self) -> &[u8] {
        &self.public
    }

    pub fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.alg
    }

    pub fn uri_for_display(&self) -> String {
        self.uri.clone()
    }

    /// Hashes on the host and signs the digest with CKM_ECDSA.
    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        let digest = if self.alg == &PKCS_ECDSA_P384_SHA384 {
            Sha384::digest(msg).to_vec()
        } else {
            Sha256::digest(msg).to_vec()
        };
        let session = self.session.lock().unwrap_or_else(|p| p.into_inner());
        let raw = session
            .sign(&Mechanism::Ecdsa, self.key, &digest)
            .map_err(|e| {
                tracing::error!("PKCS#11 signature failed: {e}");
                rcgen::Error::RemoteKeyError
            })?;
        ecdsa_raw_to_der(&raw).ok_or(rcgen::Error::RemoteKeyError)
    }
}

/// Generates a P-256 key pair inside the token the URI names, labelled and identified as the
/// URI says: sensitive and never extractable, so the private key cannot leave the token.
pub fn generate_p256(uri_text: &str, pin: &str) -> Result<(), PkiError> {
    let uri = Pkcs11Uri::parse(uri_text)?;
    let ctx = load_module(&uri)?;
    let ro = login(&ctx, &uri, pin)?;
    let slot = ro
        .get_session_info()
        .map_err(ck("read the session"))?
        .slot_id();
    drop(ro);
    let session = ctx.open_rw_session(slot).map_err(ck("open a session"))?;
    // Logged in already through the first session: the login state is per application.
    if let Err(e) = session.login(UserType::User, Some(&AuthPin::new(pin.into()))) {
        if !matches!(e, CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) {
            return Err(ck("log in to the token")(e));
        }
    }
    let mut common = vec![Attribute::Token(true)];
    if let Some(label) = &uri.object {
        common.push(Attribute::Label(label.as_bytes().to_vec()));
    }
    if let Some(id) = &uri.id {
        common.push(Attribute::Id(id.clone()));
    }
    let mut public = common.clone();
    public.extend([
        Attribute::Verify(true),
        Attribute::EcParams(EC_PARAMS_P256.to_vec()),
    ]);
    let mut private = common;
    private.extend([
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Sign(true),
    ]);
    session
        .generate_key_pair(&Mechanism::EccKeyPairGen, &public, &private)
        .map_err(ck("generate the key"))?;
    Ok(())
}

/// CKA_EC_POINT is a DER OCTET STRING around the point (PKCS#11 2.40); some tokens return the
/// bare point. Both start with 0x04, so tell them apart by length.
fn unwrap_ec_point(raw: &[u8], coord: usize) -> Option<Vec<u8>> {
    let point_len = 1 + 2 * coord;
    if raw.len() == point_len && raw[0] == 0x04 {
        return Some(raw.to_vec());
    }
    match raw {
        [0x04, len, rest @ ..] if *len as usize == point_len && rest.len() == point_len => {
            Some(rest.to_vec())
        }
        [0x04, 0x81, len, rest @ ..] if *len as usize == point_len && rest.len() == point_len => {
            Some(rest.to_vec())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Coded;

    #[test]
    fn uri_parts_are_decoded_and_pins_are_refused() {
        let uri = Pkcs11Uri::parse(
            "pkcs11:token=Line%203%20CA;object=issuing;id=%01%ff?module-path=/usr/lib/x.so",
        )
        .expect("uri");
        assert_eq!(uri.token.as_deref(), Some("Line 3 CA"));
        assert_eq!(uri.object.as_deref(), Some("issuing"));
        assert_eq!(uri.id, Some(vec![0x01, 0xff]));
        assert_eq!(uri.module, PathBuf::from("/usr/lib/x.so"));

        let err = Pkcs11Uri::parse("pkcs11:object=k;pin-value=s3cret?module-path=/m.so")
            .expect_err("pin");
        assert_eq!(err.code(), "pkcs11.bad_uri");
        assert!(!err.to_string().contains("s3cret"), "{err}");
        let err = Pkcs11Uri::parse("pkcs11:object=k").expect_err("module");
        assert!(err.to_string().contains("module-path"), "{err}");
        assert!(Pkcs11Uri::parse("file:///k.pem").is_err());
    }
}
