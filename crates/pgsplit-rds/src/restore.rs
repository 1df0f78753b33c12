//! Restoring the new instance in the target region from the copied snapshot. An instance an
//! earlier run restored (same name, tagged for the same source) is reused.

use aws_sdk_rds::Client;
use aws_sdk_rds::primitives::DateTime;
use aws_sdk_rds::types::{DbInstance, DbSnapshot};

use crate::error::{Error, Result};
use crate::options::{RestoreSettings, WaitSettings};
use crate::plan::{Names, SOURCE_TAG};
use crate::report::{Step, StepOutcome};
use crate::snapshot::tags;
use crate::wait;

/// Looks up instance `id`; `None` when it does not exist.
pub(crate) async fn find(client: &Client, instance: &str, id: &str) -> Result<Option<DbInstance>> {
    match client
        .describe_db_instances()
        .db_instance_identifier(id)
        .send()
        .await
    {
        Ok(out) => Ok(out.db_instances().first().cloned()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_db_instance_not_found_fault()) =>
        {
            Ok(None)
        }
        Err(e) => Err(Error::aws(
            instance,
            Step::Restore,
            "DescribeDBInstances",
            e,
        )),
    }
}

/// The instance class to restore with: the one asked for, else the source's.
pub(crate) fn instance_class<'a>(
    source: &'a DbInstance,
    settings: &'a RestoreSettings,
) -> Option<&'a str> {
    settings
        .instance_class
        .as_deref()
        .or(source.db_instance_class())
}

/// What the restored instance takes over from the source unless told otherwise: a
/// Multi-AZ, private, deletion-protected instance with IAM logins must not come back
/// single-AZ, public (the default VPC's subnets are), unprotected and password-only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Carried {
    pub multi_az: bool,
    pub publicly_accessible: Option<bool>,
    pub deletion_protection: Option<bool>,
    pub iam_database_authentication: Option<bool>,
}

pub(crate) fn carried(source: &DbInstance, settings: &RestoreSettings) -> Carried {
    Carried {
        multi_az: settings
            .multi_az
            .unwrap_or(settings.availability_zone.is_none() && source.multi_az().unwrap_or(false)),
        publicly_accessible: settings
            .publicly_accessible
            .or(source.publicly_accessible()),
        deletion_protection: source.deletion_protection(),
        iam_database_authentication: source.iam_database_authentication_enabled(),
    }
}

/// An existing instance of the target's name may be reused only if pgsplit restored it
/// for this source (tagged so).
pub(crate) fn check_owner(existing: &DbInstance, names: &Names, target_region: &str) -> Result<()> {
    let owner = existing
        .tag_list()
        .iter()
        .find(|t| t.key() == Some(SOURCE_TAG))
        .and_then(|t| t.value());
    if owner == Some(names.instance.as_str()) {
        return Ok(());
    }
    Err(Error::Conflict {
        instance: names.instance.clone(),
        step: Step::Restore,
        resource: format!("instance {} in {target_region}", names.target_instance),
        owner: owner.unwrap_or("no pgsplit migration").to_owned(),
    })
}

/// An instance an earlier run restored may be reused only if restored from the snapshot
/// taken at `taken`: one restored before is from an earlier migration's.
pub(crate) fn check_fresh(
    existing: &DbInstance,
    taken: &DateTime,
    names: &Names,
    target_region: &str,
) -> Result<()> {
    match existing.instance_create_time() {
        Some(created) if created.secs() + 1 < taken.secs() => Err(Error::Stale {
            instance: names.instance.clone(),
            step: Step::Restore,
            resource: format!("instance {} in {target_region}", names.target_instance),
            why: format!(
                "it was restored {}, before snapshot {} was taken ({}); delete or rename it and run again",
                crate::snapshot::when(created),
                names.source_snapshot,
                crate::snapshot::when(taken)
            ),
        }),
        _ => Ok(()),
    }
}

/// Restores `names.target_instance` from `copy` (or reuses it) and waits until available.
pub(crate) async fn restore(
    target: &Client,
    target_region: &str,
    names: &Names,
    source: &DbInstance,
    copy: &DbSnapshot,
    settings: &RestoreSettings,
    wait: WaitSettings,
) -> Result<(DbInstance, StepOutcome)> {
    let (instance, id, step) = (&names.instance, &names.target_instance, Step::Restore);
    let outcome = match find(target, instance, id).await? {
        Some(existing) => {
            check_owner(&existing, names, target_region)?;
            // (Not the copy's own time: a copy made again, say after
            // `--cleanup-snapshots`, of the snapshot this instance was restored from is
            // younger than the instance.)
            if let Some(taken) = copy
                .original_snapshot_create_time()
                .or(copy.snapshot_create_time())
            {
                check_fresh(&existing, taken, names, target_region)?;
            }
            tracing::info!(
                instance,
                target = id,
                "reusing instance restored by an earlier run"
            );
            StepOutcome::Reused
        }
        None => {
            let snapshot_id = copy
                .db_snapshot_identifier()
                .unwrap_or(&names.target_snapshot);
            let carried = carried(source, settings);
            let az = if carried.multi_az {
                None
            } else {
                settings.availability_zone.clone()
            };
            target
                .restore_db_instance_from_db_snapshot()
                .db_instance_identifier(id)
                .db_snapshot_identifier(snapshot_id)
                .set_db_instance_class(instance_class(source, settings).map(str::to_owned))
                .set_db_subnet_group_name(settings.db_subnet_group.clone())
                .set_vpc_security_group_ids(
                    (!settings.vpc_security_group_ids.is_empty())
                        .then(|| settings.vpc_security_group_ids.clone()),
                )
                .multi_az(carried.multi_az)
                .set_availability_zone(az)
                .set_publicly_accessible(carried.publicly_accessible)
                .set_deletion_protection(carried.deletion_protection)
                .set_enable_iam_database_authentication(carried.iam_database_authentication)
                .tags(tags(instance))
                .send()
                .await
                .map_err(|e| Error::aws(instance, step, "RestoreDBInstanceFromDBSnapshot", e))?;
            StepOutcome::Done
        }
    };
    let db = wait::instance_available(target, target_region, instance, step, id, wait).await?;
    Ok((db, outcome))
}
