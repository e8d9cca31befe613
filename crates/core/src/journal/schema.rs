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
    // The certificate registry (issue 4): when each certificate was issued (the hourly quota
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
];
