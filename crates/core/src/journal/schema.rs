//! Forward-only migrations, applied in order; `PRAGMA user_version` records how far a file is.

/// Each entry moves the schema from version `index` to `index + 1`. Never edit an entry that
/// has shipped: add a new one.
pub const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE sessions (
    id            INTEGER PRIMARY KEY,
    started_at    TEXT NOT NULL,
    ended_at      TEXT,
    station_id    TEXT NOT NULL,
    operator      TEXT NOT NULL,
    port          TEXT NOT NULL,
    device_id     TEXT,
    model         TEXT,
    firmware      TEXT,
    result        TEXT NOT NULL CHECK (result IN ('running', 'pass', 'fail', 'interrupted')),
    error_code    TEXT,
    error_message TEXT
);
CREATE INDEX sessions_started ON sessions (started_at);
CREATE INDEX sessions_device ON sessions (device_id);

CREATE TABLE steps (
    id          INTEGER PRIMARY KEY,
    session_id  INTEGER NOT NULL REFERENCES sessions (id),
    name        TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    ended_at    TEXT NOT NULL,
    outcome     TEXT NOT NULL CHECK (outcome IN ('ok', 'failed')),
    error_code  TEXT,
    detail      TEXT
);
CREATE INDEX steps_session ON steps (session_id);

CREATE TABLE certificates (
    serial      TEXT PRIMARY KEY,
    session_id  INTEGER NOT NULL REFERENCES sessions (id),
    device_id   TEXT NOT NULL,
    sha256      TEXT NOT NULL UNIQUE,
    not_before  TEXT NOT NULL,
    not_after   TEXT NOT NULL,
    pem         TEXT NOT NULL,
    -- issued: signed, not yet confirmed on the unit; active: on the unit and proven.
    status      TEXT NOT NULL CHECK (status IN ('issued', 'active', 'revoked', 'superseded'))
);
CREATE INDEX certificates_device ON certificates (device_id);

CREATE TABLE device_log (
    id          INTEGER PRIMARY KEY,
    session_id  INTEGER NOT NULL REFERENCES sessions (id),
    at          TEXT NOT NULL,
    line        TEXT NOT NULL
);
"#,
    // 2: the rest of the QA schema and the hash chain.
    r#"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE stations (
    station_id  TEXT PRIMARY KEY,
    first_seen  TEXT NOT NULL
);

CREATE TABLE operators (
    operator_id TEXT PRIMARY KEY,
    first_seen  TEXT NOT NULL
);

CREATE TABLE devices (
    device_id   TEXT PRIMARY KEY,
    model       TEXT,
    first_seen  TEXT NOT NULL,
    last_seen   TEXT NOT NULL
);

ALTER TABLE sessions ADD COLUMN work_order TEXT;
-- Name of the first failed step, set when the session ends: QA filters on it.
ALTER TABLE sessions ADD COLUMN failed_step TEXT;
CREATE INDEX sessions_result_started ON sessions (result, started_at);
CREATE INDEX sessions_operator_started ON sessions (operator, started_at);
CREATE INDEX sessions_model_started ON sessions (model, started_at);
CREATE INDEX sessions_firmware_started ON sessions (firmware, started_at);
CREATE INDEX sessions_failed_step ON sessions (failed_step, started_at);
CREATE INDEX sessions_work_order ON sessions (work_order, started_at);
CREATE INDEX certificates_session ON certificates (session_id);
CREATE INDEX device_log_session ON device_log (session_id);

CREATE TABLE audit_checks (
    id          INTEGER PRIMARY KEY,
    session_id  INTEGER NOT NULL REFERENCES sessions (id),
    name        TEXT NOT NULL,
    outcome     TEXT NOT NULL CHECK (outcome IN ('pass', 'fail', 'warn', 'skipped')),
    evidence    TEXT,
    at          TEXT NOT NULL
);
CREATE INDEX audit_checks_session ON audit_checks (session_id);

CREATE TABLE exports (
    id          INTEGER PRIMARY KEY,
    at          TEXT NOT NULL,
    format      TEXT NOT NULL,
    path        TEXT NOT NULL,
    rows        INTEGER NOT NULL,
    filters     TEXT NOT NULL,
    chain_head  TEXT NOT NULL,
    sha256      TEXT NOT NULL
);

-- The hash chain. A session is sealed when it ends: its content hash covers the session row,
-- its steps, certificates (without status) and device log; certificate status changes are
-- entries of their own. Each entry's hash covers the previous entry's hash.
CREATE TABLE chain (
    seq           INTEGER PRIMARY KEY,
    kind          TEXT NOT NULL CHECK (kind IN ('genesis', 'session', 'certificate_status')),
    ref           TEXT NOT NULL,
    content_hash  TEXT NOT NULL,
    prev_hash     TEXT NOT NULL,
    hash          TEXT NOT NULL,
    at            TEXT NOT NULL
);
CREATE INDEX chain_ref ON chain (kind, ref);
"#,
    // 3: The certificate registry (issue 4): when each certificate was issued (the hourly quota
    // counts these), where its key was generated, its revocation, and the CRLs signed so far
    // (their numbers must only grow). Self-contained: it touches nothing added by other entries.
    r#"
ALTER TABLE certificates ADD COLUMN issued_at TEXT;
ALTER TABLE certificates ADD COLUMN key_origin TEXT NOT NULL DEFAULT 'device'
    CHECK (key_origin IN ('device', 'host'));
ALTER TABLE certificates ADD COLUMN revoked_at TEXT;
ALTER TABLE certificates ADD COLUMN revocation_reason TEXT;
UPDATE certificates SET issued_at = not_before WHERE issued_at IS NULL;
CREATE INDEX certificates_issued ON certificates (issued_at);
CREATE INDEX certificates_status ON certificates (status);

CREATE TABLE crls (
    number        INTEGER PRIMARY KEY,
    this_update   TEXT NOT NULL,
    next_update   TEXT NOT NULL,
    revoked_count INTEGER NOT NULL,
    sha256        TEXT NOT NULL
);
"#,
    // 4: Operators who sign in (issue 7): role and argon2 PIN hash on the operators table that
    // sessions already fill (rows without a hash are names the station merely saw), every
    // sign-in attempt for the rate limit, sign-in tokens (hashes only), and the link from a
    // recommissioned unit's new certificate to the one it supersedes.
    r#"
ALTER TABLE operators ADD COLUMN role TEXT
    CHECK (role IS NULL OR role IN ('technician', 'field_engineer', 'qa', 'admin'));
ALTER TABLE operators ADD COLUMN pin_hash TEXT;
ALTER TABLE operators ADD COLUMN created_at TEXT;

CREATE TABLE login_attempts (
    id          INTEGER PRIMARY KEY,
    operator_id TEXT NOT NULL,
    at          TEXT NOT NULL,
    -- Seconds since the epoch: the rate limit compares times, RFC 3339 text does not sort.
    at_unix     INTEGER NOT NULL,
    ok          INTEGER NOT NULL CHECK (ok IN (0, 1))
);
CREATE INDEX login_attempts_operator ON login_attempts (operator_id, at_unix);

CREATE TABLE operator_tokens (
    token_sha256 TEXT PRIMARY KEY,
    operator_id  TEXT NOT NULL,
    expires_unix INTEGER NOT NULL
);

ALTER TABLE certificates ADD COLUMN supersedes TEXT;
"#,
    // 5: Seal v3 (issue 6). A certificate's status while its session runs is sealed with the
    // session instead of chained entry by entry: `sealed_status` is its status at the seal.
    // Seals written before this migration are v2; the last entry that may hold one is noted so
    // that verify checks those the v2 way.
    r#"
ALTER TABLE certificates ADD COLUMN sealed_status TEXT
    CHECK (sealed_status IS NULL OR sealed_status IN ('issued', 'active', 'revoked', 'superseded'));
INSERT INTO meta (key, value)
    SELECT 'chain_v2_until_seq', CAST(max(seq) AS TEXT) FROM chain WHERE kind = 'session'
    HAVING count(*) > 0;
"#,
    // 6: A broker audit check may be inconclusive (issue 16): the station's own connection
    // failed, so the check could not judge the broker. SQLite cannot change a CHECK constraint
    // in place: the table is rebuilt with its rows (ids kept, so seals still cover them).
    r#"
CREATE TABLE audit_checks_v6 (
    id          INTEGER PRIMARY KEY,
    session_id  INTEGER NOT NULL REFERENCES sessions (id),
    name        TEXT NOT NULL,
    outcome     TEXT NOT NULL
        CHECK (outcome IN ('pass', 'fail', 'warn', 'skipped', 'inconclusive')),
    evidence    TEXT,
    at          TEXT NOT NULL
);
INSERT INTO audit_checks_v6 (id, session_id, name, outcome, evidence, at)
    SELECT id, session_id, name, outcome, evidence, at FROM audit_checks;
DROP TABLE audit_checks;
ALTER TABLE audit_checks_v6 RENAME TO audit_checks;
CREATE INDEX audit_checks_session ON audit_checks (session_id);
"#,
    // 7: Device families (issue 13): which family the station spoke to the unit with, and the
    // session's assurance (where the key was made, what bound the CSR to the unit, whether the
    // unit ran the handshake). A table of its own, so that a file whose version was wound back
    // can run this again; sessions from before families have no row.
    r#"
CREATE TABLE IF NOT EXISTS session_assurance (
    session_id  INTEGER PRIMARY KEY REFERENCES sessions (id),
    family      TEXT NOT NULL,
    assurance   TEXT NOT NULL
);
"#,
    // 8: Operators, sign-in tokens and sign-in attempts are chained (issue 20): the chain
    // takes entry kinds of their own. The chain is rebuilt with its rows (seqs kept, so every
    // link and head stays valid); the rows already there are chained once after this runs.
    r#"
CREATE TABLE chain_v8 (
    seq           INTEGER PRIMARY KEY,
    kind          TEXT NOT NULL CHECK (kind IN ('genesis', 'session', 'certificate_status',
                                               'operator', 'token', 'login_attempt')),
    ref           TEXT NOT NULL,
    content_hash  TEXT NOT NULL,
    prev_hash     TEXT NOT NULL,
    hash          TEXT NOT NULL,
    at            TEXT NOT NULL
);
INSERT INTO chain_v8 (seq, kind, ref, content_hash, prev_hash, hash, at)
    SELECT seq, kind, ref, content_hash, prev_hash, hash, at FROM chain;
DROP TABLE chain;
ALTER TABLE chain_v8 RENAME TO chain;
CREATE INDEX chain_ref ON chain (kind, ref);
"#,
    // Yield figures and the MES outbox (issue 19). Each step's duration in a table of its own,
    // so that step-time statistics over a million sessions count integers instead of parsing
    // two timestamps per row; derived from the sealed start and end, which stay the record.
    // Only IF NOT EXISTS and OR IGNORE: a file whose version was wound back runs this again.
    r#"
CREATE TABLE IF NOT EXISTS step_durations (
    step_id     INTEGER PRIMARY KEY,
    session_id  INTEGER NOT NULL,
    name        TEXT NOT NULL,
    duration_ms INTEGER NOT NULL
);
INSERT OR IGNORE INTO step_durations (step_id, session_id, name, duration_ms)
    SELECT id, session_id, name,
           CAST(round((julianday(ended_at) - julianday(started_at)) * 86400000.0) AS INTEGER)
    FROM steps;
-- Covering: step times over a date range or a work order read the index, not the rows.
CREATE INDEX IF NOT EXISTS step_durations_session
    ON step_durations (session_id, name, duration_ms);
-- Covering: every grouped figure over a date range reads the index, not the session rows.
CREATE INDEX IF NOT EXISTS sessions_yield
    ON sessions (started_at, result, model, firmware, work_order, failed_step, error_code);
-- The MES outbox: one event per session end, written in the transaction that seals the
-- session, so an event is never lost or sent for a session that was not sealed. Delivered
-- in id order; `delivered_at` set once the MES acknowledged it.
CREATE TABLE IF NOT EXISTS outbox (
    id                INTEGER PRIMARY KEY,
    session_id        INTEGER NOT NULL REFERENCES sessions (id),
    idempotency_key   TEXT NOT NULL UNIQUE,
    event             TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    attempts          INTEGER NOT NULL DEFAULT 0,
    next_attempt_unix INTEGER NOT NULL DEFAULT 0,
    last_error        TEXT,
    delivered_at      TEXT
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (delivered_at, id);
"#,
    // 10: Issue 18. An archive keeps the certificate registry: the certificates of archived
    // sessions are carried into the new journal without their session (`session_id` NULL),
    // each chained as a `sessionless_certificate` record. Every certificate says what it is
    // (`kind`): a unit's, or the backend's or broker's service identity, which no unit may
    // take. Both tables are rebuilt with their rows (rowids and seqs kept, so seals, links and
    // heads stay valid).
    r#"
CREATE TABLE certificates_v9 (
    serial      TEXT PRIMARY KEY,
    session_id  INTEGER REFERENCES sessions (id),
    device_id   TEXT NOT NULL,
    sha256      TEXT NOT NULL UNIQUE,
    not_before  TEXT NOT NULL,
    not_after   TEXT NOT NULL,
    pem         TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('issued', 'active', 'revoked', 'superseded')),
    issued_at   TEXT,
    key_origin  TEXT NOT NULL DEFAULT 'device' CHECK (key_origin IN ('device', 'host')),
    revoked_at  TEXT,
    revocation_reason TEXT,
    supersedes  TEXT,
    sealed_status TEXT
        CHECK (sealed_status IS NULL OR sealed_status IN ('issued', 'active', 'revoked', 'superseded')),
    kind        TEXT NOT NULL DEFAULT 'unit' CHECK (kind IN ('unit', 'backend', 'broker'))
);
INSERT INTO certificates_v9 (rowid, serial, session_id, device_id, sha256, not_before, not_after,
        pem, status, issued_at, key_origin, revoked_at, revocation_reason, supersedes,
        sealed_status)
    SELECT rowid, serial, session_id, device_id, sha256, not_before, not_after, pem, status,
        issued_at, key_origin, revoked_at, revocation_reason, supersedes, sealed_status
    FROM certificates;
-- Service identities issued before kinds existed (ca issue-backend / issue-server sessions).
UPDATE certificates_v9 SET kind = CASE WHEN device_id = 'commissioner-backend' THEN 'backend'
                                       ELSE 'broker' END
    WHERE session_id IN (SELECT id FROM sessions WHERE port = 'service-identity');
DROP TABLE certificates;
ALTER TABLE certificates_v9 RENAME TO certificates;
CREATE INDEX certificates_device ON certificates (device_id);
CREATE INDEX certificates_issued ON certificates (issued_at);
CREATE INDEX certificates_status ON certificates (status);
CREATE INDEX certificates_session ON certificates (session_id);

CREATE TABLE chain_v9 (
    seq           INTEGER PRIMARY KEY,
    kind          TEXT NOT NULL CHECK (kind IN ('genesis', 'session', 'certificate_status',
                                               'operator', 'token', 'login_attempt',
                                               'sessionless_certificate')),
    ref           TEXT NOT NULL,
    content_hash  TEXT NOT NULL,
    prev_hash     TEXT NOT NULL,
    hash          TEXT NOT NULL,
    at            TEXT NOT NULL
);
INSERT INTO chain_v9 (seq, kind, ref, content_hash, prev_hash, hash, at)
    SELECT seq, kind, ref, content_hash, prev_hash, hash, at FROM chain;
DROP TABLE chain;
ALTER TABLE chain_v9 RENAME TO chain;
CREATE INDEX chain_ref ON chain (kind, ref);
"#,
    // The central store's outbox (`sync_outbox`; `outbox` is the MES's) (issue 17): every chain entry (a sealed session, a certificate
    // status change, an operator record: each a chain head in turn) is queued for delivery by a
    // trigger, in the transaction that writes it, so that no write path can forget it. The
    // chain as it stands is queued once. A migration that rebuilds `chain` must create the
    // trigger again.
    r#"
CREATE TABLE IF NOT EXISTS sync_outbox (
    id         INTEGER PRIMARY KEY,
    chain_seq  INTEGER NOT NULL
);
-- Runs again on a file whose version was wound back (an earlier migration rebuilt `chain`,
-- dropping the trigger): queue only what is not queued yet.
INSERT INTO sync_outbox (chain_seq)
    SELECT seq FROM chain WHERE seq NOT IN (SELECT chain_seq FROM sync_outbox) ORDER BY seq;
CREATE TRIGGER IF NOT EXISTS chain_outbox AFTER INSERT ON chain
BEGIN
    INSERT INTO sync_outbox (chain_seq) VALUES (new.seq);
END;
"#,
    // 12: Seal v4 covers the session's assurance too (issue 13: which family, where the key
    // was made, what bound it to the unit). Seals already written are v3; the last entry that
    // may hold one is noted so that verify checks those the v3 way (0 on a journal with none).
    // `OR IGNORE`: a file whose version was wound back keeps the mark it had, so its v4 seals
    // stay v4.
    r#"
INSERT OR IGNORE INTO meta (key, value)
    SELECT 'chain_v3_until_seq', CAST(coalesce(max(seq), 0) AS TEXT) FROM chain
    WHERE kind = 'session';
"#,
    // 13: In-band provisioning (issue 15): which unit certificates are bootstrap identities,
    // beside the registry rather than a new `certificates.kind` (a kind is part of what the
    // chain seals, and rebuilding the table would rebuild the chain). A bootstrap certificate
    // is a unit certificate like any other for the CRL and the broker; this says what it was
    // for. `IF NOT EXISTS`: safe on a file whose version was wound back.
    r#"
CREATE TABLE IF NOT EXISTS bootstrap_certificates (
    serial      TEXT PRIMARY KEY,
    device_id   TEXT NOT NULL,
    common_name TEXT NOT NULL
);
"#,
];

/// Schema version after which the records that decide trust are chained.
pub const RECORDS_CHAINED: usize = 8;
