//! pgsplit's AWS side: move RDS PostgreSQL instances to another region through snapshots
//! (snapshot → cross-region copy → restore → validate), many at once, every step timed, and
//! IAM auth tokens for pgsplit's own connections. Nothing else in pgsplit depends on AWS.
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod auth_token;
pub mod clients;
pub mod error;
pub mod in_flight;
mod migrate;
pub mod options;
pub mod plan;
mod preflight;
pub mod report;
mod restore;
mod snapshot;
pub mod validate;
mod wait;

pub use auth_token::iam_auth_token;
pub use clients::Clients;
pub use error::{Error, Mismatch, Result};
pub use in_flight::{InFlight, Stage};
pub use migrate::{migrate, migrate_watched, migrate_with};
pub use options::{AwsSettings, MigrateOptions, RestoreSettings, Selection, WaitSettings};
pub use report::{InstanceOutcome, InstanceReport, Report, Step, StepOutcome, StepReport};
