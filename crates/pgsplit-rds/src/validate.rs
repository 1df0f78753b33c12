//! Checking a restored instance against its source and the restore settings.

use aws_sdk_rds::types::DbInstance;

use crate::error::Mismatch;
use crate::options::RestoreSettings;
use crate::restore::{carried, instance_class};

fn show<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "(none)".to_owned(), |v| v.to_string())
}

/// Every difference between what was asked for and what `restored` is. Engine, version,
/// storage and encryption must be the source's; class, placement and network what the
/// settings asked for (class defaults to the source's).
pub fn compare(
    source: &DbInstance,
    settings: &RestoreSettings,
    restored: &DbInstance,
) -> Vec<Mismatch> {
    let mut out = Vec::new();
    let mut check = |field: &'static str, expected: String, actual: String| {
        if expected != actual {
            out.push(Mismatch {
                field,
                expected,
                actual,
            });
        }
    };
    check(
        "status",
        "available".into(),
        show(restored.db_instance_status()),
    );
    check("engine", show(source.engine()), show(restored.engine()));
    check(
        "engine version",
        show(source.engine_version()),
        show(restored.engine_version()),
    );
    check(
        "instance class",
        show(instance_class(source, settings)),
        show(restored.db_instance_class()),
    );
    check(
        "allocated storage (GiB)",
        show(source.allocated_storage()),
        show(restored.allocated_storage()),
    );
    check(
        "storage encrypted",
        source.storage_encrypted().unwrap_or(false).to_string(),
        restored.storage_encrypted().unwrap_or(false).to_string(),
    );
    let carried = carried(source, settings);
    check(
        "multi-AZ",
        carried.multi_az.to_string(),
        restored.multi_az().unwrap_or(false).to_string(),
    );
    if let (Some(az), false) = (&settings.availability_zone, carried.multi_az) {
        check(
            "availability zone",
            az.clone(),
            show(restored.availability_zone()),
        );
    }
    if let Some(group) = &settings.db_subnet_group {
        check(
            "DB subnet group",
            group.clone(),
            show(
                restored
                    .db_subnet_group()
                    .and_then(|g| g.db_subnet_group_name()),
            ),
        );
    }
    if !settings.vpc_security_group_ids.is_empty() {
        let mut expected = settings.vpc_security_group_ids.clone();
        expected.sort();
        let mut actual: Vec<String> = restored
            .vpc_security_groups()
            .iter()
            .filter_map(|g| g.vpc_security_group_id().map(str::to_owned))
            .collect();
        actual.sort();
        check("VPC security groups", expected.join(","), actual.join(","));
    }
    let mut carried_flag = |field: &'static str, expected: Option<bool>, actual: Option<bool>| {
        if let Some(expected) = expected {
            check(field, expected.to_string(), show(actual));
        }
    };
    carried_flag(
        "publicly accessible",
        carried.publicly_accessible,
        restored.publicly_accessible(),
    );
    carried_flag(
        "deletion protection",
        carried.deletion_protection,
        restored.deletion_protection(),
    );
    carried_flag(
        "IAM database authentication",
        carried.iam_database_authentication,
        restored.iam_database_authentication_enabled(),
    );
    out
}

/// An encrypted restored instance whose KMS key is not `--target-kms-key-id` (`requested`).
pub fn key_mismatch(restored: &DbInstance, requested: Option<&str>) -> Option<Mismatch> {
    let (requested, actual) = (requested?, restored.kms_key_id()?);
    let differs = restored.storage_encrypted() == Some(true)
        && crate::snapshot::same_key(actual, requested) == Some(false);
    differs.then(|| Mismatch {
        field: "KMS key",
        expected: requested.to_owned(),
        actual: actual.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use aws_sdk_rds::types::{DbSubnetGroup, VpcSecurityGroupMembership};

    use super::*;

    #[test]
    fn a_key_is_named_by_its_arn_or_its_id() {
        let arn = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab";
        let encrypted = |key: &str| {
            DbInstance::builder()
                .storage_encrypted(true)
                .kms_key_id(key)
                .build()
        };
        assert!(key_mismatch(&encrypted(arn), Some(arn)).is_none());
        assert!(key_mismatch(&encrypted(arn), Some("1234abcd-12ab")).is_none());
        assert!(key_mismatch(&encrypted(arn), Some("alias/migrations")).is_none());
        let other = key_mismatch(&encrypted(arn), Some("99ffaa00-00ab")).unwrap();
        assert_eq!(other.field, "KMS key");
        assert!(key_mismatch(&encrypted(arn), None).is_none());
    }

    fn source_builder() -> aws_sdk_rds::types::builders::DbInstanceBuilder {
        DbInstance::builder()
            .db_instance_identifier("db1")
            .engine("postgres")
            .engine_version("16.3")
            .db_instance_class("db.t3.micro")
            .allocated_storage(20)
            .storage_encrypted(true)
            .db_instance_status("available")
    }

    fn source() -> DbInstance {
        source_builder().build()
    }

    fn settings() -> RestoreSettings {
        RestoreSettings {
            instance_class: Some("db.t3.large".into()),
            db_subnet_group: Some("target-subnets".into()),
            vpc_security_group_ids: vec!["sg-2".into(), "sg-1".into()],
            availability_zone: Some("eu-west-1b".into()),
            publicly_accessible: Some(false),
            ..RestoreSettings::default()
        }
    }

    fn restored() -> aws_sdk_rds::types::builders::DbInstanceBuilder {
        DbInstance::builder()
            .db_instance_identifier("db1-migrated")
            .engine("postgres")
            .engine_version("16.3")
            .db_instance_class("db.t3.large")
            .allocated_storage(20)
            .storage_encrypted(true)
            .db_instance_status("available")
            .multi_az(false)
            .availability_zone("eu-west-1b")
            .publicly_accessible(false)
            .db_subnet_group(
                DbSubnetGroup::builder()
                    .db_subnet_group_name("target-subnets")
                    .build(),
            )
            .vpc_security_groups(
                VpcSecurityGroupMembership::builder()
                    .vpc_security_group_id("sg-1")
                    .build(),
            )
            .vpc_security_groups(
                VpcSecurityGroupMembership::builder()
                    .vpc_security_group_id("sg-2")
                    .build(),
            )
    }

    #[test]
    fn matching_instance_has_no_mismatch() {
        assert_eq!(compare(&source(), &settings(), &restored().build()), []);
    }

    #[test]
    fn every_difference_is_listed() {
        let r = restored()
            .db_instance_class("db.t3.micro")
            .storage_encrypted(false)
            .availability_zone("eu-west-1a")
            .db_instance_status("modifying")
            .build();
        let fields: Vec<_> = compare(&source(), &settings(), &r)
            .iter()
            .map(|m| m.field)
            .collect();
        assert_eq!(
            fields,
            [
                "status",
                "instance class",
                "storage encrypted",
                "availability zone"
            ]
        );
    }

    #[test]
    fn deployment_settings_are_the_sources_unless_asked_otherwise() {
        let guarded = source_builder()
            .multi_az(true)
            .publicly_accessible(false)
            .deletion_protection(true)
            .iam_database_authentication_enabled(true)
            .build();
        let plain = restored().db_instance_class("db.t3.micro").build();
        let fields: Vec<_> = compare(&guarded, &RestoreSettings::default(), &plain)
            .iter()
            .map(|m| m.to_string())
            .collect();
        assert_eq!(
            fields,
            [
                "multi-AZ: expected true, got false",
                "deletion protection: expected true, got (none)",
                "IAM database authentication: expected true, got (none)"
            ]
        );
        let same = restored()
            .db_instance_class("db.t3.micro")
            .multi_az(true)
            .availability_zone("anywhere")
            .deletion_protection(true)
            .iam_database_authentication_enabled(true)
            .build();
        assert_eq!(compare(&guarded, &RestoreSettings::default(), &same), []);
        // A zone asked for means single-AZ; an explicit answer wins over the source's.
        let zoned = RestoreSettings {
            availability_zone: Some("eu-west-1b".into()),
            publicly_accessible: Some(true),
            ..RestoreSettings::default()
        };
        let c = carried(&guarded, &zoned);
        assert!(!c.multi_az);
        assert_eq!(c.publicly_accessible, Some(true));
    }

    #[test]
    fn class_defaults_to_source_and_az_ignored_for_multi_az() {
        let s = RestoreSettings {
            multi_az: Some(true),
            ..RestoreSettings::default()
        };
        let r = restored()
            .db_instance_class("db.t3.micro")
            .multi_az(true)
            .availability_zone("anywhere")
            .build();
        assert_eq!(compare(&source(), &s, &r), []);
        let r = restored().db_instance_class("db.t3.micro").build();
        let m = compare(&source(), &s, &r);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].to_string(), "multi-AZ: expected true, got false");
    }
}
