//! The crate's error type: every variant names the instance and step a user needs to act on,
//! and keeps the AWS error in `source()`.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use aws_sdk_rds::error::{ProvideErrorMetadata, SdkError};

use crate::report::Step;

/// A boxed cause (the SDK's errors are generic over operation and response types).
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Errors of planning and running an RDS migration.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The migration was stopped before this step started (nothing of it reached AWS).
    #[error("{instance}: {step}: stopped before this step started")]
    Stopped {
        /// Source instance identifier.
        instance: String,
        /// The step.
        step: Step,
    },
    /// The options are inconsistent; nothing was started.
    #[error("invalid option {option}: {reason}")]
    InvalidOption {
        /// The option, as the user knows it (e.g. `--availability-zone`).
        option: &'static str,
        /// What is wrong with it.
        reason: String,
    },

    /// No region was given and none could be found in the environment or profile.
    #[error("no {which} region: pass it explicitly, or set AWS_REGION or a profile region")]
    NoRegion {
        /// `source` or `target`.
        which: &'static str,
    },

    /// Instances asked for with `--instance` do not exist in the source region.
    #[error("unknown DB instance(s) in {region}: {}", ids.join(", "))]
    UnknownInstances {
        /// Source region.
        region: String,
        /// The identifiers that were not found.
        ids: Vec<String>,
    },

    /// A call to the RDS API failed.
    #[error("{instance}: {step}: {operation} failed: {}", aws_message(.code, .message))]
    Aws {
        /// Source instance identifier (or `*` for calls made for the whole run).
        instance: String,
        /// The step that made the call.
        step: Step,
        /// The API operation, e.g. `CopyDBSnapshot`.
        operation: &'static str,
        /// The AWS error code, e.g. `DBSnapshotAlreadyExists`, when the service sent one.
        code: Option<String>,
        /// The AWS error message, when the service sent one.
        message: Option<String>,
        /// The call failed before the service answered (time-out, connection).
        transient: bool,
        /// The SDK error.
        #[source]
        source: BoxError,
    },

    /// A resource did not become available within `--max-wait`.
    #[error(
        "{instance}: {step}: timed out after {}s waiting for {resource} to become available (last status: {last_status})",
        waited.as_secs()
    )]
    Timeout {
        /// Source instance identifier.
        instance: String,
        /// The step that was waiting.
        step: Step,
        /// What was waited for, e.g. `snapshot db1-pgsplit in eu-west-1`.
        resource: String,
        /// How long it waited.
        waited: Duration,
        /// The last status seen.
        last_status: String,
    },

    /// A resource reached a state from which it will not become available.
    #[error("{instance}: {step}: {resource} is in state {status}, which will not become available")]
    FailedState {
        /// Source instance identifier.
        instance: String,
        /// The step that was waiting.
        step: Step,
        /// What was waited for.
        resource: String,
        /// The terminal status.
        status: String,
    },

    /// A resource disappeared while waiting for it, or the API answered without it.
    #[error("{instance}: {step}: {resource} not found")]
    Missing {
        /// Source instance identifier.
        instance: String,
        /// The step.
        step: Step,
        /// What was looked for.
        resource: String,
    },

    /// The instance or its snapshot is encrypted and no `--target-kms-key-id` was given.
    #[error(
        "{instance}: {what} is encrypted: pass --target-kms-key-id (a KMS key in {target_region}) to copy it across regions"
    )]
    EncryptedWithoutKey {
        /// Source instance identifier.
        instance: String,
        /// `instance` or `snapshot NAME`.
        what: String,
        /// The target region, where the key must live.
        target_region: String,
    },

    /// The instance cannot be migrated this way.
    #[error("{instance}: cannot be migrated: {reason}")]
    Unsupported {
        /// Source instance identifier.
        instance: String,
        /// Why.
        reason: String,
    },

    /// A resource with pgsplit's name exists but was not made from this instance.
    #[error(
        "{instance}: {step}: {resource} already exists and belongs to {owner}, not to {instance}; remove or rename it"
    )]
    Conflict {
        /// Source instance identifier.
        instance: String,
        /// The step.
        step: Step,
        /// The conflicting resource.
        resource: String,
        /// The source instance it was made from, as far as can be told.
        owner: String,
    },

    /// A snapshot or instance of that name exists but holds older data than this run
    /// would give (an earlier migration of the same instance, a rehearsal).
    #[error("{instance}: {step}: {resource} is from an earlier migration: {why}")]
    Stale {
        /// Source instance identifier.
        instance: String,
        /// The step.
        step: Step,
        /// The resource found.
        resource: String,
        /// How it was told, and what to do.
        why: String,
    },

    /// The restored instance does not match what was asked for.
    #[error("{instance}: validate: {target} does not match: {}", mismatch_list(.mismatches))]
    Validation {
        /// Source instance identifier.
        instance: String,
        /// The restored instance.
        target: String,
        /// Every difference found.
        mismatches: Vec<Mismatch>,
    },

    /// AWS configuration (credentials, profile) could not give a token.
    #[error("cannot create an IAM auth token for {user}@{host}:{port}")]
    AuthToken {
        /// Database host.
        host: String,
        /// Database port.
        port: u16,
        /// Database user.
        user: String,
        /// Cause.
        #[source]
        source: BoxError,
    },
}

/// One attribute of a restored instance that differs from what was asked for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Mismatch {
    /// The attribute, e.g. `instance class`.
    pub field: &'static str,
    /// What was asked for (or the source's value).
    pub expected: String,
    /// What the restored instance has.
    pub actual: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: expected {}, got {}",
            self.field, self.expected, self.actual
        )
    }
}

fn mismatch_list(mismatches: &[Mismatch]) -> String {
    mismatches
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

fn aws_message(code: &Option<String>, message: &Option<String>) -> String {
    match (code, message) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c.clone(),
        (None, Some(m)) => m.clone(),
        (None, None) => "no error code (see cause)".to_owned(),
    }
}

/// `err` and its causes, each said once, as `a: b: c` (the SDK's own context adds a
/// debug dump of the request; its source chain says the same in words).
pub(crate) fn causes(err: &(dyn StdError + 'static)) -> String {
    let mut said: Vec<String> = Vec::new();
    let mut next: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = next {
        let text = e.to_string();
        if !text.is_empty() && !said.iter().any(|s| s.contains(&text)) {
            said.push(text);
        }
        next = e.source();
    }
    said.join(": ")
}

/// AWS error codes worth another try later: throttling and service-side trouble.
const RETRYABLE_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalFailure",
    "ServiceUnavailable",
    "InvalidDBInstanceState",
    "InvalidDBSnapshotState",
];

impl Error {
    /// Builds [`Error::Aws`] from an SDK error, keeping its code and message.
    pub(crate) fn aws<E, R>(
        instance: &str,
        step: Step,
        operation: &'static str,
        err: SdkError<E, R>,
    ) -> Self
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
        R: fmt::Debug + Send + Sync + 'static,
    {
        let (code, message) = match &err {
            SdkError::ServiceError(e)
                if e.err().code().is_some() || e.err().message().is_some() =>
            {
                (
                    e.err().code().map(str::to_owned),
                    e.err().message().map(str::to_owned),
                )
            }
            // "dispatch failure" alone says nothing: the cause (an expired SSO token, DNS,
            // TLS) is further down the chain.
            other => (None, Some(causes(other))),
        };
        // Only a lost or slow connection may pass by itself; credentials, a bad endpoint
        // and the like need the user.
        let transient = match &err {
            SdkError::TimeoutError(_) | SdkError::ResponseError(_) => true,
            SdkError::DispatchFailure(d) => d.is_io() || d.is_timeout(),
            _ => false,
        };
        Error::Aws {
            instance: instance.to_owned(),
            step,
            operation,
            code,
            message,
            transient,
            source: Box::new(err),
        }
    }

    /// The AWS error code, for [`Error::Aws`].
    pub fn aws_code(&self) -> Option<&str> {
        match self {
            Error::Aws { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// Whether a later re-run may succeed without the user changing anything.
    ///
    /// Re-runs are safe: every step reuses what an earlier run made.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Timeout { .. } => true,
            Error::Aws {
                code, transient, ..
            } => {
                *transient
                    || code
                        .as_deref()
                        .is_some_and(|c| RETRYABLE_CODES.contains(&c))
            }
            _ => false,
        }
    }

    /// Whether the options or the selection are at fault (the binary's exit code 2).
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            Error::InvalidOption { .. } | Error::NoRegion { .. } | Error::UnknownInstances { .. }
        )
    }
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    fn aws_error(code: Option<&str>) -> Error {
        Error::Aws {
            transient: false,
            instance: "db1".into(),
            step: Step::Copy,
            operation: "CopyDBSnapshot",
            code: code.map(str::to_owned),
            message: Some("boom".into()),
            source: "service error".into(),
        }
    }

    #[test]
    fn retryable_classification() {
        assert!(aws_error(Some("Throttling")).is_retryable());
        assert!(aws_error(Some("InvalidDBSnapshotState")).is_retryable());
        assert!(!aws_error(Some("KMSKeyNotAccessibleFault")).is_retryable());
        assert!(!aws_error(None).is_retryable());
        let timeout = Error::Timeout {
            instance: "db1".into(),
            step: Step::Restore,
            resource: "instance db1-migrated".into(),
            waited: Duration::from_secs(90),
            last_status: "creating".into(),
        };
        assert!(timeout.is_retryable());
        assert!(
            !Error::UnknownInstances {
                region: "r".into(),
                ids: vec!["x".into()]
            }
            .is_retryable()
        );
    }

    #[test]
    fn a_failure_before_any_answer_keeps_its_cause() {
        use aws_sdk_rds::config::http::HttpResponse;
        use aws_sdk_rds::error::ConnectorError;
        use aws_sdk_rds::operation::describe_db_snapshots::DescribeDBSnapshotsError;
        let failure = |e: ConnectorError| {
            let err: SdkError<DescribeDBSnapshotsError, HttpResponse> =
                SdkError::dispatch_failure(e);
            Error::aws("db1", Step::Copy, "DescribeDBSnapshots", err)
        };
        let no_login = failure(ConnectorError::other(
            "the SSO session has expired".into(),
            None,
        ));
        let text = no_login.to_string();
        assert!(
            text.starts_with("db1: copy: DescribeDBSnapshots failed: ")
                && text.contains("the SSO session has expired"),
            "{text}"
        );
        assert!(!no_login.is_retryable(), "credentials need the user");
        let lost = failure(ConnectorError::io("connection reset by peer".into()));
        assert!(lost.is_retryable());
        assert!(lost.to_string().contains("connection reset by peer"));
    }

    #[test]
    fn messages_name_instance_and_step() {
        assert_eq!(
            aws_error(Some("KMSKeyNotAccessibleFault")).to_string(),
            "db1: copy: CopyDBSnapshot failed: KMSKeyNotAccessibleFault: boom"
        );
        let timeout = Error::Timeout {
            instance: "db1".into(),
            step: Step::Restore,
            resource: "instance db1-migrated in eu-west-1".into(),
            waited: Duration::from_secs(90),
            last_status: "creating".into(),
        };
        assert_eq!(
            timeout.to_string(),
            "db1: restore: timed out after 90s waiting for instance db1-migrated in eu-west-1 \
             to become available (last status: creating)"
        );
        let v = Error::Validation {
            instance: "db1".into(),
            target: "db1-migrated".into(),
            mismatches: vec![Mismatch {
                field: "instance class",
                expected: "db.t3.large".into(),
                actual: "db.t3.micro".into(),
            }],
        };
        assert_eq!(
            v.to_string(),
            "db1: validate: db1-migrated does not match: instance class: expected db.t3.large, got db.t3.micro"
        );
    }
}
