//! The MES hook: every session end is POSTed to the factory MES as a signed JSON event, from
//! the journal's outbox (see [`crate::journal::outbox`]), in order, retried with backoff until
//! the MES answers 2xx. A MES that is down loses nothing: the events wait in the journal.
//!
//! Signature (documented for the MES side in docs/mes.md): HMAC-SHA256 with the shared
//! secret over `"{timestamp}.{body}"`, sent as `X-Commissioner-Signature: sha256=<hex>` with
//! `X-Commissioner-Timestamp: <unix seconds>` and `Idempotency-Key: <key>`. Delivery is at
//! least once; the idempotency key (also in the body) makes it exactly once on the MES side.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::hmac;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::error::Coded;
use crate::journal::outbox::Pending;
use crate::journal::{ts, Journal, JournalError};

/// `[mes]` in station.toml.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MesProfile {
    /// Where events are POSTed (`http://` or `https://`).
    pub url: String,
    /// File holding the shared HMAC secret (relative to the station directory); keep it
    /// owner-only. Never in station.toml itself.
    pub secret_file: PathBuf,
    /// PEM file of the CA that signed the MES's TLS certificate (https only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
}

/// Errors of the MES hook.
#[derive(Debug, Error)]
pub enum MesError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("cannot read the MES secret or CA file {path}")]
    Secret {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the MES at {url} did not take the event: {reason}; it stays queued and is sent again"
    )]
    Delivery { url: String, reason: String },
}

impl Coded for MesError {
    fn code(&self) -> &'static str {
        match self {
            MesError::Journal(e) => e.code(),
            MesError::Secret { .. } => "mes.secret_unreadable",
            MesError::Delivery { .. } => "mes.delivery_failed",
        }
    }
}

/// The signature header's value for `body` sent at `timestamp`.
pub fn sign(secret: &[u8], timestamp: i64, body: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let tag = hmac::sign(&key, format!("{timestamp}.{body}").as_bytes());
    format!("sha256={}", hex::encode(tag.as_ref()))
}

/// Whether `signature` is [`sign`]'s for this body and timestamp (constant time).
pub fn verify(secret: &[u8], timestamp: i64, body: &str, signature: &str) -> bool {
    let Some(hex_tag) = signature.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(tag) = hex::decode(hex_tag) else {
        return false;
    };
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    hmac::verify(&key, format!("{timestamp}.{body}").as_bytes(), &tag).is_ok()
}

/// Seconds to wait after `attempts` failures: 1, 2, 4 ... up to 256 (about four minutes).
pub fn backoff_secs(attempts: u32) -> i64 {
    1i64 << attempts.min(8)
}

/// A configured MES endpoint.
pub struct MesClient {
    url: String,
    secret: Zeroizing<Vec<u8>>,
    agent: ureq::Agent,
}

impl std::fmt::Debug for MesClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MesClient").field("url", &self.url).finish()
    }
}

/// What one delivery round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivered {
    pub sent: u32,
    /// Events still queued after the round.
    pub backlog: u64,
    /// Why the round stopped early, if it did.
    pub error: Option<String>,
}

impl MesClient {
    /// `resolve` turns the profile's relative paths into the station's.
    pub fn new(
        profile: &MesProfile,
        resolve: impl Fn(&std::path::Path) -> PathBuf,
    ) -> Result<Self, MesError> {
        let read = |p: &std::path::Path| {
            let path = resolve(p);
            std::fs::read(&path).map_err(|source| MesError::Secret {
                path: path.display().to_string(),
                source,
            })
        };
        let mut secret = Zeroizing::new(read(&profile.secret_file)?);
        while secret.last().is_some_and(u8::is_ascii_whitespace) {
            secret.pop();
        }
        let mut roots = Vec::new();
        if let Some(ca) = &profile.ca_file {
            let pem = read(ca)?;
            for item in ureq::tls::parse_pem(&pem).flatten() {
                if let ureq::tls::PemItem::Certificate(c) = item {
                    roots.push(c);
                }
            }
        }
        crate::mqtt::tls::install_crypto_provider();
        let tls = ureq::tls::TlsConfig::builder()
            .root_certs(ureq::tls::RootCerts::Specific(Arc::new(roots)))
            .build();
        let agent = ureq::Agent::config_builder()
            .tls_config(tls)
            .timeout_global(Some(Duration::from_secs(10)))
            .http_status_as_error(false)
            .build()
            .new_agent();
        Ok(Self {
            url: profile.url.clone(),
            secret,
            agent,
        })
    }

    fn post(&self, event: &Pending, now: i64) -> Result<(), String> {
        let response = self
            .agent
            .post(&self.url)
            .header("Content-Type", "application/json")
            .header("Idempotency-Key", &event.idempotency_key)
            .header("X-Commissioner-Timestamp", now.to_string())
            .header(
                "X-Commissioner-Signature",
                sign(&self.secret, now, &event.body),
            )
            .send(event.body.as_str())
            .map_err(|e| e.to_string())?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("HTTP {status}"))
        }
    }

    /// Sends the queued events that are due, oldest first, stopping at the first that fails
    /// (it is tried again after its backoff, and later events wait behind it: the MES sees
    /// events in session-end order).
    pub fn deliver(&self, journal: &Journal, now: OffsetDateTime) -> Result<Delivered, MesError> {
        let mut out = Delivered::default();
        loop {
            let (batch, due) = journal.outbox_pending(50)?;
            if batch.is_empty() || due > now.unix_timestamp() {
                break;
            }
            for event in &batch {
                match self.post(event, now.unix_timestamp()) {
                    Ok(()) => {
                        journal.outbox_delivered(event.id, &ts(now))?;
                        out.sent += 1;
                    }
                    Err(reason) => {
                        let next = now.unix_timestamp() + backoff_secs(event.attempts);
                        journal.outbox_failed(event.id, &reason, next)?;
                        out.error = Some(
                            MesError::Delivery {
                                url: self.url.clone(),
                                reason,
                            }
                            .to_string(),
                        );
                        out.backlog = journal.outbox_backlog()?;
                        return Ok(out);
                    }
                }
            }
        }
        out.backlog = journal.outbox_backlog()?;
        Ok(out)
    }
}
