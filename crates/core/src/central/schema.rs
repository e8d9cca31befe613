//! The central schema's forward-only migrations; `central_schema` records how far a server is.
//! Stations migrate on connect, under an advisory lock, so that eight stations starting at once
//! run each migration exactly once.

use super::CentralError;

/// Each entry moves the schema from version `index` to `index + 1`. Never edit one that has
/// shipped: add a new one.
const MIGRATIONS: &[&str] = &[r#"
-- One row per station journal, keyed by the hash of its first chain entry (an archived journal
-- continues as a new one with a new genesis). head_* is the last entry received: the anchor.
CREATE TABLE journals (
    journal_id   TEXT PRIMARY KEY,
    station_id   TEXT NOT NULL,
    first_sync   TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_sync    TIMESTAMPTZ,
    head_seq     BIGINT NOT NULL DEFAULT 0,
    head_hash    TEXT
);

-- Every chain entry of every station, as the station wrote it.
CREATE TABLE chain_entries (
    journal_id    TEXT NOT NULL REFERENCES journals,
    seq           BIGINT NOT NULL,
    kind          TEXT NOT NULL,
    ref           TEXT NOT NULL,
    content_hash  TEXT NOT NULL,
    prev_hash     TEXT NOT NULL,
    hash          TEXT NOT NULL,
    at            TEXT NOT NULL,
    PRIMARY KEY (journal_id, seq)
);

CREATE TABLE sessions (
    journal_id    TEXT NOT NULL REFERENCES journals,
    session_id    BIGINT NOT NULL,
    station_id    TEXT NOT NULL,
    started_at    TIMESTAMPTZ NOT NULL,
    ended_at      TIMESTAMPTZ,
    operator      TEXT NOT NULL,
    port          TEXT NOT NULL,
    device_id     TEXT,
    model         TEXT,
    firmware      TEXT,
    result        TEXT NOT NULL,
    error_code    TEXT,
    error_message TEXT,
    work_order    TEXT,
    failed_step   TEXT,
    chain_seq     BIGINT NOT NULL,
    PRIMARY KEY (journal_id, session_id)
);
CREATE INDEX sessions_started ON sessions (started_at);
CREATE INDEX sessions_station_started ON sessions (station_id, started_at);
CREATE INDEX sessions_result_started ON sessions (result, started_at);
CREATE INDEX sessions_operator_started ON sessions (operator, started_at);
CREATE INDEX sessions_model_started ON sessions (model, started_at);
CREATE INDEX sessions_firmware_started ON sessions (firmware, started_at);
CREATE INDEX sessions_failed_step ON sessions (failed_step, started_at);
CREATE INDEX sessions_work_order ON sessions (work_order, started_at);
CREATE INDEX sessions_device ON sessions (device_id);

CREATE TABLE steps (
    journal_id  TEXT NOT NULL,
    session_id  BIGINT NOT NULL,
    ord         INTEGER NOT NULL,
    name        TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    ended_at    TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    error_code  TEXT,
    detail      TEXT,
    PRIMARY KEY (journal_id, session_id, ord),
    FOREIGN KEY (journal_id, session_id) REFERENCES sessions
);

CREATE TABLE device_log (
    journal_id  TEXT NOT NULL,
    session_id  BIGINT NOT NULL,
    ord         INTEGER NOT NULL,
    at          TEXT NOT NULL,
    line        TEXT NOT NULL,
    PRIMARY KEY (journal_id, session_id, ord),
    FOREIGN KEY (journal_id, session_id) REFERENCES sessions
);

CREATE TABLE audit_checks (
    journal_id  TEXT NOT NULL,
    session_id  BIGINT NOT NULL,
    ord         INTEGER NOT NULL,
    name        TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    evidence    TEXT,
    at          TEXT NOT NULL,
    PRIMARY KEY (journal_id, session_id, ord),
    FOREIGN KEY (journal_id, session_id) REFERENCES sessions
);

-- The registry of every station's certificates. status_seq is the chain entry that set the
-- status: a status change applies only over an older one, so a redelivery changes nothing.
CREATE TABLE certificates (
    serial            TEXT PRIMARY KEY,
    journal_id        TEXT NOT NULL REFERENCES journals,
    station_id        TEXT NOT NULL,
    session_id        BIGINT NOT NULL,
    device_id         TEXT NOT NULL,
    sha256            TEXT NOT NULL,
    not_before        TEXT NOT NULL,
    not_after         TEXT NOT NULL,
    issued_at         TEXT,
    key_origin        TEXT NOT NULL,
    supersedes        TEXT,
    pem               TEXT NOT NULL,
    status            TEXT NOT NULL,
    revoked_at        TEXT,
    revocation_reason TEXT,
    status_seq        BIGINT NOT NULL
);
CREATE INDEX certificates_live_device ON certificates (device_id)
    WHERE status IN ('issued', 'active');
CREATE INDEX certificates_revoked ON certificates (status) WHERE status = 'revoked';

-- What a person must look at: never merged silently. `key` makes a finding idempotent.
CREATE TABLE review (
    id          BIGSERIAL PRIMARY KEY,
    key         TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL,
    device_id   TEXT,
    station_id  TEXT NOT NULL,
    journal_id  TEXT NOT NULL,
    detail      TEXT NOT NULL,
    found_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
"#];

/// The schema version this build writes.
pub fn known() -> i32 {
    MIGRATIONS.len() as i32
}

pub fn migrate(client: &mut postgres::Client) -> Result<(), CentralError> {
    let mut tx = client.transaction()?;
    // Any constant works; it only has to be the same for every station.
    tx.execute("SELECT pg_advisory_xact_lock(1717)", &[])?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS central_schema (version INTEGER NOT NULL)")?;
    let found: Option<i32> = tx
        .query_opt("SELECT version FROM central_schema", &[])?
        .map(|r| r.get(0));
    let found = match found {
        Some(v) => v,
        None => {
            tx.execute("INSERT INTO central_schema (version) VALUES (0)", &[])?;
            0
        }
    };
    if found > known() {
        return Err(CentralError::TooNew {
            found,
            known: known(),
        });
    }
    for sql in MIGRATIONS.iter().skip(found as usize) {
        tx.batch_execute(sql)?;
    }
    tx.execute("UPDATE central_schema SET version = $1", &[&known()])?;
    tx.commit()?;
    Ok(())
}
