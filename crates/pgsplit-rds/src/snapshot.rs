//! The two snapshots of a migration: the source instance's snapshot and its copy in the
//! target region. Each is reused when an earlier run made it, so re-runs never hit
//! `DBSnapshotAlreadyExists`.

use aws_sdk_rds::Client;
use aws_sdk_rds::operation::describe_db_snapshots::DescribeDBSnapshotsError;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_rds::primitives::{DateTime, DateTimeFormat};
use aws_sdk_rds::types::{DbSnapshot, Tag};

use crate::error::{Error, Result};
use crate::options::WaitSettings;
use crate::plan::{Names, SOURCE_TAG};
use crate::report::{Step, StepOutcome};
use crate::wait;

/// Looks up snapshot `id`; `None` when it does not exist.
pub(crate) async fn find(
    client: &Client,
    instance: &str,
    step: Step,
    id: &str,
) -> Result<Option<DbSnapshot>> {
    match client
        .describe_db_snapshots()
        .db_snapshot_identifier(id)
        .send()
        .await
    {
        Ok(out) => Ok(out.db_snapshots().first().cloned()),
        Err(e)
            if matches!(
                e.as_service_error(),
                Some(DescribeDBSnapshotsError::DbSnapshotNotFoundFault(_))
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(Error::aws(instance, step, "DescribeDBSnapshots", e)),
    }
}

/// The tags that mark a resource as pgsplit's, made for `instance`.
pub(crate) fn tags(instance: &str) -> Tag {
    Tag::builder().key(SOURCE_TAG).value(instance).build()
}

/// An existing snapshot may be reused only if it was taken of the same instance.
pub(crate) fn check_owner(
    snapshot: &DbSnapshot,
    instance: &str,
    step: Step,
    resource: &str,
) -> Result<()> {
    let owner = snapshot
        .db_instance_identifier()
        .unwrap_or("an unknown instance");
    if owner.eq_ignore_ascii_case(instance) {
        Ok(())
    } else {
        Err(Error::Conflict {
            instance: instance.to_owned(),
            step,
            resource: resource.to_owned(),
            owner: owner.to_owned(),
        })
    }
}

/// `2026-11-27T08:00:00Z` for people.
pub(crate) fn when(t: &DateTime) -> String {
    t.fmt(DateTimeFormat::DateTime)
        .unwrap_or_else(|_| format!("{} s after 1970", t.secs()))
}

/// `3d04h`, `5h10m`, `42m`.
fn age(secs: i64) -> String {
    let secs = secs.max(0);
    match secs {
        s if s >= 86_400 => format!("{}d{:02}h", s / 86_400, s % 86_400 / 3600),
        s if s >= 3600 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        s if s >= 60 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// A source snapshot an earlier run took may be reused only while it is young: an old one
/// is an earlier migration's (a rehearsal), and restoring from it would bring old data.
pub(crate) fn check_fresh(
    snapshot: &DbSnapshot,
    instance: &str,
    resource: &str,
    reuse_within: Duration,
) -> Result<()> {
    let Some(taken) = snapshot.snapshot_create_time() else {
        return Ok(()); // still being made: this run's or a parallel one's
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let secs = now - taken.secs();
    if secs <= reuse_within.as_secs() as i64 {
        return Ok(());
    }
    Err(Error::Stale {
        instance: instance.to_owned(),
        step: Step::Snapshot,
        resource: resource.to_owned(),
        why: format!(
            "taken {} ({} ago, more than --reuse-within {}); delete it for a fresh snapshot, or raise --reuse-within to restore from it",
            when(taken),
            age(secs),
            age(reuse_within.as_secs() as i64)
        ),
    })
}

/// An existing copy may be reused only if it is a copy of `source_snapshot` and, when
/// encrypted, under the key asked for now (restoring it would give the instance its key).
pub(crate) fn check_copy(
    existing: &DbSnapshot,
    source_snapshot: &DbSnapshot,
    names: &Names,
    kms_key_id: Option<&str>,
    resource: &str,
) -> Result<()> {
    let (instance, step) = (&names.instance, Step::Copy);
    let resource = resource.to_owned();
    let encrypted = source_snapshot.encrypted() == Some(true);
    // A copy keeps the time its original was taken: it must be this snapshot's.
    let original = existing
        .original_snapshot_create_time()
        .or(existing.snapshot_create_time());
    let taken = source_snapshot
        .original_snapshot_create_time()
        .or(source_snapshot.snapshot_create_time());
    if let (Some(original), Some(taken)) = (original, taken)
        && original.secs() + 1 < taken.secs()
    {
        return Err(Error::Stale {
            instance: instance.clone(),
            step,
            resource,
            why: format!(
                "it is a copy of a snapshot taken {}, before {} (taken {}); delete it and run again",
                when(original),
                names.source_snapshot,
                when(taken)
            ),
        });
    }
    // Encrypted with another key than asked for now: restoring it would give the
    // instance that key.
    if let (true, Some(requested), Some(actual)) = (encrypted, kms_key_id, existing.kms_key_id())
        && same_key(actual, requested) == Some(false)
    {
        return Err(Error::Stale {
            instance: instance.clone(),
            step,
            resource,
            why: format!(
                "it is encrypted with KMS key {actual}, not --target-kms-key-id {requested}; delete it and run again"
            ),
        });
    }
    Ok(())
}

/// Snapshots the source instance (or reuses the snapshot an earlier run took, if younger
/// than `reuse_within`) and waits until it is available.
pub(crate) async fn take(
    client: &Client,
    region: &str,
    names: &Names,
    wait: WaitSettings,
    reuse_within: Duration,
) -> Result<(DbSnapshot, StepOutcome)> {
    let (instance, id, step) = (&names.instance, &names.source_snapshot, Step::Snapshot);
    let outcome = match find(client, instance, step, id).await? {
        Some(existing) => {
            let resource = format!("snapshot {id} in {region}");
            check_owner(&existing, instance, step, &resource)?;
            check_fresh(&existing, instance, &resource, reuse_within)?;
            tracing::info!(
                instance,
                snapshot = id,
                "reusing snapshot from an earlier run"
            );
            StepOutcome::Reused
        }
        None => {
            let created = client
                .create_db_snapshot()
                .db_instance_identifier(instance)
                .db_snapshot_identifier(id)
                .tags(tags(instance))
                .send()
                .await;
            match created {
                Ok(_) => StepOutcome::Done,
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_db_snapshot_already_exists_fault()) =>
                {
                    reuse_after_race(client, region, instance, step, id).await?
                }
                Err(e) => return Err(Error::aws(instance, step, "CreateDBSnapshot", e)),
            }
        }
    };
    let snapshot = wait::snapshot_available(client, region, instance, step, id, wait).await?;
    Ok((snapshot, outcome))
}

/// Copies the source snapshot into the target region (or reuses an earlier copy) and waits.
///
/// The call is made in the target region with the source snapshot's ARN; an encrypted
/// snapshot is re-encrypted with `kms_key_id`, a key of the target region.
pub(crate) async fn copy(
    target: &Client,
    target_region: &str,
    names: &Names,
    source_snapshot: &DbSnapshot,
    kms_key_id: Option<&str>,
    wait: WaitSettings,
) -> Result<(DbSnapshot, StepOutcome)> {
    let (instance, id, step) = (&names.instance, &names.target_snapshot, Step::Copy);
    let encrypted = source_snapshot.encrypted() == Some(true);
    let outcome = match find(target, instance, step, id).await? {
        Some(existing) => {
            let resource = format!("snapshot {id} in {target_region}");
            check_owner(&existing, instance, step, &resource)?;
            check_copy(&existing, source_snapshot, names, kms_key_id, &resource)?;
            tracing::info!(
                instance,
                snapshot = id,
                "reusing snapshot copy from an earlier run"
            );
            StepOutcome::Reused
        }
        None => {
            let key = match (encrypted, kms_key_id) {
                (true, None) => {
                    return Err(Error::EncryptedWithoutKey {
                        instance: instance.clone(),
                        what: format!("snapshot {}", names.source_snapshot),
                        target_region: target_region.to_owned(),
                    });
                }
                (true, Some(key)) => Some(key.to_owned()),
                (false, _) => None,
            };
            let arn = source_snapshot
                .db_snapshot_arn()
                .ok_or_else(|| Error::Missing {
                    instance: instance.clone(),
                    step,
                    resource: format!("ARN of snapshot {}", names.source_snapshot),
                })?;
            let copied = target
                .copy_db_snapshot()
                .source_db_snapshot_identifier(arn)
                .target_db_snapshot_identifier(id)
                .set_kms_key_id(key)
                .tags(tags(instance))
                .send()
                .await;
            match copied {
                Ok(_) => StepOutcome::Done,
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_db_snapshot_already_exists_fault()) =>
                {
                    reuse_after_race(target, target_region, instance, step, id).await?
                }
                Err(e) => return Err(Error::aws(instance, step, "CopyDBSnapshot", e)),
            }
        }
    };
    let snapshot =
        wait::snapshot_available(target, target_region, instance, step, id, wait).await?;
    Ok((snapshot, outcome))
}

/// Whether the KMS key `arn` (as RDS reports a snapshot's or instance's) is `requested` (an
/// ARN or a key id); `None` for an alias, which only KMS resolves.
pub(crate) fn same_key(arn: &str, requested: &str) -> Option<bool> {
    let requested = requested.trim();
    if requested.contains("alias/") {
        None
    } else if requested.starts_with("arn:") {
        Some(arn == requested)
    } else {
        Some(arn == requested || arn.ends_with(&format!(":key/{requested}")))
    }
}

/// A create or copy that lost a race with another run (`DBSnapshotAlreadyExists`) reuses
/// the other run's snapshot, if it is of the same instance.
async fn reuse_after_race(
    client: &Client,
    region: &str,
    instance: &str,
    step: Step,
    id: &str,
) -> Result<StepOutcome> {
    let resource = format!("snapshot {id} in {region}");
    let existing = find(client, instance, step, id)
        .await?
        .ok_or_else(|| Error::Missing {
            instance: instance.to_owned(),
            step,
            resource: resource.clone(),
        })?;
    check_owner(&existing, instance, step, &resource)?;
    Ok(StepOutcome::Reused)
}

/// Deletes snapshot `id`; one already gone is fine.
pub(crate) async fn delete(client: &Client, instance: &str, id: &str) -> Result<()> {
    match client
        .delete_db_snapshot()
        .db_snapshot_identifier(id)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_db_snapshot_not_found_fault()) =>
        {
            Ok(())
        }
        Err(e) => Err(Error::aws(instance, Step::Cleanup, "DeleteDBSnapshot", e)),
    }
}

#[cfg(test)]
mod tests {
    use super::age;

    /// `--reuse-within 2s` was said as "0m".
    #[test]
    fn ages_under_a_minute_are_said_in_seconds() {
        assert_eq!(age(2), "2s");
        assert_eq!(age(125), "2m");
        assert_eq!(age(3 * 3600 + 600), "3h10m");
        assert_eq!(age(2 * 86_400 + 3600), "2d01h");
    }
}
