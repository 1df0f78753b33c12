//! What an instance's run would find in its way, looked up before anything is made (read
//! calls only, also for `--dry-run`): a snapshot, copy or instance of the names pgsplit
//! would make that belongs to another source, or to an earlier migration. Found at the
//! restore, such a conflict came after hours of snapshotting and copying.

use aws_sdk_rds::types::DbSnapshot;

use crate::clients::Clients;
use crate::error::{Error, Result};
use crate::options::MigrateOptions;
use crate::plan::Names;
use crate::report::Step;
use crate::{restore, snapshot};

/// `Ok` when nothing is in the way of `names` (or only what the run will reuse).
pub(crate) async fn nothing_in_the_way(
    clients: &Clients,
    names: &Names,
    opts: &MigrateOptions,
) -> Result<()> {
    let instance = &names.instance;
    let (source_region, target_region) = (&clients.source_region, &clients.target_region);
    let taken = snapshot::find(
        &clients.source,
        instance,
        Step::Snapshot,
        &names.source_snapshot,
    )
    .await?;
    if let Some(existing) = &taken {
        let resource = format!("snapshot {} in {source_region}", names.source_snapshot);
        snapshot::check_owner(existing, instance, Step::Snapshot, &resource)?;
        snapshot::check_fresh(existing, instance, &resource, opts.reuse_within)?;
    }
    // What the run restores from: the snapshot it reuses, or one it takes now.
    let taken_at = |s: &DbSnapshot| {
        s.original_snapshot_create_time()
            .or(s.snapshot_create_time())
            .cloned()
    };
    let source_time = taken.as_ref().and_then(taken_at);
    let newer = |resource: String, step: Step, made: String| Error::Stale {
        instance: instance.clone(),
        step,
        resource,
        why: format!(
            "it was made from {made}, before the snapshot this run restores from (snapshot {} \
             is taken now); delete or rename it and run again",
            names.source_snapshot
        ),
    };
    let copy = snapshot::find(
        &clients.target,
        instance,
        Step::Copy,
        &names.target_snapshot,
    )
    .await?;
    if let Some(existing) = &copy {
        let resource = format!("snapshot {} in {target_region}", names.target_snapshot);
        snapshot::check_owner(existing, instance, Step::Copy, &resource)?;
        match &taken {
            Some(source) => snapshot::check_copy(
                existing,
                source,
                names,
                opts.target_kms_key_id.as_deref(),
                &resource,
            )?,
            None => {
                let made = taken_at(existing)
                    .map(|t| format!("a snapshot taken {}", snapshot::when(&t)))
                    .unwrap_or_else(|| "an earlier snapshot".into());
                return Err(newer(resource, Step::Copy, made));
            }
        }
    }
    if let Some(existing) = restore::find(&clients.target, instance, &names.target_instance).await?
    {
        restore::check_owner(&existing, names, target_region)?;
        let resource = format!("instance {} in {target_region}", names.target_instance);
        match source_time {
            Some(taken) => restore::check_fresh(&existing, &taken, names, target_region)?,
            None if taken.is_none() => {
                let made = existing
                    .instance_create_time()
                    .map(|t| format!("a snapshot, restored {}", snapshot::when(t)))
                    .unwrap_or_else(|| "an earlier snapshot".into());
                return Err(newer(resource, Step::Restore, made));
            }
            None => {}
        }
    }
    Ok(())
}
