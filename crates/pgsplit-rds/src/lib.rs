//! pgsplit's AWS side: move RDS PostgreSQL instances to another region through snapshots
//! (snapshot → cross-region copy → restore → validate), many at once, every step timed, and
//! IAM auth tokens for pgsplit's own connections. Nothing else in pgsplit depends on AWS.
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod auth_token;
pub mod clients;
pub mod error;
pub mod options;
pub mod report;
mod wait;

pub use auth_token::iam_auth_token;
pub use error::{Error, Mismatch, Result};
pub use options::{AwsSettings, MigrateOptions, RestoreSettings, Selection, WaitSettings};
pub use report::{InstanceOutcome, InstanceReport, Report, Step, StepOutcome, StepReport};
