//! Adversarial CSRs made by openssl (not by our own code, so the checks are not graded against
//! the same assumptions that wrote them), each refused with its own code.

use std::path::Path;
use std::process::Command;

use commissioner_core::error::Coded;
use commissioner_core::pki::csr::{self, CsrPolicy};

const ID: &str = "UNIT-0042";

/// Runs `openssl req -new` with a fresh key and returns the DER request.
fn openssl_csr(dir: &Path, name: &str, newkey: &[&str], subject: &str, exts: &[&str]) -> Vec<u8> {
    let out = dir.join(format!("{name}.der"));
    let mut cmd = Command::new("openssl");
    cmd.args(["req", "-new", "-nodes", "-outform", "DER", "-subj", subject])
        .args(newkey)
        .arg("-keyout")
        .arg(dir.join(format!("{name}.key")))
        .arg("-out")
        .arg(&out);
    for ext in exts {
        cmd.args(["-addext", ext]);
    }
    let res = cmd.output().expect("run openssl");
    assert!(
        res.status.success(),
        "openssl req for {name}: {}",
        String::from_utf8_lossy(&res.stderr)
    );
    std::fs::read(out).expect("read csr")
}

const P256: &[&str] = &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"];
const P384: &[&str] = &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"];

fn code(der: &[u8], policy: &CsrPolicy) -> String {
    match csr::validate_with(der, ID, policy) {
        Ok(_) => "accepted".into(),
        Err(e) => e.code().into(),
    }
}

#[test]
fn openssl_made_csrs_are_accepted_or_refused_with_their_own_code() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let subject = format!("/O=Evil Corp/CN={ID}");
    let default = CsrPolicy::default();
    let rsa_policy =
        CsrPolicy::from_names(&["ecdsa-p256".into(), "rsa-2048".into()]).expect("policy");

    // A well-behaved unit: P-256, CN = its id, the usual client extensions.
    let good = openssl_csr(
        d,
        "good",
        P256,
        &subject,
        &[
            "keyUsage=critical,digitalSignature",
            "extendedKeyUsage=clientAuth",
            "basicConstraints=critical,CA:FALSE",
            "subjectAltName=DNS:unit-0042.local",
        ],
    );
    let ok = csr::validate_with(&good, ID, &default).expect("good csr");
    assert_eq!(ok.key_type, "ecdsa-p256");
    assert_eq!(ok.common_name, ID);

    // Tampered after signing: one bit of the signature flipped.
    let mut tampered = good.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x01;

    let cases: Vec<(&str, Vec<u8>, &CsrPolicy, &str)> = vec![
        ("tampered", tampered, &default, "csr.bad_signature"),
        (
            "wrong cn",
            openssl_csr(d, "cn", P256, "/CN=UNIT-9999", &[]),
            &default,
            "csr.cn_mismatch",
        ),
        (
            "two cns",
            openssl_csr(d, "cn2", P256, &format!("/CN={ID}/CN=UNIT-9999"), &[]),
            &default,
            "csr.cn_mismatch",
        ),
        (
            "p-384",
            openssl_csr(d, "p384", P384, &subject, &[]),
            &default,
            "csr.key_type",
        ),
        (
            "rsa where only ecdsa is allowed",
            openssl_csr(d, "rsa", &["-newkey", "rsa:2048"], &subject, &[]),
            &default,
            "csr.key_type",
        ),
        (
            "rsa-1024",
            openssl_csr(d, "rsa1024", &["-newkey", "rsa:1024"], &subject, &[]),
            &rsa_policy,
            "csr.key_size",
        ),
        (
            "ca bit",
            openssl_csr(
                d,
                "ca",
                P256,
                &subject,
                &["basicConstraints=critical,CA:TRUE"],
            ),
            &default,
            "csr.ca_requested",
        ),
        (
            "crl distribution point",
            openssl_csr(
                d,
                "cdp",
                P256,
                &subject,
                &["crlDistributionPoints=URI:http://evil/"],
            ),
            &default,
            "csr.extension_not_allowed",
        ),
        (
            "name constraints",
            openssl_csr(
                d,
                "nc",
                P256,
                &subject,
                &["nameConstraints=critical,permitted;DNS:.evil"],
            ),
            &default,
            "csr.extension_not_allowed",
        ),
        (
            "private oid",
            openssl_csr(d, "oid", P256, &subject, &["1.3.6.1.4.1.99999.1=DER:0500"]),
            &default,
            "csr.extension_not_allowed",
        ),
        (
            "garbage",
            b"0\x03\x02\x01\x00".to_vec(),
            &default,
            "csr.malformed",
        ),
    ];
    for (name, der, policy, expected) in &cases {
        assert_eq!(code(der, policy), *expected, "case {name}");
    }
    // RSA of an allowed size passes under the policy that allows it.
    let rsa = openssl_csr(d, "rsa3072", &["-newkey", "rsa:3072"], &subject, &[]);
    let ok = csr::validate_with(&rsa, ID, &rsa_policy).expect("rsa-3072 allowed");
    assert_eq!(ok.key_type, "rsa-3072");
}

/// `openssl req` with a key of `newkey` and the digest `-<digest>`.
fn signed_with(dir: &Path, newkey: &[&str], digest: &str) -> Vec<u8> {
    let mut args = newkey.to_vec();
    let flag = format!("-{digest}");
    args.push(&flag);
    let name = format!("{}-{digest}", newkey.join("").replace([':', '-'], ""));
    openssl_csr(dir, &name, &args, &format!("/CN={ID}"), &[])
}

#[test]
fn csr_digests_sha384_and_sha512_are_accepted_and_sha1_is_refused_as_weak() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let policy =
        CsrPolicy::from_names(&["ecdsa-p256".into(), "ecdsa-p384".into(), "rsa-2048".into()])
            .expect("policy");
    let rsa: &[&str] = &["-newkey", "rsa:2048"];
    let rsa_pss: &[&str] = &[
        "-newkey",
        "rsa:2048",
        "-sigopt",
        "rsa_padding_mode:pss",
        "-sigopt",
        "rsa_pss_saltlen:digest",
    ];
    for key in [P256, P384, rsa, rsa_pss] {
        for digest in ["sha256", "sha384", "sha512"] {
            let der = signed_with(d, key, digest);
            assert_eq!(code(&der, &policy), "accepted", "{key:?} with {digest}");
            // Valid as a signature or not, one flipped bit of it is still refused.
            let mut tampered = der.clone();
            let last = tampered.len() - 1;
            tampered[last] ^= 0x01;
            assert_eq!(
                code(&tampered, &policy),
                "csr.bad_signature",
                "{key:?} with {digest}, tampered"
            );
        }
        let sha1 = signed_with(d, key, "sha1");
        assert_eq!(
            code(&sha1, &policy),
            "csr.weak_signature_algorithm",
            "{key:?} with sha1"
        );
    }
    // The digest does not widen the key policy: a P-384 key under a P-256-only profile is
    // still refused for its key.
    let p384 = signed_with(d, P384, "sha512");
    assert_eq!(code(&p384, &CsrPolicy::default()), "csr.key_type");
}
