//! Operators: who may do what at this station.
//!
//! An operator has an id, a role and a PIN; only an argon2 hash of the PIN is kept, in the
//! journal's `operators` table. Every sign-in attempt is recorded and chained; after
//! [`MAX_FAILURES`] wrong PINs the operator is locked out for [`LOCKOUT_WINDOW`], twice as long
//! after every further [`MAX_FAILURES`], and too many wrong PINs at the station within the hour
//! lock every operator out, so a PIN cannot be guessed at the station. A station without any operator who has a PIN runs as
//! before: the operator name given is recorded and not checked.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rusqlite::{params, OptionalExtension, Transaction, TransactionBehavior};
use serde::Serialize;
use sha2::{Digest, Sha256};
use thiserror::Error;
use time::{Duration, OffsetDateTime};
use ts_rs::TS;

use crate::error::Coded;
use crate::journal::chain::records::{LOGIN_ATTEMPT, OPERATOR, TOKEN};
use crate::journal::{ts, Journal, JournalError};

/// Wrong PINs allowed since an operator's last sign-in before they are locked out.
pub const MAX_FAILURES: i64 = 5;
/// How long the first lockout lasts; each further [`MAX_FAILURES`] wrong PINs double it.
pub const LOCKOUT_WINDOW: Duration = Duration::minutes(10);
/// The longest a lockout grows to.
pub const MAX_LOCKOUT: Duration = Duration::hours(24);
/// Wrong PINs at this station, for any operators, within [`STATION_WINDOW`] before every
/// sign-in is refused for the rest of it.
pub const STATION_MAX_FAILURES: i64 = 20;
pub const STATION_WINDOW: Duration = Duration::hours(1);
/// How long a sign-in token lasts: one shift's stretch at the bench, not a day.
pub const TOKEN_LIFETIME: Duration = Duration::hours(1);
/// Shortest PIN accepted.
pub const MIN_PIN_LEN: usize = 6;

/// What an operator may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Technician,
    FieldEngineer,
    Qa,
    Admin,
}

/// Actions a role is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Commission,
    Recommission,
    Export,
    ManageOperators,
    /// Create, import or replace the issuing CA, revoke certificates, publish a CRL.
    AdministerCa,
    /// Change the station profile (broker endpoint, trust anchors, policy).
    EditProfile,
    /// Probe the broker with test identities (`audit`): QA's check of the installation.
    Audit,
    /// Read the journal (sessions, certificates, device logs), check its chain, and read the
    /// station's log console. Anyone may read the sessions they ran themselves; the rest is
    /// QA's.
    ReadJournal,
    /// Move the journal's sessions aside and start a new file (`journal archive`): admin only.
    ArchiveJournal,
    /// Start or stop the lab broker (`lab up`, `lab down`).
    RunLab,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Technician => "technician",
            Role::FieldEngineer => "field_engineer",
            Role::Qa => "qa",
            Role::Admin => "admin",
        }
    }

    /// Technicians commission, field engineers also re-key units in service, QA reads,
    /// exports and audits the broker, admins may do everything.
    pub fn allows(self, action: Action) -> bool {
        use Action::*;
        match self {
            Role::Admin => true,
            Role::Technician => matches!(action, Commission),
            Role::FieldEngineer => matches!(action, Commission | Recommission),
            Role::Qa => matches!(action, Export | Audit | ReadJournal),
        }
    }
}

impl std::str::FromStr for Role {
    type Err = OperatorError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "technician" => Ok(Role::Technician),
            "field_engineer" => Ok(Role::FieldEngineer),
            "qa" => Ok(Role::Qa),
            "admin" => Ok(Role::Admin),
            _ => Err(OperatorError::UnknownRole(s.into())),
        }
    }
}

fn action_name(action: Action) -> &'static str {
    match action {
        Action::Commission => "commission units",
        Action::Recommission => "recommission units",
        Action::Export => "export the journal",
        Action::ManageOperators => "manage operators",
        Action::AdministerCa => "administer the CA (init, import, revoke, CRL)",
        Action::EditProfile => "edit the station profile",
        Action::Audit => "audit the broker",
        Action::ReadJournal => "read the journal and the station log",
        Action::ArchiveJournal => "archive the journal",
        Action::RunLab => "start or stop the lab broker",
    }
}

/// Errors of operator management and sign-in.
#[derive(Debug, Error)]
pub enum OperatorError {
    #[error("unknown role '{0}' (known: technician, field_engineer, qa, admin)")]
    UnknownRole(String),
    #[error("operator id or PIN is wrong")]
    BadCredentials,
    #[error("too many wrong PINs for operator '{0}': try again later (each further lockout lasts twice as long)")]
    LockedOut(String),
    #[error("too many wrong PINs at this station within the hour: no one can sign in until the hour has passed")]
    StationLockedOut,
    #[error("operator '{operator}' ({}) may not {}", .role.as_str(), action_name(*.action))]
    Forbidden {
        operator: String,
        role: Role,
        action: Action,
    },
    #[error("this station has operators: sign in with `commissioner login` or give --operator and COMMISSIONER_PIN")]
    NotSignedIn,
    #[error("the sign-in has expired or is not valid: sign in again with `commissioner login`")]
    TokenInvalid,
    #[error("this station requires operators, but the journal at {0} has none: it was replaced or emptied. Restore the station's journal; nothing is done until then")]
    OperatorsMissing(String),
    #[error("no operator '{0}' with a PIN at this station")]
    Unknown(String),
    #[error("'{0}' is the station's last admin: add another admin before disabling this one")]
    LastAdmin(String),
    #[error("operator '{0}' already has a PIN")]
    Exists(String),
    #[error("a PIN needs at least {MIN_PIN_LEN} digits, digits only")]
    WeakPin,
    #[error("the first operator of a station must be an admin, who then adds the others")]
    FirstMustBeAdmin,
    #[error("cannot hash the PIN")]
    Hash(String),
    #[error("the journal's record of operator or sign-in '{0}' was written or changed outside Commissioner; it is not trusted. Run `commissioner journal verify` and tell QA")]
    Unrecorded(String),
    #[error(transparent)]
    Journal(#[from] JournalError),
}

impl From<rusqlite::Error> for OperatorError {
    fn from(e: rusqlite::Error) -> Self {
        OperatorError::Journal(JournalError::Sqlite(e))
    }
}

impl Coded for OperatorError {
    fn code(&self) -> &'static str {
        match self {
            OperatorError::UnknownRole(_) => "operator.unknown_role",
            OperatorError::BadCredentials => "operator.bad_credentials",
            OperatorError::LockedOut(_) => "operator.locked_out",
            OperatorError::StationLockedOut => "operator.station_locked_out",
            OperatorError::Forbidden { .. } => "operator.forbidden",
            OperatorError::NotSignedIn => "operator.not_signed_in",
            OperatorError::Unknown(_) => "operator.unknown",
            OperatorError::LastAdmin(_) => "operator.last_admin",
            OperatorError::OperatorsMissing(_) => "operator.journal_without_operators",
            OperatorError::TokenInvalid => "operator.token_invalid",
            OperatorError::Exists(_) => "operator.exists",
            OperatorError::WeakPin => "operator.weak_pin",
            OperatorError::FirstMustBeAdmin => "operator.first_must_be_admin",
            OperatorError::Hash(_) => "operator.hash_failed",
            OperatorError::Unrecorded(_) => "operator.unrecorded",
            OperatorError::Journal(e) => e.code(),
        }
    }
}

/// An operator who has a PIN at this station.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Operator {
    pub id: String,
    pub role: Role,
}

impl Operator {
    /// `Ok` when this operator's role allows `action`.
    pub fn authorize(&self, action: Action) -> Result<(), OperatorError> {
        if self.role.allows(action) {
            return Ok(());
        }
        Err(OperatorError::Forbidden {
            operator: self.id.clone(),
            role: self.role,
            action,
        })
    }
}

/// Whether any operator has a PIN here; without one, the station does not check operators.
pub fn enforced(journal: &Journal) -> Result<bool, OperatorError> {
    Ok(journal.connection().query_row(
        "SELECT EXISTS (SELECT 1 FROM operators WHERE pin_hash IS NOT NULL)",
        [],
        |r| r.get(0),
    )?)
}

/// Operators with a PIN, by id.
pub fn list(journal: &Journal) -> Result<Vec<Operator>, OperatorError> {
    let mut stmt = journal.connection().prepare(
        "SELECT operator_id, role FROM operators WHERE pin_hash IS NOT NULL ORDER BY operator_id",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (id, role) = row?;
        out.push(Operator {
            id,
            role: role.parse()?,
        });
    }
    Ok(out)
}

/// Adds an operator with a PIN. The first one must be an admin, so someone can add the rest.
fn check_pin(pin: &str) -> Result<(), OperatorError> {
    // Digits only, at least six: the argon2 hash of a 4-digit PIN falls to an offline guess
    // in seconds for anyone who can read the journal.
    if pin.len() < MIN_PIN_LEN || !pin.bytes().all(|b| b.is_ascii_digit()) {
        return Err(OperatorError::WeakPin);
    }
    Ok(())
}

fn hash_pin(pin: &str) -> Result<String, OperatorError> {
    let salt: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt).map_err(|e| OperatorError::Hash(e.to_string()))?;
    Ok(Argon2::default()
        .hash_password(pin.as_bytes(), &salt)
        .map_err(|e| OperatorError::Hash(e.to_string()))?
        .to_string())
}

/// An operator changes their own PIN: the old one is checked like a sign-in (and counts
/// towards the lockout), the new one must be as strong as any, and the change is chained.
pub fn change_pin(
    journal: &Journal,
    id: &str,
    old_pin: &str,
    new_pin: &str,
    now: OffsetDateTime,
) -> Result<(), OperatorError> {
    check_pin(new_pin)?;
    authenticate(journal, id, old_pin, now)?;
    let hash = hash_pin(new_pin)?;
    let at = ts(now);
    journal.immediate(|conn| {
        conn.execute(
            "UPDATE operators SET pin_hash = ?2 WHERE operator_id = ?1 AND pin_hash IS NOT NULL",
            params![id, hash],
        )?;
        OPERATOR.record(conn, id, &at)
    })?;
    Ok(())
}

/// An admin disables an operator: their PIN is removed, so neither a sign-in nor a token of
/// theirs works any more; the record stays (sessions name them) and the change is chained. The
/// last admin cannot be disabled, or nobody could manage the station.
pub fn disable(journal: &Journal, id: &str, now: OffsetDateTime) -> Result<(), OperatorError> {
    let at = ts(now);
    journal.immediate(|conn| {
        let admins: i64 = conn.query_row(
            "SELECT COUNT(*) FROM operators
                 WHERE role = 'admin' AND pin_hash IS NOT NULL AND operator_id != ?1",
            params![id],
            |r| r.get(0),
        )?;
        let target: Option<String> = conn
            .query_row(
                "SELECT role FROM operators WHERE operator_id = ?1 AND pin_hash IS NOT NULL",
                params![id],
                |r| r.get(0),
            )
            .optional()?;
        match target.as_deref() {
            None => return Ok(Err(OperatorError::Unknown(id.into()))),
            Some("admin") if admins == 0 => return Ok(Err(OperatorError::LastAdmin(id.into()))),
            Some(_) => {}
        }
        conn.execute(
            "UPDATE operators SET pin_hash = NULL WHERE operator_id = ?1",
            params![id],
        )?;
        OPERATOR.record(conn, id, &at)?;
        Ok(Ok(()))
    })?
}

pub fn add(
    journal: &Journal,
    id: &str,
    role: Role,
    pin: &str,
    now: OffsetDateTime,
) -> Result<Operator, OperatorError> {
    check_pin(pin)?;
    if !enforced(journal)? && role != Role::Admin {
        return Err(OperatorError::FirstMustBeAdmin);
    }
    let hash = hash_pin(pin)?;
    let at = ts(now);
    // A name the station has merely seen on sessions becomes a real operator; one with a
    // PIN is never overwritten.
    let changed = journal.immediate(|conn| {
        let changed = conn.execute(
            "INSERT INTO operators (operator_id, first_seen, role, pin_hash, created_at)
             VALUES (?1, ?2, ?3, ?4, ?2)
             ON CONFLICT (operator_id) DO UPDATE SET role = ?3, pin_hash = ?4, created_at = ?2
             WHERE pin_hash IS NULL",
            params![id, at, role.as_str(), hash],
        )?;
        if changed > 0 {
            OPERATOR.record(conn, id, &at)?;
        }
        Ok(changed)
    })?;
    if changed == 0 {
        return Err(OperatorError::Exists(id.into()));
    }
    Ok(Operator {
        id: id.into(),
        role,
    })
}

/// Why a sign-in as `id` is refused before its PIN is looked at, if it is. Per operator: after
/// [`MAX_FAILURES`] wrong PINs since their last sign-in, each further try waits
/// [`LOCKOUT_WINDOW`] after the last failure, doubled for every further [`MAX_FAILURES`] (up to
/// [`MAX_LOCKOUT`]). Per station: [`STATION_MAX_FAILURES`] wrong PINs within an hour, whoever
/// they were for, refuse every sign-in for the rest of that hour, so spreading guesses over
/// many operator ids gains nothing.
fn lockout(
    conn: &rusqlite::Connection,
    id: &str,
    now: OffsetDateTime,
) -> Result<Option<OperatorError>, OperatorError> {
    let station_failures: i64 = conn.query_row(
        "SELECT COUNT(*) FROM login_attempts WHERE ok = 0 AND at_unix > ?1",
        params![(now - STATION_WINDOW).unix_timestamp()],
        |r| r.get(0),
    )?;
    if station_failures >= STATION_MAX_FAILURES {
        return Ok(Some(OperatorError::StationLockedOut));
    }
    let (failures, last): (i64, Option<i64>) = conn.query_row(
        "SELECT COUNT(*), MAX(at_unix) FROM login_attempts
         WHERE operator_id = ?1 AND ok = 0
           AND at_unix >= COALESCE(
               (SELECT MAX(at_unix) FROM login_attempts WHERE operator_id = ?1 AND ok = 1), 0)",
        params![id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    if failures < MAX_FAILURES {
        return Ok(None);
    }
    let doublings = u32::try_from(failures / MAX_FAILURES - 1).unwrap_or(u32::MAX);
    let wait = LOCKOUT_WINDOW
        .checked_mul(2i32.saturating_pow(doublings.min(16)))
        .map_or(MAX_LOCKOUT, |w| w.min(MAX_LOCKOUT));
    let until = last.unwrap_or(0).saturating_add(wait.whole_seconds());
    Ok((now.unix_timestamp() < until).then(|| OperatorError::LockedOut(id.into())))
}

/// Checks `pin` for operator `id`, recording the attempt. Locked-out operators are refused
/// before their PIN is even looked at, so guessing on gains nothing.
pub fn authenticate(
    journal: &Journal,
    id: &str,
    pin: &str,
    now: OffsetDateTime,
) -> Result<Operator, OperatorError> {
    let conn = journal.connection();
    // The attempt is counted and claimed in one write transaction, before the slow PIN check,
    // and stays a failure until the PIN matches: guesses made in parallel (several processes,
    // or many IPC calls at once) each see the others' claims, so no more than MAX_FAILURES
    // PINs are ever checked per window.
    let attempt = {
        let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
        let refusal = lockout(&tx, id, now)?;
        // Every guess is recorded and chained, a refused one too (as a failure: guessing on
        // while locked out keeps the lockout going), so that deleting failures to lift a
        // lockout shows in `journal verify`.
        tx.execute(
            "INSERT INTO login_attempts (operator_id, at, at_unix, ok) VALUES (?1, ?2, ?3, 0)",
            params![id, ts(now), now.unix_timestamp()],
        )?;
        let rowid = tx.last_insert_rowid();
        LOGIN_ATTEMPT.record(&tx, &rowid.to_string(), &ts(now))?;
        tx.commit()?;
        if let Some(refused) = refusal {
            return Err(refused);
        }
        rowid
    };
    let row: Option<(String, String)> = conn
        .query_row(
            "SELECT role, pin_hash FROM operators WHERE operator_id = ?1 AND pin_hash IS NOT NULL",
            params![id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let ok = match &row {
        Some((_, hash)) => PasswordHash::new(hash)
            .map(|h| {
                Argon2::default()
                    .verify_password(pin.as_bytes(), &h)
                    .is_ok()
            })
            .unwrap_or(false),
        None => false,
    };
    if ok {
        if !OPERATOR.covered(conn, id)? {
            return Err(OperatorError::Unrecorded(id.into()));
        }
        journal.immediate(|conn| {
            conn.execute(
                "UPDATE login_attempts SET ok = 1 WHERE rowid = ?1",
                params![attempt],
            )?;
            LOGIN_ATTEMPT.record(conn, &attempt.to_string(), &ts(now))
        })?;
    }
    match row {
        Some((role, _)) if ok => Ok(Operator {
            id: id.into(),
            role: role.parse()?,
        }),
        _ => Err(OperatorError::BadCredentials),
    }
}

/// Issues a sign-in token for `op`, valid for [`TOKEN_LIFETIME`]; only its hash is stored.
pub fn issue_token(
    journal: &Journal,
    op: &Operator,
    now: OffsetDateTime,
) -> Result<String, OperatorError> {
    let token = hex::encode(rand::random::<[u8; 32]>());
    let digest = hex::encode(Sha256::digest(token.as_bytes()));
    journal.immediate(|conn| {
        conn.execute(
            "INSERT INTO operator_tokens (token_sha256, operator_id, expires_unix) VALUES (?1, ?2, ?3)",
            params![digest, op.id, (now + TOKEN_LIFETIME).unix_timestamp()],
        )?;
        TOKEN.record(conn, &digest, &ts(now))
    })?;
    Ok(token)
}

/// Revokes a sign-in token (sign-out): its row goes, and the chain records that it went.
/// Returns whether there was such a token.
pub fn revoke_token(
    journal: &Journal,
    token: &str,
    now: OffsetDateTime,
) -> Result<bool, OperatorError> {
    let digest = hex::encode(Sha256::digest(token.trim().as_bytes()));
    Ok(journal.immediate(|conn| {
        let gone = conn.execute(
            "DELETE FROM operator_tokens WHERE token_sha256 = ?1",
            params![digest],
        )?;
        if gone > 0 {
            TOKEN.record(conn, &digest, &ts(now))?;
        }
        Ok(gone > 0)
    })?)
}

/// The operator a token was issued to, while it is valid.
pub fn from_token(
    journal: &Journal,
    token: &str,
    now: OffsetDateTime,
) -> Result<Operator, OperatorError> {
    let conn = journal.connection();
    let digest = hex::encode(Sha256::digest(token.trim().as_bytes()));
    let row: Option<(String, String)> = conn
        .query_row(
            "SELECT o.operator_id, o.role FROM operator_tokens t
             JOIN operators o ON o.operator_id = t.operator_id
             WHERE t.token_sha256 = ?1 AND t.expires_unix > ?2 AND o.pin_hash IS NOT NULL",
            params![digest, now.unix_timestamp()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let (id, role) = row.ok_or(OperatorError::TokenInvalid)?;
    // A token row or operator row the chain does not cover was written by hand.
    if !TOKEN.covered(conn, &digest)? {
        return Err(OperatorError::Unrecorded(format!("token of {id}")));
    }
    if !OPERATOR.covered(conn, &id)? {
        return Err(OperatorError::Unrecorded(id));
    }
    Ok(Operator {
        id,
        role: role.parse()?,
    })
}
