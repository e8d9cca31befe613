//! What QA reads: sessions by filter, a session's steps, certificates and device log.

use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, OptionalExtension, Row};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::chain::SESSION_COLS;
use super::{registry, CertificateRow, Journal, JournalError, SessionResult, SessionRow, StepRow};

/// Filters QA applies to sessions; every field optional, all of them ANDed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SessionFilter {
    /// Inclusive lower bound on `started_at`, RFC 3339.
    pub from: Option<String>,
    /// Exclusive upper bound on `started_at`, RFC 3339.
    pub to: Option<String>,
    pub result: Option<String>,
    pub operator: Option<String>,
    pub model: Option<String>,
    pub firmware: Option<String>,
    pub failed_step: Option<String>,
    pub device_id: Option<String>,
    pub work_order: Option<String>,
}

impl SessionFilter {
    /// The WHERE clause and its parameters. Only column names from this list reach the SQL;
    /// values are always bound.
    pub(crate) fn to_sql(&self) -> (String, Vec<Value>) {
        self.to_sql_on("")
    }

    /// As [`Self::to_sql`], with columns qualified by `prefix` (e.g. `s.`) for joins.
    pub(crate) fn to_sql_on(&self, prefix: &str) -> (String, Vec<Value>) {
        let mut clauses = Vec::new();
        let mut values = Vec::new();
        let mut push = |clause: &str, v: &Option<String>| {
            if let Some(v) = v {
                clauses.push(format!("{prefix}{clause}"));
                values.push(Value::Text(v.clone()));
            }
        };
        push("started_at >= ?", &self.from);
        push("started_at < ?", &self.to);
        push("result = ?", &self.result);
        push("operator = ?", &self.operator);
        push("model = ?", &self.model);
        push("firmware = ?", &self.firmware);
        push("failed_step = ?", &self.failed_step);
        push("device_id = ?", &self.device_id);
        push("work_order = ?", &self.work_order);
        let sql = if clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", clauses.join(" AND "))
        };
        (sql, values)
    }
}

pub(crate) fn session_row(r: &Row<'_>) -> rusqlite::Result<SessionRow> {
    Ok(SessionRow {
        id: r.get(0)?,
        started_at: r.get(1)?,
        ended_at: r.get(2)?,
        station_id: r.get(3)?,
        operator: r.get(4)?,
        port: r.get(5)?,
        device_id: r.get(6)?,
        model: r.get(7)?,
        firmware: r.get(8)?,
        result: SessionResult::parse(&r.get::<_, String>(9)?),
        error_code: r.get(10)?,
        error_message: r.get(11)?,
        work_order: r.get(12)?,
        failed_step: r.get(13)?,
    })
}

impl Journal {
    /// Sessions matching `filter`, newest first, one page.
    pub fn sessions(
        &self,
        filter: &SessionFilter,
        limit: u32,
        offset: u64,
    ) -> Result<Vec<SessionRow>, JournalError> {
        let (clause, mut values) = filter.to_sql();
        values.push(Value::Integer(i64::from(limit)));
        values.push(Value::Integer(offset as i64));
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {SESSION_COLS} FROM sessions {clause} ORDER BY started_at DESC, id DESC LIMIT ? OFFSET ?"
        ))?;
        let rows = stmt.query_map(params_from_iter(values), session_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// How many sessions match `filter`.
    pub fn count_sessions(&self, filter: &SessionFilter) -> Result<u64, JournalError> {
        let (clause, values) = filter.to_sql();
        Ok(self.conn.query_row(
            &format!("SELECT count(*) FROM sessions {clause}"),
            params_from_iter(values),
            |r| r.get::<_, i64>(0),
        )? as u64)
    }

    pub fn session(&self, id: i64) -> Result<Option<SessionRow>, JournalError> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {SESSION_COLS} FROM sessions WHERE id = ?1"),
                params![id],
                session_row,
            )
            .optional()?)
    }

    pub fn steps(&self, session_id: i64) -> Result<Vec<StepRow>, JournalError> {
        let mut stmt = self.conn.prepare(
            "SELECT name, started_at, ended_at, outcome, error_code, detail
             FROM steps WHERE session_id = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map(params![session_id], |r| {
            Ok(StepRow {
                name: r.get(0)?,
                started_at: r.get(1)?,
                ended_at: r.get(2)?,
                outcome: r.get(3)?,
                error_code: r.get(4)?,
                detail: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn certificates_for_session(
        &self,
        session_id: i64,
    ) -> Result<Vec<CertificateRow>, JournalError> {
        let mut stmt = self.conn.prepare(
            "SELECT serial, session_id, device_id, sha256, status, key_origin, pem
             FROM certificates WHERE session_id = ?1",
        )?;
        let rows = stmt.query_map(params![session_id], |r| {
            Ok(CertificateRow {
                serial: r.get(0)?,
                session_id: r.get(1)?,
                device_id: r.get(2)?,
                sha256: r.get(3)?,
                status: r.get(4)?,
                key_origin: registry::parsed(r, 5)?,
                pem: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn device_log(&self, session_id: i64) -> Result<Vec<String>, JournalError> {
        let mut stmt = self
            .conn
            .prepare("SELECT line FROM device_log WHERE session_id = ?1 ORDER BY id")?;
        let rows = stmt.query_map(params![session_id], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
