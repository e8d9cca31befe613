//! The central store against a real PostgreSQL 15 (Debian's server on a temporary directory and
//! a free port): outbox drain, idempotent redelivery, the server going away mid-drain, a
//! station offline for a day, anchored chains, duplicates found after an offline period.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use commissioner_core::central::outbox::{acknowledge, backlog, next_batch};
use commissioner_core::central::sync::{deliver, follow, sync_once, SyncEvent, SyncOptions};
use commissioner_core::central::{anchor, connect, query, registry, Central, CentralProfile};
use commissioner_core::error::Coded;
use commissioner_core::journal::generate::{generate, Synthetic};
use commissioner_core::journal::query::SessionFilter;
use commissioner_core::journal::Journal;
use time::macros::datetime;

use crate::fixture::{central_profile, pg};

/// `ca crl --central`.
mod crl;

fn journal_with(dir: &Path, station: &str, sessions: u64, seed: u64) -> Journal {
    let journal = Journal::open(&dir.join("journal.sqlite")).expect("journal");
    add_sessions(&journal, station, sessions, seed);
    journal
}

fn add_sessions(journal: &Journal, station: &str, sessions: u64, seed: u64) {
    generate(
        journal,
        &Synthetic {
            sessions,
            start: datetime!(2026-03-02 06:00 UTC),
            every: time::Duration::seconds(30),
            seed,
            station_id: station.into(),
        },
    )
    .expect("generate");
}

pub(crate) fn opts(station: &str) -> SyncOptions<'_> {
    SyncOptions {
        station_id: station,
        batch: 64,
        max_batches: None,
    }
}

fn count(central: &mut Central, sql: &str, station: &str) -> i64 {
    central
        .client()
        .query_one(sql, &[&station])
        .expect("count")
        .get(0)
}

fn central_sessions(central: &mut Central, station: &str) -> i64 {
    count(
        central,
        "SELECT count(*) FROM sessions WHERE station_id = $1",
        station,
    )
}

fn local_sessions(journal: &Journal) -> i64 {
    journal
        .connection()
        .query_row("SELECT count(*) FROM sessions", [], |r| r.get(0))
        .expect("local count")
}

fn central_head(central: &mut Central, journal: &Journal) -> (i64, Option<String>) {
    let id = journal.genesis_hash().expect("genesis").expect("has chain");
    let row = central
        .client()
        .query_one(
            "SELECT head_seq, head_hash FROM journals WHERE journal_id = $1",
            &[&id],
        )
        .expect("journal row");
    (row.get(0), row.get(1))
}

fn local_head(journal: &Journal) -> (i64, Option<String>) {
    let h = commissioner_core::journal::chain::head(journal.connection())
        .expect("head")
        .expect("chain");
    (h.seq, Some(h.hash))
}

#[test]
fn outbox_drains_every_sealed_session_and_chain_head_in_order() {
    let pg = pg().read().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().expect("dir");
    let station = "st-drain";
    let journal = journal_with(dir.path(), station, 300, 11);
    let before = backlog(&journal).expect("backlog");
    assert_eq!(before.pending_sessions, 300);
    assert!(before.last_sync.is_none());

    let mut central = connect(&central_profile(&pg.server), dir.path()).expect("connect");
    let report = sync_once(&journal, &mut central, &opts(station)).expect("sync");
    assert_eq!(report.new_sessions, 300);
    assert!(report.batches >= 5, "{report:?}");
    let after = backlog(&journal).expect("backlog");
    assert_eq!(after.pending, 0);
    assert!(after.last_sync.is_some());

    assert_eq!(central_sessions(&mut central, station), 300);
    // Steps, certificates and the whole chain arrived with the sessions.
    let local_steps: i64 = journal
        .connection()
        .query_row("SELECT count(*) FROM steps", [], |r| r.get(0))
        .expect("steps");
    let steps = count(
        &mut central,
        "SELECT count(*) FROM steps s JOIN sessions x USING (journal_id, session_id)
         WHERE x.station_id = $1",
        station,
    );
    assert_eq!(steps, local_steps);
    let local_certs: i64 = journal
        .connection()
        .query_row("SELECT count(*) FROM certificates", [], |r| r.get(0))
        .expect("certs");
    assert_eq!(
        count(
            &mut central,
            "SELECT count(*) FROM certificates WHERE station_id = $1",
            station
        ),
        local_certs
    );
    assert_eq!(central_head(&mut central, &journal), local_head(&journal));

    // A revocation after the seal travels as its own entry and lands on the registry.
    let serial: String = journal
        .connection()
        .query_row(
            "SELECT serial FROM certificates WHERE status = 'active' LIMIT 1",
            [],
            |r| r.get(0),
        )
        .expect("an active certificate");
    journal
        .revoke(
            std::slice::from_ref(&serial),
            "key-compromise",
            time::OffsetDateTime::now_utc(),
        )
        .expect("revoke");
    assert_eq!(backlog(&journal).expect("backlog").pending, 1);
    sync_once(&journal, &mut central, &opts(station)).expect("sync revocation");
    let revoked = registry::revoked(&mut central).expect("revoked");
    let ours = revoked
        .iter()
        .find(|r| r.serial == serial)
        .expect("revoked centrally");
    assert_eq!(ours.reason.as_deref(), Some("key-compromise"));
    assert_eq!(central_head(&mut central, &journal), local_head(&journal));
    assert!(anchor::verify(&journal, &mut central)
        .expect("anchor")
        .problem
        .is_none());
}

#[test]
fn the_same_batch_delivered_twice_has_one_effect() {
    let pg = pg().read().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().expect("dir");
    let station = "st-twice";
    let journal = journal_with(dir.path(), station, 50, 12);
    let mut central = connect(&central_profile(&pg.server), dir.path()).expect("connect");
    let batch = next_batch(&journal, station, 1_000)
        .expect("batch")
        .expect("something to send");
    let first = deliver(&mut central, &batch).expect("first delivery");
    assert_eq!(first.new_sessions, 50);
    // The station died before acknowledging: the same batch goes again.
    let second = deliver(&mut central, &batch).expect("second delivery");
    assert_eq!(second.new_entries, 0);
    assert_eq!(second.new_sessions, 0);
    acknowledge(&journal, &batch, "2026-03-02T12:00:00Z").expect("ack");
    assert_eq!(central_sessions(&mut central, station), 50);
    let entries = count(
        &mut central,
        "SELECT count(*) FROM chain_entries c JOIN journals j USING (journal_id)
         WHERE j.station_id = $1",
        station,
    );
    assert_eq!(entries, local_head(&journal).0);
}

#[test]
fn server_stopped_mid_drain_and_restarted_loses_and_doubles_nothing() {
    // The only test that stops the shared server: it holds the write guard meanwhile.
    let mut pg = pg().write().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().expect("dir");
    let station = "st-restart";
    let path = dir.path().join("journal.sqlite");
    add_sessions(&Journal::open(&path).expect("journal"), station, 3_000, 13);
    let profile = CentralProfile {
        batch: 25,
        ..central_profile(&pg.server)
    };
    let stop = AtomicBool::new(false);
    let (failures, synced) = std::thread::scope(|scope| {
        let worker = scope.spawn(|| {
            let journal = Journal::open(&path).expect("worker journal");
            let mut failures = Vec::new();
            let mut synced = 0;
            follow(
                &journal,
                &profile,
                dir.path(),
                &SyncOptions {
                    station_id: station,
                    batch: 25,
                    max_batches: Some(4),
                },
                Duration::from_millis(20),
                &stop,
                &mut |e| match e {
                    SyncEvent::Synced(r, _) => synced += r.entries,
                    SyncEvent::Failed(err, _, _) => failures.push(err.code()),
                },
            )
            .expect("follow");
            (failures, synced)
        });
        // Let a part of the backlog go, then take the server away mid-drain.
        let journal = Journal::open(&path).expect("journal");
        let deadline = Instant::now() + Duration::from_secs(60);
        while backlog(&journal).expect("backlog").synced_seq.unwrap_or(0) < 200 {
            assert!(Instant::now() < deadline, "no progress before the stop");
            std::thread::sleep(Duration::from_millis(5));
        }
        pg.server.stop();
        let pending_while_down = backlog(&journal).expect("backlog").pending;
        assert!(pending_while_down > 0, "the drain finished before the stop");
        std::thread::sleep(Duration::from_millis(1_500));
        pg.server.run().expect("restart");
        while backlog(&journal).expect("backlog").pending > 0 {
            assert!(
                Instant::now() < deadline,
                "backlog not drained after restart"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        stop.store(true, Ordering::Relaxed);
        worker.join().expect("worker")
    });
    assert!(
        !failures.is_empty(),
        "the worker never noticed the server was gone"
    );
    assert!(
        failures.iter().all(|c| *c == "central.unreachable"),
        "{failures:?}"
    );
    assert!(synced > 0);
    let journal = Journal::open(&path).expect("journal");
    let mut central = connect(&profile, dir.path()).expect("connect");
    assert_eq!(central_sessions(&mut central, station), 3_000);
    assert_eq!(central_head(&mut central, &journal), local_head(&journal));
}

#[test]
fn a_station_offline_for_a_day_catches_up_when_back() {
    let pg = pg().read().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().expect("dir");
    let station = "st-offline";
    // A day of production at one unit a minute, while the server's address answers nothing.
    let journal = journal_with(dir.path(), station, 1_440, 14);
    let offline = CentralProfile {
        url: format!(
            "postgresql://commissioner@127.0.0.1:{}/commissioner",
            commissioner_core::lab::free_port().expect("port")
        ),
        ..central_profile(&pg.server)
    };
    let err = connect(&offline, dir.path()).expect_err("nothing listens there");
    assert_eq!(err.code(), "central.unreachable");
    assert_eq!(backlog(&journal).expect("backlog").pending_sessions, 1_440);
    let mut central = connect(&central_profile(&pg.server), dir.path()).expect("back online");
    sync_once(&journal, &mut central, &opts(station)).expect("catch up");
    assert_eq!(
        central_sessions(&mut central, station),
        local_sessions(&journal)
    );
    assert_eq!(backlog(&journal).expect("backlog").pending, 0);
}

#[test]
fn a_journal_cut_short_or_rewritten_after_it_synced_is_detected() {
    let pg = pg().read().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().expect("dir");
    let station = "st-anchor";
    let journal = journal_with(dir.path(), station, 40, 15);
    let mut central = connect(&central_profile(&pg.server), dir.path()).expect("connect");
    sync_once(&journal, &mut central, &opts(station)).expect("sync");
    let (head, _) = local_head(&journal);

    // Cut short: the newest sessions and their chain entries deleted. The local chain is
    // still a valid chain; only the anchor shows what is missing.
    journal
        .connection()
        .execute_batch(&format!(
            "DELETE FROM chain WHERE seq > {}; DELETE FROM sync_outbox;",
            head - 5
        ))
        .expect("cut");
    let report = anchor::verify(&journal, &mut central).expect("anchor");
    let problem = report.problem.expect("cut short is found");
    assert_eq!(problem.code, "chain.cut_short");
    assert_eq!(report.central_head_seq, head);

    // Rewritten: new entries in place of the deleted ones. They clash with what the server
    // holds; it refuses them and lists the journal for review.
    add_sessions(&journal, station, 10, 99);
    let report = anchor::verify(&journal, &mut central).expect("anchor");
    assert_eq!(
        report.problem.expect("rewritten is found").code,
        "chain.rewritten_after_sync"
    );
    let err = sync_once(&journal, &mut central, &opts(station)).expect_err("refused");
    assert_eq!(err.code(), "central.journal_rewritten");
    let review = registry::review(&mut central).expect("review");
    assert!(
        review
            .iter()
            .any(|r| r.kind == "journal_rewritten" && r.station_id == station),
        "{review:?}"
    );
}

#[test]
fn a_device_commissioned_at_two_offline_stations_is_listed_and_queries_span_stations() {
    let pg = pg().read().unwrap_or_else(|p| p.into_inner());
    let (a, b) = (
        tempfile::tempdir().expect("a"),
        tempfile::tempdir().expect("b"),
    );
    let ja = journal_with(a.path(), "st-dup-a", 5, 21);
    let jb = journal_with(b.path(), "st-dup-b", 5, 22);
    // Both stations, offline, commissioned the same unit: station B's record of it is
    // renamed to A's device id.
    let dup = "st-dup-a-00000000";
    let active = |j: &Journal| -> String {
        j.connection()
            .query_row(
                "SELECT device_id FROM certificates WHERE status = 'active' ORDER BY rowid LIMIT 1",
                [],
                |r| r.get(0),
            )
            .expect("active cert")
    };
    let (da, db) = (active(&ja), active(&jb));
    ja.connection()
        .execute(
            "UPDATE certificates SET device_id = ?1 WHERE device_id = ?2",
            [dup, da.as_str()],
        )
        .expect("set a");
    jb.connection()
        .execute(
            "UPDATE certificates SET device_id = ?1 WHERE device_id = ?2",
            [dup, db.as_str()],
        )
        .expect("set b");
    let mut central = connect(&central_profile(&pg.server), a.path()).expect("connect");
    sync_once(&ja, &mut central, &opts("st-dup-a")).expect("sync a");
    let report = sync_once(&jb, &mut central, &opts("st-dup-b")).expect("sync b");
    assert_eq!(report.new_reviews, 1);
    // Delivered again: listed once.
    let review = registry::review(&mut central).expect("review");
    let found: Vec<_> = review
        .iter()
        .filter(|r| r.kind == "duplicate_device" && r.device_id.as_deref() == Some(dup))
        .collect();
    assert_eq!(found.len(), 1, "{review:?}");
    assert!(found[0].detail.contains("st-dup-a"), "{}", found[0].detail);
    // Neither certificate was touched: a person decides.
    assert_eq!(
        count(
            &mut central,
            "SELECT count(*) FROM certificates WHERE device_id = $1 AND status = 'active'",
            dup
        ),
        2
    );
    // The registry check before issuing now refuses the unit at a third journal.
    let jc =
        Journal::open(&tempfile::tempdir().expect("c").path().join("j.sqlite")).expect("journal c");
    let genesis_c = jc.genesis_hash().expect("g").expect("g");
    let err = registry::check_device(&mut central, &genesis_c, dup).expect_err("duplicate");
    assert_eq!(err.code(), "central.duplicate_device");
    // ...but not at a station re-keying its own unit.
    let genesis_a = ja.genesis_hash().expect("g").expect("g");
    let own = "st-dup-a-00000003";
    registry::check_device(&mut central, &genesis_a, own).expect("own unit");

    // QA over both stations with the journal's filters.
    let filter = SessionFilter {
        model: None,
        ..SessionFilter::default()
    };
    let rows = query::sessions(&mut central, &filter, 10_000, 0).expect("query");
    let stations: std::collections::BTreeSet<&str> =
        rows.iter().map(|r| r.station_id.as_str()).collect();
    assert!(stations.contains("st-dup-a") && stations.contains("st-dup-b"));
    // A date range, bound as RFC 3339 text like the journal's own filter.
    let day = SessionFilter {
        from: Some("2026-03-02T00:00:00Z".into()),
        to: Some("2026-03-03T00:00:00Z".into()),
        ..SessionFilter::default()
    };
    assert!(query::count_sessions(&mut central, &day).expect("range") >= 10);
    let none = SessionFilter {
        from: Some("2027-01-01T00:00:00Z".into()),
        ..SessionFilter::default()
    };
    assert_eq!(
        query::count_sessions(&mut central, &none).expect("range"),
        0
    );
    let by_device = SessionFilter {
        device_id: Some("st-dup-b-00000001".into()),
        ..SessionFilter::default()
    };
    let rows = query::sessions(&mut central, &by_device, 10, 0).expect("query");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].station_id, "st-dup-b");
    assert_eq!(
        query::count_sessions(&mut central, &by_device).expect("count"),
        1
    );
}
