//! `pgsplit run MAPPING`: copy every mapped database end to end.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use pgsplit_engine::cancel::Cancel;
use pgsplit_engine::mapping::Mapping;
use pgsplit_engine::progress::Progress;
use pgsplit_engine::run::{self, ResumeMode, RunOptions, RunReport, Sections, VerifyLevel};

use crate::exit_code::ExitCode;
use crate::output::{Printer, bytes, count};
use crate::progress_view::ProgressView;

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum VerifyArg {
    /// No verification.
    None,
    /// Row counts of source and target (the target's own COPY counts for tables the run
    /// created; `count(*)` with --data-only).
    Count,
    /// Row counts and SHA-256 digests of every row.
    Checksum,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum ResumeArg {
    /// Copy partly copied tables again, from scratch, from a new snapshot.
    Safe,
    /// Keep every finished chunk; exact only if the source was not written meanwhile.
    Fast,
}

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  pgsplit run mapping.txt\n  pgsplit run mapping.txt --jobs 8 --index-jobs 4 --split-tables-larger-than 2GB\n  pgsplit run mapping.txt --schema-only\n  pgsplit run mapping.txt --data-only --verify count --json report.json"
)]
pub struct RunArgs {
    /// Mapping file: one SOURCE_URL@@TARGET_URL per line.
    pub mapping: PathBuf,
    /// Tables (and chunks of tables) copied at once.
    #[arg(short, long, default_value_t = default_jobs())]
    pub jobs: usize,
    /// Post-data statements (index builds, constraints, checks) run at once.
    #[arg(long, default_value_t = 2)]
    pub index_jobs: usize,
    /// Memory for each index build on the target (`maintenance_work_mem` of the post-data
    /// sessions, raised to SIZE if lower, never lowered): up to --index-jobs × SIZE in all.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "1GB")]
    pub maintenance_work_mem: i64,
    /// Copy tables larger than SIZE (e.g. 500MB, 2GB) as several chunks in parallel.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub split_tables_larger_than: Option<i64>,
    /// What to check after each table is copied.
    #[arg(long, value_enum, default_value = "checksum")]
    pub verify: VerifyArg,
    /// Copy the schema only (no rows).
    #[arg(long, conflicts_with = "data_only")]
    pub schema_only: bool,
    /// Copy rows only, into tables that already exist (and are empty) on the target.
    #[arg(long)]
    pub data_only: bool,
    /// Drop and recreate a non-empty target database first (everything in it is lost).
    /// Not with --data-only, whose tables must already exist.
    #[arg(long, conflicts_with = "data_only")]
    pub clean: bool,
    /// Do not set object owners (objects belong to the target role).
    #[arg(long)]
    pub no_owner: bool,
    /// Do not copy grants and default privileges.
    #[arg(long)]
    pub no_acl: bool,
    /// Fail instead of skipping objects the target role may not create.
    #[arg(long)]
    pub strict: bool,
    /// Folder for the run journal (what is done, so a stopped run can resume).
    #[arg(long, default_value = ".pgsplit")]
    pub work_dir: PathBuf,
    /// Continue a stopped run from its journal: finished tables and chunks are kept.
    /// `safe` (default) copies partly copied tables again from a new snapshot; `fast`
    /// keeps their finished chunks too.
    #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "safe", conflicts_with = "clean")]
    pub resume: Option<ResumeArg>,
    /// In a split, leave out foreign keys that would point into another target (each is
    /// listed in the report) instead of refusing the split.
    #[arg(long)]
    pub drop_cross_target_fks: bool,
}

fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// `500MB`, `2GB`, `1.5G`, `1048576`: bytes, with binary (1024-based) units.
pub fn parse_size(text: &str) -> Result<i64, String> {
    let t = text.trim().to_ascii_lowercase();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size such as 500MB or 2GB"))?;
    let factor: f64 = match unit.trim() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" | "tib" => 1024.0f64.powi(4),
        other => {
            return Err(format!(
                "unknown size unit {other:?} (use kB, MB, GB or TB)"
            ));
        }
    };
    let bytes = value * factor;
    if !(1.0..9.0e18).contains(&bytes) {
        return Err(format!("{text:?} is out of range"));
    }
    Ok(bytes as i64)
}

pub async fn run(
    args: RunArgs,
    printer: &Printer,
    show_progress: bool,
    iam: &crate::iam::IamArgs,
) -> anyhow::Result<ExitCode> {
    let mut mapping = Mapping::read(&args.mapping)?;
    if args.jobs == 0 || args.index_jobs == 0 {
        return Err(crate::UsageError("--jobs and --index-jobs must be at least 1".into()).into());
    }
    crate::iam::apply(&mut mapping, iam).await?;
    crate::plan_cmd::refuse_targets_reached_twice(&mapping).await?;
    check_work_dir(&args.work_dir, args.resume.is_some())?;
    let resume = resume_command(&args, iam);
    let options = RunOptions {
        jobs: args.jobs,
        index_jobs: args.index_jobs,
        maintenance_work_mem: Some(args.maintenance_work_mem),
        split_larger_than: args.split_tables_larger_than,
        verify: match args.verify {
            VerifyArg::None => VerifyLevel::None,
            VerifyArg::Count => VerifyLevel::Count,
            VerifyArg::Checksum => VerifyLevel::Checksum,
        },
        sections: if args.schema_only {
            Sections::SchemaOnly
        } else if args.data_only {
            Sections::DataOnly
        } else {
            Sections::All
        },
        clean: args.clean,
        no_owner: args.no_owner,
        no_acl: args.no_acl,
        strict: args.strict,
        work_dir: args.work_dir,
        resume: args.resume.map(|r| match r {
            ResumeArg::Safe => ResumeMode::Safe,
            ResumeArg::Fast => ResumeMode::Fast,
        }),
        drop_cross_target_fks: args.drop_cross_target_fks,
    };
    let cancel = Cancel::default();
    let signals = tokio::spawn(cancel_on_signal(cancel.clone(), resume.clone()));
    let progress = Arc::new(Progress::default());
    let view = ProgressView::start(Arc::clone(&progress), show_progress);
    let mut report = run::run(&mapping, &options, progress, cancel).await;
    signals.abort();
    // The engine's advice names the command in general; this is the one to run.
    for line in &mut report.lines {
        if let Some(error) = &mut line.error {
            *error = error.replace("pgsplit run MAPPING --resume", &resume);
        }
    }
    view.finish().await;
    let code = if report.interrupted {
        ExitCode::Interrupted
    } else if report.bad_input() {
        ExitCode::Usage
    } else if report.failed() {
        ExitCode::Failure
    } else if report.mismatched() {
        ExitCode::Mismatch
    } else {
        ExitCode::Success
    };
    printer.outcome(&report, code, || render(&report))?;
    if report.interrupted {
        eprintln!(
            "interrupted: finished work is recorded in {}; continue with:\n  {resume}",
            options.work_dir.display(),
        );
    }
    Ok(code)
}

/// The work folder must be a folder we can write in (and exist, to resume from it).
fn check_work_dir(dir: &std::path::Path, resume: bool) -> Result<(), crate::UsageError> {
    let bad = |why: String| crate::UsageError(format!("--work-dir {}: {why}", dir.display()));
    if dir.exists() && !dir.is_dir() {
        return Err(bad("exists and is not a folder".into()));
    }
    if resume && !dir.is_dir() {
        return Err(bad("does not exist: there is no run to resume".into()));
    }
    std::fs::create_dir_all(dir).map_err(|e| bad(e.to_string()))?;
    let probe = dir.join(".pgsplit-write-test");
    std::fs::write(&probe, b"").map_err(|e| bad(format!("not writable: {e}")))?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

/// The command that resumes this run: with the options a resume must repeat (what the
/// journal's scope holds, the work folder, how to log in); the others may change.
fn resume_command(args: &RunArgs, iam: &crate::iam::IamArgs) -> String {
    let mut command = format!("pgsplit run {} --resume", args.mapping.display());
    if matches!(args.resume, Some(ResumeArg::Fast)) {
        command.push_str("=fast");
    }
    if iam.aws_iam_auth {
        command.push_str(" --aws-iam-auth");
    }
    for (flag, value) in [
        (" --aws-region ", &iam.aws_region),
        (" --aws-profile ", &iam.aws_profile),
    ] {
        if let Some(value) = value {
            command.push_str(flag);
            command.push_str(value);
        }
    }
    for (given, flag) in [
        (args.schema_only, " --schema-only"),
        (args.data_only, " --data-only"),
        (args.no_owner, " --no-owner"),
        (args.no_acl, " --no-acl"),
        (args.strict, " --strict"),
        (args.drop_cross_target_fks, " --drop-cross-target-fks"),
    ] {
        if given {
            command.push_str(flag);
        }
    }
    if args.work_dir != std::path::Path::new(".pgsplit") {
        command.push_str(&format!(" --work-dir {}", args.work_dir.display()));
    }
    command
}

/// Ctrl-C or SIGTERM: stop scheduling, cancel what runs on the servers.
/// A second one stops at once (as a crash would, which `--resume` is made for), should
/// winding down wait on a server that does not answer.
async fn cancel_on_signal(cancel: Cancel, resume: String) {
    crate::signal::stop_requested().await;
    crate::progress_view::stderr_line(
        "stopping: cancelling the copies in flight… (again to stop at once)\n".as_bytes(),
    );
    cancel.cancel();
    crate::signal::stop_requested().await;
    crate::progress_view::stderr_line(
        format!("stopped at once: `{resume}` continues\n").as_bytes(),
    );
    std::process::exit(crate::exit_code::ExitCode::Interrupted as i32);
}

fn render(report: &RunReport) -> String {
    let mut out = String::new();
    for line in &report.lines {
        let _ = writeln!(
            out,
            "line {}: {} -> {}",
            line.line, line.source_url, line.target_url
        );
        if !line.tables.is_empty() {
            let _ = writeln!(
                out,
                "  {:<40} {:>10} {:>10} {:>8} {:>8} {:>6}  verified",
                "table", "rows", "streamed", "seconds", "MB/s", "chunks"
            );
        }
        for t in &line.tables {
            let verified = match &t.verification {
                None => "-".to_string(),
                Some(v) if v.matches => "ok".to_string(),
                Some(v) if v.source_rows != v.target_rows => format!(
                    "MISMATCH: source {} rows, target {} rows",
                    v.source_rows, v.target_rows
                ),
                Some(_) => "MISMATCH: same row count, different checksum".to_string(),
            };
            // A stopped run's table with only some chunks on the target: `2/4`.
            let chunks = if t.complete {
                t.chunks.len().to_string()
            } else {
                format!("{}/{}", t.chunks.len(), t.chunks_planned)
            };
            let _ = writeln!(
                out,
                "  {:<40} {:>10} {:>10} {:>8.2} {:>8.1} {:>6}  {verified}",
                format!("{}.{}", t.schema, t.name),
                t.rows,
                bytes(t.bytes as i64),
                t.seconds,
                t.mb_per_second,
                chunks
            );
            if t.chunks.len() > 1 {
                for c in &t.chunks {
                    let _ = writeln!(
                        out,
                        "      chunk {:<30} {:>10} {:>10} {:>8.2}",
                        c.chunk,
                        c.rows,
                        bytes(c.bytes as i64),
                        c.seconds
                    );
                }
            }
        }
        let phases: Vec<String> = line
            .phases
            .iter()
            .map(|p| format!("{} {:.2}s", p.phase, p.seconds))
            .collect();
        if !phases.is_empty() {
            let _ = writeln!(out, "  phases: {}", phases.join(", "));
        }
        if line.post_data.statements > 0 {
            let post = &line.post_data;
            let tasks = if post.finished < post.statements {
                format!("{} of {} tasks done", post.finished, post.statements)
            } else {
                format!("{} tasks", post.statements)
            };
            let _ = writeln!(
                out,
                "  post-data: {tasks} ({} indexes), {:.2}s from the start of the data phase",
                post.indexes, post.seconds
            );
            // A stop's error names none of the statements the target refused before it.
            if line.error.as_deref() == Some("interrupted") {
                for refused in &post.failed {
                    let _ = writeln!(out, "  refused before the stop: {refused}");
                }
            }
        }
        if let Some(lo) = &line.large_objects {
            let verified = match lo.matches {
                None => "-",
                Some(true) => "ok",
                Some(false) => "MISMATCH",
            };
            let _ = writeln!(
                out,
                "  large objects: {} ({}), verified: {verified}",
                lo.count,
                bytes(lo.bytes as i64)
            );
        }
        for c in &line.extension_config {
            let what = if c.sequence {
                "sequence set".to_string()
            } else {
                let verified = match c.matches {
                    None => "-",
                    Some(true) => "ok",
                    Some(false) => "MISMATCH",
                };
                format!(
                    "{} row{} ({}), verified: {verified}",
                    c.rows,
                    if c.rows == 1 { "" } else { "s" },
                    bytes(c.bytes as i64)
                )
            };
            let _ = writeln!(
                out,
                "  extension {} configuration {}: {what}",
                c.extension, c.name
            );
        }
        for c in &line.cross_target {
            let _ = writeln!(out, "  left out (needs what this target does not get): {c}");
        }
        for s in &line.skipped {
            let _ = writeln!(out, "  skipped (needs superuser): {s}");
        }
        for s in &line.not_copied {
            let _ = writeln!(out, "  not copied (pgsplit does not write these): {s}");
        }
        for s in &line.skipped_database {
            let _ = writeln!(out, "  skipped {s}");
        }
        if let Some(note) = &line.note {
            let _ = writeln!(out, "  {note}");
        }
        if line.resumed {
            let kept: usize = line
                .tables
                .iter()
                .flat_map(|t| &t.chunks)
                .filter(|c| c.resumed)
                .count();
            // Not for a resume refused before it kept anything.
            if kept > 0 || line.error.is_none() {
                let _ = writeln!(out, "  resumed: {kept} chunk(s) kept from the stopped run");
            }
        }
        if let Some(e) = &line.error {
            let _ = writeln!(out, "  FAILED: {e}");
        }
    }
    crate::plan_cmd::render_untaken(&mut out, &report.untaken);
    let tables: usize = report.lines.iter().map(|l| l.tables.len()).sum();
    let rows: u64 = report
        .lines
        .iter()
        .flat_map(|l| &l.tables)
        .map(|t| t.rows)
        .sum();
    let size: u64 = report
        .lines
        .iter()
        .flat_map(|l| &l.tables)
        .map(|t| t.bytes)
        .sum();
    let status = if report.interrupted {
        "INTERRUPTED"
    } else if report.failed() {
        "FAILED"
    } else if report.mismatched() {
        "MISMATCH"
    } else {
        "ok"
    };
    // "FAILED: 1 of 3 line(s)": the lines that failed or differ, not all of them.
    let bad = report
        .lines
        .iter()
        .filter(|l| l.error.is_some() || l.mismatched())
        .count();
    let line_count = if bad > 0 && bad < report.lines.len() {
        format!("{bad} of {} line(s)", report.lines.len())
    } else {
        format!("{} line(s)", report.lines.len())
    };
    let _ = writeln!(
        out,
        "{status}: {line_count}, {tables} tables, {} rows, {} in {:.2}s",
        count(rows as i64),
        bytes(size as i64),
        report.seconds
    );
    out
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("500MB"), Ok(500 * 1024 * 1024));
        assert_eq!(parse_size("2gb"), Ok(2 * 1024 * 1024 * 1024));
        assert_eq!(parse_size("1.5G"), Ok(1536 * 1024 * 1024));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("5 parsecs").is_err());
        assert!(parse_size("0").is_err());
    }

    #[test]
    fn the_resume_command_repeats_how_to_log_in_and_what_to_copy() {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            run: super::RunArgs,
            #[command(flatten)]
            iam: crate::iam::IamArgs,
        }
        let cli = Cli::try_parse_from([
            "pgsplit",
            "m.txt",
            "--data-only",
            "--resume=fast",
            "--jobs",
            "8",
            "--aws-iam-auth",
            "--aws-region",
            "eu-west-1",
            "--work-dir",
            "w",
        ])
        .unwrap();
        assert_eq!(
            super::resume_command(&cli.run, &cli.iam),
            "pgsplit run m.txt --resume=fast --aws-iam-auth --aws-region eu-west-1 --data-only \
             --work-dir w"
        );
    }

    #[test]
    fn the_default_index_build_memory_is_the_engines() {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            run: super::RunArgs,
        }
        let cli = Cli::try_parse_from(["pgsplit", "mapping.txt"]).unwrap();
        assert_eq!(
            cli.run.maintenance_work_mem,
            pgsplit_engine::run::DEFAULT_MAINTENANCE_WORK_MEM
        );
    }
}
