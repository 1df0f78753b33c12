//! What a migration is asked to do, free of any CLI type: the binary builds this from its
//! arguments, tests build it directly.

use std::time::Duration;

use aws_sdk_rds::config::SharedCredentialsProvider;

use crate::error::{Error, Result};

/// Default `--suffix` appended to the source identifier to name the restored instance.
pub const DEFAULT_SUFFIX: &str = "-migrated";
/// Default `--max-wait` per step. Snapshots of large instances take hours.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(6 * 3600);
/// Default interval between two status polls.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(30);
/// Default number of instances migrated at once.
pub const DEFAULT_PARALLEL: usize = 4;

/// A source snapshot an earlier run took is reused only this young (a re-run after a
/// failure the same day); an older one is refused rather than restored from.
pub const DEFAULT_REUSE_WITHIN: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// How to reach AWS: everything else comes from the SDK's default chain (environment,
/// profile files, SSO, instance metadata).
#[derive(Debug, Clone, Default)]
pub struct AwsSettings {
    /// Named profile (`--profile`); default: `AWS_PROFILE` or `default`.
    pub profile: Option<String>,
    /// Endpoint override (`--endpoint-url`) for tests and VPC endpoints; without it the SDK
    /// still honours `AWS_ENDPOINT_URL_RDS` and `AWS_ENDPOINT_URL`.
    pub endpoint_url: Option<String>,
    /// Credentials to use instead of the default chain (embedding, tests).
    pub credentials: Option<SharedCredentialsProvider>,
}

/// Which source instances to migrate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Only these (`--instance`); empty: every instance of the source region.
    pub instances: Vec<String>,
    /// Minus these (`--exclude`).
    pub exclude: Vec<String>,
}

/// How the new instances are restored in the target region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreSettings {
    /// Instance class; `None`: the source instance's.
    pub instance_class: Option<String>,
    /// DB subnet group in the target region.
    pub db_subnet_group: Option<String>,
    /// VPC security groups in the target region.
    pub vpc_security_group_ids: Vec<String>,
    /// Multi-AZ deployment; `None`: the source instance's (single-AZ when a zone is given).
    pub multi_az: Option<bool>,
    /// Availability zone (single-AZ only).
    pub availability_zone: Option<String>,
    /// Publicly accessible; `None`: the source instance's.
    pub publicly_accessible: Option<bool>,
    /// Appended to the source identifier to name the new instance.
    pub suffix: String,
}

impl Default for RestoreSettings {
    fn default() -> Self {
        RestoreSettings {
            instance_class: None,
            db_subnet_group: None,
            vpc_security_group_ids: Vec::new(),
            multi_az: None,
            availability_zone: None,
            publicly_accessible: None,
            suffix: DEFAULT_SUFFIX.to_owned(),
        }
    }
}

/// How long to wait for each step, and how often to look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitSettings {
    /// Longest wait for one step of one instance (`--max-wait`).
    pub max_wait: Duration,
    /// Time between two status polls.
    pub poll_interval: Duration,
}

impl Default for WaitSettings {
    fn default() -> Self {
        WaitSettings {
            max_wait: DEFAULT_MAX_WAIT,
            poll_interval: DEFAULT_POLL_INTERVAL,
        }
    }
}

/// Everything `migrate` needs.
#[derive(Debug, Clone)]
pub struct MigrateOptions {
    /// Source region; `None`: the SDK's default (`AWS_REGION`, profile).
    pub source_region: Option<String>,
    /// Target region.
    pub target_region: String,
    /// Which instances.
    pub selection: Selection,
    /// How to restore them.
    pub restore: RestoreSettings,
    /// KMS key in the target region for encrypted snapshots.
    pub target_kms_key_id: Option<String>,
    /// Waiting.
    pub wait: WaitSettings,
    /// Instances migrated at once.
    pub parallel: usize,
    /// Delete the intermediate snapshots after a successful restore.
    pub cleanup_snapshots: bool,
    /// Reuse a source snapshot an earlier run took only if it is younger than this.
    pub reuse_within: std::time::Duration,
    /// List what would be done; call no mutating API.
    pub dry_run: bool,
    /// How to reach AWS.
    pub aws: AwsSettings,
}

impl MigrateOptions {
    /// Options with defaults for everything but the target region.
    pub fn new(target_region: impl Into<String>) -> Self {
        MigrateOptions {
            source_region: None,
            target_region: target_region.into(),
            selection: Selection::default(),
            restore: RestoreSettings::default(),
            target_kms_key_id: None,
            wait: WaitSettings::default(),
            parallel: DEFAULT_PARALLEL,
            cleanup_snapshots: false,
            reuse_within: DEFAULT_REUSE_WITHIN,
            dry_run: false,
            aws: AwsSettings::default(),
        }
    }

    /// Checks the options that need no AWS call.
    pub fn validate(&self) -> Result<()> {
        let invalid = |option, reason: &str| {
            Err(Error::InvalidOption {
                option,
                reason: reason.to_owned(),
            })
        };
        if self.target_region.trim().is_empty() {
            return invalid("--target-region", "must not be empty");
        }
        if self.restore.multi_az == Some(true) && self.restore.availability_zone.is_some() {
            return invalid(
                "--availability-zone",
                "cannot be combined with --multi-az (RDS picks the zones)",
            );
        }
        if self.parallel == 0 {
            return invalid("--parallel", "must be at least 1");
        }
        if self.wait.max_wait.is_zero() {
            return invalid("--max-wait", "must be more than zero");
        }
        if self.wait.poll_interval.is_zero() {
            return invalid("poll interval", "must be more than zero");
        }
        if let Some(bad) = self
            .selection
            .instances
            .iter()
            .find(|i| i.trim().is_empty())
        {
            return invalid("--instance", &format!("empty identifier {bad:?}"));
        }
        if !valid_identifier_part(&self.restore.suffix) {
            return invalid(
                "--suffix",
                "must be letters, digits and single hyphens, and not end with a hyphen",
            );
        }
        if let Some(az) = &self.restore.availability_zone
            && !az.starts_with(self.target_region.trim())
        {
            // RDS would refuse it at the restore, after the snapshot and the copy.
            return invalid(
                "--availability-zone",
                &format!(
                    "{az} is not a zone of the target region {}",
                    self.target_region
                ),
            );
        }
        if let Some(bad) = self
            .restore
            .vpc_security_group_ids
            .iter()
            .find(|g| g.trim().is_empty() || g.trim() != g.as_str())
        {
            return invalid(
                "--vpc-security-group-ids",
                &format!("{bad:?} is not a security group id (an empty item between commas?)"),
            );
        }
        if let Some(reason) = self.aws.endpoint_url.as_deref().and_then(endpoint_problem) {
            return invalid("--endpoint-url", reason);
        }
        if let Some(source) = &self.source_region {
            self.check_regions(source)?;
        }
        // RDS identifiers match case-insensitively.
        let same = |a: &String, b: &String| a.trim().eq_ignore_ascii_case(b.trim());
        if let Some(only) = self
            .selection
            .instances
            .iter()
            .find(|i| self.selection.exclude.iter().any(|e| same(i, e)))
        {
            return invalid(
                "--exclude",
                &format!("{only} is both selected with --instance and excluded"),
            );
        }
        Ok(())
    }

    /// With `source` the source region (given, or from the environment): an empty
    /// `--suffix` would name the restored instance as its source in the same region.
    pub fn check_regions(&self, source: &str) -> Result<()> {
        if source == self.target_region && self.restore.suffix.is_empty() {
            return Err(Error::InvalidOption {
                option: "--suffix",
                reason: "must not be empty when source and target region are the same".into(),
            });
        }
        Ok(())
    }
}

/// RDS identifiers: letters, digits, hyphens; no two hyphens in a row, no trailing hyphen.
fn valid_identifier_part(s: &str) -> bool {
    s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !s.contains("--")
        && !s.ends_with('-')
}

/// What is wrong with an AWS endpoint URL, if anything (never echoing it): it must be
/// http(s) with a host; requests are signed with the AWS credentials, so a user name or
/// password has no use there, and the SDK prints the endpoint's query in its warnings
/// (where a token could hide), so a query or fragment is refused too.
pub(crate) fn endpoint_problem(endpoint: &str) -> Option<&'static str> {
    let Ok(url) = url::Url::parse(endpoint) else {
        return Some(ENDPOINT_SHAPE);
    };
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Some(ENDPOINT_SHAPE);
    }
    let extra = !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
        || url.fragment().is_some();
    extra.then_some(
        "must not hold a user name, password, query or fragment (requests are signed with \
         the AWS credentials)",
    )
}

const ENDPOINT_SHAPE: &str =
    "must be an http:// or https:// URL with a host (e.g. http://localhost:5000)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let mut o = MigrateOptions::new("eu-west-1");
        o.source_region = Some("us-east-1".into());
        o.validate().unwrap();
        assert_eq!(o.restore.suffix, "-migrated");
    }

    #[test]
    fn rejects_az_with_multi_az() {
        let mut o = MigrateOptions::new("eu-west-1");
        o.restore.multi_az = Some(true);
        o.restore.availability_zone = Some("eu-west-1a".into());
        let err = o.validate().unwrap_err();
        assert!(err.is_bad_input());
        assert!(err.to_string().contains("--availability-zone"), "{err}");
    }

    /// Each was accepted, then refused by RDS at the restore (a zone of another region)
    /// or by the SDK with a debug dump of its request (an endpoint that is no URL).
    #[test]
    fn rejects_what_the_restore_or_the_sdk_would_refuse_later() {
        let refused = |o: &MigrateOptions, option: &str| {
            let err = o.validate().unwrap_err();
            assert!(
                err.is_bad_input() && err.to_string().contains(option),
                "{err}"
            );
        };
        let mut o = MigrateOptions::new("eu-west-1");
        o.restore.availability_zone = Some("us-east-1a".into());
        refused(&o, "--availability-zone");
        o.restore.availability_zone = Some("eu-west-1b".into());
        o.validate().unwrap();
        o.restore.vpc_security_group_ids = vec!["sg-1".into(), "".into(), "sg-2".into()];
        refused(&o, "--vpc-security-group-ids");
        o.restore.vpc_security_group_ids = vec!["sg-1".into()];
        o.aws.endpoint_url = Some("not a url".into());
        refused(&o, "--endpoint-url");
        o.aws.endpoint_url = Some("http://user:secret@localhost:5000".into());
        refused(&o, "--endpoint-url");
        o.aws.endpoint_url = Some("http://localhost:5000/?password=secret".into());
        refused(&o, "--endpoint-url");
        o.aws.endpoint_url = Some("http://localhost:5000/#secret".into());
        refused(&o, "--endpoint-url");
        o.aws.endpoint_url = Some("http://localhost:5000".into());
        o.validate().unwrap();
    }

    #[test]
    fn rejects_bad_suffix_and_parallel() {
        let mut o = MigrateOptions::new("eu-west-1");
        o.restore.suffix = "-bad-".into();
        assert!(o.validate().is_err());
        o.restore.suffix = "_x".into();
        assert!(o.validate().is_err());
        o.restore.suffix = "-new".into();
        o.parallel = 0;
        assert!(o.validate().is_err());
    }

    #[test]
    fn rejects_selected_and_excluded_in_any_case() {
        let mut o = MigrateOptions::new("eu-west-1");
        o.selection.instances = vec!["ORDERS".into()];
        o.selection.exclude = vec!["orders".into()];
        assert!(o.validate().is_err());
    }

    #[test]
    fn rejects_selected_and_excluded() {
        let mut o = MigrateOptions::new("eu-west-1");
        o.selection.instances = vec!["a".into()];
        o.selection.exclude = vec!["a".into()];
        assert!(o.validate().is_err());
    }

    #[test]
    fn rejects_empty_suffix_in_same_region() {
        let mut o = MigrateOptions::new("eu-west-1");
        o.source_region = Some("eu-west-1".into());
        o.restore.suffix = String::new();
        assert!(o.validate().is_err());
        o.source_region = Some("us-east-1".into());
        o.validate().unwrap();
    }
}
