//! Commissioner's own dialect, served: a request on the profile's request topic is answered on
//! its Response Topic (or the profile's response topic) with the same correlation data, a
//! `Provisioning-Status` user property and, on a refusal, a `Reason` (and an `Error-Code` when
//! the refusal has one of ours).
//!
//! Out of band the request names the certificate the station issued, and the registry decides.
//! In band (a `csr` in the body, the topic's identity a bootstrap one) the backend, when given
//! the station's CA, issues the unit's operational certificate and answers Completed with
//! `certificateChain`. The topic level is the requester's certificate CN (the broker's ACL
//! ties them), so here, unlike the vendor dialects, the broker vouches for who asks.

use base64::Engine;
use rumqttc::v5::mqttbytes::v5::PublishProperties;
use time::OffsetDateTime;

use super::bootstrap::{refuse, InbandIssuer, InbandRefusal};
use super::decide::{Decider, Decision};
use super::SHARE_GROUP;
use super::{DialectBackend, Incoming, MqttError, Outgoing, ResponderConfig, TopicTemplate};
use crate::error::{Coded, ErrorInfo};
use crate::mqtt::dialect::commissioner::{self, ReplyDetails};
use crate::mqtt::dialect::Dialect;
use crate::mqtt::handshake::STATUS_PROPERTY;

/// The user property naming our error code on a refusal.
pub const ERROR_CODE_PROPERTY: &str = "Error-Code";

/// The commissioner dialect's backend.
pub struct CommissionerBackend {
    request: TopicTemplate,
    response: TopicTemplate,
    decider: Decider,
    issuer: Option<InbandIssuer>,
}

impl std::fmt::Debug for CommissionerBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommissionerBackend")
            .field("request", &self.request)
            .field("issues", &self.issuer.is_some())
            .finish_non_exhaustive()
    }
}

/// What the backend answers: the decision, and what the reply carries beyond it.
struct Answer {
    decision: Decision,
    details: ReplyDetails,
}

impl Answer {
    fn decided(decision: Decision) -> Self {
        let details = ReplyDetails {
            reason: decision.reason().map(str::to_owned),
            ..ReplyDetails::default()
        };
        Self { decision, details }
    }

    /// Our code leads the reason too: a 3.1.1 unit or a plain MQTT client sees it there.
    fn refused(e: &ErrorInfo) -> Self {
        let mut answer = Self::decided(Decision::Rejected(format!("{}: {}", e.code, e.message)));
        answer.details.error_code = Some(e.code.clone());
        answer
    }
}

impl CommissionerBackend {
    /// The backend of `cfg`'s topics and registry. Templates the responder cannot serve are
    /// refused here, not found out by a unit.
    pub fn new(cfg: &ResponderConfig) -> Result<Self, MqttError> {
        Ok(Self {
            request: TopicTemplate::parse(&cfg.request_topic)?,
            response: TopicTemplate::parse(&cfg.response_topic)?,
            decider: Decider::new(cfg.registry.as_ref(), cfg.pending_first)?,
            issuer: None,
        })
    }

    /// Serves in-band requests too, issuing on `issuer`.
    pub fn issuing(mut self, issuer: InbandIssuer) -> Self {
        self.issuer = Some(issuer);
        self
    }

    /// An in-band request from `requester` (a bootstrap CN) with its CSR.
    fn in_band(&self, requester: &str, csr: &str, now: OffsetDateTime) -> Answer {
        let Some(issuer) = &self.issuer else {
            return Answer::refused(&refuse(
                InbandRefusal::NotServed,
                "this responder issues no certificates: in-band requests need `commissioner \
                 responder` started with the station's CA"
                    .into(),
            ));
        };
        let session_id = match issuer.begin(now) {
            Ok(id) => id,
            Err(e) => return Answer::refused(&e),
        };
        let issued = self.issue(issuer, session_id, requester, csr, now);
        issuer.finish(session_id, issued.as_ref().err(), now);
        match issued {
            Ok(chain) => {
                let mut answer = Answer::decided(Decision::Completed);
                answer.details.certificate_chain = Some(chain);
                answer
            }
            Err(e) => Answer::refused(&e),
        }
    }

    fn issue(
        &self,
        issuer: &InbandIssuer,
        session_id: i64,
        requester: &str,
        csr: &str,
        now: OffsetDateTime,
    ) -> Result<Vec<String>, ErrorInfo> {
        let der = base64::engine::general_purpose::STANDARD
            .decode(csr)
            .map_err(|_| {
                crate::pki::PkiError::CsrMalformed("csr is not base64 DER".into()).info()
            })?;
        issuer.issue_for_requester(session_id, requester, &der, now)
    }
}

impl DialectBackend for CommissionerBackend {
    fn dialect(&self) -> Dialect {
        Dialect::Commissioner
    }

    /// A shared subscription of the profile's request topic: several responders split the
    /// load, each request standing alone.
    fn filters(&self) -> Vec<String> {
        vec![format!("$share/{SHARE_GROUP}/{}", self.request.filter())]
    }

    fn reply(&mut self, msg: Incoming<'_>, now: OffsetDateTime) -> Option<Outgoing> {
        let device_id = self.request.device_id(msg.topic)?;
        let request = commissioner::read_body(device_id, msg.payload);
        let answer = match &request.csr {
            Some(csr) => self.in_band(device_id, csr, now),
            None => Answer::decided(
                self.decider
                    .decide(device_id, request.certificate_serial.as_deref()),
            ),
        };
        let props = msg.properties.unwrap_or_default();
        let response_topic = props
            .response_topic
            .clone()
            .unwrap_or_else(|| self.response.expand(device_id));
        let status = answer.decision.status();
        let mut user_properties = vec![(STATUS_PROPERTY.into(), status.into())];
        if let Some(reason) = &answer.details.reason {
            user_properties.push(("Reason".into(), reason.clone()));
        }
        if let Some(code) = &answer.details.error_code {
            user_properties.push((ERROR_CODE_PROPERTY.into(), code.clone()));
        }
        let properties = PublishProperties {
            correlation_data: props.correlation_data,
            user_properties,
            content_type: Some("application/json".into()),
            ..Default::default()
        };
        Some(Outgoing {
            topic: response_topic,
            payload: commissioner::reply_body(&request, status, &answer.details),
            properties: Some(properties),
        })
    }
}
