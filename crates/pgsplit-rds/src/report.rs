//! What a migration did: per instance, per step, outcome and duration. Serializable for
//! `--json`; the binary renders the human table.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

/// The steps of one instance's migration, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Read the source instance and check it can be migrated (encryption vs. key).
    Check,
    /// Snapshot the source instance and wait until the snapshot is available.
    Snapshot,
    /// Copy the snapshot into the target region and wait.
    Copy,
    /// Restore a new instance from the copy and wait until it is available.
    Restore,
    /// Compare the restored instance with what was asked for.
    Validate,
    /// Delete the intermediate snapshots (`--cleanup-snapshots`).
    Cleanup,
}

impl Step {
    /// Every step, in order: the columns of the summary table.
    pub const ALL: [Step; 6] = [
        Step::Check,
        Step::Snapshot,
        Step::Copy,
        Step::Restore,
        Step::Validate,
        Step::Cleanup,
    ];

    /// The step's name, as in the report and in error messages.
    pub fn name(self) -> &'static str {
        match self {
            Step::Check => "check",
            Step::Snapshot => "snapshot",
            Step::Copy => "copy",
            Step::Restore => "restore",
            Step::Validate => "validate",
            Step::Cleanup => "cleanup",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepOutcome {
    /// Done by this run.
    Done,
    /// Already done by an earlier run: the existing resource was reused.
    Reused,
    /// Failed; the instance's `error` says why.
    Failed,
    /// `--dry-run`: would be done.
    Planned,
}

impl fmt::Display for StepOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StepOutcome::Done => "ok",
            StepOutcome::Reused => "reused",
            StepOutcome::Failed => "FAILED",
            StepOutcome::Planned => "planned",
        })
    }
}

/// One step of one instance.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    /// Which step.
    pub step: Step,
    /// How it ended.
    pub outcome: StepOutcome,
    /// Wall-clock time of the step, waiting included.
    #[serde(rename = "duration_secs", serialize_with = "secs")]
    pub duration: Duration,
    /// The resource the step made or used (snapshot or instance identifier).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// What was (or, with `--dry-run`, would be) done.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1000.0).round() / 1000.0)
}

/// How an instance's migration ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InstanceOutcome {
    /// Restored and validated.
    Succeeded,
    /// A step failed.
    Failed,
    /// `--dry-run`.
    Planned,
}

/// One source instance.
#[derive(Debug, Clone, Serialize)]
pub struct InstanceReport {
    /// Source instance identifier.
    pub source_instance: String,
    /// Identifier of the restored instance in the target region.
    pub target_instance: String,
    /// How it ended.
    pub outcome: InstanceOutcome,
    /// The steps that ran (or would run), in order; a failed step is the last.
    pub steps: Vec<StepReport>,
    /// The failure, with its causes, when `outcome` is `failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Whether re-running may succeed without changing anything (time-outs, throttling).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retryable: Option<bool>,
}

impl InstanceReport {
    /// The report of one step, if it ran.
    pub fn step(&self, step: Step) -> Option<&StepReport> {
        self.steps.iter().find(|s| s.step == step)
    }

    /// Total time over all steps.
    pub fn duration(&self) -> Duration {
        self.steps.iter().map(|s| s.duration).sum()
    }
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Where the instances came from.
    pub source_region: String,
    /// Where they were restored.
    pub target_region: String,
    /// Whether this was a `--dry-run`.
    pub dry_run: bool,
    /// Wall-clock time of the run.
    #[serde(rename = "duration_secs", serialize_with = "secs")]
    pub duration: Duration,
    /// One entry per selected source instance, in the order of the source region's listing.
    pub instances: Vec<InstanceReport>,
}

impl Report {
    /// Whether any instance failed.
    pub fn any_failed(&self) -> bool {
        self.instances
            .iter()
            .any(|i| i.outcome == InstanceOutcome::Failed)
    }

    /// The report of one source instance.
    pub fn instance(&self, source_instance: &str) -> Option<&InstanceReport> {
        self.instances
            .iter()
            .find(|i| i.source_instance == source_instance)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_steps_with_seconds() {
        let report = InstanceReport {
            source_instance: "db1".into(),
            target_instance: "db1-migrated".into(),
            outcome: InstanceOutcome::Failed,
            steps: vec![StepReport {
                step: Step::Copy,
                outcome: StepOutcome::Failed,
                duration: Duration::from_millis(1500),
                resource: Some("db1-pgsplit".into()),
                detail: None,
            }],
            error: Some("boom".into()),
            retryable: Some(false),
        };
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["steps"][0]["step"], "copy");
        assert_eq!(json["steps"][0]["outcome"], "failed");
        assert_eq!(json["steps"][0]["duration_secs"], 1.5);
        assert_eq!(json["outcome"], "failed");
        assert!(json["steps"][0].get("detail").is_none());
    }
}
