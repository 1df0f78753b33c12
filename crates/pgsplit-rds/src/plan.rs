//! Which source instances to migrate, under which names, and which cannot be migrated as
//! asked: decided from one read-only listing of the source region before anything starts.

use aws_sdk_rds::Client;
use aws_sdk_rds::types::DbInstance;

use crate::error::{Error, Result};
use crate::options::MigrateOptions;
use crate::report::Step;

/// Engine migrated when no `--instance` is given.
pub const ENGINE: &str = "postgres";
/// Tag put on every snapshot and instance pgsplit makes; its value is the source instance.
pub const SOURCE_TAG: &str = "pgsplit:source-instance";

/// The names of what pgsplit makes for one source instance. Deterministic, so that a
/// re-run finds what an earlier run made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    /// Source instance identifier.
    pub instance: String,
    /// Snapshot in the source region.
    pub source_snapshot: String,
    /// Its copy in the target region (named apart even when both regions are the same).
    pub target_snapshot: String,
    /// The restored instance in the target region.
    pub target_instance: String,
}

impl Names {
    /// Names for `instance` restored into `target_region` with `suffix`.
    pub fn new(instance: &str, target_region: &str, suffix: &str) -> Self {
        Names {
            instance: instance.to_owned(),
            source_snapshot: format!("{instance}-pgsplit"),
            target_snapshot: format!("{instance}-pgsplit-{target_region}"),
            target_instance: format!("{instance}{suffix}"),
        }
    }
}

/// One instance to migrate.
#[derive(Debug)]
pub struct PlannedInstance {
    /// The source instance as listed.
    pub source: DbInstance,
    /// What pgsplit makes for it.
    pub names: Names,
    /// Why it cannot be migrated as asked; it then fails at the check step and the others go on.
    pub blocked: Option<Error>,
}

/// Lists the source region's instances (read-only).
pub async fn list_instances(client: &Client) -> Result<Vec<DbInstance>> {
    let mut instances = Vec::new();
    let mut marker = None;
    loop {
        tracing::debug!(
            listed_so_far = instances.len(),
            "listing the source region's instances"
        );
        let out = client
            .describe_db_instances()
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| Error::aws("*", Step::Check, "DescribeDBInstances", e))?;
        instances.extend_from_slice(out.db_instances());
        marker = out.marker().map(str::to_owned);
        if marker.is_none() {
            return Ok(instances);
        }
    }
}

/// Picks the instances to migrate from the source region's listing.
///
/// Every `--instance` must exist (else [`Error::UnknownInstances`], nothing starts). Without
/// `--instance`, every standalone PostgreSQL instance is taken. Instances that cannot be
/// migrated as asked (encrypted without `--target-kms-key-id`, Aurora cluster members) are
/// planned as blocked.
pub fn plan(
    listed: &[DbInstance],
    source_region: &str,
    opts: &MigrateOptions,
) -> Result<Vec<PlannedInstance>> {
    // RDS stores identifiers in lower case and matches them case-insensitively.
    let id = |db: &DbInstance| {
        db.db_instance_identifier()
            .unwrap_or_default()
            .to_lowercase()
    };
    let wanted: Vec<String> = opts
        .selection
        .instances
        .iter()
        .map(|i| i.trim().to_lowercase())
        .collect();
    let excluded: Vec<String> = opts
        .selection
        .exclude
        .iter()
        .map(|i| i.trim().to_lowercase())
        .collect();

    let unknown: Vec<String> = wanted
        .iter()
        .filter(|w| !listed.iter().any(|db| &id(db) == *w))
        .cloned()
        .collect();
    if !unknown.is_empty() {
        return Err(Error::UnknownInstances {
            region: source_region.to_owned(),
            ids: unknown,
        });
    }
    for e in excluded
        .iter()
        .filter(|e| !listed.iter().any(|db| &id(db) == *e))
    {
        tracing::warn!(instance = %e, region = source_region, "--exclude names no instance");
    }

    let selected = listed.iter().filter(|db| {
        let id = id(db);
        if excluded.contains(&id) {
            return false;
        }
        if wanted.is_empty() {
            db.engine() == Some(ENGINE) && db.db_cluster_identifier().is_none()
        } else {
            wanted.contains(&id)
        }
    });

    let planned: Vec<PlannedInstance> = selected
        .map(|db| {
            let instance = id(db);
            let blocked = if let Some(cluster) = db.db_cluster_identifier() {
                Some(Error::Unsupported {
                    instance: instance.clone(),
                    reason: format!(
                        "it is a member of cluster {cluster}: migrate the cluster, not its instances"
                    ),
                })
            } else if db.engine() != Some(ENGINE) {
                // Named with --instance: the snapshot path would move it, but nothing of
                // pgsplit (validation, connections) is for another engine.
                Some(Error::Unsupported {
                    instance: instance.clone(),
                    reason: format!(
                        "it is a {} instance: pgsplit rds migrates PostgreSQL instances",
                        db.engine().unwrap_or("non-PostgreSQL")
                    ),
                })
            } else if db.storage_encrypted() == Some(true) && opts.target_kms_key_id.is_none() {
                Some(Error::EncryptedWithoutKey {
                    instance: instance.clone(),
                    what: "instance".to_owned(),
                    target_region: opts.target_region.clone(),
                })
            } else {
                None
            };
            PlannedInstance {
                names: Names::new(&instance, &opts.target_region, &opts.restore.suffix),
                source: db.clone(),
                blocked,
            }
        })
        .collect();
    if planned.is_empty() && !excluded.is_empty() {
        return Err(Error::InvalidOption {
            option: "--exclude",
            reason: format!("leaves no instance of {source_region} to migrate"),
        });
    }
    // Found now, not when the restore is refused after hours of snapshotting.
    if let Some(long) = planned
        .iter()
        .find(|p| p.names.target_instance.len() > MAX_IDENTIFIER)
    {
        return Err(Error::InvalidOption {
            option: "--suffix",
            reason: format!(
                "makes {} longer than the {MAX_IDENTIFIER} characters RDS allows",
                long.names.target_instance
            ),
        });
    }
    Ok(planned)
}

/// The longest DB instance identifier RDS takes.
const MAX_IDENTIFIER: usize = 63;

#[cfg(test)]
mod tests {
    use super::*;

    fn db(id: &str, engine: &str, encrypted: bool) -> DbInstance {
        DbInstance::builder()
            .db_instance_identifier(id)
            .engine(engine)
            .storage_encrypted(encrypted)
            .build()
    }

    fn listed() -> Vec<DbInstance> {
        vec![
            db("db1", "postgres", false),
            db("db2", "postgres", true),
            db("db3", "postgres", false),
            db("my1", "mysql", false),
        ]
    }

    fn ids(plan: &[PlannedInstance]) -> Vec<&str> {
        plan.iter().map(|p| p.names.instance.as_str()).collect()
    }

    #[test]
    fn all_postgres_minus_excluded() {
        let mut o = MigrateOptions::new("eu-west-1");
        o.selection.exclude = vec!["DB3".into()];
        o.target_kms_key_id = Some("k".into());
        let p = plan(&listed(), "us-east-1", &o).unwrap();
        assert_eq!(ids(&p), ["db1", "db2"]);
        assert!(p.iter().all(|p| p.blocked.is_none()));
        assert_eq!(
            p[0].names,
            Names {
                instance: "db1".into(),
                source_snapshot: "db1-pgsplit".into(),
                target_snapshot: "db1-pgsplit-eu-west-1".into(),
                target_instance: "db1-migrated".into(),
            }
        );
    }

    #[test]
    fn excluding_every_instance_or_too_long_a_name_is_refused() {
        let mut o = MigrateOptions::new("eu-west-1");
        o.selection.exclude = vec!["db1".into(), "db2".into(), "db3".into()];
        let err = plan(&listed(), "us-east-1", &o).unwrap_err();
        assert!(
            err.is_bad_input() && err.to_string().contains("--exclude"),
            "{err}"
        );
        let mut o = MigrateOptions::new("eu-west-1");
        o.restore.suffix = format!("-{}", "x".repeat(60));
        let err = plan(&listed(), "us-east-1", &o).unwrap_err();
        assert!(
            err.is_bad_input() && err.to_string().contains("63"),
            "{err}"
        );
    }

    #[test]
    fn explicit_instances_in_listing_order() {
        let mut o = MigrateOptions::new("eu-west-1");
        o.selection.instances = vec!["db3".into(), "my1".into()];
        let p = plan(&listed(), "us-east-1", &o).unwrap();
        assert_eq!(ids(&p), ["db3", "my1"]);
        // Another engine, named: planned, but blocked with why (it was migrated).
        assert!(p[0].blocked.is_none());
        let why = p[1].blocked.as_ref().unwrap().to_string();
        assert!(why.contains("it is a mysql instance"), "{why}");
    }

    #[test]
    fn unknown_instance_is_an_error_before_anything_starts() {
        let mut o = MigrateOptions::new("eu-west-1");
        o.selection.instances = vec!["db1".into(), "nope".into()];
        let err = plan(&listed(), "us-east-1", &o).unwrap_err();
        assert!(err.is_bad_input());
        assert_eq!(err.to_string(), "unknown DB instance(s) in us-east-1: nope");
    }

    #[test]
    fn encrypted_without_key_is_blocked_alone() {
        let o = MigrateOptions::new("eu-west-1");
        let p = plan(&listed(), "us-east-1", &o).unwrap();
        assert_eq!(ids(&p), ["db1", "db2", "db3"]);
        assert!(p[0].blocked.is_none());
        assert!(p[2].blocked.is_none());
        let why = p[1].blocked.as_ref().unwrap().to_string();
        assert!(
            why.contains("--target-kms-key-id") && why.contains("eu-west-1"),
            "{why}"
        );
    }

    #[test]
    fn cluster_members_are_skipped_or_blocked() {
        let member = DbInstance::builder()
            .db_instance_identifier("aur1")
            .engine("postgres")
            .db_cluster_identifier("c1")
            .build();
        let listed = vec![member];
        let o = MigrateOptions::new("eu-west-1");
        assert!(plan(&listed, "us-east-1", &o).unwrap().is_empty());
        let mut o = MigrateOptions::new("eu-west-1");
        o.selection.instances = vec!["aur1".into()];
        let p = plan(&listed, "us-east-1", &o).unwrap();
        let why = p[0].blocked.as_ref().unwrap().to_string();
        assert!(why.contains("cluster c1"), "{why}");
    }
}
