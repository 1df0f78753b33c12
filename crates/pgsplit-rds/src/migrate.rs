//! A migration run: plan from one listing of the source region, then every instance through
//! check → snapshot → copy → restore → validate (→ cleanup), `parallel` instances at a time.
//! One instance failing never stops the others.

use std::future::Future;
use std::sync::Arc;

use aws_sdk_kms::types::KeyState;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::clients::{self, Clients};
use crate::error::{Error, Result};
use crate::in_flight::{InFlight, Stage};
use crate::options::{AwsSettings, MigrateOptions};
use crate::plan::{self, Names, PlannedInstance};
use crate::report::{InstanceOutcome, InstanceReport, Report, Step, StepOutcome, StepReport};
use crate::restore::{self, instance_class};
use crate::{snapshot, validate};

/// Migrates the selected instances, with clients built from `opts.aws`.
///
/// Errors only when nothing could start (bad options, unknown instances, the source region
/// cannot be listed); per-instance failures are in the report.
pub async fn migrate(opts: &MigrateOptions) -> Result<Report> {
    migrate_watched(opts, &InFlight::default()).await
}

/// [`migrate`], recording in `in_flight` where each instance stands, for a caller that may
/// stop the migration (drop the future) and must say what goes on in AWS.
pub async fn migrate_watched(opts: &MigrateOptions, in_flight: &InFlight) -> Result<Report> {
    opts.validate()?;
    if let Some(key) = &opts.target_kms_key_id {
        check_kms_key(&opts.aws, &opts.target_region, key).await?;
    }
    let clients = clients::connect(
        &opts.aws,
        opts.source_region.as_deref(),
        &opts.target_region,
    )
    .await?;
    migrate_with_watched(clients, opts, in_flight).await
}

/// [`migrate`] with given clients (mocked clients in tests, custom configuration).
pub async fn migrate_with(clients: Clients, opts: &MigrateOptions) -> Result<Report> {
    migrate_with_watched(clients, opts, &InFlight::default()).await
}

async fn migrate_with_watched(
    clients: Clients,
    opts: &MigrateOptions,
    in_flight: &InFlight,
) -> Result<Report> {
    opts.validate()?;
    opts.check_regions(&clients.source_region)?;
    let start = Instant::now();
    let listed = plan::list_instances(&clients.source).await?;
    let planned = plan::plan(&listed, &clients.source_region, opts)?;
    check_target_region(&clients, opts).await?;
    tracing::info!(
        instances = planned.len(),
        source = %clients.source_region,
        target = %clients.target_region,
        dry_run = opts.dry_run,
        "planned"
    );
    let instances = if opts.dry_run {
        let mut reports = Vec::with_capacity(planned.len());
        for mut p in planned {
            // What the run would find in its way: the dry run's one AWS read per resource.
            if p.blocked.is_none()
                && let Err(e) = crate::preflight::nothing_in_the_way(&clients, &p.names, opts).await
            {
                p.blocked = Some(e);
            }
            reports.push(dry_run(p, opts));
        }
        reports
    } else {
        run_all(planned, clients.clone(), opts, in_flight).await
    };
    Ok(Report {
        source_region: clients.source_region,
        target_region: clients.target_region,
        dry_run: opts.dry_run,
        duration: start.elapsed(),
        instances,
    })
}

/// That `--target-kms-key-id` names a usable key of the target region: a typo, or a key
/// of the source region, would otherwise fail the copy after the snapshot. A caller that
/// may use the key but not describe it (`kms:DescribeKey` denied) is warned and goes on:
/// the copy tells.
async fn check_kms_key(aws: &AwsSettings, target_region: &str, key: &str) -> Result<()> {
    let config = clients::sdk_config(aws, Some(target_region)).await?;
    let kms = aws_sdk_kms::Client::new(&config);
    let invalid = |reason: String| {
        Err(Error::InvalidOption {
            option: "--target-kms-key-id",
            reason,
        })
    };
    match kms.describe_key().key_id(key).send().await {
        Ok(out) => match out.key_metadata().and_then(|m| m.key_state()) {
            Some(KeyState::Enabled) | None => Ok(()),
            Some(state) => invalid(format!(
                "KMS key {key} in {target_region} is {}",
                state.as_str()
            )),
        },
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_not_found_exception()) =>
        {
            invalid(format!("there is no KMS key {key} in {target_region}"))
        }
        Err(e) => {
            tracing::warn!(
                "could not check --target-kms-key-id {key} in {target_region}: {}; going on",
                crate::error::causes(&e)
            );
            Ok(())
        }
    }
}

/// What can be checked in the target region before hours of snapshotting: that the DB
/// subnet group to restore into exists there (a typo, or one of the source region's).
async fn check_target_region(clients: &Clients, opts: &MigrateOptions) -> Result<()> {
    let Some(group) = &opts.restore.db_subnet_group else {
        return Ok(());
    };
    match clients
        .target
        .describe_db_subnet_groups()
        .db_subnet_group_name(group)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_db_subnet_group_not_found_fault()) =>
        {
            Err(Error::InvalidOption {
                option: "--db-subnet-group",
                reason: format!(
                    "there is no DB subnet group {group} in {}",
                    clients.target_region
                ),
            })
        }
        Err(e) => Err(Error::aws("*", Step::Check, "DescribeDBSubnetGroups", e)),
    }
}

struct Context {
    clients: Clients,
    opts: MigrateOptions,
    in_flight: InFlight,
}

async fn run_all(
    planned: Vec<PlannedInstance>,
    clients: Clients,
    opts: &MigrateOptions,
    in_flight: &InFlight,
) -> Vec<InstanceReport> {
    let ctx = Arc::new(Context {
        clients,
        opts: opts.clone(),
        in_flight: in_flight.clone(),
    });
    for p in &planned {
        in_flight.set(&p.names.instance, Stage::Waiting);
    }
    let permits = Arc::new(Semaphore::new(opts.parallel));
    let names: Vec<Names> = planned.iter().map(|p| p.names.clone()).collect();
    let mut tasks = JoinSet::new();
    for (index, p) in planned.into_iter().enumerate() {
        let (ctx, permits) = (Arc::clone(&ctx), Arc::clone(&permits));
        tasks.spawn(async move {
            let _permit = permits
                .acquire_owned()
                .await
                .expect("semaphore is never closed");
            (index, migrate_one(&ctx, p).await)
        });
    }
    let mut reports: Vec<Option<InstanceReport>> = vec![None; names.len()];
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((index, report)) => reports[index] = Some(report),
            Err(e) => tracing::error!(error = %e, "instance task ended abnormally"),
        }
    }
    reports
        .into_iter()
        .zip(names)
        .map(|(report, names)| {
            report.unwrap_or_else(|| InstanceReport {
                source_instance: names.instance,
                target_instance: names.target_instance,
                outcome: InstanceOutcome::Failed,
                steps: Vec::new(),
                error: Some("the instance's task panicked (a bug in pgsplit)".to_owned()),
                retryable: Some(false),
            })
        })
        .collect()
}

/// Records each step's duration and outcome as it runs, and which one is under way.
struct Steps<'a> {
    done: Vec<StepReport>,
    instance: &'a str,
    ctx: &'a Context,
}

impl Steps<'_> {
    async fn run<T>(
        &mut self,
        step: Step,
        resource: Option<&str>,
        detail: Option<String>,
        work: impl Future<Output = Result<(T, StepOutcome)>>,
    ) -> Result<T> {
        let clients = &self.ctx.clients;
        let region = match step {
            Step::Check | Step::Snapshot => &clients.source_region,
            Step::Copy | Step::Restore | Step::Validate | Step::Cleanup => &clients.target_region,
        };
        let started = self.ctx.in_flight.set(
            self.instance,
            Stage::Running {
                step,
                resource: resource.map(str::to_owned),
                region: region.clone(),
            },
        );
        if !started {
            return Err(Error::Stopped {
                instance: self.instance.to_owned(),
                step,
            });
        }
        let start = Instant::now();
        let result = work.await;
        let outcome = match &result {
            Ok((_, outcome)) => *outcome,
            Err(_) => StepOutcome::Failed,
        };
        self.done.push(StepReport {
            step,
            outcome,
            duration: start.elapsed(),
            resource: resource.map(str::to_owned),
            detail,
        });
        result.map(|(value, _)| value)
    }
}

fn check_detail(p: &PlannedInstance) -> String {
    let db = &p.source;
    format!(
        "{} {}, {}, {} GiB, {}",
        db.engine().unwrap_or("?"),
        db.engine_version().unwrap_or("?"),
        db.db_instance_class().unwrap_or("?"),
        db.allocated_storage().unwrap_or_default(),
        if db.storage_encrypted() == Some(true) {
            "encrypted"
        } else {
            "unencrypted"
        }
    )
}

async fn migrate_one(ctx: &Context, p: PlannedInstance) -> InstanceReport {
    let (c, o) = (&ctx.clients, &ctx.opts);
    let names = p.names.clone();
    let mut steps = Steps {
        done: Vec::new(),
        instance: &names.instance,
        ctx,
    };
    let result: Result<()> = async {
        let detail = check_detail(&p);
        let blocked = p.blocked;
        steps
            .run(Step::Check, Some(&names.instance), Some(detail), async {
                if let Some(blocked) = blocked {
                    return Err(blocked);
                }
                crate::preflight::nothing_in_the_way(c, &names, o).await?;
                Ok(((), StepOutcome::Done))
            })
            .await?;
        let source_snapshot = steps
            .run(
                Step::Snapshot,
                Some(&names.source_snapshot),
                None,
                snapshot::take(&c.source, &c.source_region, &names, o.wait, o.reuse_within),
            )
            .await?;
        let key = o.target_kms_key_id.as_deref();
        let copy_detail = match (source_snapshot.encrypted() == Some(true), key) {
            (true, Some(key)) => format!("encrypted, re-encrypted with {key}"),
            (true, None) => "encrypted, no target key".to_owned(),
            (false, _) => "unencrypted".to_owned(),
        };
        let copy = steps
            .run(
                Step::Copy,
                Some(&names.target_snapshot),
                Some(copy_detail),
                snapshot::copy(
                    &c.target,
                    &c.target_region,
                    &names,
                    &source_snapshot,
                    key,
                    o.wait,
                ),
            )
            .await?;
        let restored = steps
            .run(
                Step::Restore,
                Some(&names.target_instance),
                None,
                restore::restore(
                    &c.target,
                    &c.target_region,
                    &names,
                    &p.source,
                    &copy,
                    &o.restore,
                    o.wait,
                ),
            )
            .await?;
        steps
            .run(Step::Validate, Some(&names.target_instance), None, async {
                let mut mismatches = validate::compare(&p.source, &o.restore, &restored);
                mismatches.extend(validate::key_mismatch(
                    &restored,
                    o.target_kms_key_id.as_deref(),
                ));
                if mismatches.is_empty() {
                    Ok(((), StepOutcome::Done))
                } else {
                    Err(Error::Validation {
                        instance: names.instance.clone(),
                        target: names.target_instance.clone(),
                        mismatches,
                    })
                }
            })
            .await?;
        if o.cleanup_snapshots {
            let detail = format!(
                "{} in {}, {} in {}",
                names.target_snapshot, c.target_region, names.source_snapshot, c.source_region
            );
            steps
                .run(Step::Cleanup, None, Some(detail), async {
                    snapshot::delete(&c.target, &names.instance, &names.target_snapshot).await?;
                    snapshot::delete(&c.source, &names.instance, &names.source_snapshot).await?;
                    Ok(((), StepOutcome::Done))
                })
                .await?;
        }
        Ok(())
    }
    .await;
    let steps = steps.done;
    ctx.in_flight.set(&names.instance, Stage::Ended);
    if let Err(e) = &result {
        tracing::error!(instance = %names.instance, error = %e, "instance failed");
    } else {
        tracing::info!(instance = %names.instance, target = %names.target_instance, "instance migrated");
    }
    InstanceReport {
        source_instance: names.instance,
        target_instance: names.target_instance,
        outcome: if result.is_ok() {
            InstanceOutcome::Succeeded
        } else {
            InstanceOutcome::Failed
        },
        steps,
        retryable: result.as_ref().err().map(Error::is_retryable),
        error: result.err().map(|e| e.to_string()),
    }
}

/// What a run would do for `p` (what is in its way was looked up before: `p.blocked`).
fn dry_run(p: PlannedInstance, o: &MigrateOptions) -> InstanceReport {
    let names = &p.names;
    let planned = |step, resource: &str, detail: String| StepReport {
        step,
        outcome: StepOutcome::Planned,
        duration: Default::default(),
        resource: Some(resource.to_owned()),
        detail: Some(detail),
    };
    let mut steps = vec![StepReport {
        outcome: if p.blocked.is_some() {
            StepOutcome::Failed
        } else {
            StepOutcome::Planned
        },
        ..planned(Step::Check, &names.instance, check_detail(&p))
    }];
    if p.blocked.is_none() {
        let r = &o.restore;
        let encrypted = p.source.storage_encrypted() == Some(true);
        let mut restore = vec![format!(
            "class {}",
            instance_class(&p.source, r).unwrap_or("?")
        )];
        restore.extend(
            r.db_subnet_group
                .as_ref()
                .map(|g| format!("subnet group {g}")),
        );
        if !r.vpc_security_group_ids.is_empty() {
            restore.push(format!(
                "security groups {}",
                r.vpc_security_group_ids.join(",")
            ));
        }
        let carried = crate::restore::carried(&p.source, r);
        if carried.multi_az {
            restore.push("multi-AZ".to_owned());
        } else if let Some(az) = &r.availability_zone {
            restore.push(format!("zone {az}"));
        }
        restore.extend(
            carried
                .publicly_accessible
                .map(|p| format!("publicly accessible {p}")),
        );
        restore.extend(
            carried
                .deletion_protection
                .filter(|p| *p)
                .map(|_| "deletion protection".to_owned()),
        );
        restore.extend(
            carried
                .iam_database_authentication
                .filter(|p| *p)
                .map(|_| "IAM database authentication".to_owned()),
        );
        steps.extend([
            planned(
                Step::Snapshot,
                &names.source_snapshot,
                format!("create or reuse snapshot of {}", names.instance),
            ),
            planned(
                Step::Copy,
                &names.target_snapshot,
                match (&o.target_kms_key_id, encrypted) {
                    (Some(key), true) => format!("copy to {} with KMS key {key}", o.target_region),
                    _ => format!("copy to {}", o.target_region),
                },
            ),
            planned(
                Step::Restore,
                &names.target_instance,
                format!("restore with {}", restore.join(", ")),
            ),
            planned(
                Step::Validate,
                &names.target_instance,
                "compare with source and settings".to_owned(),
            ),
        ]);
        if o.cleanup_snapshots {
            steps.push(planned(
                Step::Cleanup,
                &names.source_snapshot,
                format!(
                    "delete {} and {}",
                    names.target_snapshot, names.source_snapshot
                ),
            ));
        }
    }
    InstanceReport {
        source_instance: names.instance.clone(),
        target_instance: names.target_instance.clone(),
        outcome: if p.blocked.is_some() {
            InstanceOutcome::Failed
        } else {
            InstanceOutcome::Planned
        },
        steps,
        retryable: p.blocked.as_ref().map(Error::is_retryable),
        error: p.blocked.map(|e| e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    //! Whole-instance runs against mocked clients: the waiting paths moto cannot show.

    use std::time::Duration;

    use aws_sdk_rds::Client;
    use aws_sdk_rds::operation::copy_db_snapshot::CopyDbSnapshotOutput;
    use aws_sdk_rds::operation::create_db_snapshot::{
        CreateDBSnapshotError, CreateDbSnapshotOutput,
    };
    use aws_sdk_rds::operation::describe_db_instances::{
        DescribeDBInstancesError, DescribeDbInstancesOutput,
    };
    use aws_sdk_rds::operation::describe_db_snapshots::{
        DescribeDBSnapshotsError, DescribeDbSnapshotsOutput,
    };
    use aws_sdk_rds::operation::restore_db_instance_from_db_snapshot::RestoreDbInstanceFromDbSnapshotOutput;
    use aws_sdk_rds::types::error::{
        DbInstanceNotFoundFault, DbSnapshotAlreadyExistsFault, DbSnapshotNotFoundFault,
    };
    use aws_sdk_rds::types::{DbInstance, DbSnapshot};
    use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};

    use super::*;
    use crate::options::WaitSettings;

    fn source_db() -> DbInstance {
        DbInstance::builder()
            .db_instance_identifier("db1")
            .engine("postgres")
            .engine_version("16.3")
            .db_instance_class("db.t3.micro")
            .allocated_storage(20)
            .storage_encrypted(false)
            .db_instance_status("available")
            .build()
    }

    fn restored(status: &str) -> DescribeDbInstancesOutput {
        let db = DbInstance::builder()
            .db_instance_identifier("db1-migrated")
            .engine("postgres")
            .engine_version("16.3")
            .db_instance_class("db.t3.micro")
            .allocated_storage(20)
            .storage_encrypted(false)
            .multi_az(false)
            .db_instance_status(status)
            .build();
        DescribeDbInstancesOutput::builder()
            .db_instances(db)
            .build()
    }

    fn snapshot(id: &str, status: &str) -> DescribeDbSnapshotsOutput {
        let s = DbSnapshot::builder()
            .db_snapshot_identifier(id)
            .db_instance_identifier("db1")
            .db_snapshot_arn(format!("arn:aws:rds:us-east-1:123456789012:snapshot:{id}"))
            .encrypted(false)
            .status(status)
            .build();
        DescribeDbSnapshotsOutput::builder().db_snapshots(s).build()
    }

    fn list_source() -> Rule {
        mock!(Client::describe_db_instances).then_output(|| {
            DescribeDbInstancesOutput::builder()
                .db_instances(source_db())
                .build()
        })
    }

    fn snapshot_not_found() -> Rule {
        mock!(Client::describe_db_snapshots).then_error(|| {
            DescribeDBSnapshotsError::DbSnapshotNotFoundFault(
                DbSnapshotNotFoundFault::builder().build(),
            )
        })
    }

    /// Source side: listed, no snapshot yet, created, creating twice, available.
    fn source_rules() -> Vec<Rule> {
        vec![
            list_source(),
            // The check's look-up, then the snapshot step's.
            snapshot_not_found(),
            snapshot_not_found(),
            mock!(Client::create_db_snapshot)
                .then_output(|| CreateDbSnapshotOutput::builder().build()),
            mock!(Client::describe_db_snapshots)
                .sequence()
                .output(|| snapshot("db1-pgsplit", "creating"))
                .times(2)
                .output(|| snapshot("db1-pgsplit", "available"))
                .build(),
        ]
    }

    /// Target side up to the restore call: no copy yet, copied, copying, available, no
    /// instance yet, restore called.
    fn target_rules_until_restore() -> Vec<Rule> {
        let mut rules = target_preflight();
        rules.extend([
            snapshot_not_found(),
            mock!(Client::copy_db_snapshot).then_output(|| CopyDbSnapshotOutput::builder().build()),
            mock!(Client::describe_db_snapshots)
                .sequence()
                .output(|| snapshot("db1-pgsplit-eu-west-1", "copying"))
                .output(|| snapshot("db1-pgsplit-eu-west-1", "available"))
                .build(),
            instance_not_found(),
            mock!(Client::restore_db_instance_from_db_snapshot)
                .then_output(|| RestoreDbInstanceFromDbSnapshotOutput::builder().build()),
        ]);
        rules
    }

    fn instance_not_found() -> Rule {
        mock!(Client::describe_db_instances).then_error(|| {
            DescribeDBInstancesError::DbInstanceNotFoundFault(
                DbInstanceNotFoundFault::builder().build(),
            )
        })
    }

    /// The check's look-ups in the target region: no copy, no instance of pgsplit's names.
    fn target_preflight() -> Vec<Rule> {
        vec![snapshot_not_found(), instance_not_found()]
    }

    /// The restored instance stays `creating` for good.
    fn restore_never_ends() -> Rule {
        mock!(Client::describe_db_instances)
            .sequence()
            .output(|| restored("creating"))
            .repeatedly()
            .build()
    }

    fn clients(source: &[Rule], target: &[Rule]) -> Clients {
        Clients {
            source: mock_client!(aws_sdk_rds, RuleMode::Sequential, source),
            target: mock_client!(aws_sdk_rds, RuleMode::Sequential, target),
            source_region: "us-east-1".into(),
            target_region: "eu-west-1".into(),
        }
    }

    fn options(max_wait: Duration) -> MigrateOptions {
        let mut o = MigrateOptions::new("eu-west-1");
        o.wait = WaitSettings {
            max_wait,
            poll_interval: Duration::from_secs(30),
        };
        o
    }

    fn outcomes(r: &InstanceReport) -> Vec<(Step, StepOutcome)> {
        r.steps.iter().map(|s| (s.step, s.outcome)).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn waits_through_creating_states_and_times_each_step() {
        let source = source_rules();
        let mut target = target_rules_until_restore();
        target.push(
            mock!(Client::describe_db_instances)
                .sequence()
                .output(|| restored("creating"))
                .times(3)
                .output(|| restored("backing-up"))
                .output(|| restored("available"))
                .build(),
        );
        let report = migrate_with(
            clients(&source, &target),
            &options(Duration::from_secs(3600)),
        )
        .await
        .unwrap();
        let db1 = report.instance("db1").unwrap();
        assert_eq!(db1.outcome, InstanceOutcome::Succeeded, "{db1:#?}");
        use StepOutcome::Done;
        assert_eq!(
            outcomes(db1),
            [
                (Step::Check, Done),
                (Step::Snapshot, Done),
                (Step::Copy, Done),
                (Step::Restore, Done),
                (Step::Validate, Done)
            ]
        );
        // Virtual time: two 30 s polls while creating, one while copying, four while restoring.
        let secs = |s| db1.step(s).unwrap().duration.as_secs();
        assert_eq!(
            (secs(Step::Snapshot), secs(Step::Copy), secs(Step::Restore)),
            (60, 30, 120)
        );
        // Every rule was used (simple rules are used once in sequential mode).
        for rule in source.iter().chain(&target) {
            assert!(rule.num_calls() > 0);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_stopped_migration_knows_which_step_was_under_way() {
        let source = source_rules();
        let mut target = target_rules_until_restore();
        target.push(restore_never_ends());
        let in_flight = InFlight::default();
        // Stopped (the future dropped) while the restore is being waited for.
        let stopped = tokio::time::timeout(
            Duration::from_secs(600),
            migrate_with_watched(
                clients(&source, &target),
                &options(Duration::from_secs(3600)),
                &in_flight,
            ),
        )
        .await;
        assert!(stopped.is_err(), "the migration ended: {stopped:?}");
        assert_eq!(
            in_flight.stages(),
            [(
                "db1".to_owned(),
                Stage::Running {
                    step: Step::Restore,
                    resource: Some("db1-migrated".to_owned()),
                    region: "eu-west-1".to_owned(),
                }
            )]
        );
        // Run to its end (a time-out), it leaves nothing under way.
        let in_flight = InFlight::default();
        let (source, mut target) = (source_rules(), target_rules_until_restore());
        target.push(restore_never_ends());
        migrate_with_watched(
            clients(&source, &target),
            &options(Duration::from_secs(600)),
            &in_flight,
        )
        .await
        .unwrap();
        assert_eq!(in_flight.stages(), [("db1".to_owned(), Stage::Ended)]);
    }

    #[tokio::test(start_paused = true)]
    async fn restore_time_out_fails_the_instance_naming_the_step() {
        let source = source_rules();
        let mut target = target_rules_until_restore();
        target.push(restore_never_ends());
        let report = migrate_with(
            clients(&source, &target),
            &options(Duration::from_secs(600)),
        )
        .await
        .unwrap();
        assert!(report.any_failed());
        let db1 = report.instance("db1").unwrap();
        assert_eq!(
            db1.steps.last().map(|s| (s.step, s.outcome)),
            Some((Step::Restore, StepOutcome::Failed))
        );
        assert_eq!(
            db1.step(Step::Restore).unwrap().duration,
            Duration::from_secs(600)
        );
        assert_eq!(
            db1.error.as_deref(),
            Some(
                "db1: restore: timed out after 600s waiting for instance db1-migrated in eu-west-1 \
                 to become available (last status: creating)"
            )
        );
        assert_eq!(db1.retryable, Some(true));
    }

    #[tokio::test(start_paused = true)]
    async fn failed_snapshot_stops_that_instance_before_the_copy() {
        let source = vec![
            list_source(),
            snapshot_not_found(),
            snapshot_not_found(),
            mock!(Client::create_db_snapshot)
                .then_output(|| CreateDbSnapshotOutput::builder().build()),
            mock!(Client::describe_db_snapshots)
                .sequence()
                .output(|| snapshot("db1-pgsplit", "creating"))
                .output(|| snapshot("db1-pgsplit", "failed"))
                .build(),
        ];
        let target = target_preflight();
        let report = migrate_with(
            clients(&source, &target),
            &options(Duration::from_secs(600)),
        )
        .await
        .unwrap();
        let db1 = report.instance("db1").unwrap();
        assert_eq!(
            outcomes(db1),
            [
                (Step::Check, StepOutcome::Done),
                (Step::Snapshot, StepOutcome::Failed)
            ]
        );
        assert_eq!(
            db1.error.as_deref(),
            Some(
                "db1: snapshot: snapshot db1-pgsplit in us-east-1 is in state failed, which will not become available"
            )
        );
        assert_eq!(db1.retryable, Some(false));
    }

    #[tokio::test(start_paused = true)]
    async fn lost_create_race_reuses_the_other_runs_snapshot() {
        let source = vec![
            list_source(),
            snapshot_not_found(),
            snapshot_not_found(),
            mock!(Client::create_db_snapshot).then_error(|| {
                CreateDBSnapshotError::DbSnapshotAlreadyExistsFault(
                    DbSnapshotAlreadyExistsFault::builder().build(),
                )
            }),
            mock!(Client::describe_db_snapshots)
                .sequence()
                .output(|| snapshot("db1-pgsplit", "creating"))
                .output(|| snapshot("db1-pgsplit", "available"))
                .build(),
        ];
        let mut target = target_rules_until_restore();
        target.push(mock!(Client::describe_db_instances).then_output(|| restored("available")));
        let report = migrate_with(
            clients(&source, &target),
            &options(Duration::from_secs(600)),
        )
        .await
        .unwrap();
        let db1 = report.instance("db1").unwrap();
        assert_eq!(db1.outcome, InstanceOutcome::Succeeded, "{db1:#?}");
        assert_eq!(
            db1.step(Step::Snapshot).unwrap().outcome,
            StepOutcome::Reused
        );
    }
}
