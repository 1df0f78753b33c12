//! Waiting for snapshots and instances to become available: a polling loop bounded by
//! `--max-wait`, whose time-out and failure errors name the instance and the step.

use std::future::Future;

use aws_sdk_rds::Client;
use aws_sdk_rds::types::{DbInstance, DbSnapshot};
use tokio::time::Instant;

use crate::error::{Error, Result};
use crate::options::WaitSettings;
use crate::report::Step;

/// What one poll saw.
#[derive(Debug)]
pub(crate) enum Poll<T> {
    /// Available: done.
    Ready(T),
    /// Still on its way, in this status.
    Pending(String),
    /// In a status it will not leave for `available`.
    Failed(String),
}

/// What is being waited for, for error messages.
#[derive(Debug, Clone)]
pub(crate) struct Waiting<'a> {
    pub instance: &'a str,
    pub step: Step,
    pub resource: String,
}

/// Polls until `poll` says ready or failed, or until `settings.max_wait` has passed.
/// The first poll is immediate; the last is made at the deadline. A poll that fails in a
/// way that may pass (throttling, a lost connection, a service error) is tried again at
/// the next interval: one bad answer must not end hours of waiting. Past the deadline,
/// the last such error is returned.
pub(crate) async fn until_ready<T, F, Fut>(
    what: &Waiting<'_>,
    settings: WaitSettings,
    mut poll: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll<T>>>,
{
    let start = Instant::now();
    // Failed checks in a row: the first is a warning, the rest of the run of failures are
    // debug lines (a throttled region would print one warning per poll for hours).
    let mut failing = 0u32;
    loop {
        let polled = match poll().await {
            Err(e) if e.is_retryable() && start.elapsed() < settings.max_wait => {
                failing += 1;
                if failing == 1 {
                    tracing::warn!(
                        instance = what.instance,
                        step = %what.step,
                        resource = %what.resource,
                        "status check failed, trying again at each poll: {e}"
                    );
                } else {
                    tracing::debug!(
                        instance = what.instance,
                        resource = %what.resource,
                        failing,
                        "status check failed again: {e}"
                    );
                }
                Poll::Pending(format!("unknown (the last check failed: {e})"))
            }
            other => {
                let polled = other?;
                if failing > 0 {
                    tracing::info!(
                        instance = what.instance,
                        resource = %what.resource,
                        "status check answers again after {failing} failed"
                    );
                    failing = 0;
                }
                polled
            }
        };
        let status = match polled {
            Poll::Ready(value) => return Ok(value),
            Poll::Failed(status) => {
                return Err(Error::FailedState {
                    instance: what.instance.to_owned(),
                    step: what.step,
                    resource: what.resource.clone(),
                    status,
                });
            }
            Poll::Pending(status) => status,
        };
        let waited = start.elapsed();
        if waited >= settings.max_wait {
            return Err(Error::Timeout {
                instance: what.instance.to_owned(),
                step: what.step,
                resource: what.resource.clone(),
                waited,
                last_status: status,
            });
        }
        tracing::debug!(
            instance = what.instance,
            step = %what.step,
            resource = %what.resource,
            status,
            "waiting"
        );
        tokio::time::sleep(settings.poll_interval.min(settings.max_wait - waited)).await;
    }
}

/// Snapshot statuses that will never become `available`.
const SNAPSHOT_FAILED: &[&str] = &[
    "failed",
    "error",
    "deleting",
    "deleted",
    "incompatible-restore",
];

/// Instance statuses that will never become `available` without someone's action.
const INSTANCE_FAILED: &[&str] = &[
    "failed",
    "deleting",
    "deleted",
    "incompatible-restore",
    "incompatible-network",
    "incompatible-parameters",
    "incompatible-option-group",
    "incompatible-credentials",
    "inaccessible-encryption-credentials",
    "inaccessible-encryption-credentials-recoverable",
    "restore-error",
    "storage-full",
    "stopped",
    "stopping",
];

fn classify<T>(status: Option<&str>, failed: &[&str], value: T) -> Poll<T> {
    match status {
        Some("available") => Poll::Ready(value),
        Some(s) if failed.contains(&s) => Poll::Failed(s.to_owned()),
        Some(s) => Poll::Pending(s.to_owned()),
        None => Poll::Pending("unknown".to_owned()),
    }
}

/// Waits until snapshot `id` (in `region`, through `client`) is available.
pub(crate) async fn snapshot_available(
    client: &Client,
    region: &str,
    instance: &str,
    step: Step,
    id: &str,
    settings: WaitSettings,
) -> Result<DbSnapshot> {
    let what = Waiting {
        instance,
        step,
        resource: format!("snapshot {id} in {region}"),
    };
    until_ready(&what, settings, || async {
        let out = client
            .describe_db_snapshots()
            .db_snapshot_identifier(id)
            .send()
            .await
            .map_err(|e| Error::aws(instance, step, "DescribeDBSnapshots", e))?;
        let snapshot = out
            .db_snapshots()
            .first()
            .cloned()
            .ok_or_else(|| Error::Missing {
                instance: instance.to_owned(),
                step,
                resource: what.resource.clone(),
            })?;
        Ok(classify(
            snapshot.status().map(str::to_owned).as_deref(),
            SNAPSHOT_FAILED,
            snapshot,
        ))
    })
    .await
}

/// Waits until DB instance `id` (in `region`, through `client`) is available.
pub(crate) async fn instance_available(
    client: &Client,
    region: &str,
    instance: &str,
    step: Step,
    id: &str,
    settings: WaitSettings,
) -> Result<DbInstance> {
    let what = Waiting {
        instance,
        step,
        resource: format!("instance {id} in {region}"),
    };
    until_ready(&what, settings, || async {
        let out = client
            .describe_db_instances()
            .db_instance_identifier(id)
            .send()
            .await
            .map_err(|e| Error::aws(instance, step, "DescribeDBInstances", e))?;
        let db = out
            .db_instances()
            .first()
            .cloned()
            .ok_or_else(|| Error::Missing {
                instance: instance.to_owned(),
                step,
                resource: what.resource.clone(),
            })?;
        Ok(classify(
            db.db_instance_status().map(str::to_owned).as_deref(),
            INSTANCE_FAILED,
            db,
        ))
    })
    .await
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use aws_sdk_rds::operation::describe_db_instances::DescribeDbInstancesOutput;
    use aws_sdk_rds::operation::describe_db_snapshots::DescribeDbSnapshotsOutput;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    use super::*;

    fn snapshot_output(status: &str) -> DescribeDbSnapshotsOutput {
        DescribeDbSnapshotsOutput::builder()
            .db_snapshots(
                DbSnapshot::builder()
                    .db_snapshot_identifier("db1-pgsplit")
                    .db_instance_identifier("db1")
                    .status(status)
                    .build(),
            )
            .build()
    }

    fn instance_output(status: &str) -> DescribeDbInstancesOutput {
        DescribeDbInstancesOutput::builder()
            .db_instances(
                DbInstance::builder()
                    .db_instance_identifier("db1-migrated")
                    .db_instance_status(status)
                    .build(),
            )
            .build()
    }

    /// Log lines written while its subscriber is the default, as text.
    #[derive(Clone, Default)]
    struct CapturedLog(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for CapturedLog {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl CapturedLog {
        fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync + use<> {
            let log = self.clone();
            tracing_subscriber::fmt()
                .with_max_level(tracing::Level::DEBUG)
                .with_ansi(false)
                .with_writer(move || log.clone())
                .finish()
        }
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
        }
    }

    fn fast() -> WaitSettings {
        WaitSettings {
            max_wait: Duration::from_secs(60),
            poll_interval: Duration::from_millis(1),
        }
    }

    #[tokio::test]
    async fn snapshot_creating_then_available() {
        let rule = mock!(Client::describe_db_snapshots)
            .sequence()
            .output(|| snapshot_output("creating"))
            .times(3)
            .output(|| snapshot_output("available"))
            .build();
        let client = mock_client!(aws_sdk_rds, RuleMode::Sequential, [&rule]);
        let snap = snapshot_available(
            &client,
            "us-east-1",
            "db1",
            Step::Snapshot,
            "db1-pgsplit",
            fast(),
        )
        .await
        .unwrap();
        assert_eq!(snap.status(), Some("available"));
        assert_eq!(rule.num_calls(), 4);
    }

    #[tokio::test]
    async fn instance_creating_backing_up_then_available() {
        let rule = mock!(Client::describe_db_instances)
            .sequence()
            .output(|| instance_output("creating"))
            .output(|| instance_output("backing-up"))
            .output(|| instance_output("available"))
            .build();
        let client = mock_client!(aws_sdk_rds, RuleMode::Sequential, [&rule]);
        let db = instance_available(
            &client,
            "eu-west-1",
            "db1",
            Step::Restore,
            "db1-migrated",
            fast(),
        )
        .await
        .unwrap();
        assert_eq!(db.db_instance_identifier(), Some("db1-migrated"));
        assert_eq!(rule.num_calls(), 3);
    }

    #[tokio::test]
    async fn snapshot_failed_state_is_an_error_at_once() {
        let rule = mock!(Client::describe_db_snapshots)
            .sequence()
            .output(|| snapshot_output("copying"))
            .output(|| snapshot_output("failed"))
            .build();
        let client = mock_client!(aws_sdk_rds, RuleMode::Sequential, [&rule]);
        let err = snapshot_available(
            &client,
            "eu-west-1",
            "db1",
            Step::Copy,
            "db1-pgsplit-eu-west-1",
            fast(),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(err, Error::FailedState { ref status, step: Step::Copy, .. } if status == "failed"),
            "{err:?}"
        );
        assert!(!err.is_retryable());
        assert_eq!(
            err.to_string(),
            "db1: copy: snapshot db1-pgsplit-eu-west-1 in eu-west-1 is in state failed, which will not become available"
        );
    }

    #[tokio::test]
    async fn instance_incompatible_restore_fails() {
        let rule = mock!(Client::describe_db_instances)
            .sequence()
            .output(|| instance_output("creating"))
            .output(|| instance_output("incompatible-restore"))
            .build();
        let client = mock_client!(aws_sdk_rds, RuleMode::Sequential, [&rule]);
        let err = instance_available(
            &client,
            "eu-west-1",
            "db1",
            Step::Restore,
            "db1-migrated",
            fast(),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(err, Error::FailedState { ref status, .. } if status == "incompatible-restore"),
            "{err:?}"
        );
    }

    /// Time is paused: the 30-minute wait runs instantly and the poll count is exact.
    #[tokio::test(start_paused = true)]
    async fn time_out_names_instance_and_step() {
        let rule = mock!(Client::describe_db_instances)
            .sequence()
            .output(|| instance_output("creating"))
            .repeatedly()
            .build();
        let client = mock_client!(aws_sdk_rds, RuleMode::Sequential, [&rule]);
        let settings = WaitSettings {
            max_wait: Duration::from_secs(30 * 60),
            poll_interval: Duration::from_secs(30),
        };
        let start = Instant::now();
        let err = instance_available(
            &client,
            "eu-west-1",
            "db1",
            Step::Restore,
            "db1-migrated",
            settings,
        )
        .await
        .unwrap_err();
        assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
        assert!(err.is_retryable());
        assert_eq!(
            err.to_string(),
            "db1: restore: timed out after 1800s waiting for instance db1-migrated in eu-west-1 \
             to become available (last status: creating)"
        );
        assert_eq!(start.elapsed(), Duration::from_secs(1800));
        // First poll at 0 s, then every 30 s up to and including the deadline.
        assert_eq!(rule.num_calls(), 61);
    }

    #[tokio::test(start_paused = true)]
    async fn last_poll_happens_at_the_deadline() {
        let rule = mock!(Client::describe_db_snapshots)
            .sequence()
            .output(|| snapshot_output("creating"))
            .times(2)
            .output(|| snapshot_output("available"))
            .build();
        let client = mock_client!(aws_sdk_rds, RuleMode::Sequential, [&rule]);
        // Polls at 0 s, 40 s (interval) and 50 s (deadline, clipped): the third sees it ready.
        let settings = WaitSettings {
            max_wait: Duration::from_secs(50),
            poll_interval: Duration::from_secs(40),
        };
        snapshot_available(
            &client,
            "us-east-1",
            "db1",
            Step::Snapshot,
            "db1-pgsplit",
            settings,
        )
        .await
        .unwrap();
        assert_eq!(rule.num_calls(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_check_that_may_pass_is_tried_again_until_the_deadline() {
        let what = Waiting {
            instance: "db1",
            step: Step::Copy,
            resource: "snapshot db1-pgsplit-eu-west-1".into(),
        };
        let throttled = || Error::Aws {
            instance: "db1".into(),
            step: Step::Copy,
            operation: "DescribeDBSnapshots",
            code: Some("Throttling".into()),
            message: Some("Rate exceeded".into()),
            transient: false,
            source: "throttled".into(),
        };
        let settings = WaitSettings {
            max_wait: Duration::from_secs(300),
            poll_interval: Duration::from_secs(30),
        };
        // Two throttled checks, then available: one warning for the two.
        let log = CapturedLog::default();
        let guard = tracing::subscriber::set_default(log.subscriber());
        let mut calls = 0;
        let ready = until_ready(&what, settings, || {
            calls += 1;
            let answer = match calls {
                1 | 2 => Err(throttled()),
                _ => Ok(Poll::Ready(calls)),
            };
            async move { answer }
        })
        .await
        .unwrap();
        drop(guard);
        assert_eq!(ready, 3);
        let lines = log.text();
        assert_eq!(lines.matches(" WARN ").count(), 1, "{lines}");
        assert!(lines.contains("answers again after 2 failed"), "{lines}");
        // Throttled to the end: the last error, once the deadline has passed.
        let start = Instant::now();
        let err = until_ready(&what, settings, || async {
            Err::<Poll<()>, _>(throttled())
        })
        .await
        .unwrap_err();
        assert_eq!(err.aws_code(), Some("Throttling"));
        assert_eq!(start.elapsed(), Duration::from_secs(300));
    }

    #[tokio::test]
    async fn describe_error_stops_waiting() {
        use aws_sdk_rds::operation::describe_db_snapshots::DescribeDBSnapshotsError;
        use aws_sdk_rds::types::error::DbSnapshotNotFoundFault;
        let rule = mock!(Client::describe_db_snapshots).then_error(|| {
            DescribeDBSnapshotsError::DbSnapshotNotFoundFault(
                DbSnapshotNotFoundFault::builder()
                    .message("DBSnapshot db1-pgsplit not found.")
                    .build(),
            )
        });
        let client = mock_client!(aws_sdk_rds, RuleMode::Sequential, [&rule]);
        let err = snapshot_available(
            &client,
            "us-east-1",
            "db1",
            Step::Snapshot,
            "db1-pgsplit",
            fast(),
        )
        .await
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("db1: snapshot: DescribeDBSnapshots failed"),
            "{err}"
        );
    }
}
