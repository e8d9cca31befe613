//! A station journal checked against the chain the server received from it. The local chain
//! proves its own links; only a copy kept elsewhere shows that its newest entries were cut off
//! or that it was rebuilt from some point on after it synced.

use serde::Serialize;

use super::{Central, CentralError};
use crate::journal::chain::ChainProblem;
use crate::journal::Journal;

/// What the comparison found.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AnchorReport {
    /// The newest entry the server holds for this journal (0 if it never synced).
    pub central_head_seq: i64,
    /// The local head.
    pub local_head_seq: i64,
    pub problem: Option<ChainProblem>,
}

/// Compares the server's head for this journal with the local chain: the entry at that
/// sequence number must exist here with the same hash. With the local chain verified, that
/// entry's hash covers every one before it.
pub fn verify(journal: &Journal, central: &mut Central) -> Result<AnchorReport, CentralError> {
    let conn = journal.connection();
    let journal_id = journal.genesis_hash()?.unwrap_or_default();
    let local = crate::journal::chain::head(conn)?
        .map(|h| h.seq)
        .unwrap_or(0);
    let row = central.client.query_opt(
        "SELECT head_seq, head_hash FROM journals WHERE journal_id = $1",
        &[&journal_id],
    )?;
    let Some(row) = row else {
        return Ok(AnchorReport {
            central_head_seq: 0,
            local_head_seq: local,
            problem: None,
        });
    };
    let (seq, hash): (i64, Option<String>) = (row.get(0), row.get(1));
    let mut report = AnchorReport {
        central_head_seq: seq,
        local_head_seq: local,
        problem: None,
    };
    let Some(hash) = hash else {
        return Ok(report);
    };
    let here: Option<String> = conn
        .query_row("SELECT hash FROM chain WHERE seq = ?1", [seq], |r| r.get(0))
        .map(Some)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(crate::journal::JournalError::from(e)),
        })?;
    report.problem = match here {
        None => Some(ChainProblem {
            code: "chain.cut_short",
            seq: Some(seq),
            message: format!(
                "the central store holds this journal up to entry {seq}, but the journal ends at {local}: its newest entries were removed after it synced"
            ),
        }),
        Some(h) if h != hash => Some(ChainProblem {
            code: "chain.rewritten_after_sync",
            seq: Some(seq),
            message: format!(
                "entry {seq} differs from the one the central store received: the journal was rewritten after it synced"
            ),
        }),
        Some(_) => None,
    };
    Ok(report)
}
