//! `[central]` in station.toml.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Environment variable with the central store's password; it wins over the profile's.
pub const PASSWORD_ENV: &str = "COMMISSIONER_CENTRAL_PASSWORD";

/// How the station reaches the central store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CentralProfile {
    /// `postgresql://user@host:port/database`; a password in it is refused, it belongs in
    /// `password` or the environment.
    pub url: String,
    #[serde(default)]
    pub tls: CentralTls,
    /// PEM file with the CA that signed the server's certificate (`tls = "verify-full"`);
    /// relative to the station directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// The role's password, when not in `COMMISSIONER_CENTRAL_PASSWORD`. Never written to the
    /// journal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// What issuing does when the server cannot be reached.
    #[serde(default)]
    pub when_unreachable: WhenUnreachable,
    /// Outbox entries per delivery.
    #[serde(default = "default_batch")]
    pub batch: usize,
}

fn default_batch() -> usize {
    1_000
}

impl CentralProfile {
    /// A lab's: a server on this machine, plain TCP, its password in the (0600) profile.
    pub fn lab(url: &str, password: &str) -> Self {
        Self {
            url: url.to_owned(),
            tls: CentralTls::Disable,
            ca_file: None,
            password: Some(password.to_owned()),
            when_unreachable: WhenUnreachable::default(),
            batch: default_batch(),
        }
    }
}

/// TLS to the server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CentralTls {
    /// Plain TCP: only for a server on the same machine or a lab.
    #[default]
    Disable,
    /// TLS, the server's certificate checked against `ca_file` and the URL's host name.
    VerifyFull,
}

/// What issuing does when the central registry cannot be reached.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenUnreachable {
    /// No certificate without the central check.
    #[default]
    Refuse,
    /// Issue, and flag the session for review once it syncs.
    AllowAndFlag,
}
