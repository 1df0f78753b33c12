//! `pgsplit verify MAPPING`: is every target a complete and correct copy of its source?

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use pgsplit_engine::mapping::Mapping;
use pgsplit_engine::progress::Progress;
use pgsplit_engine::run::VerifyLevel;
use pgsplit_engine::verify::report::{LineVerification, SequenceState, TableVerification};
use pgsplit_engine::verify::{self, VerifyOptions, VerifyReport};

use crate::exit_code::ExitCode;
use crate::output::{Printer, count};
use crate::progress_view::ProgressView;

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum LevelArg {
    /// Row counts of source and target.
    Count,
    /// Row counts and SHA-256 digests of every row.
    Checksum,
}

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Compares, per mapping line: every table's rows (count and digest, the source read inside one snapshot), every sequence value, and the schema (every object's definition).\n\nExit codes: 0 everything matches, 3 something differs, 1 a line could not be checked, 2 bad input.\n\nExamples:\n  pgsplit verify mapping.txt\n  pgsplit verify mapping.txt --jobs 8 --split-tables-larger-than 1GB --json report.json\n  pgsplit verify mapping.txt --level count\n  pgsplit verify mapping.txt --data-only"
)]
pub struct VerifyArgs {
    /// Mapping file: one SOURCE_URL@@TARGET_URL per line.
    pub mapping: PathBuf,
    /// Readers per side: up to N source and N target reads at once.
    #[arg(short, long, default_value_t = default_jobs())]
    pub jobs: usize,
    /// Read tables larger than SIZE (e.g. 500MB, 2GB; at least 8MB) as several chunks on
    /// each side.
    #[arg(long, value_name = "SIZE", value_parser = crate::run_cmd::parse_size)]
    pub split_tables_larger_than: Option<i64>,
    /// What to compare per table.
    #[arg(long, visible_alias = "verify", value_enum, default_value = "checksum")]
    pub level: LevelArg,
    /// Do not compare object owners (for copies made with --no-owner).
    #[arg(long)]
    pub no_owner: bool,
    /// Do not compare grants and default privileges (for copies made with --no-acl).
    #[arg(long)]
    pub no_acl: bool,
    /// Compare the data only (for copies made with `run --data-only` into a schema of
    /// your own): rows, sequence values, large objects and extensions' configuration
    /// rows; not the schema nor the database's properties, and tables only the target
    /// has are no difference.
    #[arg(long)]
    pub data_only: bool,
}

fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

pub async fn run(
    args: VerifyArgs,
    printer: &Printer,
    show_progress: bool,
    iam: &crate::iam::IamArgs,
) -> anyhow::Result<ExitCode> {
    let mut mapping = Mapping::read(&args.mapping)?;
    crate::iam::apply(&mut mapping, iam).await?;
    if args.jobs == 0 {
        anyhow::bail!(crate::UsageError("--jobs must be at least 1".into()));
    }
    let options = VerifyOptions {
        jobs: args.jobs,
        split_larger_than: args.split_tables_larger_than,
        level: match args.level {
            LevelArg::Count => VerifyLevel::Count,
            LevelArg::Checksum => VerifyLevel::Checksum,
        },
        no_owner: args.no_owner,
        no_acl: args.no_acl,
        data_only: args.data_only,
        row_filters: HashMap::new(),
    };
    let progress = Arc::new(Progress::default());
    let view = ProgressView::start(Arc::clone(&progress), show_progress);
    let report = verify::verify(&mapping, &options, progress).await;
    view.finish().await;
    let code = if report.bad_input() {
        ExitCode::Usage
    } else if report.failed() {
        ExitCode::Failure
    } else if report.mismatched() {
        ExitCode::Mismatch
    } else {
        ExitCode::Success
    };
    printer.outcome(&report, code, || render(&report))
}

fn render(report: &VerifyReport) -> String {
    let mut out = String::new();
    for line in &report.lines {
        render_line(&mut out, line);
    }
    if !report.shards.is_empty() {
        let _ = writeln!(
            out,
            "shards: the shares add up to the source table (or to the rows its other filters keep)"
        );
    }
    for c in &report.shards {
        let verdict = if c.matches {
            "ok".to_string()
        } else {
            format!(
                "MISMATCH: source {} rows, shards {} rows{}",
                c.source_rows,
                c.shard_rows,
                if c.source_rows == c.shard_rows {
                    " (the same count, other rows: digests differ)"
                } else {
                    ""
                }
            )
        };
        let rows = c
            .filter
            .as_ref()
            .map(|f| format!(" (rows where {f})"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {}.{}{rows} by {} over {} shards: {verdict}",
            c.schema, c.name, c.key, c.modulus
        );
    }
    if report.shards.iter().any(|c| !c.matches) {
        // Rows in no share, or in two; or the source changed between the reads.
        let _ = writeln!(
            out,
            "  (each share and the whole table are read in snapshots of their own: rows \
             written to the source meanwhile show here too)"
        );
    }
    if let Some(e) = &report.shards_error {
        let _ = writeln!(out, "shards: could not check: {e}");
    }
    let lines = &report.lines;
    let tables: usize = lines.iter().map(|l| l.tables.len()).sum();
    let tables_bad: usize = lines
        .iter()
        .map(|l| l.tables.iter().filter(|t| !t.matches).count())
        .sum();
    let sequences: usize = lines.iter().map(|l| l.sequences.len()).sum();
    let sequences_bad: usize = lines
        .iter()
        .map(|l| l.sequences.iter().filter(|s| !s.matches).count())
        .sum();
    let objects: usize = lines.iter().map(|l| l.schema_statements).sum();
    let objects_bad: usize = lines.iter().map(|l| l.schema_differences.len()).sum();
    let rows: u64 = lines
        .iter()
        .flat_map(|l| &l.tables)
        .filter_map(|t| t.source.map(|s| s.rows))
        .sum();
    let status = if report.failed() {
        "FAILED"
    } else if report.mismatched() {
        "MISMATCH"
    } else {
        "ok"
    };
    // "MISMATCH: 2 of 3 line(s)": the lines that failed or differ, not all of them;
    // "FAILED: 1 of 2 line(s) not checked, 1 differs" when both.
    let failed = lines.iter().filter(|l| l.error.is_some()).count();
    let differ = lines
        .iter()
        .filter(|l| l.error.is_none() && l.mismatched())
        .count();
    let bad = failed + differ;
    let line_count = if failed > 0 && differ > 0 {
        format!(
            "{failed} of {} line(s) not checked, {differ} differ{}",
            lines.len(),
            if differ == 1 { "s" } else { "" }
        )
    } else if bad > 0 && bad < lines.len() {
        format!("{bad} of {} line(s)", lines.len())
    } else {
        format!("{} line(s)", lines.len())
    };
    let _ = writeln!(
        out,
        "{status}: {line_count}; tables {tables} ({tables_bad} differ, {} source rows); \
         sequences {sequences} ({sequences_bad} differ); schema objects {objects} \
         ({objects_bad} differ); {:.2}s",
        count(rows as i64),
        report.seconds
    );
    out
}

fn render_line(out: &mut String, line: &LineVerification) {
    let _ = writeln!(
        out,
        "line {}: {} -> {} ({})",
        line.line,
        line.source_url,
        line.target_url,
        match line.level {
            VerifyLevel::Checksum => "checksum",
            _ => "count",
        }
    );
    if !line.tables.is_empty() {
        let _ = writeln!(
            out,
            "  {:<40} {:>12} {:>12} {:>8} {:>8}  result",
            "table", "source rows", "target rows", "digest", "seconds"
        );
    }
    for t in &line.tables {
        render_table(out, t);
    }
    // A line that failed before comparing something has no summary of it.
    let failed = line.error.is_some();
    let bad: Vec<_> = line.sequences.iter().filter(|s| !s.matches).collect();
    if !(failed && line.sequences.is_empty()) {
        let _ = writeln!(
            out,
            "  sequences: {} compared, {} differ",
            line.sequences.len(),
            bad.len()
        );
    }
    let state = |s: Option<SequenceState>| match s {
        None => "missing".to_string(),
        Some(s) if s.is_called => s.last_value.to_string(),
        Some(s) => format!("{} (not called)", s.last_value),
    };
    for s in bad {
        let _ = writeln!(
            out,
            "    sequence {}.{}: source {}, target {}",
            s.schema,
            s.name,
            state(s.source),
            state(s.target)
        );
    }
    if let Some(lo) = &line.large_objects {
        let _ = writeln!(
            out,
            "  large objects: source {}, target {}{}",
            lo.source.rows,
            lo.target.rows,
            if lo.matches {
                ""
            } else if lo.source.rows == lo.target.rows {
                ": contents differ"
            } else {
                ": counts differ"
            }
        );
    }
    for note in &line.notes {
        let _ = writeln!(out, "  note: {note}");
    }
    for c in &line.extension_config {
        let rows = |side: &Option<pgsplit_engine::verify::report::SideRows>| {
            side.map_or("missing".to_string(), |s| s.rows.to_string())
        };
        let _ = writeln!(
            out,
            "  extension {} configuration {}: source {}, target {}{}",
            c.extension,
            c.name,
            rows(&c.source),
            rows(&c.target),
            if c.matches {
                ""
            } else if c.source.map(|s| s.rows) == c.target.map(|s| s.rows) {
                ": contents differ"
            } else {
                ": counts differ"
            }
        );
    }
    if !line.schema_compared {
        let _ = writeln!(out, "  schema: not compared (--data-only)");
    } else if !(failed && line.schema_statements == 0) {
        let _ = writeln!(
            out,
            "  schema: {} objects compared, {} differ",
            line.schema_statements,
            line.schema_differences.len()
        );
    }
    for d in &line.schema_differences {
        let _ = writeln!(out, "    {}: {}", d.subject(), d.problem.describe());
    }
    if let Some(e) = &line.error {
        let _ = writeln!(out, "  FAILED: {e}");
    }
}

fn render_table(out: &mut String, t: &TableVerification) {
    let rows = |side: Option<pgsplit_engine::verify::report::SideRows>| {
        side.map_or("-".to_string(), |s| s.rows.to_string())
    };
    let digest = match (t.source, t.target) {
        (Some(s), Some(d)) if s.digest.is_some() && s.digest == d.digest => "match",
        (Some(s), Some(_)) if s.digest.is_some() => "differs",
        _ => "-",
    };
    let result = match &t.problem {
        None => "ok".to_string(),
        Some(p) => format!("MISMATCH: {p}"),
    };
    let _ = writeln!(
        out,
        "  {:<40} {:>12} {:>12} {:>8} {:>8.2}  {result}",
        t.display_name(),
        rows(t.source),
        rows(t.target),
        digest,
        t.seconds
    );
}
