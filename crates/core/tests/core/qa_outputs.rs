//! Batch reports read back with `pdftotext`, labels captured by a local "printer" socket, and
//! the MES hook against a local HTTP server that is down first (issue 19).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::mpsc;
use std::thread;

use commissioner_core::error::Coded;
use commissioner_core::journal::generate::{generate, Synthetic};
use commissioner_core::journal::outbox::SessionEvent;
use commissioner_core::mes::{self, MesClient, MesProfile};
use commissioner_core::print::label::LabelProfile;
use time::macros::datetime;
use time::Duration;

use crate::yield_stats::record_unit;

fn pdftotext(path: &std::path::Path) -> String {
    let out = Command::new("pdftotext")
        .args(["-layout"])
        .arg(path)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils) runs");
    assert!(
        out.status.success(),
        "pdftotext failed on {}",
        path.display()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `sessions` synthetic sessions of work order WO-0, 50 s apart.
fn synthetic(journal: &commissioner_core::journal::Journal, sessions: u64, seed: u64) {
    generate(
        journal,
        &Synthetic {
            sessions,
            start: datetime!(2026-05-04 06:00 UTC),
            every: Duration::seconds(50),
            seed,
            station_id: "synthetic".into(),
        },
    )
    .expect("generate");
}

#[test]
fn batch_report_lists_every_unit_and_is_anchored() {
    let s = crate::fixture::station();
    let journal = s.station.journal().expect("journal");
    // 120 sessions: WO-0; a few fail.
    synthetic(&journal, 120, 11);
    let out = s.station.dir.join("wo-0.pdf");
    let done = s
        .station
        .publish_report(&journal, "WO-0", &out, time::OffsetDateTime::now_utc())
        .expect("report");
    assert_eq!(done.summary.units.len(), 120);
    assert!(done.summary.stats.tally.fail > 0, "the seed gives failures");

    let text = pdftotext(&out);
    for unit in &done.summary.units {
        let id = unit.device_id.as_deref().expect("synthetic units have ids");
        assert!(text.contains(id), "{id} missing from the report's text");
        if let Some(serial) = &unit.serial {
            assert!(text.contains(serial.as_str()), "serial of {id} missing");
        }
    }
    assert!(text.contains("work order WO-0"));
    assert!(
        text.contains(&done.summary.chain_head.hash),
        "chain head in the summary"
    );
    assert!(text.contains("Failures by step"));
    let csv = std::fs::read_to_string(&done.csv).expect("csv beside the pdf");
    assert_eq!(csv.lines().count(), 121, "a header and a row per unit");

    let anchors = s.station.anchors().read().expect("anchors");
    let a = anchors.last().expect("the report's head is anchored");
    assert_eq!(a.kind, "report");
    assert_eq!(a.hash, done.summary.chain_head.hash);
    assert!(s
        .station
        .check_anchors(&journal, None)
        .expect("check")
        .problem
        .is_none());

    // Cut the newest sessions off: verify names the report that published the lost head.
    journal
        .connection()
        .execute_batch("DELETE FROM chain WHERE seq > (SELECT max(seq) - 3 FROM chain)")
        .expect("cut");
    let problem = s
        .station
        .check_anchors(&journal, None)
        .expect("check")
        .problem
        .expect("the cut is found");
    assert_eq!(problem.code, "chain.anchor_missing");
    assert!(
        problem.message.contains("report work order WO-0"),
        "{}",
        problem.message
    );

    let none = s
        .station
        .publish_report(&journal, "WO-404", &out, time::OffsetDateTime::now_utc())
        .expect_err("no such work order");
    assert_eq!(none.code(), "print.nothing_to_report");
}

#[test]
fn label_goes_to_the_printer_socket_as_zpl_with_the_qr_payload() {
    let mut s = crate::fixture::station();
    let journal = s.station.journal().expect("journal");
    synthetic(&journal, 3, 3);
    let printer = TcpListener::bind("127.0.0.1:0").expect("printer socket");
    let addr = printer.local_addr().expect("addr").to_string();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        if let Ok((mut conn, _)) = printer.accept() {
            let mut bytes = Vec::new();
            let _ = conn.read_to_end(&mut bytes);
            let _ = tx.send(bytes);
        }
    });
    s.station.config.label = Some(LabelProfile {
        printer: Some(addr),
        auto: true,
        pdf_dir: Some("labels".into()),
        zpl_template: None,
        size_mm: (62.0, 29.0),
    });
    let session = journal
        .sessions(&Default::default(), 10, 0)
        .expect("sessions")
        .into_iter()
        .find(|r| r.result.as_str() == "pass")
        .expect("a passed session");
    let printed = s
        .station
        .print_label(&journal, session.id)
        .expect("label printed");
    let cert = &journal.certificates_for_session(session.id).expect("cert")[0];
    let zpl = String::from_utf8(
        rx.recv_timeout(std::time::Duration::from_secs(10))
            .expect("the printer got bytes"),
    )
    .expect("ZPL is text");
    let device = session.device_id.as_deref().expect("id");
    assert!(
        zpl.starts_with("^XA") && zpl.trim_end().ends_with("^XZ"),
        "{zpl}"
    );
    let qr = zpl
        .split("^BQN,2,4^FD")
        .nth(1)
        .and_then(|rest| rest.split("^FS").next())
        .expect("a ^BQ field");
    assert_eq!(
        qr,
        format!("QA,CMSN1;id={device};sha256={}", &cert.sha256[..32])
    );
    assert!(zpl.contains(&format!("^FD{device}^FS")));
    let short = printed.data.short_fingerprint();
    assert_eq!(short.len(), 19);
    assert!(cert.sha256.starts_with(&short.replace(':', "")));
    let pdf = printed.pdf.expect("a PDF label too");
    let text = pdftotext(&pdf);
    assert!(text.contains(device) && text.contains(&short), "{text}");

    // A failed session gets no label.
    let failed = journal
        .sessions(
            &commissioner_core::journal::query::SessionFilter {
                result: Some("fail".into()),
                ..Default::default()
            },
            1,
            0,
        )
        .expect("sessions");
    if let Some(f) = failed.first() {
        let e = s.station.print_label(&journal, f.id).expect_err("no label");
        assert_eq!(e.code(), "print.nothing_to_label");
    }
}

/// A minimal MES: answers 200 to each POST and hands back (headers, body).
fn mes_server(listener: TcpListener, tx: mpsc::Sender<(Vec<(String, String)>, String)>) {
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let mut reader = BufReader::new(conn.try_clone().expect("clone"));
            let mut headers = Vec::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                if let Some((k, v)) = line.split_once(':') {
                    headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
                }
            }
            let len: usize = headers
                .iter()
                .find(|(k, _)| k == "content-length")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; len];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let mut conn = conn;
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            let _ = tx.send((headers, String::from_utf8_lossy(&body).into_owned()));
        }
    });
}

#[test]
fn mes_gets_every_session_end_once_in_order_after_being_down() {
    let s = crate::fixture::station();
    let journal = s.station.journal().expect("journal");
    let secret = b"factory-mes-secret";
    std::fs::write(s.station.dir.join("mes.secret"), secret).expect("secret");
    // A port nobody listens on yet: the MES is down.
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let profile = MesProfile {
        url: format!("http://127.0.0.1:{port}/events"),
        secret_file: "mes.secret".into(),
        ca_file: None,
    };
    let client = MesClient::new(&profile, |p| s.station.resolve(p)).expect("client");
    let t0 = datetime!(2026-05-04 06:00 UTC);
    let mut sessions = Vec::new();
    for i in 0..3 {
        sessions.push(record_unit(
            &journal,
            t0 + Duration::minutes(i),
            &format!("MES-{i}"),
            "M",
            "WO-M",
            &[("identify", 10)],
            (i == 1).then_some("device.timeout"),
        ));
    }
    let now = time::OffsetDateTime::now_utc();
    let down = client.deliver(&journal, now).expect("round");
    assert_eq!((down.sent, down.backlog), (0, 3));
    assert!(down.error.is_some());
    // Within the backoff nothing is tried again.
    let early = client.deliver(&journal, now).expect("round");
    assert_eq!(early.sent, 0);

    // The MES comes up; a fourth session ends meanwhile.
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("MES up on the same port");
    let (tx, rx) = mpsc::channel();
    mes_server(listener, tx);
    sessions.push(record_unit(
        &journal,
        t0 + Duration::minutes(5),
        "MES-3",
        "M",
        "WO-M",
        &[("identify", 10)],
        None,
    ));
    let later = now + Duration::seconds(mes::backoff_secs(0) + 1);
    let up = client.deliver(&journal, later).expect("round");
    assert_eq!((up.sent, up.backlog, up.error), (4, 0, None));
    let again = client
        .deliver(&journal, later + Duration::minutes(10))
        .expect("round");
    assert_eq!(again.sent, 0, "nothing is sent twice");

    let mut seen = Vec::new();
    while let Ok((headers, body)) = rx.recv_timeout(std::time::Duration::from_secs(2)) {
        let h = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let ts: i64 = h("x-commissioner-timestamp").parse().expect("timestamp");
        assert!(
            mes::verify(secret, ts, &body, &h("x-commissioner-signature")),
            "signature of {body}"
        );
        assert!(!mes::verify(
            b"other",
            ts,
            &body,
            &h("x-commissioner-signature")
        ));
        let event: SessionEvent = serde_json::from_str(&body).expect("event JSON");
        assert_eq!(h("idempotency-key"), event.idempotency_key);
        seen.push(event);
    }
    let ids: Vec<i64> = seen.iter().map(|e| e.session_id).collect();
    assert_eq!(ids, sessions, "every session once, in order");
    let keys: std::collections::BTreeSet<_> = seen.iter().map(|e| &e.idempotency_key).collect();
    assert_eq!(keys.len(), 4);
    assert_eq!(seen[1].result, "fail");
    assert_eq!(seen[1].error_code.as_deref(), Some("device.timeout"));
    assert_eq!(seen[0].result, "pass");
    let head = seen[3].chain_hash.clone();
    assert!(journal.verify().expect("verify").problem.is_none());
    assert!(!head.is_empty());
}
