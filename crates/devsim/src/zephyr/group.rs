//! Commissioner's SMP group on the emulated unit, as `docs/device-families.md` specifies it
//! for firmware teams: identity, keygen (CSR), challenge, TLS 1.3 CertificateVerify signing,
//! lock.

use ciborium::Value;
use commissioner_core::device::protocol::{is_tls13_client_cv, pop_message};
use commissioner_core::device::smp::cbor;
use commissioner_core::device::smp::header::Op;
use commissioner_core::device::smp::unit::{
    CMD_CHALLENGE, CMD_IDENTITY, CMD_KEYGEN, CMD_LOCK, CMD_SIGN_TLS13, COMMISSIONER_GROUP,
    RC_BAD_CONTEXT, RC_BAD_NONCE, RC_KEYSTORE, RC_LOCKED, RC_NO_KEY,
};
use rcgen::{
    CertificateParams, DistinguishedName, DnType, KeyPair, SigningKey, PKCS_ECDSA_P256_SHA256,
};

use super::server::{group_err, mgmt, Answer, ZephyrUnit};

fn err(rc: i128) -> cbor::Refusal {
    group_err(COMMISSIONER_GROUP, rc)
}

impl ZephyrUnit {
    pub(super) fn group_op(&mut self, id: u8, op: Op, req: &Value) -> Answer {
        match (id, op) {
            (CMD_IDENTITY, Op::Read) => Ok(cbor::map(vec![
                ("device_id", self.cfg.node_name.clone().into()),
                ("model", self.cfg.board.clone().into()),
                ("fw", "4.1.0+commissioner-group".into()),
                (
                    "state",
                    if self.locked { "locked" } else { "factory" }.into(),
                ),
            ])),
            (CMD_KEYGEN, Op::Write) => {
                if self.locked {
                    return Err(err(RC_LOCKED));
                }
                let key =
                    KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|_| err(RC_KEYSTORE))?;
                let mut params = CertificateParams::default();
                let mut dn = DistinguishedName::new();
                // The subject is the unit's own id, whatever the station asks for.
                dn.push(DnType::CommonName, self.cfg.node_name.clone());
                params.distinguished_name = dn;
                let csr = params
                    .serialize_request(&key)
                    .map_err(|_| err(RC_KEYSTORE))?;
                self.key = Some(key);
                self.log
                    .push("<inf> commissioner: p256 key generated".into());
                Ok(cbor::map(vec![("csr", Value::Bytes(csr.der().to_vec()))]))
            }
            (CMD_CHALLENGE, Op::Read) => {
                let nonce = cbor::bytes(req, "nonce").ok_or(mgmt(cbor::MGMT_ERR_EINVAL))?;
                if !(16..=64).contains(&nonce.len()) {
                    return Err(err(RC_BAD_NONCE));
                }
                self.sign(&pop_message(nonce))
            }
            (CMD_SIGN_TLS13, Op::Read) => {
                if self.locked {
                    return Err(err(RC_LOCKED));
                }
                let msg = cbor::bytes(req, "msg").ok_or(mgmt(cbor::MGMT_ERR_EINVAL))?;
                if !is_tls13_client_cv(msg) || !matches!(msg.len(), 130 | 146) {
                    return Err(err(RC_BAD_CONTEXT));
                }
                self.log
                    .push("<inf> commissioner: signed a TLS 1.3 CertificateVerify".into());
                self.sign(msg)
            }
            (CMD_LOCK, Op::Write) => {
                if self.key.is_none() {
                    return Err(err(RC_NO_KEY));
                }
                self.locked = true;
                self.log.push("<inf> commissioner: factory mode off".into());
                Ok(cbor::map(vec![("state", "locked".into())]))
            }
            _ => Err(mgmt(cbor::MGMT_ERR_ENOTSUP)),
        }
    }

    fn sign(&self, msg: &[u8]) -> Answer {
        let key = self.key.as_ref().ok_or(err(RC_NO_KEY))?;
        let sig = key.sign(msg).map_err(|_| err(RC_KEYSTORE))?;
        Ok(cbor::map(vec![("sig", Value::Bytes(sig))]))
    }
}
