//! Issuing and registering the backend's and broker's identities: one session per identity in
//! the journal (passed or failed, like every attempt), the certificate recorded with its kind
//! and activated, which revokes the one it replaces.

use time::OffsetDateTime;

use super::Station;
use crate::error::Coded;
use crate::journal::{NewSession, SessionResult};
use crate::pki::service::{IssuedService, ServiceSubject};
use crate::pki::{PkiError, UnlockedCa};
use crate::station::admin::AdminError;

/// Who asked for a service identity, and which.
#[derive(Debug, Clone)]
pub struct ServiceRequest<'a> {
    pub subject: ServiceSubject<'a>,
    /// The operator recorded on the identity's session (`lab` for the lab's own).
    pub operator: &'a str,
}

impl Station {
    /// Issues and registers a backend or broker identity. A name that a unit's certificate (or
    /// the other service's) holds is refused: the registry's kinds never mix.
    pub fn issue_service_identity(
        &self,
        ca: &UnlockedCa,
        req: &ServiceRequest<'_>,
        now: OffsetDateTime,
    ) -> Result<IssuedService, AdminError> {
        let journal = self.journal()?;
        let name = req.subject.name;
        let session_id = journal.begin_session(&NewSession {
            station_id: &self.config.station_id,
            operator: req.operator,
            port: "service-identity",
            work_order: None,
            started_at: now,
        })?;
        journal.set_identity(session_id, name, "", "")?;
        let result = (|| {
            if journal
                .kinds_named(name)?
                .iter()
                .any(|k| *k != req.subject.kind)
            {
                return Err(PkiError::ServiceNameTaken(name.to_owned()).into());
            }
            let issued = ca.issue_service(&req.subject, now)?;
            journal.record_service_identity(
                session_id,
                req.subject.kind,
                &issued.cert,
                name,
                now,
            )?;
            Ok(issued)
        })();
        let error = result.as_ref().err().map(|e: &AdminError| e.info());
        let outcome = match error {
            None => SessionResult::Pass,
            Some(_) => SessionResult::Fail,
        };
        journal.finish_session(session_id, outcome, error.as_ref(), now)?;
        result
    }
}
