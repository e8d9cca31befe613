//! The PKCS#11 path end to end against SoftHSM2: a token initialised in a temp dir, a
//! non-extractable P-256 key generated inside it, a CA built around that key, and real
//! certificates and a CRL signed by it that openssl verifies.

use std::path::{Path, PathBuf};
use std::process::Command;

use commissioner_core::error::Coded;
use commissioner_core::pki::csr;
use commissioner_core::pki::issue::{Subject, Usage};
use commissioner_core::pki::pkcs11::{load_module, Pkcs11Uri, EC_PARAMS_P256};
use commissioner_core::pki::revoke::{Reason, RevokedSerial};
use commissioner_core::pki::setup::{self, ImportKey, ImportOptions, InitOptions, IssuingKey};
use commissioner_core::pki::UnlockedCa;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const PIN: &str = "hsm-user-pin-1234";
const TOKEN: &str = "Commissioner Test CA";

/// Initialises a SoftHSM token in `dir`. SoftHSM reads SOFTHSM2_CONF when the library is
/// initialised; only this test loads it, so pointing the process at the temp config is safe.
fn softhsm_token(dir: &Path) -> String {
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(&tokens).expect("token dir");
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .expect("conf");
    std::env::set_var("SOFTHSM2_CONF", &conf);
    let out = Command::new("softhsm2-util")
        .args(["--init-token", "--free", "--label", TOKEN])
        .args(["--so-pin", "so-pin-5678", "--pin", PIN])
        .env("SOFTHSM2_CONF", &conf)
        .output()
        .expect("softhsm2-util (apt-get install softhsm2)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    format!(
        "pkcs11:token={};object=issuing;id=%01?module-path={MODULE}",
        TOKEN.replace(' ', "%20")
    )
}

/// Generates the issuing key inside the token: sensitive, never extractable.
fn generate_key(uri: &str) {
    let uri = Pkcs11Uri::parse(uri).expect("uri");
    let ctx = load_module(&uri).expect("module");
    let slot = ctx.get_slots_with_token().expect("slots")[0];
    let session = ctx.open_rw_session(slot).expect("session");
    session
        .login(UserType::User, Some(&AuthPin::new(PIN.into())))
        .expect("login");
    let label = b"issuing".to_vec();
    let public = [
        Attribute::Token(true),
        Attribute::Verify(true),
        Attribute::EcParams(EC_PARAMS_P256.to_vec()),
        Attribute::Label(label.clone()),
        Attribute::Id(vec![1]),
    ];
    let private = [
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Sign(true),
        Attribute::Label(label),
        Attribute::Id(vec![1]),
    ];
    let (_, key) = session
        .generate_key_pair(&Mechanism::EccKeyPairGen, &public, &private)
        .expect("generate");
    let attrs = session
        .get_attributes(key, &[AttributeType::Extractable, AttributeType::Sensitive])
        .expect("attributes");
    assert!(attrs.contains(&Attribute::Extractable(false)), "{attrs:?}");
    assert!(attrs.contains(&Attribute::Sensitive(true)), "{attrs:?}");
    // Dropping the context finalises the library; the CA opens it afresh.
}

fn verify(ca_dir: &Path, pem: &str, dir: &Path, name: &str) -> (bool, String) {
    let path = dir.join(format!("{name}.pem"));
    std::fs::write(&path, pem).expect("write");
    let out = Command::new("openssl")
        .args(["verify", "-x509_strict", "-purpose", "sslclient", "-CAfile"])
        .arg(ca_dir.join("root.pem"))
        .arg("-untrusted")
        .arg(ca_dir.join("issuing.pem"))
        .arg(&path)
        .output()
        .expect("openssl");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn softhsm_issuing_key_signs_certificates_and_crls_openssl_accepts() {
    let dir = tempfile::tempdir().expect("tmp");
    let uri = softhsm_token(dir.path());
    generate_key(&uri);

    let ca_dir: PathBuf = dir.path().join("ca");
    let now = time::OffsetDateTime::now_utc();
    let report = setup::init_ca(
        &ca_dir,
        &InitOptions {
            organization: "HSM Lab",
            passphrase: PIN,
            issuing_key: IssuingKey::Pkcs11Uri(&uri),
            root_key_out: None,
            root_passphrase: None,
            lab: true,
            now,
        },
    )
    .expect("init with the token's key");
    assert!(report.key_location.starts_with("pkcs11:"));
    // No issuing key file: only its URI, and no PIN in it.
    assert!(!ca_dir.join("issuing.key.pem").exists());
    let stored = std::fs::read_to_string(ca_dir.join("issuing.key.uri")).expect("uri");
    assert!(!stored.contains(PIN));

    let err = UnlockedCa::unlock(&ca_dir, "wrong-pin").expect_err("wrong pin");
    assert_eq!(err.code(), "ca.bad_passphrase");
    let ca = UnlockedCa::unlock(&ca_dir, PIN).expect("unlock with the PIN");
    assert!(!format!("{ca:?}").contains(PIN));

    let mut serials = Vec::new();
    for i in 0..3 {
        let id = format!("HSM-UNIT-{i}");
        let key = rcgen::KeyPair::generate().expect("unit key");
        let mut params = rcgen::CertificateParams::default();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, id.as_str());
        let csr_der = params.serialize_request(&key).expect("csr").der().to_vec();
        let valid = csr::validate(&csr_der, &id).expect("csr");
        let cert = ca
            .issue(
                &valid.spki_der,
                &Subject {
                    common_name: &id,
                    organization: "HSM Lab",
                    validity_days: 30,
                    usage: Usage::Client,
                    alt_names: vec![],
                },
                now,
            )
            .expect("issued by the token");
        let (ok, out) = verify(&ca_dir, &cert.pem, dir.path(), &id);
        assert!(ok, "{id}: {out}");
        serials.push(cert.serial);
    }

    let crl = ca
        .sign_crl(
            &[RevokedSerial {
                serial: serials[0].clone(),
                revoked_at: now,
                reason: Reason::KeyCompromise,
            }],
            1,
            now,
            time::Duration::days(7),
        )
        .expect("crl");
    let crl_path = dir.path().join("crl.pem");
    std::fs::write(&crl_path, &crl.pem).expect("write");
    let out = Command::new("openssl")
        .args(["crl", "-noout", "-in"])
        .arg(&crl_path)
        .arg("-CAfile")
        .arg(ca_dir.join("issuing.pem"))
        .output()
        .expect("openssl");
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("verify OK"), "{text}");
    drop(ca);

    // The same key imported by URI into another station's CA directory.
    let other = dir.path().join("other-ca");
    let imported = setup::import_ca(
        &other,
        &ImportOptions {
            issuing_cert: &ca_dir.join("issuing.pem"),
            root_cert: &ca_dir.join("root.pem"),
            key: ImportKey::Pkcs11Uri(&uri),
            passphrase: PIN,
            replace: false,
        },
    )
    .expect("import by URI");
    assert_eq!(imported.issuing_fingerprint, report.issuing_fingerprint);
    assert!(UnlockedCa::unlock(&other, PIN).is_ok());
    let err = Pkcs11Uri::parse(&format!("{uri}&pin-value=1234")).expect_err("pin in uri");
    assert_eq!(err.code(), "pkcs11.bad_uri");
    assert!(!err.to_string().contains("1234"), "{err}");
}
