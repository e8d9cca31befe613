use commissioner_core::error::Coded;
use commissioner_core::pki::issue::{Subject, Usage};
use commissioner_core::pki::{csr, PkiError, UnlockedCa};
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, PublicKeyData};

use crate::fixture::{openssl_verify, station, PASSPHRASE};

fn csr_for(cn: &str) -> (KeyPair, Vec<u8>) {
    let key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    params.distinguished_name = dn;
    let der = params.serialize_request(&key).expect("csr").der().to_vec();
    (key, der)
}

#[test]
fn ca_keys_are_encrypted_and_need_the_passphrase() {
    let s = station();
    let key_pem = std::fs::read_to_string(s.station.ca_dir().join("issuing.key.pem")).expect("key");
    assert!(key_pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    let err = UnlockedCa::unlock(&s.station.ca_dir(), "wrong").expect_err("must fail");
    assert_eq!(err.code(), "ca.bad_passphrase");
    // openssl can open it with the right passphrase: a standard format, not a private one.
    let out = std::process::Command::new("openssl")
        .args([
            "pkey",
            "-noout",
            "-passin",
            &format!("pass:{PASSPHRASE}"),
            "-in",
        ])
        .arg(s.station.ca_dir().join("issuing.key.pem"))
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn issued_certificate_passes_strict_openssl_verify() {
    let s = station();
    let (_key, der) = csr_for("UNIT-0001");
    let valid = csr::validate(&der, "UNIT-0001").expect("valid csr");
    let cert =
        s.ca.issue(
            &valid.spki_der,
            &Subject {
                common_name: "UNIT-0001",
                organization: "Test",
                validity_days: 30,
                usage: Usage::Client,
                alt_names: vec![],
            },
            time::OffsetDateTime::now_utc(),
        )
        .expect("issue");
    let (ok, out) = openssl_verify(&s.station.ca_dir(), &cert.pem, "sslclient");
    assert!(ok, "{out}");
    assert_eq!(cert.serial.len(), 32, "128-bit serial");
    // Not usable as a server certificate.
    let (ok, _) = openssl_verify(&s.station.ca_dir(), &cert.pem, "sslserver");
    assert!(!ok);
}

#[test]
fn csr_checks_refuse_with_their_own_codes() {
    let (_k, der) = csr_for("UNIT-A");
    let err = csr::validate(&der, "UNIT-B").expect_err("cn mismatch");
    assert_eq!(err.code(), "csr.cn_mismatch");

    let mut tampered = der.clone();
    let last = tampered.len() - 5;
    tampered[last] ^= 0x55;
    let err = csr::validate(&tampered, "UNIT-A").expect_err("bad signature");
    assert!(
        matches!(err, PkiError::CsrBadSignature | PkiError::CsrMalformed(_)),
        "{err:?}"
    );

    let err = csr::validate(b"not a csr", "UNIT-A").expect_err("garbage");
    assert_eq!(err.code(), "csr.malformed");

    // A CSR asking for a CA certificate.
    let key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "UNIT-A");
    params.distinguished_name = dn;
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let der = params.serialize_request(&key).expect("csr").der().to_vec();
    let err = csr::validate(&der, "UNIT-A").expect_err("ca bit");
    assert_eq!(err.code(), "csr.ca_requested");

    // A key type the policy does not allow (P-384).
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).expect("key");
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "UNIT-A");
    params.distinguished_name = dn;
    let der = params.serialize_request(&key).expect("csr").der().to_vec();
    let err = csr::validate(&der, "UNIT-A").expect_err("key type");
    assert_eq!(err.code(), "csr.key_type");
    let _ = key.subject_public_key_info();
}
