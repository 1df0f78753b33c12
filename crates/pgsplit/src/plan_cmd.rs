//! `pgsplit plan MAPPING`: what a run would do and what would stop it, read-only.

use std::fmt::Write as _;
use std::path::PathBuf;

use pgsplit_engine::mapping::Mapping;
use pgsplit_engine::plan::{self, PlanReport};

use crate::exit_code::ExitCode;
use crate::output::{Printer, bytes, count};

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  pgsplit plan mapping.txt\n  pgsplit plan mapping.txt --json > plan.json\n  pgsplit plan mapping.txt --data-only"
)]
pub struct PlanArgs {
    /// Mapping file: one SOURCE_URL@@TARGET_URL per line.
    pub mapping: PathBuf,
    /// Do not count a non-empty target as a problem (what `run --clean` would replace).
    #[arg(long)]
    pub clean: bool,
    /// Plan for `run --no-owner`: owners are not set on the target.
    #[arg(long)]
    pub no_owner: bool,
    /// Plan for `run --no-acl`: grants are not copied.
    #[arg(long)]
    pub no_acl: bool,
    /// Plan for `run --drop-cross-target-fks`: foreign keys into another target of a
    /// split are left out, not a problem.
    #[arg(long)]
    pub drop_cross_target_fks: bool,
    /// Plan for `run --data-only`: the target's tables must already be there, with the
    /// source's columns, and empty (a non-empty database is expected).
    #[arg(long, conflicts_with = "clean")]
    pub data_only: bool,
    /// Plan for `run --resume`: the stopped run's target is not empty, as expected.
    #[arg(long, conflicts_with = "clean")]
    pub resume: bool,
    /// Where runs keep their journals (`run --work-dir`): a target whose run did not
    /// finish is named, with how to go on.
    #[arg(long, default_value = ".pgsplit")]
    pub work_dir: PathBuf,
}

pub async fn run(
    args: PlanArgs,
    printer: &Printer,
    iam: &crate::iam::IamArgs,
) -> anyhow::Result<ExitCode> {
    let mut mapping = Mapping::read(&args.mapping)?;
    crate::iam::apply(&mut mapping, iam).await?;
    refuse_targets_reached_twice(&mapping).await?;
    let options = plan::PlanOptions {
        allow_non_empty: args.clean || args.resume,
        clean: args.clean,
        drop_cross_target_fks: args.drop_cross_target_fks,
        no_owner: args.no_owner,
        no_acl: args.no_acl,
        data_only: args.data_only,
        // Read per line, of its target.
        target_version: None,
        strict: false,
    };
    let mut report = plan::plan(&mapping, options).await;
    if !args.clean {
        plan::unfinished_runs(&mapping, &args.work_dir, options, args.resume, &mut report).await;
    }
    let code = if report.bad_selection() {
        ExitCode::Usage
    } else if report.problem_count() == 0 {
        ExitCode::Success
    } else {
        ExitCode::Failure
    };
    printer.outcome(&report, code, || render(&report))?;
    // `-q` keeps the errors: each problem on stderr, as run and verify log theirs.
    if printer.quiet {
        for line in &report.lines {
            for problem in &line.problems {
                tracing::error!("line {}: {}", line.line, problem.message);
            }
        }
    }
    Ok(code)
}

/// Two lines writing into one database through two addresses are bad input, found
/// before anything is written ([`pgsplit_engine::session::targets_reached_twice`]), as
/// the mapping check finds two spellings of one address.
pub async fn refuse_targets_reached_twice(mapping: &Mapping) -> anyhow::Result<()> {
    let twice = pgsplit_engine::session::targets_reached_twice(mapping).await;
    if twice.is_empty() {
        return Ok(());
    }
    let path = mapping.path.display();
    let lines: Vec<String> = twice
        .iter()
        .map(|&(line, earlier)| {
            let target = &mapping
                .lines
                .iter()
                .find(|l| l.line == line)
                .expect("a line")
                .target;
            format!(
                "{path}:{line}: target {target} is the target database of line {earlier}, \
                 reached by another address"
            )
        })
        .collect();
    Err(crate::UsageError(lines.join("\n")).into())
}

fn render(report: &PlanReport) -> String {
    let mut out = String::new();
    for line in &report.lines {
        let _ = writeln!(
            out,
            "line {}: {} -> {}",
            line.line, line.source_url, line.target_url
        );
        if let Some(s) = &line.source {
            let extensions: Vec<String> = s
                .extensions
                .iter()
                .map(|e| format!("{} {}", e.name, e.version))
                .collect();
            let _ = writeln!(
                out,
                "  source  PostgreSQL {}, {}, {} tables, extensions: {}",
                s.server_version,
                bytes(s.database_bytes),
                s.tables,
                extensions.join(", ")
            );
            if s.tables > s.lock_slots {
                let _ = writeln!(
                    out,
                    "          more tables than the source's lock table can spare ({}): each is \
                     locked only while it is copied, and one rewritten or emptied meanwhile \
                     fails the run",
                    s.lock_slots.max(0)
                );
            }
            if !s.largest_tables.is_empty() {
                let _ = writeln!(out, "          largest (size with indexes):");
            }
            for t in &s.largest_tables {
                let _ = writeln!(
                    out,
                    "          {:<40} {:>10}  ~{} rows",
                    format!("{}.{}", t.schema, t.name),
                    bytes(t.bytes),
                    count(t.estimated_rows)
                );
            }
        }
        if let Some(t) = &line.target {
            let state = if !t.database_exists {
                "database does not exist (will be created)".to_string()
            } else if t.user_objects == 0 {
                "database empty".to_string()
            } else {
                format!("database holds {} objects", t.user_objects)
            };
            let _ = writeln!(
                out,
                "  target  PostgreSQL {}, {}, superuser: {}, can create: {}",
                t.server_version,
                state,
                yes_no(t.superuser),
                yes_no(t.can_create)
            );
        }
        if let Some(split) = &line.split {
            let _ = writeln!(
                out,
                "  split   {} objects, {} tables, ~{} rows, {} (without indexes)",
                split.objects,
                split.tables.len(),
                count(split.estimated_rows),
                bytes(split.estimated_bytes)
            );
            for t in &split.tables {
                let _ = writeln!(
                    out,
                    "          {:<40} {:>10}  ~{} rows{}",
                    format!("{}.{}", t.schema, t.name),
                    bytes(t.bytes),
                    count(t.estimated_rows),
                    t.filter
                        .as_ref()
                        .map(|f| format!("  where {f}"))
                        .unwrap_or_default()
                );
            }
            // Foreign keys are a problem unless the run is to leave them out.
            let fks_refused = line
                .problems
                .iter()
                .any(|p| p.kind == plan::ProblemKind::CrossTarget);
            let left_out: Vec<&String> = split
                .cross_target
                .iter()
                .filter(|c| !fks_refused || !split.cross_target_fks.contains(c))
                .collect();
            for c in left_out {
                let _ = writeln!(
                    out,
                    "          left out (needs what this target does not get): {c}"
                );
            }
        }
        if line.problems.is_empty() {
            let _ = writeln!(out, "  ok: no problems found");
        }
        for p in &line.problems {
            let _ = writeln!(out, "  PROBLEM: {}", p.message);
        }
        for note in &line.notes {
            let _ = writeln!(out, "  note: {note}");
        }
    }
    render_untaken(&mut out, &report.untaken);
    let problems = report.problem_count();
    let _ = writeln!(
        out,
        "{} line(s), {} problem(s)",
        report.lines.len(),
        problems
    );
    out
}

/// The first `shown` of `names`, and how many more.
fn first_of(names: &[String], shown: usize) -> String {
    let mut text = names[..names.len().min(shown)].join(", ");
    if names.len() > shown {
        let _ = write!(
            text,
            " and {} more (--json lists them all)",
            names.len() - shown
        );
    }
    text
}

/// What no line of a split source takes (tables, shards, objects), at most
/// `UNTAKEN_SHOWN` named per list: for `plan` and `run` alike.
pub fn render_untaken(out: &mut String, untaken: &[pgsplit_engine::plan::Untaken]) {
    // At most this many named per list.
    const UNTAKEN_SHOWN: usize = 20;
    for u in untaken {
        let lines: Vec<String> = u.lines.iter().map(usize::to_string).collect();
        for shard in &u.shards {
            let cuts: Vec<String> = shard
                .remainders
                .iter()
                .map(|r| format!("shard={}:{r}/{}", shard.key, shard.modulus))
                .collect();
            let tables = first_of(&shard.tables, UNTAKEN_SHOWN);
            let _ = writeln!(
                out,
                "not copied: no line of {} (line(s) {}) takes {}: rows of {tables}",
                u.source_url,
                lines.join(", "),
                cuts.join(", "),
            );
        }
        if !u.objects.is_empty() {
            let objects = first_of(&u.objects, UNTAKEN_SHOWN);
            let _ = writeln!(
                out,
                "not copied: no line of {} (line(s) {}) writes these {} object(s), which no \
                 table it takes needs: {objects}",
                u.source_url,
                lines.join(", "),
                u.objects.len()
            );
        }
        if u.tables.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "not copied: no line of {} (line(s) {}) takes these {} table(s) (sizes without indexes)",
            u.source_url,
            lines.join(", "),
            u.tables.len()
        );
        for t in u.tables.iter().take(UNTAKEN_SHOWN) {
            let _ = writeln!(out, "          {:<40} {:>12}", t.name, bytes(t.bytes));
        }
        if u.tables.len() > UNTAKEN_SHOWN {
            let _ = writeln!(
                out,
                "          and {} more (--json lists them all)",
                u.tables.len() - UNTAKEN_SHOWN
            );
        }
    }
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

#[cfg(test)]
mod tests {
    use pgsplit_engine::plan::{PlanReport, Untaken, UntakenShards, UntakenTable};

    /// A split of a source with many sharded tables names at most 20 per untaken shard
    /// and per untaken table list; `--json` keeps them all.
    #[test]
    fn long_untaken_lists_are_cut() {
        let names: Vec<String> = (0..25).map(|i| format!("app.t{i:02}")).collect();
        let report = PlanReport {
            mapping: "mapping.txt".into(),
            lines: Vec::new(),
            untaken: vec![Untaken {
                source_url: "postgresql://src/app".into(),
                lines: vec![1, 2],
                tables: names
                    .iter()
                    .map(|n| UntakenTable {
                        name: n.clone(),
                        bytes: 8192,
                    })
                    .collect(),
                shards: vec![UntakenShards {
                    key: "tenant_id".into(),
                    modulus: 3,
                    remainders: vec![2],
                    tables: names.clone(),
                }],
                objects: names.iter().map(|n| format!("function {n}()")).collect(),
            }],
        };
        let out = super::render(&report);
        let shard_line = out
            .lines()
            .find(|l| l.contains("shard=tenant_id:2/3"))
            .expect("the untaken shard is listed");
        assert!(shard_line.contains("app.t19"), "{shard_line}");
        assert!(!shard_line.contains("app.t20"), "{shard_line}");
        assert!(
            shard_line.ends_with("and 5 more (--json lists them all)"),
            "{shard_line}"
        );
        assert!(out.contains("takes these 25 table(s)"), "{out}");
        let objects = out
            .lines()
            .find(|l| l.contains("writes these 25 object(s)"))
            .expect("the untaken objects are listed");
        assert!(objects.contains("function app.t19()"), "{objects}");
        assert!(!objects.contains("function app.t20()"), "{objects}");
        assert!(
            out.contains("and 5 more (--json lists them all)\n"),
            "{out}"
        );
        assert_eq!(out.matches("app.t24").count(), 0, "{out}");
    }
}
