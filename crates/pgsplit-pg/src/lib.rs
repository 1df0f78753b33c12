//! Connections to PostgreSQL the way libpq users expect them: URLs and `key=value`
//! strings, `PG*` environment defaults, `~/.pgpass`, every `sslmode` through rustls,
//! identifier/literal quoting, and redaction so that no password is ever printed.
//!
//! With the `test-utils` feature, [`testing`] starts real throwaway PostgreSQL clusters.

mod connect;
mod error;
mod pgpass;
pub mod quote;
mod secret;
mod settings;
mod tls;
pub mod wire;

#[cfg(feature = "test-utils")]
pub mod testing;

pub use connect::{
    ConnectFailure, Connection, DatabasePin, Replaced, cancel_query, connect, database_pin,
};
pub use error::{ConnectError, SettingsError, cause_chain};
pub use secret::{PasswordSource, Secret, redact_text};
pub use settings::{ChannelBinding, ConnSettings, Environment, Host, SessionAttrs, SslMode};
