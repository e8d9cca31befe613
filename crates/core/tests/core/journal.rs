use std::path::Path;
use std::process::Command;

use commissioner_core::error::Coded;
use commissioner_core::journal::claim::SessionClaim;
use commissioner_core::journal::export::{verify_export, ExportFormat, StationKey};
use commissioner_core::journal::generate::{generate, Synthetic};
use commissioner_core::journal::query::SessionFilter;
use commissioner_core::journal::{CertificateRecords, Journal, NewSession, SessionResult};
use time::macros::datetime;
use time::Duration;

fn synthetic_journal(dir: &Path, sessions: u64) -> std::path::PathBuf {
    let path = dir.join("journal.sqlite");
    let journal = Journal::open(&path).expect("open");
    generate(
        &journal,
        &Synthetic {
            sessions,
            start: datetime!(2026-01-01 08:00 UTC),
            every: Duration::minutes(3),
            seed: 7,
            station_id: "synthetic".into(),
        },
    )
    .expect("generate");
    path
}

/// Edits the file the way someone with a shell would: the sqlite3 command-line tool.
pub(crate) fn sqlite3(path: &Path, sql: &str) {
    let out = Command::new("sqlite3")
        .arg(path)
        .arg(sql)
        .output()
        .expect("run sqlite3");
    assert!(
        out.status.success(),
        "sqlite3: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn problem_after(sessions: u64, sql: &str) -> commissioner_core::journal::chain::ChainProblem {
    let dir = tempfile::tempdir().expect("tmp");
    let path = synthetic_journal(dir.path(), sessions);
    assert!(Journal::open(&path)
        .expect("open")
        .verify()
        .expect("verify")
        .ok());
    sqlite3(&path, sql);
    let report = Journal::open(&path)
        .expect("reopen")
        .verify()
        .expect("verify");
    report.problem.expect("the edit must be found")
}

fn seal_seq(sessions: u64, session_id: i64) -> i64 {
    let dir = tempfile::tempdir().expect("tmp");
    let path = synthetic_journal(dir.path(), sessions);
    let journal = Journal::open(&path).expect("open");
    journal
        .connection()
        .query_row(
            "SELECT seq FROM chain WHERE kind = 'session' AND ref = ?1",
            [session_id.to_string()],
            |r| r.get(0),
        )
        .expect("seal")
}

#[test]
fn untouched_journal_verifies() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = synthetic_journal(dir.path(), 200);
    let report = Journal::open(&path)
        .expect("open")
        .verify()
        .expect("verify");
    assert!(report.ok(), "{:?}", report.problem);
    assert_eq!(report.sealed_sessions, 200);
    assert!(report.entries > 200);
}

#[test]
fn edited_session_row_is_named_with_its_chain_entry() {
    let p = problem_after(30, "UPDATE sessions SET operator = 'mallory' WHERE id = 7");
    assert_eq!(p.code, "chain.session_edited");
    assert_eq!(p.seq, Some(seal_seq(30, 7)));
    assert!(p.message.contains("session 7"), "{}", p.message);
}

#[test]
fn deleted_step_is_an_edit_of_its_session() {
    let p = problem_after(
        30,
        "DELETE FROM steps WHERE id = (SELECT max(id) FROM steps WHERE session_id = 12)",
    );
    assert_eq!(p.code, "chain.session_edited");
    assert!(p.message.contains("session 12"), "{}", p.message);
}

#[test]
fn deleted_session_is_found() {
    let p = problem_after(
        30,
        "DELETE FROM steps WHERE session_id = 9; DELETE FROM device_log WHERE session_id = 9; \
         DELETE FROM certificates WHERE session_id = 9; DELETE FROM sessions WHERE id = 9",
    );
    // The certificate's status entries may come first in the chain; either names the loss.
    assert!(
        matches!(
            p.code,
            "chain.session_deleted" | "chain.certificate_deleted"
        ),
        "{p:?}"
    );
}

#[test]
fn reordered_chain_entries_break_the_link() {
    let p = problem_after(
        10,
        "UPDATE chain SET seq = -1 WHERE seq = 5; UPDATE chain SET seq = 5 WHERE seq = 6; \
         UPDATE chain SET seq = 6 WHERE seq = -1",
    );
    assert_eq!(p.code, "chain.link_broken");
    assert_eq!(p.seq, Some(5));
}

#[test]
fn deleted_chain_entry_is_found() {
    let p = problem_after(10, "DELETE FROM chain WHERE seq = 4");
    assert_eq!(p.code, "chain.entry_missing");
    assert_eq!(p.seq, Some(5));
}

/// Verify walks the chain in runs on several cores; an edit exactly where two runs meet must be
/// found as surely as one inside a run.
#[test]
fn a_deleted_or_swapped_entry_is_found_wherever_it_is() {
    for seq in 2..=10 {
        let p = problem_after(10, &format!("DELETE FROM chain WHERE seq = {seq}"));
        assert_eq!((p.code, p.seq), ("chain.entry_missing", Some(seq + 1)));
        let p = problem_after(
            10,
            &format!(
                "UPDATE chain SET seq = -1 WHERE seq = {seq}; \
                 UPDATE chain SET seq = {seq} WHERE seq = {next}; \
                 UPDATE chain SET seq = {next} WHERE seq = -1",
                next = seq + 1
            ),
        );
        assert_eq!((p.code, p.seq), ("chain.link_broken", Some(seq)));
    }
}

#[test]
fn edited_certificate_status_and_forged_session_are_found() {
    let p = problem_after(
        10,
        "UPDATE certificates SET status = 'revoked' WHERE rowid = (SELECT min(rowid) FROM certificates)",
    );
    assert_eq!(p.code, "chain.certificate_edited");

    let p = problem_after(
        10,
        "INSERT INTO sessions (started_at, station_id, operator, port, result) \
         VALUES ('2026-02-01T00:00:00Z', 'x', 'mallory', '/dev/null', 'pass')",
    );
    assert_eq!(p.code, "chain.session_unrecorded");
}

#[test]
fn edited_recommission_link_is_an_edit_of_its_session() {
    let p = problem_after(
        30,
        "UPDATE certificates SET supersedes = 'FORGED' \
         WHERE rowid = (SELECT min(rowid) FROM certificates)",
    );
    assert_eq!(p.code, "chain.session_edited");
}

fn unit_cert(common_name: &str) -> commissioner_core::pki::IssuedCert {
    let s = crate::fixture::station();
    s.ca.issue_with_new_key(
        &commissioner_core::pki::issue::Subject {
            common_name,
            organization: "t",
            validity_days: 1,
            usage: commissioner_core::pki::issue::Usage::Client,
            alt_names: vec![],
        },
        time::OffsetDateTime::now_utc(),
    )
    .expect("issue")
    .0
}

#[test]
fn status_changes_are_sealed_with_their_session_and_chained_after_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("j.sqlite");
    let journal = Journal::open(&path).expect("open");
    let entries = |j: &Journal| -> i64 {
        j.connection()
            .query_row("SELECT count(*) FROM chain", [], |r| r.get(0))
            .expect("count")
    };
    let now = time::OffsetDateTime::now_utc;
    let id = journal
        .begin_session(&NewSession {
            station_id: "s",
            operator: "alice",
            port: "/dev/ttyUSB0",
            work_order: None,
            started_at: now(),
        })
        .expect("begin");
    let cert = unit_cert("UNIT-2");
    journal
        .record_certificate(id, "UNIT-2", &cert)
        .expect("record");
    journal
        .activate_certificate(&cert.serial)
        .expect("activate");
    journal
        .set_supersedes(&cert.serial, "0BSOLETE")
        .expect("link");
    // Issued, activated and linked while running: nothing chained until the seal.
    assert_eq!(entries(&journal), 1);
    journal
        .finish_session(id, SessionResult::Pass, None, now())
        .expect("finish");
    assert_eq!(entries(&journal), 2);
    let err = journal
        .set_supersedes(&cert.serial, "OTHER")
        .expect_err("sealed");
    assert_eq!(err.code(), "journal.session_sealed");

    journal
        .revoke(std::slice::from_ref(&cert.serial), "keyCompromise", now())
        .expect("revoke");
    assert_eq!(entries(&journal), 3, "a change after the seal is an entry");
    let report = journal.verify().expect("verify");
    assert!(report.ok(), "{:?}", report.problem);

    // Putting the status back to what was sealed contradicts the later entry.
    sqlite3(&path, "UPDATE certificates SET status = 'active'");
    let p = journal.verify().expect("verify").problem.expect("found");
    assert_eq!((p.code, p.seq), ("chain.certificate_edited", Some(3)));
    sqlite3(&path, "UPDATE certificates SET status = 'revoked'");
    assert!(journal.verify().expect("verify").ok());

    // The sealed copy and the link are part of the seal.
    for edit in [
        "UPDATE certificates SET sealed_status = 'issued'",
        "UPDATE certificates SET supersedes = NULL",
    ] {
        let dir = tempfile::tempdir().expect("tmp");
        let copy = dir.path().join("copy.sqlite");
        journal
            .connection()
            .execute("VACUUM INTO ?1", [copy.to_str().expect("utf-8")])
            .expect("copy");
        sqlite3(&copy, edit);
        let p = Journal::open(&copy)
            .expect("open")
            .verify()
            .expect("verify")
            .problem
            .expect("found");
        assert_eq!((p.code, p.seq), ("chain.session_edited", Some(2)), "{edit}");
    }
}

#[test]
fn interrupted_sessions_are_sealed_and_their_certificates_listed() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("j.sqlite");
    let journal = Journal::open(&path).expect("open");
    let id = journal
        .begin_session(&NewSession {
            station_id: "s",
            operator: "alice",
            port: "/dev/ttyUSB0",
            work_order: Some("WO-1"),
            started_at: time::OffsetDateTime::now_utc(),
        })
        .expect("begin");
    let s = crate::fixture::station();
    let (cert, _) =
        s.ca.issue_with_new_key(
            &commissioner_core::pki::issue::Subject {
                common_name: "UNIT-1",
                organization: "t",
                validity_days: 1,
                usage: commissioner_core::pki::issue::Usage::Client,
                alt_names: vec![],
            },
            time::OffsetDateTime::now_utc(),
        )
        .expect("issue");
    journal
        .record_certificate(id, "UNIT-1", &cert)
        .expect("record");
    drop(journal);

    // The next start.
    let journal = Journal::open(&path).expect("reopen");
    assert_eq!(journal.verify().expect("verify").running_sessions, 1);
    let recovered = journal
        .mark_interrupted("s", time::OffsetDateTime::now_utc())
        .expect("mark");
    assert!(recovered.forged.is_empty(), "{:?}", recovered.forged);
    let interrupted = recovered.interrupted;
    assert_eq!(interrupted.len(), 1);
    assert_eq!(interrupted[0].revoked_serials, vec![cert.serial.clone()]);
    let entry = journal.certificate(&cert.serial).expect("q").expect("row");
    assert_eq!(
        entry.status,
        commissioner_core::journal::CertStatus::Revoked
    );
    let row = journal.session(id).expect("q").expect("row");
    assert_eq!(row.result, SessionResult::Interrupted);
    assert_eq!(row.work_order.as_deref(), Some("WO-1"));
    let report = journal.verify().expect("verify");
    assert!(report.ok(), "{:?}", report.problem);
    assert_eq!(report.running_sessions, 0);
}

#[test]
fn a_live_process_keeps_its_running_sessions_when_another_starts() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("journal.sqlite");
    let lock = dir.path().join("sessions.lock");
    let now = time::OffsetDateTime::now_utc();
    // The line claims its sessions, then runs one.
    let line_journal = Journal::open(&path).expect("open");
    let line = SessionClaim::take(&lock, &line_journal, "ST-1", now).expect("claim");
    assert!(!line.shared);
    let id = line_journal
        .begin_session(&NewSession {
            station_id: "ST-1",
            operator: "alice",
            port: "/dev/ttyUSB0",
            work_order: None,
            started_at: now,
        })
        .expect("begin");

    // A second process starts beside it (its own open of the lock file, as a process has):
    // the line's session is not its to close.
    let other = Journal::open(&path).expect("open");
    let second = SessionClaim::take(&lock, &other, "ST-1", now).expect("claim");
    assert!(second.shared);
    assert!(second.interrupted.is_empty());
    let row = other.session(id).expect("q").expect("row");
    assert_eq!(row.result, SessionResult::Running);

    // The line dies without finishing; the next start closes what it left.
    drop(line);
    drop(second);
    let third = SessionClaim::take(&lock, &other, "ST-1", now).expect("claim");
    assert!(!third.shared);
    let closed: Vec<i64> = third.interrupted.iter().map(|i| i.session_id).collect();
    assert_eq!(closed, [id]);
    let row = other.session(id).expect("q").expect("row");
    assert_eq!(row.result, SessionResult::Interrupted);
}

#[test]
fn filtered_exports_carry_a_signed_manifest_that_detects_edits() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = synthetic_journal(dir.path(), 300);
    let journal = Journal::open(&path).expect("open");
    let key = StationKey::load_or_create(&dir.path().join("keys/export.p8")).expect("key");
    let filter = SessionFilter {
        result: Some("fail".into()),
        ..SessionFilter::default()
    };
    let expected = journal.count_sessions(&filter).expect("count");
    assert!(expected > 0 && expected < 300);

    for format in [ExportFormat::Csv, ExportFormat::Jsonl] {
        let out = dir.path().join(format!("fails.{format:?}"));
        let manifest = journal
            .export(
                &filter,
                format,
                &out,
                "station-1",
                &key,
                time::OffsetDateTime::now_utc(),
            )
            .expect("export");
        assert_eq!(manifest.rows, expected);
        assert_eq!(manifest.chain_head, journal.verify().expect("v").head);
        let checked = verify_export(&out, Some(&[key.public_key().to_vec()])).expect("verifies");
        assert_eq!(checked, manifest);
        let text = std::fs::read_to_string(&out).expect("read");
        assert!(
            !text.contains("\"pass\"") && !text.contains(",pass,"),
            "only failures exported"
        );

        // Someone edits a result in the export.
        std::fs::write(&out, text.replacen("fail", "pass", 1)).expect("edit");
        let err = verify_export(&out, Some(&[key.public_key().to_vec()])).expect_err("edited file");
        assert_eq!(err.code(), "export.file_modified");
        std::fs::write(&out, text).expect("restore");

        // Someone edits the manifest to match a shorter file.
        let mpath = commissioner_core::journal::export::manifest_path(&out);
        let m = std::fs::read_to_string(&mpath).expect("manifest");
        std::fs::write(
            &mpath,
            m.replacen(&format!("\"rows\": {expected}"), "\"rows\": 1", 1),
        )
        .expect("edit");
        let err = verify_export(&out, None).expect_err("edited manifest");
        assert_eq!(err.code(), "export.bad_signature");
        std::fs::write(&mpath, m).expect("restore");

        let other = StationKey::load_or_create(&dir.path().join("keys/other.p8")).expect("key");
        let err =
            verify_export(&out, Some(&[other.public_key().to_vec()])).expect_err("other station");
        assert_eq!(err.code(), "export.wrong_station");
    }
}

#[test]
fn archive_starts_a_new_file_that_continues_the_chain() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = synthetic_journal(dir.path(), 50);
    let key = StationKey::load_or_create(&dir.path().join("k.p8")).expect("key");
    let archived = commissioner_core::journal::archive::archive(
        &path,
        &dir.path().join("archive"),
        "station-1",
        &key,
        time::OffsetDateTime::now_utc(),
    )
    .expect("archive");
    assert_eq!(archived.manifest.rows, 50);
    let old = Journal::open(&archived.archived_journal).expect("archived copy");
    assert!(old.verify().expect("v").ok());
    assert_eq!(
        old.count_sessions(&SessionFilter::default()).expect("c"),
        50
    );

    let fresh = Journal::open(&path).expect("new file");
    assert_eq!(
        fresh.count_sessions(&SessionFilter::default()).expect("c"),
        0
    );
    let genesis_prev: String = fresh
        .connection()
        .query_row("SELECT prev_hash FROM chain WHERE seq = 1", [], |r| {
            r.get(0)
        })
        .expect("genesis");
    assert_eq!(genesis_prev, archived.head.hash);
    assert!(fresh.verify().expect("v").ok());
}

#[test]
fn real_commissioning_keeps_the_chain_valid() {
    let (s, _lab) = crate::fixture::station_with_lab();
    let sim = commissioner_devsim::SimDevice::spawn(Default::default()).expect("sim");
    let report = commissioner_core::pipeline::commission(
        &s.station,
        &s.ca,
        &commissioner_core::pipeline::CommissionRequest {
            port: sim.path(),
            baud: 115_200,
            operator: "qa",
        },
        Default::default(),
        &mut |_| {},
    );
    assert!(report.passed(), "{}", report.render());
    let journal = s.station.journal().expect("journal");
    let v = journal.verify().expect("verify");
    assert!(v.ok(), "{:?}", v.problem);
    // The unit's, and the lab's broker and backend identities (a session each).
    assert_eq!(v.sealed_sessions, 3);
    // Revocation through the registry is a chained status change, not an edit.
    let serial = report.certificate_serial.clone().expect("serial");
    journal
        .revoke(
            std::slice::from_ref(&serial),
            "keyCompromise",
            time::OffsetDateTime::now_utc(),
        )
        .expect("revoke");
    let v = journal.verify().expect("verify");
    assert!(v.ok(), "{:?}", v.problem);
    // The revocation's date and reason are chained with it: a softer reason, or a later date,
    // written into the registry afterwards is seen; put back, the chain verifies again.
    let entry = journal.certificate(&serial).expect("query").expect("entry");
    let revoked_at = entry.revoked_at.clone().expect("revoked_at");
    for edit in [
        "revocation_reason = 'cessationOfOperation'".to_owned(),
        "revoked_at = '2099-01-01T00:00:00Z'".to_owned(),
    ] {
        sqlite3(
            &s.station.journal_path(),
            &format!("UPDATE certificates SET {edit} WHERE serial = '{serial}'"),
        );
        let problem = journal
            .verify()
            .expect("verify")
            .problem
            .expect("a problem");
        assert_eq!(problem.code, "chain.certificate_edited", "{edit}");
        assert!(
            problem.message.contains("revocation date or reason"),
            "{}",
            problem.message
        );
        sqlite3(
            &s.station.journal_path(),
            &format!(
                "UPDATE certificates SET revocation_reason = 'keyCompromise', revoked_at = '{revoked_at}' WHERE serial = '{serial}'"
            ),
        );
        let v = journal.verify().expect("verify");
        assert!(v.ok(), "{:?}", v.problem);
    }
    // Tampering with the device log of a real session is seen too.
    sqlite3(
        &s.station.journal_path(),
        "UPDATE device_log SET line = 'all good' WHERE id = 1",
    );
    assert_eq!(
        journal.verify().expect("verify").problem.map(|p| p.code),
        Some("chain.session_edited")
    );
}

#[test]
fn group_commit_records_concurrent_sessions_and_rolls_back_a_failed_write_alone() {
    use commissioner_core::journal::group::GroupCommit;
    use commissioner_core::journal::{CertificateRecords, JournalError, KeyOrigin, StepRecord};
    use commissioner_core::pki::IssuedCert;

    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("journal.sqlite");
    let writer = GroupCommit::start(&path).expect("writer");
    let now = time::OffsetDateTime::now_utc();
    let ids: Vec<(usize, i64)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..16usize)
            .map(|i| {
                let writer = &writer;
                scope.spawn(move || {
                    let port = format!("/dev/pts/{i}");
                    let id = writer
                        .begin_session(&NewSession {
                            station_id: "st-1",
                            operator: "line",
                            port: &port,
                            work_order: None,
                            started_at: now,
                        })
                        .expect("begin");
                    writer
                        .record_step_with_log(
                            id,
                            &StepRecord {
                                name: "identify",
                                started_at: now,
                                ended_at: now,
                                error: None,
                                detail: None,
                            },
                            &["boot ok".to_owned()],
                        )
                        .expect("step");
                    // The certificate records go through the same writer as the session's.
                    let cert = IssuedCert {
                        der: vec![i as u8],
                        pem: format!("pem of unit {i}"),
                        serial: format!("{:032X}", i + 1),
                        fingerprint: format!("{i:064x}"),
                        not_before: now,
                        not_after: now + time::Duration::days(365),
                    };
                    let unit = format!("UNIT-{i}");
                    writer
                        .record_issued(id, &unit, &cert, now, KeyOrigin::Device)
                        .expect("issued");
                    writer.activate_certificate(&cert.serial).expect("active");
                    // A write that fails after it has written something: only it is undone.
                    let failed = writer.run(move |conn| {
                        conn.execute(
                            "UPDATE sessions SET operator = 'mallory' WHERE id = ?1",
                            [id],
                        )?;
                        Err::<(), _>(JournalError::UnknownCertificate("none".into()))
                    });
                    assert!(failed.is_err());
                    writer
                        .finish_session(id, SessionResult::Pass, None, now)
                        .expect("finish");
                    (i, id)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    drop(writer);
    let journal = Journal::open(&path).expect("open");
    for (i, id) in ids {
        let row = journal.session(id).expect("query").expect("row");
        assert_eq!(row.result, SessionResult::Pass);
        assert_eq!(row.operator, "line");
        assert_eq!(journal.steps(id).expect("steps").len(), 1);
        let active = journal
            .active_certificate(&format!("UNIT-{i}"))
            .expect("query")
            .expect("an active certificate");
        assert_eq!(active.serial, format!("{:032X}", i + 1));
        assert_eq!(active.session_id, Some(id));
    }
    let report = journal.verify().expect("verify");
    assert!(report.ok(), "{:?}", report.problem);
    assert_eq!(report.sealed_sessions, 16);
}

#[test]
fn a_certificate_revoked_while_its_session_ran_has_its_revocation_chained_at_the_seal() {
    use commissioner_core::journal::KeyOrigin;
    use commissioner_core::pki::IssuedCert;

    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("journal.sqlite");
    let journal = Journal::open(&path).expect("open");
    let now = time::OffsetDateTime::now_utc();
    let id = journal
        .begin_session(&NewSession {
            station_id: "st-1",
            operator: "audit",
            port: "audit",
            work_order: None,
            started_at: now,
        })
        .expect("begin");
    // As the audit does with its test identity: issued and revoked inside one session.
    let cert = IssuedCert {
        der: vec![1],
        pem: "pem".into(),
        serial: "0A0B".into(),
        fingerprint: format!("{:064x}", 1),
        not_before: now,
        not_after: now + Duration::days(1),
    };
    journal
        .record_issued(id, "AUDIT-1", &cert, now, KeyOrigin::Host)
        .expect("issued");
    journal
        .revoke(std::slice::from_ref(&cert.serial), "keyCompromise", now)
        .expect("revoke");
    journal
        .finish_session(id, SessionResult::Pass, None, now)
        .expect("finish");
    let v = journal.verify().expect("verify");
    assert!(v.ok(), "{:?}", v.problem);

    sqlite3(
        &path,
        "UPDATE certificates SET revocation_reason = 'cessationOfOperation' WHERE serial = '0A0B'",
    );
    let problem = journal
        .verify()
        .expect("verify")
        .problem
        .expect("a problem");
    assert_eq!(problem.code, "chain.certificate_edited");
    assert!(
        problem.message.contains("revocation date or reason"),
        "{}",
        problem.message
    );
}

#[test]
fn activating_a_unit_s_new_certificate_revokes_the_old_one_in_the_same_transaction() {
    let dir = tempfile::tempdir().expect("tmp");
    let journal = Journal::open(&dir.path().join("j.sqlite")).expect("open");
    let now = time::OffsetDateTime::now_utc;
    let session = |j: &Journal| {
        j.begin_session(&NewSession {
            station_id: "s",
            operator: "field",
            port: "/dev/ttyUSB0",
            work_order: None,
            started_at: now(),
        })
        .expect("begin")
    };
    let first = session(&journal);
    let old = unit_cert("UNIT-9");
    journal
        .record_certificate(first, "UNIT-9", &old)
        .expect("record");
    journal.activate_certificate(&old.serial).expect("activate");
    journal
        .finish_session(first, SessionResult::Pass, None, now())
        .expect("finish");

    // The recommission activates the new certificate, and the station dies before any later
    // step: the old one must already be off the unit's hands, on the next CRL.
    let second = session(&journal);
    let new = unit_cert("UNIT-9");
    journal
        .record_certificate(second, "UNIT-9", &new)
        .expect("record");
    journal.activate_certificate(&new.serial).expect("activate");
    let entry = journal.certificate(&old.serial).expect("q").expect("row");
    assert_eq!(
        entry.status,
        commissioner_core::journal::CertStatus::Revoked
    );
    assert_eq!(entry.revocation_reason.as_deref(), Some("superseded"));
    assert!(entry.revoked_at.is_some());
    assert!(journal.verify().expect("verify").ok());
}

/// The attack of issue 18: archiving used to start a journal without operators (anyone could
/// then add an admin), without the registry (revoked certificates off the next CRL, the hourly
/// quota reset) and without CRL numbering. What decides who may act and what the CA signed
/// now moves into the new journal, chained there.
#[test]
fn archive_keeps_operators_registry_crl_numbers_and_quota() {
    use commissioner_core::journal::{CertFilter, CertStatus};
    use commissioner_core::operator::{self, Role};

    let dir = tempfile::tempdir().expect("tmp");
    let path = synthetic_journal(dir.path(), 40);
    let now = time::OffsetDateTime::now_utc();
    let (token, revoked, before) = {
        let j = Journal::open(&path).expect("open");
        operator::add(&j, "ada", Role::Admin, "246802", now).expect("admin");
        operator::add(&j, "tom", Role::Technician, "135791", now).expect("tech");
        for _ in 0..3 {
            operator::authenticate(&j, "tom", "000000", now).expect_err("wrong PIN");
        }
        let ada = operator::authenticate(&j, "ada", "246802", now).expect("sign in");
        let token = operator::issue_token(&j, &ada, now).expect("token");
        let certs = j.list_certificates(&CertFilter::default()).expect("list");
        let revoked = certs[0].serial.clone();
        j.revoke(std::slice::from_ref(&revoked), "key-compromise", now)
            .expect("revoke");
        j.record_crl(7, now, now + Duration::days(7), 1, "00")
            .expect("crl");
        (token, revoked, certs.len())
    };

    let key = StationKey::load_or_create(&dir.path().join("k.p8")).expect("key");
    commissioner_core::journal::archive::archive(
        &path,
        &dir.path().join("archive"),
        "station-1",
        &key,
        now,
    )
    .expect("archive");

    let j = Journal::open(&path).expect("new journal");
    assert_eq!(
        j.count_sessions(&SessionFilter::default()).expect("c"),
        0,
        "sessions stay in the archive"
    );
    assert!(j.verify().expect("verify").ok(), "{:?}", j.verify());
    // Operators: the station still checks them, with the same PINs, tokens and lockout count.
    assert!(operator::enforced(&j).expect("enforced"));
    let ops = operator::list(&j).expect("operators");
    assert_eq!(ops.len(), 2, "{ops:?}");
    assert_eq!(
        operator::from_token(&j, &token, now).expect("token").id,
        "ada"
    );
    for _ in 0..2 {
        operator::authenticate(&j, "tom", "000000", now).expect_err("wrong PIN");
    }
    let locked = operator::authenticate(&j, "tom", "135791", now).expect_err("locked");
    assert_eq!(locked.code(), "operator.locked_out");
    // The registry: every certificate, the revocation with its reason, the quota's count.
    let certs = j.list_certificates(&CertFilter::default()).expect("list");
    assert_eq!(certs.len(), before);
    let gone = j.certificate(&revoked).expect("get").expect("carried");
    assert_eq!(gone.status, CertStatus::Revoked);
    assert_eq!(gone.revocation_reason.as_deref(), Some("key-compromise"));
    assert_eq!(gone.session_id, None);
    assert_eq!(
        j.issued_since(datetime!(2000-01-01 0:00 UTC))
            .expect("quota"),
        before as u64
    );
    assert_eq!(j.next_crl_number().expect("crl number"), 8);
    drop(j);

    // Carried rows are chained: un-revoking one, or deleting one, shows in verify.
    sqlite3(
        &path,
        &format!("UPDATE certificates SET status = 'active', revoked_at = NULL, revocation_reason = NULL WHERE serial = '{revoked}'"),
    );
    let problem = Journal::open(&path)
        .expect("open")
        .verify()
        .expect("verify")
        .problem
        .expect("edit found");
    assert_eq!(problem.code, "chain.certificate_edited");
    sqlite3(
        &path,
        &format!("DELETE FROM certificates WHERE serial = '{revoked}'"),
    );
    let problem = Journal::open(&path)
        .expect("open")
        .verify()
        .expect("verify")
        .problem
        .expect("deletion found");
    assert_eq!(problem.code, "chain.certificate_deleted");
}
