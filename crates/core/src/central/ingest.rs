//! What the server does with one batch, in one PostgreSQL transaction: check that the entries
//! continue the chain it holds for that journal, store what is new, ignore what it already has
//! (a redelivery has no effect), apply status changes over older ones only, and list what a
//! person must review. Each table is written with one `unnest` statement per batch.

use postgres::Transaction;

use super::outbox::{Batch, CertData, ChildRow};
use super::CentralError;

/// What one delivery changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivered {
    /// Chain entries the server did not hold yet.
    pub new_entries: usize,
    pub new_sessions: usize,
    /// Review items this batch raised.
    pub new_reviews: usize,
}

pub fn ingest(tx: &mut Transaction<'_>, b: &Batch) -> Result<Delivered, CentralError> {
    tx.execute(
        "INSERT INTO journals (journal_id, station_id) VALUES ($1, $2)
         ON CONFLICT (journal_id) DO NOTHING",
        &[&b.journal_id, &b.station_id],
    )?;
    // One delivery per journal at a time: the order of a station's entries is the chain's.
    let row = tx.query_one(
        "SELECT head_seq, head_hash FROM journals WHERE journal_id = $1 FOR UPDATE",
        &[&b.journal_id],
    )?;
    let (mut head_seq, mut head_hash): (i64, Option<String>) = (row.get(0), row.get(1));
    let known: std::collections::HashMap<i64, String> = tx
        .query(
            "SELECT seq, hash FROM chain_entries WHERE journal_id = $1 AND seq BETWEEN $2 AND $3",
            &[
                &b.journal_id,
                &b.entries.first().map(|e| e.seq).unwrap_or_default(),
                &head_seq,
            ],
        )?
        .into_iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let mut fresh = Vec::new();
    for e in &b.entries {
        if e.seq <= head_seq {
            if known.get(&e.seq).is_some_and(|h| *h != e.hash) {
                return Err(CentralError::Rewritten { seq: e.seq });
            }
            continue;
        }
        if e.seq != head_seq + 1 {
            return Err(CentralError::OutOfOrder {
                expected: head_seq + 1,
                got: e.seq,
            });
        }
        if head_hash.as_ref().is_some_and(|h| *h != e.prev_hash) {
            return Err(CentralError::Rewritten { seq: e.seq });
        }
        head_seq = e.seq;
        head_hash = Some(e.hash.clone());
        fresh.push(e);
    }
    let mut out = Delivered {
        new_entries: fresh.len(),
        ..Delivered::default()
    };
    if fresh.is_empty() {
        tx.execute(
            "UPDATE journals SET last_sync = now() WHERE journal_id = $1",
            &[&b.journal_id],
        )?;
        return Ok(out);
    }
    let first_new = fresh[0].seq;
    let col = |f: &dyn Fn(&super::outbox::Entry) -> String| -> Vec<String> {
        fresh.iter().map(|e| f(e)).collect()
    };
    tx.execute(
        "INSERT INTO chain_entries (journal_id, seq, kind, ref, content_hash, prev_hash, hash, at)
         SELECT $1, * FROM unnest($2::int8[], $3::text[], $4::text[], $5::text[], $6::text[],
                                  $7::text[], $8::text[])",
        &[
            &b.journal_id,
            &fresh.iter().map(|e| e.seq).collect::<Vec<i64>>(),
            &col(&|e| e.kind.clone()),
            &col(&|e| e.reference.clone()),
            &col(&|e| e.content_hash.clone()),
            &col(&|e| e.prev_hash.clone()),
            &col(&|e| e.hash.clone()),
            &col(&|e| e.at.clone()),
        ],
    )?;
    let sessions: Vec<_> = b
        .sessions
        .iter()
        .filter(|s| s.chain_seq >= first_new)
        .collect();
    let new_ids: std::collections::HashSet<i64> = sessions.iter().map(|s| s.row.id).collect();
    out.new_sessions = sessions.len();
    let s = |f: &dyn Fn(&crate::journal::SessionRow) -> Option<String>| -> Vec<Option<String>> {
        sessions.iter().map(|x| f(&x.row)).collect()
    };
    tx.execute(
        "INSERT INTO sessions (journal_id, session_id, chain_seq, station_id, started_at, ended_at,
                               operator, port, device_id, model, firmware, result, error_code,
                               error_message, work_order, failed_step)
         SELECT $1, u.id, u.seq, u.station, u.started::timestamptz, u.ended::timestamptz,
                u.op, u.port, u.dev, u.model, u.fw, u.result, u.code, u.msg, u.wo, u.fstep
         FROM unnest($2::int8[], $3::int8[], $4::text[], $5::text[], $6::text[], $7::text[],
                     $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[],
                     $14::text[], $15::text[], $16::text[])
              AS u(id, seq, station, started, ended, op, port, dev, model, fw, result, code, msg,
                   wo, fstep)
         ON CONFLICT DO NOTHING",
        &[
            &b.journal_id,
            &sessions.iter().map(|x| x.row.id).collect::<Vec<i64>>(),
            &sessions.iter().map(|x| x.chain_seq).collect::<Vec<i64>>(),
            &s(&|x| Some(x.station_id.clone())),
            &s(&|x| Some(x.started_at.clone())),
            &s(&|x| x.ended_at.clone()),
            &s(&|x| Some(x.operator.clone())),
            &s(&|x| Some(x.port.clone())),
            &s(&|x| x.device_id.clone()),
            &s(&|x| x.model.clone()),
            &s(&|x| x.firmware.clone()),
            &s(&|x| Some(x.result.as_str().to_owned())),
            &s(&|x| x.error_code.clone()),
            &s(&|x| x.error_message.clone()),
            &s(&|x| x.work_order.clone()),
            &s(&|x| x.failed_step.clone()),
        ],
    )?;
    let keep = |rows: &[ChildRow]| -> Vec<ChildRow> {
        rows.iter()
            .filter(|r| new_ids.contains(&r.session_id))
            .cloned()
            .collect()
    };
    insert_children(
        tx,
        "steps",
        &[
            "name",
            "started_at",
            "ended_at",
            "outcome",
            "error_code",
            "detail",
        ],
        &b.journal_id,
        &keep(&b.steps),
    )?;
    insert_children(
        tx,
        "device_log",
        &["at", "line"],
        &b.journal_id,
        &keep(&b.device_log),
    )?;
    let checks = keep(&b.audit_checks);
    insert_children(
        tx,
        "audit_checks",
        &["name", "outcome", "evidence", "at"],
        &b.journal_id,
        &checks,
    )?;
    let certs: Vec<&CertData> = b
        .certificates
        .iter()
        .filter(|c| new_ids.contains(&c.session_id))
        .collect();
    insert_certificates(tx, b, &certs)?;
    for c in b
        .status_changes
        .iter()
        .filter(|c| c.status_seq >= first_new)
    {
        tx.execute(
            "UPDATE certificates SET status = $2, revoked_at = $3, revocation_reason = $4,
                    status_seq = $5
             WHERE serial = $1 AND status_seq < $5",
            &[
                &c.serial,
                &c.status,
                &c.revoked_at,
                &c.revocation_reason,
                &c.status_seq,
            ],
        )?;
    }
    out.new_reviews += duplicates(tx, b, &certs)?;
    // A certificate issued while the registry was unreachable, under allow_and_flag.
    for check in checks.iter().filter(|c| {
        c.cols[0].as_deref() == Some(super::registry::UNCHECKED_CHECK)
            && c.cols[1].as_deref() == Some("warn")
    }) {
        let device = sessions
            .iter()
            .find(|s| s.row.id == check.session_id)
            .and_then(|s| s.row.device_id.clone());
        out.new_reviews += tx.execute(
            "INSERT INTO review (key, kind, device_id, station_id, journal_id, detail)
             VALUES ($1, 'unchecked', $2, $3, $4, $5) ON CONFLICT (key) DO NOTHING",
            &[
                &format!("unchecked:{}:{}", b.journal_id, check.session_id),
                &device,
                &b.station_id,
                &b.journal_id,
                &format!(
                    "session {} issued while the central registry was unreachable",
                    check.session_id
                ),
            ],
        )? as usize;
    }
    tx.execute(
        "UPDATE journals SET head_seq = $2, head_hash = $3, last_sync = now(), station_id = $4
         WHERE journal_id = $1",
        &[&b.journal_id, &head_seq, &head_hash, &b.station_id],
    )?;
    Ok(out)
}

fn insert_children(
    tx: &mut Transaction<'_>,
    table: &str,
    cols: &[&str],
    journal_id: &str,
    rows: &[ChildRow],
) -> Result<(), CentralError> {
    if rows.is_empty() {
        return Ok(());
    }
    let sessions: Vec<i64> = rows.iter().map(|r| r.session_id).collect();
    let ords: Vec<i32> = rows.iter().map(|r| r.ord).collect();
    let columns: Vec<Vec<Option<String>>> = (0..cols.len())
        .map(|i| {
            rows.iter()
                .map(|r| r.cols.get(i).cloned().flatten())
                .collect()
        })
        .collect();
    let arrays = (0..cols.len())
        .map(|i| format!("${}::text[]", i + 4))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "INSERT INTO {table} (journal_id, session_id, ord, {}) SELECT $1, * FROM unnest($2::int8[], $3::int4[], {arrays}) ON CONFLICT DO NOTHING",
        cols.join(", ")
    );
    let mut params: Vec<&(dyn postgres::types::ToSql + Sync)> = vec![&journal_id, &sessions, &ords];
    for c in &columns {
        params.push(c);
    }
    tx.execute(&sql, &params)?;
    Ok(())
}

fn insert_certificates(
    tx: &mut Transaction<'_>,
    b: &Batch,
    certs: &[&CertData],
) -> Result<(), CentralError> {
    if certs.is_empty() {
        return Ok(());
    }
    let t = |f: &dyn Fn(&CertData) -> Option<String>| -> Vec<Option<String>> {
        certs.iter().map(|c| f(c)).collect()
    };
    tx.execute(
        "INSERT INTO certificates (journal_id, station_id, serial, session_id, device_id, sha256,
                                   not_before, not_after, issued_at, key_origin, supersedes, pem,
                                   status, revoked_at, revocation_reason, status_seq)
         SELECT $1, $2, * FROM unnest($3::text[], $4::int8[], $5::text[], $6::text[], $7::text[],
                                      $8::text[], $9::text[], $10::text[], $11::text[],
                                      $12::text[], $13::text[], $14::text[], $15::text[],
                                      $16::int8[])
         ON CONFLICT (serial) DO NOTHING",
        &[
            &b.journal_id,
            &b.station_id,
            &t(&|c| Some(c.serial.clone())),
            &certs.iter().map(|c| c.session_id).collect::<Vec<i64>>(),
            &t(&|c| Some(c.device_id.clone())),
            &t(&|c| Some(c.sha256.clone())),
            &t(&|c| Some(c.not_before.clone())),
            &t(&|c| Some(c.not_after.clone())),
            &t(&|c| c.issued_at.clone()),
            &t(&|c| Some(c.key_origin.clone())),
            &t(&|c| c.supersedes.clone()),
            &t(&|c| Some(c.pem.clone())),
            &t(&|c| Some(c.status.clone())),
            &t(&|c| c.revoked_at.clone()),
            &t(&|c| c.revocation_reason.clone()),
            &certs.iter().map(|c| c.status_seq).collect::<Vec<i64>>(),
        ],
    )?;
    Ok(())
}

/// Live certificates of this batch whose device already has a live certificate from another
/// journal: both stay as they are, and the pair is listed for review.
fn duplicates(
    tx: &mut Transaction<'_>,
    b: &Batch,
    certs: &[&CertData],
) -> Result<usize, CentralError> {
    let serials: Vec<String> = certs
        .iter()
        .filter(|c| matches!(c.status.as_str(), "issued" | "active"))
        .map(|c| c.serial.clone())
        .collect();
    if serials.is_empty() {
        return Ok(0);
    }
    let n = tx.execute(
        "INSERT INTO review (key, kind, device_id, station_id, journal_id, detail)
         SELECT 'duplicate:' || least(c.serial, o.serial) || ':' || greatest(c.serial, o.serial),
                'duplicate_device', c.device_id, c.station_id, c.journal_id,
                'certificate ' || c.serial || ' from station ' || c.station_id ||
                ' and certificate ' || o.serial || ' from station ' || o.station_id ||
                ' are both live for this device'
         FROM certificates c
         JOIN certificates o ON o.device_id = c.device_id AND o.journal_id <> c.journal_id
                             AND o.status IN ('issued', 'active')
         WHERE c.serial = ANY($1) AND c.journal_id = $2
         ON CONFLICT (key) DO NOTHING",
        &[&serials, &b.journal_id],
    )?;
    Ok(n as usize)
}
