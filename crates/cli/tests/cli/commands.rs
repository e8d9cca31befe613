use std::path::Path;
use std::process::{Command, Output};

use commissioner_core::journal::{Journal, SessionResult};

pub const PASSPHRASE: &str = "cli-test-passphrase";

pub fn commissioner(station: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_commissioner"))
        .arg("--station")
        .arg(station)
        .args(args)
        .env("COMMISSIONER_CA_PASSPHRASE", PASSPHRASE)
        .output()
        .expect("run commissioner")
}

pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn demo_passes_and_records_the_session() {
    let dir = tempfile::tempdir().expect("tmp");
    let station = dir.path().join("station");
    let out = commissioner(&station, &["demo"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(stdout.starts_with("PASS"), "{stdout}");
    assert!(stdout.contains("cert serial"), "{stdout}");

    let journal = Journal::open(&station.join("journal.sqlite")).expect("journal");
    // The lab's broker and backend identities are sessions of their own, before the unit's.
    let first: i64 = journal
        .connection()
        .query_row(
            "SELECT min(id) FROM sessions WHERE port != 'service-identity'",
            [],
            |r| r.get(0),
        )
        .expect("the unit's session");
    let session = journal.session(first).expect("query").expect("row");
    assert_eq!(session.result, SessionResult::Pass);
    let cert = &journal.certificates_for_session(first).expect("certs")[0];
    // The report names the same serial and fingerprint as the journal.
    assert!(stdout.contains(&cert.serial), "{stdout}");
    assert!(stdout.contains(&cert.sha256), "{stdout}");
}

#[test]
fn in_band_demo_passes_with_both_certificates_serials_in_each_dialect() {
    for dialect in ["aws-fleet", "azure-dps", "commissioner"] {
        in_band_demo(dialect);
    }
}

fn in_band_demo(dialect: &str) {
    let dir = tempfile::tempdir().expect("tmp");
    let station = dir.path().join("station");
    let out = commissioner(
        &station,
        &["demo", "--mode", "in-band", "--dialect", dialect],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(stdout.starts_with("PASS"), "{stdout}");

    let journal = Journal::open(&station.join("journal.sqlite")).expect("journal");
    let serials: Vec<(String, String, Option<String>)> = journal
        .connection()
        .prepare(
            "SELECT c.serial, c.status, b.common_name FROM certificates c
             LEFT JOIN bootstrap_certificates b ON b.serial = c.serial
             WHERE c.kind = 'unit' ORDER BY c.rowid",
        )
        .expect("query")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("rows");
    // The bootstrap (revoked, marked) and the operational certificate (active), both printed.
    let [(boot, boot_status, Some(cn)), (op, op_status, None)] = serials.as_slice() else {
        panic!("expected a bootstrap then an operational certificate: {serials:?}");
    };
    assert!(cn.starts_with("bootstrap-SIM-"), "{cn}");
    assert_eq!(
        (boot_status.as_str(), op_status.as_str()),
        ("revoked", "active")
    );
    assert!(stdout.contains(&format!("cert serial  {op}")), "{stdout}");
    assert!(
        stdout.contains(&format!("bootstrap    {boot} (in-band)")),
        "{stdout}"
    );
    assert!(
        text(&out).contains(&format!("in-band provisioning: dialect {dialect}")),
        "{}",
        text(&out)
    );

    // The next demo without --mode is out-of-band again.
    let out = commissioner(&station, &["demo"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("bootstrap "),
        "{}",
        text(&out)
    );
}

#[test]
fn faulty_unit_exits_1_with_its_code() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = commissioner(&dir.path().join("s"), &["demo", "--fault", "wrong-cn"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("[csr.cn_mismatch]"), "{}", text(&out));
}

#[test]
fn missing_station_is_a_setup_error_with_a_code() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = commissioner(
        &dir.path().join("none"),
        &["commission", "--port", "/dev/null"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("error[station.missing]"),
        "{}",
        text(&out)
    );
}

#[test]
fn lab_up_sim_commission_lab_down() {
    let dir = tempfile::tempdir().expect("tmp");
    let station = dir.path().join("station");
    let out = commissioner(&station, &["lab", "init"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = commissioner(&station, &["lab", "up"]);
    assert!(out.status.success(), "{}", text(&out));

    let sim = commissioner_devsim::SimDevice::spawn(Default::default()).expect("sim");
    let out = commissioner(
        &station,
        &[
            "commission",
            "--port",
            sim.path(),
            "--operator",
            "alice",
            "--json",
        ],
    );
    let down = commissioner(&station, &["lab", "down"]);
    assert!(down.status.success(), "{}", text(&down));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json report");
    assert_eq!(report["result"], "pass");
    assert_eq!(report["deviceId"], sim.device_id());

    let journal = Journal::open(&station.join("journal.sqlite")).expect("journal");
    // The lab's broker and backend identities are sessions of their own, before the unit's.
    let first: i64 = journal
        .connection()
        .query_row(
            "SELECT min(id) FROM sessions WHERE port != 'service-identity'",
            [],
            |r| r.get(0),
        )
        .expect("the unit's session");
    let session = journal.session(first).expect("query").expect("row");
    assert_eq!(session.operator, "alice");
    // After `lab down` the broker is gone: the pid file is removed.
    assert!(!station.join("lab/mosquitto.pid").exists());
}

#[test]
fn demo_and_lab_up_refuse_to_overwrite_a_hand_written_broker_section() {
    let dir = tempfile::tempdir().expect("tmp");
    let station = dir.path().join("s");
    commissioner_core::station::init_lab_station(&station, PASSPHRASE).expect("lab station");
    let toml = station.join("station.toml");
    let hand = format!(
        "{}\n[broker]\nhost = \"mqtt.example.com\"\nport = 8883\nserver_ca = \"ca/broker-ca.pem\"\n",
        std::fs::read_to_string(&toml).expect("read")
    );
    std::fs::write(&toml, &hand).expect("write");
    for args in [&["demo"][..], &["lab", "up"][..]] {
        let out = commissioner(&station, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(
            text(&out).contains("error[lab.broker_profile_kept]"),
            "{args:?}: {}",
            text(&out)
        );
        assert_eq!(std::fs::read_to_string(&toml).expect("read"), hand);
    }
}

#[test]
fn broker_check_does_what_test_connection_does() {
    let dir = tempfile::tempdir().expect("tmp");
    let station = dir.path().join("station");
    let out = commissioner(&station, &["lab", "init"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = commissioner(&station, &["lab", "up"]);
    assert!(out.status.success(), "{}", text(&out));
    let up = commissioner(&station, &["broker", "check"]);
    let json = commissioner(&station, &["broker", "check", "--json"]);
    // A server CA that did not sign the broker's certificate.
    let toml = station.join("station.toml");
    let original = std::fs::read_to_string(&toml).expect("read");
    std::fs::write(
        &toml,
        original.replace("server_ca = \"ca/root.pem\"", "server_ca = \"foreign.pem\""),
    )
    .expect("write");
    let foreign = commissioner_core::mqtt::audit::identities::foreign_identity(
        "X",
        time::OffsetDateTime::now_utc(),
    )
    .expect("foreign");
    let pem = commissioner_core::pki::cert_pem(foreign.chain.last().expect("ca"));
    std::fs::write(station.join("foreign.pem"), pem).expect("write");
    let wrong_ca = commissioner(&station, &["broker", "check"]);
    // A port nobody listens on.
    let mut moved = commissioner_core::station::Station::open(&station).expect("open");
    if let Some(b) = moved.config.broker.as_mut() {
        b.port = commissioner_core::lab::free_port().expect("port");
    }
    moved.save().expect("save");
    let gone = commissioner(&station, &["broker", "check"]);
    std::fs::write(&toml, &original).expect("restore");
    let down = commissioner(&station, &["lab", "down"]);
    assert!(down.status.success(), "{}", text(&down));

    assert_eq!(up.status.code(), Some(0), "{}", text(&up));
    assert!(text(&up).starts_with("OK"), "{}", text(&up));
    assert!(
        text(&up).contains("chains to the server CA"),
        "{}",
        text(&up)
    );
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(wrong_ca.status.code(), Some(1), "{}", text(&wrong_ca));
    // Usually the verifier's own verdict; sometimes the failed verification surfaces as a TLS
    // "handshake eof" (mqtt.connection_failed). Either way nothing is called verified.
    assert!(
        text(&wrong_ca).contains("FAIL  mqtt.server_certificate")
            || text(&wrong_ca).contains("FAIL  mqtt.connection_failed"),
        "{}",
        text(&wrong_ca)
    );
    assert!(
        !text(&wrong_ca).contains("chains to"),
        "{}",
        text(&wrong_ca)
    );
    assert_eq!(gone.status.code(), Some(1), "{}", text(&gone));
    assert!(
        text(&gone).contains("FAIL  mqtt.unreachable"),
        "{}",
        text(&gone)
    );
}

#[test]
fn report_and_label_from_the_command_line_and_verify_names_the_report() {
    use commissioner_core::journal::generate::{generate, Synthetic};
    let dir = tempfile::tempdir().expect("tmp");
    let station = dir.path().join("station");
    let out = commissioner(&station, &["lab", "init"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let journal = Journal::open(&station.join("journal.sqlite")).expect("journal");
    generate(
        &journal,
        &Synthetic {
            sessions: 40,
            start: time::macros::datetime!(2026-05-04 06:00 UTC),
            every: time::Duration::seconds(40),
            seed: 5,
            station_id: "synthetic".into(),
        },
    )
    .expect("generate");
    let pdf = dir.path().join("wo-0.pdf");
    let pdf_arg = pdf.display().to_string();
    let out = commissioner(
        &station,
        &["report", "--work-order", "WO-0", "--out", &pdf_arg],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("40 unit(s)"), "{}", text(&out));
    let pdftext = Command::new("pdftotext")
        .arg(&pdf)
        .arg("-")
        .output()
        .expect("pdftotext");
    let pdftext = String::from_utf8_lossy(&pdftext.stdout);
    for i in 0..40u64 {
        assert!(
            pdftext.contains(&format!("SYN-{i:08X}")),
            "unit {i} missing"
        );
    }
    assert!(dir.path().join("wo-0.csv").exists());

    let pass = journal
        .sessions(
            &commissioner_core::journal::query::SessionFilter {
                result: Some("pass".into()),
                ..Default::default()
            },
            1,
            0,
        )
        .expect("sessions")[0]
        .id;
    let out = commissioner(&station, &["label", "--session", &pass.to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains(".pdf"), "{}", text(&out));

    let out = commissioner(&station, &["journal", "verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // Progress is for a person at a terminal: none in a pipe, a spinner on a terminal
    // (a pseudo-terminal made by util-linux's `script`).
    assert!(
        !text(&out).contains("verifying the journal"),
        "{}",
        text(&out)
    );
    let on_terminal = Command::new("script")
        .args(["-qec"])
        .arg(format!(
            "'{}' --station '{}' journal verify",
            env!("CARGO_BIN_EXE_commissioner"),
            station.display()
        ))
        .arg("/dev/null")
        .env("COMMISSIONER_CA_PASSPHRASE", PASSPHRASE)
        .output()
        .expect("script");
    let shown = String::from_utf8_lossy(&on_terminal.stdout);
    assert!(on_terminal.status.success(), "{shown}");
    assert!(shown.contains("verifying the journal"), "{shown}");
    journal
        .connection()
        .execute_batch(
            // A clean cut: the newest two sessions with every row and chain entry of theirs.
            "DELETE FROM step_durations WHERE session_id > 38;
             DELETE FROM steps WHERE session_id > 38;
             DELETE FROM certificates WHERE session_id > 38;
             DELETE FROM sessions WHERE id > 38;
             DELETE FROM chain WHERE kind = 'session' AND CAST(ref AS INTEGER) > 38;",
        )
        .expect("cut");
    let out = commissioner(&station, &["journal", "verify"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        text(&out).contains("report work order WO-0"),
        "{}",
        text(&out)
    );
}
