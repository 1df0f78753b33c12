//! `pgsplit rds migrate`: move RDS PostgreSQL instances to another region through
//! snapshots. Arguments → [`pgsplit_rds::MigrateOptions`] → [`pgsplit_rds::migrate`] →
//! summary table on stdout, JSON report on `--json`.

use std::fmt::Write as _;
use std::time::Duration;

use pgsplit_rds::{
    AwsSettings, InFlight, InstanceOutcome, MigrateOptions, Report, RestoreSettings, Selection,
    Stage, Step, WaitSettings,
};

/// Exit code: every instance migrated (or, with `--dry-run`, could be).
const EXIT_OK: i32 = 0;
/// Exit code: at least one instance failed.
const EXIT_FAILED: i32 = 1;
/// Exit code: bad arguments or unknown instances; nothing was started.
const EXIT_BAD_INPUT: i32 = 2;
/// Exit code: stopped by Ctrl-C or SIGTERM; what AWS was asked to do goes on.
const EXIT_INTERRUPTED: i32 = 130;

#[derive(clap::Args, Debug)]
pub struct RdsArgs {
    #[command(subcommand)]
    pub command: RdsCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum RdsCommand {
    /// Move RDS PostgreSQL instances to another region: snapshot, copy, restore, validate.
    #[command(after_help = "Examples:\n  \
        pgsplit rds migrate --source-region us-east-1 --target-region eu-west-1 \\\n    \
        --db-subnet-group db-private --vpc-security-group-ids sg-0a1,sg-0b2 --dry-run\n  \
        pgsplit rds migrate --target-region eu-west-1 --instance orders --instance billing \\\n    \
        --target-kms-key-id arn:aws:kms:eu-west-1:111122223333:key/… --json report.json\n\n\
        Credentials come from the AWS SDK's default chain (environment, profile, SSO, instance \
        role); AWS_ENDPOINT_URL_RDS is honoured like --endpoint-url.\n\
        Re-running after a failure reuses the snapshots, copies and instances an earlier run made,\n\
        unless they hold older data (a snapshot older than --reuse-within, a rehearsal's instance).\n\
        Exit codes: 0 all instances migrated, 1 an instance failed, 2 bad input (nothing started),\n\
        130 interrupted (what AWS was asked to do goes on; run again to continue).")]
    Migrate(MigrateArgs),
}

#[derive(clap::Args, Debug)]
pub struct MigrateArgs {
    /// Region of the source instances [default: AWS_REGION or the profile's region].
    #[arg(long, value_name = "REGION")]
    pub source_region: Option<String>,
    /// Region to restore the instances in.
    #[arg(long, value_name = "REGION")]
    pub target_region: String,
    /// Migrate only these instances [default: every PostgreSQL instance of the source region].
    #[arg(long = "instance", value_name = "ID", num_args = 1.., action = clap::ArgAction::Append)]
    pub instances: Vec<String>,
    /// Leave these instances out.
    #[arg(long, value_name = "ID", num_args = 1.., action = clap::ArgAction::Append)]
    pub exclude: Vec<String>,
    /// Instances migrated at once.
    #[arg(long, value_name = "N", default_value_t = pgsplit_rds::options::DEFAULT_PARALLEL)]
    pub parallel: usize,
    /// KMS key in the target region for encrypted snapshots (required if any is encrypted).
    #[arg(long, value_name = "KEY")]
    pub target_kms_key_id: Option<String>,
    /// Instance class of the restored instances [default: the source's].
    #[arg(long, value_name = "CLASS")]
    pub instance_class: Option<String>,
    /// DB subnet group in the target region.
    #[arg(long, value_name = "NAME")]
    pub db_subnet_group: Option<String>,
    /// VPC security groups in the target region (comma-separated or repeated).
    #[arg(long, value_name = "SG", num_args = 1.., value_delimiter = ',', action = clap::ArgAction::Append)]
    pub vpc_security_group_ids: Vec<String>,
    /// Restore as multi-AZ deployments (`--multi-az=false`: single-AZ) [default: as the
    /// source; single-AZ with --availability-zone].
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub multi_az: Option<bool>,
    /// Availability zone of the restored instances (single-AZ only).
    #[arg(long, value_name = "AZ")]
    pub availability_zone: Option<String>,
    /// Make the restored instances publicly accessible (`--publicly-accessible=false` to refuse)
    /// [default: as the source].
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub publicly_accessible: Option<bool>,
    /// Appended to each source identifier to name the restored instance.
    #[arg(long, value_name = "SUFFIX", default_value = pgsplit_rds::options::DEFAULT_SUFFIX, allow_hyphen_values = true)]
    pub suffix: String,
    /// Longest wait for one step of one instance, e.g. `90s`, `30m`, `2h30m`.
    #[arg(long, value_name = "DURATION", default_value = "6h", value_parser = parse_duration)]
    pub max_wait: Duration,
    /// Time between two status checks while waiting.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub poll_interval: Duration,
    /// Delete the intermediate snapshots (source and copy) after a successful restore.
    #[arg(long)]
    pub cleanup_snapshots: bool,
    /// Reuse a source snapshot an earlier run took only if it is younger than this (a
    /// re-run after a failure); an older one is refused, not restored from.
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = parse_duration)]
    pub reuse_within: Duration,
    /// Show what would be done; make no change in AWS.
    #[arg(long)]
    pub dry_run: bool,
    /// Write the JSON report to FILE (`--json` alone: JSON on stdout instead of the table).
    // Same id and type as the binary's global `--json`, which clap merges with it.
    #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = "-")]
    pub json: Option<String>,
    /// AWS profile [default: AWS_PROFILE or `default`].
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// RDS endpoint, for VPC endpoints and tests [default: AWS_ENDPOINT_URL_RDS, else AWS's].
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
}

impl MigrateArgs {
    /// The library's options: every check that needs no AWS call happens here or in
    /// [`MigrateOptions::validate`].
    pub fn options(self) -> MigrateOptions {
        MigrateOptions {
            source_region: self.source_region,
            target_region: self.target_region,
            selection: Selection {
                instances: self.instances,
                exclude: self.exclude,
            },
            restore: RestoreSettings {
                instance_class: self.instance_class,
                db_subnet_group: self.db_subnet_group,
                vpc_security_group_ids: self.vpc_security_group_ids,
                multi_az: self.multi_az,
                availability_zone: self.availability_zone,
                publicly_accessible: self.publicly_accessible,
                suffix: self.suffix,
            },
            target_kms_key_id: self.target_kms_key_id,
            wait: WaitSettings {
                max_wait: self.max_wait,
                poll_interval: self.poll_interval,
            },
            parallel: self.parallel,
            cleanup_snapshots: self.cleanup_snapshots,
            reuse_within: self.reuse_within,
            dry_run: self.dry_run,
            aws: AwsSettings {
                profile: self.profile,
                endpoint_url: self.endpoint_url,
                credentials: None,
            },
        }
    }
}

/// Runs `pgsplit rds …`; returns the exit code (0 all ok, 1 an instance failed, 2 bad input).
/// `quiet` (`-q`): no human report on stdout.
pub async fn run(args: RdsArgs, quiet: bool) -> anyhow::Result<i32> {
    match args.command {
        RdsCommand::Migrate(args) => migrate(args, quiet).await,
    }
}

async fn migrate(args: MigrateArgs, quiet: bool) -> anyhow::Result<i32> {
    let json = args.json.clone();
    let options = args.options();
    let in_flight = InFlight::default();
    let stopped = async {
        crate::signal::stop_requested().await;
        // Now, before the migration is dropped: its tasks may run on a moment.
        in_flight.stop();
    };
    let migrated = tokio::select! {
        migrated = pgsplit_rds::migrate_watched(&options, &in_flight) => migrated,
        () = stopped => {
            let stages = in_flight.stages();
            eprintln!("{}", interrupted(&options, &stages));
            if json.is_some() {
                let printer = crate::output::Printer {
                    json: crate::output::JsonOut::from_arg(json.as_deref()),
                    quiet: true,
                };
                printer.result(&StoppedReport::of(&stages), String::new)?;
            }
            return Ok(EXIT_INTERRUPTED);
        }
    };
    let report = match migrated {
        Ok(report) => report,
        Err(e) if e.is_bad_input() => {
            eprintln!("error: {e}");
            return Ok(EXIT_BAD_INPUT);
        }
        Err(e) => return Err(anyhow::Error::new(e).context("RDS migration could not start")),
    };
    let printer = crate::output::Printer {
        json: crate::output::JsonOut::from_arg(json.as_deref()),
        quiet,
    };
    printer.result(&report, || render(&report))?;
    Ok(if report.any_failed() {
        EXIT_FAILED
    } else {
        EXIT_OK
    })
}

/// `--json` of a stopped migration: where each instance stood.
#[derive(serde::Serialize)]
struct StoppedReport {
    interrupted: bool,
    /// Steps AWS goes on with: instance, step, the resource and its region.
    under_way: Vec<serde_json::Value>,
    not_started: Vec<String>,
    finished: Vec<String>,
}

impl StoppedReport {
    fn of(stages: &[(String, Stage)]) -> StoppedReport {
        let mut report = StoppedReport {
            interrupted: true,
            under_way: Vec::new(),
            not_started: Vec::new(),
            finished: Vec::new(),
        };
        for (instance, stage) in stages {
            match stage {
                Stage::Waiting => report.not_started.push(instance.clone()),
                Stage::Ended => report.finished.push(instance.clone()),
                Stage::Running {
                    step,
                    resource,
                    region,
                } => report.under_way.push(serde_json::json!({
                    "instance": instance,
                    "step": step.name(),
                    "resource": resource,
                    "region": region,
                })),
            }
        }
        report
    }
}

/// What a user stopping a migration must know: which steps were under way (AWS goes on
/// with what it was asked), which instances had not started, and what to look for.
fn interrupted(o: &MigrateOptions, stages: &[(String, Stage)]) -> String {
    if stages.is_empty() {
        return "interrupted before any instance was planned: nothing was asked of AWS.".to_owned();
    }
    let mut text =
        String::from("interrupted. Under way when stopped (AWS goes on with what it was asked):");
    let mut under_way = 0;
    for (instance, stage) in stages {
        if let Stage::Running {
            step,
            resource,
            region,
        } = stage
        {
            under_way += 1;
            let what = match (step, resource) {
                (Step::Snapshot, Some(r)) => format!("snapshot {r} in {region}"),
                (Step::Copy, Some(r)) => format!("snapshot copy {r} in {region}"),
                (Step::Restore, Some(r)) => format!("instance {r} being restored in {region}"),
                (Step::Cleanup, _) => {
                    format!("deleting its intermediate snapshots ({region} and the source region)")
                }
                (step, _) => format!("{step} (nothing made yet for this step)"),
            };
            let _ = write!(text, "\n  {instance}: {what}");
        }
    }
    if under_way == 0 {
        text.push_str("\n  nothing");
    }
    let names = |wanted: &Stage| {
        stages
            .iter()
            .filter(|(_, s)| s == wanted)
            .map(|(i, _)| i.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (label, stage) in [("Not started", Stage::Waiting), ("Finished", Stage::Ended)] {
        let list = names(&stage);
        if !list.is_empty() {
            let _ = write!(text, "\n{label}: {list}.");
        }
    }
    let _ = write!(
        text,
        "\nRun the same command again to continue: what exists (ID-pgsplit in the source \
         region, ID-pgsplit-{target} and ID{suffix} in {target}) is reused. Or delete it.",
        target = o.target_region,
        suffix = o.restore.suffix
    );
    text
}

/// The summary: one row per instance, one column per step (outcome and duration), then the
/// errors, and with `--dry-run` what each step would do.
pub fn render(report: &Report) -> String {
    let steps: Vec<Step> = Step::ALL
        .into_iter()
        .filter(|s| report.instances.iter().any(|i| i.step(*s).is_some()))
        .collect();
    let mut header = vec!["INSTANCE".to_owned(), "TARGET".to_owned()];
    header.extend(steps.iter().map(|s| s.name().to_uppercase()));
    header.push("RESULT".to_owned());
    let mut rows = vec![header];
    for i in &report.instances {
        let mut row = vec![i.source_instance.clone(), i.target_instance.clone()];
        row.extend(steps.iter().map(|s| match i.step(*s) {
            Some(r) if report.dry_run => r.outcome.to_string(),
            Some(r) => format!("{} {}", r.outcome, human_duration(r.duration)),
            None => "-".to_owned(),
        }));
        row.push(match i.outcome {
            InstanceOutcome::Succeeded => format!("ok {}", human_duration(i.duration())),
            InstanceOutcome::Failed => "FAILED".to_owned(),
            InstanceOutcome::Planned => "planned".to_owned(),
        });
        rows.push(row);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}RDS migration {} -> {}",
        if report.dry_run { "DRY RUN: " } else { "" },
        report.source_region,
        report.target_region
    );
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
    }
    if report.dry_run {
        for i in &report.instances {
            let _ = writeln!(out, "\n{}:", i.source_instance);
            for s in &i.steps {
                let _ = writeln!(
                    out,
                    "  {:<9} {} {}",
                    s.step.name(),
                    s.resource.as_deref().unwrap_or(""),
                    s.detail
                        .as_deref()
                        .map(|d| format!("({d})"))
                        .unwrap_or_default()
                );
            }
        }
    }
    let failed: Vec<_> = report
        .instances
        .iter()
        .filter(|i| i.outcome == InstanceOutcome::Failed)
        .collect();
    if !failed.is_empty() {
        let _ = writeln!(out);
    }
    for i in &failed {
        let again = if i.retryable == Some(true) {
            " (may succeed if run again)"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "error: {}{again}",
            i.error.as_deref().unwrap_or("unknown error")
        );
    }
    let _ = writeln!(
        out,
        "{} instance(s): {} {}, {} failed, in {}",
        report.instances.len(),
        report.instances.len() - failed.len(),
        if report.dry_run { "ready" } else { "migrated" },
        failed.len(),
        human_duration(report.duration)
    );
    out
}

/// `0.4s`, `12.3s`, `4m05s`, `2h03m`.
fn human_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs < 60 {
        format!("{:.1}s", d.as_secs_f64())
    } else if secs < 3600 {
        format!("{}m{:02}s", secs / 60, secs % 60)
    } else {
        format!("{}h{:02}m", secs / 3600, secs % 3600 / 60)
    }
}

/// Parses `90s`, `30m`, `2h30m`, `7d`, `500ms` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let bad = || format!("invalid duration {s:?}: use e.g. 90s, 30m, 2h30m or 500ms");
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let part = match &rest[..unit_len] {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n * 60),
            "h" => Duration::from_secs(n * 3600),
            "d" => Duration::from_secs(n * 86_400),
            _ => return Err(bad()),
        };
        total += part;
        rest = &rest[unit_len..];
    }
    if total.is_zero() {
        return Err(bad());
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use pgsplit_rds::{InstanceReport, StepOutcome, StepReport};

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        command: Command,
        /// Mirrors the binary's global `--json`, which the subcommand's own shadows.
        #[arg(long, global = true, num_args = 0..=1, default_missing_value = "-")]
        json: Option<String>,
    }

    #[derive(clap::Subcommand)]
    enum Command {
        Rds(RdsArgs),
    }

    fn parse(args: &[&str]) -> Result<MigrateArgs, clap::Error> {
        let cli = Cli::try_parse_from(["pgsplit", "rds", "migrate"].iter().chain(args))?;
        let Command::Rds(RdsArgs {
            command: RdsCommand::Migrate(m),
        }) = cli.command;
        Ok(m)
    }

    #[test]
    fn a_stop_names_what_was_under_way_and_what_had_not_started() {
        let o = parse(&["--target-region", "eu-west-1", "--suffix", "-new"])
            .unwrap()
            .options();
        let running = |step, resource: Option<&str>, region: &str| Stage::Running {
            step,
            resource: resource.map(str::to_owned),
            region: region.to_owned(),
        };
        let stages = [
            ("audit".to_owned(), Stage::Waiting),
            (
                "billing".to_owned(),
                running(Step::Copy, Some("billing-pgsplit-eu-west-1"), "eu-west-1"),
            ),
            (
                "orders".to_owned(),
                running(Step::Restore, Some("orders-new"), "eu-west-1"),
            ),
            ("users".to_owned(), Stage::Ended),
            (
                "web".to_owned(),
                running(Step::Check, Some("web"), "us-east-1"),
            ),
        ];
        assert_eq!(
            interrupted(&o, &stages),
            "interrupted. Under way when stopped (AWS goes on with what it was asked):\n  \
             billing: snapshot copy billing-pgsplit-eu-west-1 in eu-west-1\n  \
             orders: instance orders-new being restored in eu-west-1\n  \
             web: check (nothing made yet for this step)\n\
             Not started: audit.\n\
             Finished: users.\n\
             Run the same command again to continue: what exists (ID-pgsplit in the source region, \
             ID-pgsplit-eu-west-1 and ID-new in eu-west-1) is reused. Or delete it."
        );
        assert_eq!(
            interrupted(&o, &[]),
            "interrupted before any instance was planned: nothing was asked of AWS."
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("2h30m"), Ok(Duration::from_secs(9000)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("600"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
        for bad in ["", "m", "10x", "1.5h", "0s", "h1"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(human_duration(Duration::from_millis(1234)), "1.2s");
        assert_eq!(human_duration(Duration::from_secs(245)), "4m05s");
        assert_eq!(human_duration(Duration::from_secs(7380)), "2h03m");
    }

    #[test]
    fn parses_every_flag_into_options() {
        let m = parse(&[
            "--source-region",
            "us-east-1",
            "--target-region",
            "eu-west-1",
            "--instance",
            "a",
            "b",
            "--exclude",
            "c",
            "--parallel",
            "8",
            "--target-kms-key-id",
            "k",
            "--instance-class",
            "db.t3.large",
            "--db-subnet-group",
            "g",
            "--vpc-security-group-ids",
            "sg-1,sg-2",
            "--vpc-security-group-ids",
            "sg-3",
            "--availability-zone",
            "eu-west-1a",
            "--publicly-accessible",
            "--suffix",
            "-new",
            "--max-wait",
            "30m",
            "--poll-interval",
            "10s",
            "--cleanup-snapshots",
            "--dry-run",
            "--json",
            "out.json",
            "--profile",
            "prod",
            "--endpoint-url",
            "http://localhost:5000",
        ])
        .unwrap();
        assert_eq!(m.json.as_deref(), Some("out.json"));
        let o = m.options();
        o.validate().unwrap();
        assert_eq!(o.source_region.as_deref(), Some("us-east-1"));
        assert_eq!(o.selection.instances, ["a", "b"]);
        assert_eq!(o.selection.exclude, ["c"]);
        assert_eq!(o.parallel, 8);
        assert_eq!(o.restore.vpc_security_group_ids, ["sg-1", "sg-2", "sg-3"]);
        assert_eq!(o.restore.publicly_accessible, Some(true));
        assert_eq!(o.restore.suffix, "-new");
        assert_eq!(o.wait.max_wait, Duration::from_secs(1800));
        assert_eq!(o.wait.poll_interval, Duration::from_secs(10));
        assert!(o.cleanup_snapshots && o.dry_run);
        assert_eq!(o.aws.profile.as_deref(), Some("prod"));
    }

    #[test]
    fn defaults_and_conflicts() {
        let o = parse(&["--target-region", "eu-west-1"]).unwrap().options();
        assert_eq!(o.restore.suffix, "-migrated");
        assert_eq!(o.restore.publicly_accessible, None);
        assert_eq!(o.wait.max_wait, Duration::from_secs(6 * 3600));
        let m = parse(&[
            "--target-region",
            "r",
            "--publicly-accessible=false",
            "--json",
        ])
        .unwrap();
        assert_eq!(m.publicly_accessible, Some(false));
        assert_eq!(m.json.as_deref(), Some("-"));
        // A zone with multi-AZ is refused before anything starts; with single-AZ it is fine.
        let zone = |multi: &str| {
            parse(&[
                "--target-region",
                "eu-west-1",
                multi,
                "--availability-zone",
                "eu-west-1a",
            ])
            .unwrap()
            .options()
            .validate()
        };
        assert!(zone("--multi-az").is_err());
        assert!(zone("--multi-az=false").is_ok());
        assert!(parse(&["--target-region", "r", "--max-wait", "soon"]).is_err());
        assert!(parse(&[]).is_err());
    }

    fn step(step: Step, outcome: StepOutcome, ms: u64) -> StepReport {
        StepReport {
            step,
            outcome,
            duration: Duration::from_millis(ms),
            resource: None,
            detail: None,
        }
    }

    #[test]
    fn table_has_a_row_per_instance_and_a_column_per_step() {
        let report = Report {
            source_region: "us-east-1".into(),
            target_region: "eu-west-1".into(),
            dry_run: false,
            duration: Duration::from_secs(75),
            instances: vec![
                InstanceReport {
                    source_instance: "orders".into(),
                    target_instance: "orders-migrated".into(),
                    outcome: InstanceOutcome::Succeeded,
                    steps: vec![
                        step(Step::Check, StepOutcome::Done, 0),
                        step(Step::Snapshot, StepOutcome::Reused, 1200),
                        step(Step::Copy, StepOutcome::Done, 65_000),
                        step(Step::Restore, StepOutcome::Done, 3000),
                        step(Step::Validate, StepOutcome::Done, 0),
                    ],
                    error: None,
                    retryable: None,
                },
                InstanceReport {
                    source_instance: "billing".into(),
                    target_instance: "billing-migrated".into(),
                    outcome: InstanceOutcome::Failed,
                    steps: vec![step(Step::Check, StepOutcome::Failed, 0)],
                    error: Some("billing: instance is encrypted: pass --target-kms-key-id".into()),
                    retryable: Some(false),
                },
            ],
        };
        let text = render(&report);
        let expected = "\
RDS migration us-east-1 -> eu-west-1
INSTANCE  TARGET            CHECK      SNAPSHOT     COPY       RESTORE  VALIDATE  RESULT
orders    orders-migrated   ok 0.0s    reused 1.2s  ok 1m05s   ok 3.0s  ok 0.0s   ok 1m09s
billing   billing-migrated  FAILED 0.0s  -            -          -        -         FAILED

error: billing: instance is encrypted: pass --target-kms-key-id
2 instance(s): 1 migrated, 1 failed, in 1m15s
";
        // Column widths are computed, so compare cell by cell rather than spacing.
        let cells = |t: &str| -> Vec<Vec<String>> {
            t.lines()
                .map(|l| l.split_whitespace().map(str::to_owned).collect())
                .collect()
        };
        assert_eq!(cells(&text), cells(expected), "\n{text}");
        assert!(
            !text.contains("CLEANUP"),
            "no instance ran the cleanup step"
        );
    }
}
