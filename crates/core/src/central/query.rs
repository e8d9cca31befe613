//! QA over every station: the journal's session filters, on the server.

use postgres::types::ToSql;

use super::{Central, CentralError};
use crate::journal::query::SessionFilter;
use crate::journal::{SessionResult, SessionRow};

/// RFC 3339 in UTC with microseconds, as the server prints a `timestamptz`.
const TS: &str = "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'";

fn where_clause(filter: &SessionFilter) -> (String, Vec<String>, Vec<&'static str>) {
    let mut clauses = Vec::new();
    let mut values = Vec::new();
    let mut casts = Vec::new();
    let mut push = |col: &str, op: &str, cast: &'static str, v: &Option<String>| {
        if let Some(v) = v {
            values.push(v.clone());
            casts.push(cast);
            clauses.push(format!("{col} {op} ${}{cast}", values.len()));
        }
    };
    // Bound as text and cast by the server: the journal's filters are RFC 3339 strings.
    push("started_at", ">=", "::text::timestamptz", &filter.from);
    push("started_at", "<", "::text::timestamptz", &filter.to);
    push("result", "=", "", &filter.result);
    push("operator", "=", "", &filter.operator);
    push("model", "=", "", &filter.model);
    push("firmware", "=", "", &filter.firmware);
    push("failed_step", "=", "", &filter.failed_step);
    push("device_id", "=", "", &filter.device_id);
    push("work_order", "=", "", &filter.work_order);
    let sql = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    (sql, values, casts)
}

/// Sessions of every station matching `filter`, newest first, one page; `station_id` tells
/// them apart.
pub fn sessions(
    central: &mut Central,
    filter: &SessionFilter,
    limit: u32,
    offset: u64,
) -> Result<Vec<SessionRow>, CentralError> {
    let (clause, values, _) = where_clause(filter);
    let n = values.len();
    let limit = i64::from(limit);
    let offset = offset as i64;
    let mut params: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v as _).collect();
    params.push(&limit);
    params.push(&offset);
    let sql = format!(
        "SELECT session_id, to_char(started_at AT TIME ZONE 'UTC', {TS}),
                to_char(ended_at AT TIME ZONE 'UTC', {TS}), station_id, operator, port,
                device_id, model, firmware, result, error_code, error_message, work_order,
                failed_step
         FROM sessions {clause} ORDER BY started_at DESC, station_id, session_id DESC
         LIMIT ${} OFFSET ${}",
        n + 1,
        n + 2
    );
    Ok(central
        .client
        .query(&sql, &params)?
        .into_iter()
        .map(|r| SessionRow {
            id: r.get(0),
            started_at: r.get(1),
            ended_at: r.get(2),
            station_id: r.get(3),
            operator: r.get(4),
            port: r.get(5),
            device_id: r.get(6),
            model: r.get(7),
            firmware: r.get(8),
            result: SessionResult::parse(r.get(9)),
            error_code: r.get(10),
            error_message: r.get(11),
            work_order: r.get(12),
            failed_step: r.get(13),
        })
        .collect())
}

/// How many sessions of every station match `filter`.
pub fn count_sessions(central: &mut Central, filter: &SessionFilter) -> Result<u64, CentralError> {
    let (clause, values, _) = where_clause(filter);
    let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v as _).collect();
    let n: i64 = central
        .client
        .query_one(&format!("SELECT count(*) FROM sessions {clause}"), &params)?
        .get(0);
    Ok(n as u64)
}
