//! The two snapshots of a migration: the source instance's snapshot and its copy in the
//! target region. Each is reused when an earlier run made it, so re-runs never hit
//! `DBSnapshotAlreadyExists`.

use aws_sdk_rds::Client;
use aws_sdk_rds::operation::describe_db_snapshots::DescribeDBSnapshotsError;
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
fn check_owner(snapshot: &DbSnapshot, instance: &str, step: Step, resource: &str) -> Result<()> {
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

/// Snapshots the source instance (or reuses the snapshot an earlier run took) and waits
/// until it is available.
pub(crate) async fn take(
    client: &Client,
    region: &str,
    names: &Names,
    wait: WaitSettings,
) -> Result<(DbSnapshot, StepOutcome)> {
    let (instance, id, step) = (&names.instance, &names.source_snapshot, Step::Snapshot);
    let outcome = match find(client, instance, step, id).await? {
        Some(existing) => {
            check_owner(
                &existing,
                instance,
                step,
                &format!("snapshot {id} in {region}"),
            )?;
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
            check_owner(
                &existing,
                instance,
                step,
                &format!("snapshot {id} in {target_region}"),
            )?;
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
