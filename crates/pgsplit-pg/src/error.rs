//! Errors of this crate. Messages name the server in redacted form, never a password.

use std::path::PathBuf;

/// A connection string or setting that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("not a PostgreSQL URL or key=value connection string: {0}")]
    Unparsable(String),
    #[error("invalid URL {url}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("unknown connection parameter {0:?}")]
    UnknownParameter(String),
    #[error("invalid value for {key}: {value:?} ({reason})")]
    InvalidValue {
        key: String,
        value: String,
        reason: String,
    },
    #[error("cannot read {path}: {source}")]
    ReadFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid TLS material in {path}: {reason}")]
    Tls { path: PathBuf, reason: String },
    #[error("cannot make the password: {0}")]
    Password(String),
}

/// Connecting to a server failed. `server` is the redacted connection string.
#[derive(Debug, thiserror::Error)]
#[error("cannot connect to {server}: {}", cause_chain(.source))]
pub struct ConnectError {
    pub server: String,
    #[source]
    pub source: tokio_postgres::Error,
}

impl ConnectError {
    /// The SQLSTATE when the server answered with an error (bad password, no such database).
    pub fn code(&self) -> Option<&tokio_postgres::error::SqlState> {
        self.source.code()
    }
}

/// Renders an error and its causes on one line: tokio-postgres hides the cause in
/// `source()` for several error kinds.
pub fn cause_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut next = err.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = cause.source();
    }
    out
}
