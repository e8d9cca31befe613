//! The registry migration on a journal written before it existed.

use commissioner_core::journal::{CertFilter, CertStatus, Journal, KeyOrigin};

#[test]
fn a_version_1_journal_gains_the_registry_columns_and_keeps_its_rows() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("journal.sqlite");
    {
        let conn = rusqlite::Connection::open(&path).expect("sqlite");
        // Schema version 1 as it shipped (every table, so that later migrations find theirs).
        conn.execute_batch(
            "CREATE TABLE sessions (id INTEGER PRIMARY KEY, started_at TEXT NOT NULL,
                 ended_at TEXT, station_id TEXT NOT NULL, operator TEXT NOT NULL,
                 port TEXT NOT NULL, device_id TEXT, model TEXT, firmware TEXT,
                 result TEXT NOT NULL, error_code TEXT, error_message TEXT);
             CREATE TABLE certificates (serial TEXT PRIMARY KEY,
                 session_id INTEGER NOT NULL REFERENCES sessions (id),
                 device_id TEXT NOT NULL, sha256 TEXT NOT NULL UNIQUE,
                 not_before TEXT NOT NULL, not_after TEXT NOT NULL, pem TEXT NOT NULL,
                 status TEXT NOT NULL CHECK (status IN ('issued', 'active', 'revoked', 'superseded')));
             CREATE TABLE steps (id INTEGER PRIMARY KEY,
                 session_id INTEGER NOT NULL REFERENCES sessions (id), name TEXT NOT NULL,
                 started_at TEXT NOT NULL, ended_at TEXT NOT NULL, outcome TEXT NOT NULL,
                 error_code TEXT, detail TEXT);
             CREATE TABLE device_log (id INTEGER PRIMARY KEY,
                 session_id INTEGER NOT NULL REFERENCES sessions (id), at TEXT NOT NULL,
                 line TEXT NOT NULL);
             CREATE INDEX sessions_started ON sessions (started_at);
             CREATE INDEX sessions_device ON sessions (device_id);
             CREATE INDEX steps_session ON steps (session_id);
             CREATE INDEX certificates_device ON certificates (device_id);
             INSERT INTO sessions VALUES (1, '2026-01-01T00:00:00Z', NULL, 's', 'op', 'p',
                 'UNIT-OLD', NULL, NULL, 'pass', NULL, NULL);
             INSERT INTO certificates VALUES ('0A1B', 1, 'UNIT-OLD', 'abcd',
                 '2026-01-01T00:00:00Z', '2031-01-01T00:00:00Z', 'pem', 'active');
             PRAGMA user_version = 1;",
        )
        .expect("v1 schema");
    }
    let journal = Journal::open(&path).expect("migrates");
    let rows = journal
        .list_certificates(&CertFilter::default())
        .expect("list");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, CertStatus::Active);
    assert_eq!(rows[0].key_origin, KeyOrigin::Device);
    assert_eq!(rows[0].issued_at, "2026-01-01T00:00:00Z");
    assert_eq!(journal.next_crl_number().expect("crl number"), 1);
}
