//! `pgsplit run`: every mapping line end to end — target preparation, snapshot, pre-data,
//! parallel data copy with post-data work starting per table as soon as it is loaded,
//! verification, report.

mod data;
pub mod error;
pub(crate) mod extension_config;
mod kept_keys;
pub(crate) mod large_objects;
pub mod options;
mod post_data;
pub mod report;
mod schema_step;
mod target;
mod verify_step;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::mpsc;

use pgsplit_copy::{Chunk, Moved, SourceTable, chunk, snapshot, tables};
use pgsplit_pg::Connection;

use crate::cancel::Cancel;
use crate::fault;
use crate::journal::{
    Event, FileJournal, Journal, JournalLock, JournalState, PlannedItem, PreDataBatch, read_events,
};
use crate::mapping::{Mapping, MappingLine};
use crate::progress::Progress;
use crate::session;
pub use error::RunError;
pub use options::{DEFAULT_MAINTENANCE_WORK_MEM, ResumeMode, RunOptions, Sections, VerifyLevel};
use post_data::PostTask;
pub use report::{LineReport, PhaseTime, RunReport};

/// Runs every line of the mapping. Lines with the same source share one snapshot: all
/// targets of a split are cut at the same moment. Stops early when cancelled.
pub async fn run(
    mapping: &Mapping,
    options: &RunOptions,
    progress: Arc<Progress>,
    cancel: Cancel,
) -> RunReport {
    let started = Instant::now();
    let mut report = RunReport::default();
    if let Some(message) = nothing_to_resume(mapping, options) {
        report.lines = mapping
            .lines
            .iter()
            .map(|line| LineReport {
                line: line.line,
                source_url: line.source.to_string(),
                target_url: line.target.to_string(),
                error: Some(message.clone()),
                bad_input: true,
                ..LineReport::default()
            })
            .collect();
        report.seconds = started.elapsed().as_secs_f64();
        return report;
    }
    // Until a line starts writing, a stop ends the run at once: nothing is written yet,
    // and a server that takes connections but never answers would hold it for as long
    // as its connect_timeout.
    let Some(groups) = cancel
        .unless_cancelled(session::by_source_database(mapping))
        .await
    else {
        report.interrupted = true;
        report.seconds = started.elapsed().as_secs_f64();
        return report;
    };
    let groups: Vec<Vec<&MappingLine>> = groups
        .into_iter()
        .map(|group| group.into_iter().map(|i| &mapping.lines[i]).collect())
        .collect();
    for group in groups {
        if cancel.is_cancelled() {
            report.interrupted = true;
            break;
        }
        progress.set_phase("snapshot");
        let Some(mut source) = cancel
            .unless_cancelled(Source::open(&group[0].source))
            .await
        else {
            report.interrupted = true;
            break;
        };
        // Every line is checked before the first target is touched: a typo or a missing
        // role on the last line of a split must not surface after hours of copying the
        // others.
        let checked = match &source {
            Ok(source) => {
                cancel
                    .unless_cancelled(refused_lines(source, &group, options))
                    .await
            }
            Err(_) => Some((Vec::new(), crate::plan::Shares::default())),
        };
        let Some((mut refused, shares)) = checked else {
            report.interrupted = true;
            break;
        };
        // A split whose lines together leave something of the source behind says so (as
        // plan does): the run copies and verifies only what the lines take.
        if refused.is_empty() && shares.len() == group.len() {
            let numbers = group.iter().map(|l| l.line).collect();
            let source_url = group[0].source.to_string();
            if let Some(untaken) = shares.untaken(&source_url, numbers) {
                tracing::info!(
                    "no line of {source_url} takes {} table(s), {} shard cut(s) and {} \
                     object(s) of it: they are not copied (listed in the report)",
                    untaken.tables.len(),
                    untaken.shards.len(),
                    untaken.objects.len()
                );
                report.untaken.push(untaken);
            }
        }
        let refused_lines: Vec<String> = refused.iter().map(|(n, _)| n.to_string()).collect();
        if source.is_ok() && refused.is_empty() && options.clean && options.resume.is_none() {
            mark_clean_pending(&group, options);
        }
        let lines = group.len();
        for (n, line) in group.into_iter().enumerate() {
            let mut line_report = LineReport {
                line: line.line,
                source_url: line.source.to_string(),
                target_url: line.target.to_string(),
                ..LineReport::default()
            };
            let outcome = match &mut source {
                Ok(_) if !refused_lines.is_empty() => Err(
                    match refused.iter().position(|(number, _)| *number == line.line) {
                        Some(at) => refused.swap_remove(at).1,
                        None => RunError::Refused(format!(
                            "not started: line {} of the same source is refused, and none of \
                             its targets is written until every line can be copied",
                            refused_lines.join(", ")
                        )),
                    },
                ),
                Ok(source) => {
                    let last = n + 1 == lines;
                    // The databases the lines before wrote, whatever their addresses.
                    let taken: Vec<(usize, String)> = report
                        .lines
                        .iter()
                        .filter_map(|l| l.target_identity.clone().map(|id| (l.line, id)))
                        .collect();
                    run_line(
                        line,
                        source,
                        last,
                        options,
                        &taken,
                        &progress,
                        &cancel,
                        &mut line_report,
                    )
                    .await
                }
                Err(e) => Err(RunError::Refused(format!("source: {e}"))),
            };
            match outcome {
                Ok(()) => {}
                Err(RunError::Interrupted) => {
                    report.interrupted = true;
                    line_report.error = Some("interrupted".into());
                }
                Err(e) => {
                    tracing::error!("line {}: {e:#}", line.line);
                    line_report.bad_input =
                        matches!(e, RunError::Selection(_) | RunError::Options(_));
                    let mut error = format!("{e:#}");
                    if line_report.resumed && e.is_key_violation() {
                        // Rows read again now, or by an earlier resume, may come from
                        // another moment than the stopped run's.
                        let read_again = line_report
                            .tables
                            .iter()
                            .flat_map(|t| &t.chunks)
                            .any(|c| !c.resumed);
                        error.push_str(if read_again {
                            "\nthe resumed run read the tables (with --resume=fast, the \
                             chunks) the stopped run had not finished from a new snapshot: if \
                             the source was written to since the stop, this target's rows \
                             come from two moments, which resuming again does not mend; start \
                             over with --clean"
                        } else {
                            "\nif this resume or an earlier one read rows again from a new snapshot and the \
                             source was written to since the stop, this target's rows come from \
                             two moments, which resuming again does not mend: start over with \
                             --clean; else the target refuses the source's rows for reasons of \
                             its own"
                        });
                    }
                    line_report.error = Some(error);
                }
            }
            report.lines.push(line_report);
            if report.interrupted {
                break;
            }
        }
        if let Ok(source) = source {
            // Every worker of every target has imported the snapshot by now.
            let _ = source.leader.client.batch_execute("COMMIT").await;
        }
        if report.interrupted {
            break;
        }
    }
    report.seconds = started.elapsed().as_secs_f64();
    report
}

/// The lines that cannot be copied, with the reason: a selection that does not fit the
/// source (a pattern that matches nothing, a foreign key into another target, …), or
/// what would fail the run part-way on the target ([`refused_by_target`]). Checked for
/// every line of a source before any of its targets is written.
async fn refused_lines(
    source: &Source,
    lines: &[&MappingLine],
    options: &RunOptions,
) -> (Vec<(usize, RunError)>, crate::plan::Shares) {
    let mut shares = crate::plan::Shares::default();
    let Some(catalog) = source.catalog.as_ref() else {
        return (Vec::new(), shares);
    };
    let mut refused = Vec::new();
    // What each split line takes ([`crate::plan::Shares`]), against the whole schema.
    let mut whole_objects: Option<std::collections::BTreeSet<String>> = None;
    // Per sharded line: its number, shard and the tables the shard cuts.
    let mut cuts = Vec::new();
    for line in lines {
        let stopped = stopped_run(line, options);
        if let Some(refusal) = stopped_run_refusal(line, options, stopped.as_ref()) {
            refused.push((line.line, RunError::Options(refusal)));
            continue;
        }
        // Whether this run resumes the line from a stopped run that wrote to its target
        // (one that had not started it starts as a new one).
        let continues = options.resume.is_some()
            && stopped
                .as_ref()
                .is_some_and(|s| s.wrote_anything() && !s.clean_pending);
        // Unreadable here, the checks below are for the newest server; the line's run
        // asks again and stops if it still cannot tell.
        let target_version = session::target_version(&line.target).await.ok();
        let selected = if line.selector.is_everything() {
            schema_step::select(
                catalog,
                &source.tables,
                &line.selector,
                options,
                target_version,
            )
        } else {
            let resolved = match crate::split::resolve(&line.selector, catalog, &source.tables) {
                Ok(resolved) => resolved,
                Err(e) => {
                    refused.push((line.line, RunError::Selection(e)));
                    continue;
                }
            };
            let sharded = shares.intern(resolved.sharded.clone());
            if let Some(shard) = &line.selector.shard {
                cuts.push((line.line, shard, sharded.clone()));
            }
            let selected = schema_step::select_resolved(
                catalog,
                &source.tables,
                &resolved,
                options,
                target_version,
            );
            if let Ok((tables, ddl, _)) = &selected {
                let objects = whole_objects.get_or_insert_with(|| {
                    crate::plan::standalone_objects(&catalog.render(
                        &pgsplit_schema::SchemaOptions {
                            no_owner: options.no_owner,
                            no_acl: options.no_acl,
                            target_version: None,
                        },
                    ))
                });
                shares.add(share_of(
                    line,
                    &source.tables,
                    objects,
                    tables,
                    ddl,
                    &resolved,
                    sharded,
                    options.sections == Sections::DataOnly,
                ));
            }
            // Its row conditions, on the source, in the snapshot; and the foreign keys
            // the rows it copies may break (none without rows).
            let client = &source.leader.client;
            if selected.is_ok() {
                let checked =
                    match crate::split::check_conditions(client, &line.selector, &resolved).await {
                        // No rows to break them; or checked before the stopped run wrote
                        // (a resume would read every cut table again, maybe of a source
                        // written since, which then fails the key with its own message).
                        // A line the stopped run had not started is checked as new.
                        Ok(()) if options.sections == Sections::SchemaOnly => Ok(()),
                        Ok(()) if continues => Ok(()),
                        Ok(()) => {
                            crate::split::check_foreign_keys(
                                client,
                                catalog,
                                &source.tables,
                                &line.selector,
                                &resolved,
                            )
                            .await
                        }
                        Err(e) => Err(e),
                    };
                if let Err(e) = checked {
                    refused.push((line.line, RunError::Selection(e)));
                    continue;
                }
            }
            selected
        };
        let checked = match selected {
            Ok((tables, ddl, _)) => {
                refused_by_target(
                    source,
                    line,
                    catalog,
                    &ddl,
                    &tables,
                    options,
                    target_version,
                )
                .await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = checked {
            refused.push((line.line, e));
        }
    }
    let cuts: Vec<_> = cuts.iter().map(|(n, s, t)| (*n, *s, &**t)).collect();
    for (line, why) in crate::split::overlapping_shards(&cuts) {
        if !refused.iter().any(|(n, _)| *n == line) {
            refused.push((line, RunError::Selection(why)));
        }
    }
    (refused, shares)
}

/// What split `line` takes of the source ([`crate::plan::Share`]): its `tables` and its
/// DDL `ddl`, against every table (one the run leaves out, a child of a foreign table,
/// too: its rows stay behind) and the whole schema's `objects`; `sharded`, the tables
/// its shard cuts (`resolved.sharded`, interned).
#[allow(clippy::too_many_arguments)]
fn share_of(
    line: &MappingLine,
    source_tables: &[SourceTable],
    objects: &std::collections::BTreeSet<String>,
    tables: &[SourceTable],
    ddl: &pgsplit_schema::Ddl,
    resolved: &crate::split::Resolved,
    sharded: crate::plan::Tables,
    data_only: bool,
) -> crate::plan::Share {
    let name = |t: &SourceTable| (t.schema.clone(), t.name.clone());
    let taken: HashSet<(String, String)> = tables.iter().map(name).collect();
    let written = crate::plan::standalone_objects(ddl);
    crate::plan::Share {
        shard: line.selector.shard.clone(),
        not_taken: source_tables
            .iter()
            .filter(|t| !taken.contains(&name(t)))
            .map(|t| (name(t), t.bytes))
            .collect(),
        // With --data-only no schema is written: the target has what it has.
        objects_not_taken: if data_only {
            Default::default()
        } else {
            objects.difference(&written).cloned().collect()
        },
        sharded,
        whole: tables
            .iter()
            .filter(|t| !resolved.predicates.contains_key(&name(t)))
            .map(|t| format!("{}.{}", t.schema, t.name))
            .collect(),
    }
}

/// Why `line` is refused for its stopped run, found before any target of the source is
/// written: a `--resume` whose stopped run copied something else ([`resume_refusal`],
/// which [`open_journal`] says again: found first, or the line's selection, checked with
/// the options as given now, would refuse it for their sake); a run neither resuming nor
/// cleaning into a target a stopped run left ([`left_unfinished`]: the whole source is
/// refused, not after copying the lines before).
fn stopped_run_refusal(
    line: &MappingLine,
    options: &RunOptions,
    stopped: Option<&JournalState>,
) -> Option<String> {
    if options.resume.is_none() && options.clean {
        return None;
    }
    let state = stopped?;
    let path = FileJournal::path_for(&options.work_dir, &line.target.to_string());
    let scope = scope_of(line, options);
    if options.resume.is_none() {
        return left_unfinished(line, options, state, &scope, &path);
    }
    if !state.wrote_anything() && !state.clean_pending {
        return None;
    }
    resume_refusal(state.scope.as_deref(), &scope)
}

/// The journal `line`'s last run left in the work folder, if any (unreadable: none).
fn stopped_run(line: &MappingLine, options: &RunOptions) -> Option<JournalState> {
    let path = FileJournal::path_for(&options.work_dir, &line.target.to_string());
    read_events(&path)
        .ok()
        .map(|events| JournalState::fold(&events))
}

/// What would fail the run of `line` part-way (a role or extension the target lacks, an
/// older server, a table the source role may not read), as `plan` tells it: found before
/// any target of the source is touched. The source's reads run in a savepoint: an error
/// there must not end the snapshot's transaction.
async fn refused_by_target(
    source: &Source,
    line: &MappingLine,
    catalog: &pgsplit_schema::Catalog,
    ddl: &pgsplit_schema::Ddl,
    tables: &[SourceTable],
    options: &RunOptions,
    target_version: Option<i32>,
) -> Result<(), RunError> {
    let client = &source.leader.client;
    let failed = |e| RunError::db(&source.leader.server, "read what the target needs", e);
    let journaled = FileJournal::path_for(&options.work_dir, &line.target.to_string()).exists();
    client
        .batch_execute("SAVEPOINT pgsplit_target_checks")
        .await
        .map_err(failed)?;
    let problems = crate::plan::run_problems(
        line,
        client,
        catalog,
        ddl,
        tables,
        options.sections != Sections::SchemaOnly,
        options.sections != Sections::DataOnly,
        &source.props.level,
        crate::plan::PlanOptions {
            allow_non_empty: true,
            // --clean drops only a target whose line has no journal to resume.
            clean: options.clean && !(options.resume.is_some() && journaled),
            drop_cross_target_fks: options.drop_cross_target_fks,
            no_owner: options.no_owner,
            no_acl: options.no_acl,
            data_only: options.sections == Sections::DataOnly,
            target_version,
            strict: options.strict,
        },
    )
    .await;
    let end = if problems.is_ok() {
        "RELEASE SAVEPOINT pgsplit_target_checks"
    } else {
        "ROLLBACK TO SAVEPOINT pgsplit_target_checks; RELEASE SAVEPOINT pgsplit_target_checks"
    };
    client.batch_execute(end).await.map_err(failed)?;
    let problems = problems.map_err(failed)?;
    if problems.is_empty() {
        return Ok(());
    }
    let problems: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
    Err(RunError::Refused(format!(
        "the target cannot take this copy, nothing was written to it: {}",
        problems.join("; ")
    )))
}

/// One source read once, inside the snapshot that all its targets are copied from.
struct Source {
    /// Holds the exported snapshot (its transaction stays open) and the table locks.
    leader: Connection,
    /// The leader holds `ACCESS SHARE` on every table; else each load locks its table
    /// and checks that it is unchanged since the snapshot ([`data::DataPhase::guard_storage`]).
    locked: bool,
    snapshot: String,
    tables: Vec<SourceTable>,
    /// Dropped once the last line of this source has rendered its DDL: for thousands of
    /// tables, it is the largest thing a run holds.
    catalog: Option<pgsplit_schema::Catalog>,
    version: i32,
    props: target::DatabaseProps,
    /// [`source_identity`]: a resume must read the database the stopped run read.
    identity: Option<String>,
    /// [`Event::Moment`]: the snapshot's `xmax` (`None` if the server would not say).
    moment: Option<i64>,
    /// For the target's loading sessions and post-data statements.
    output_forms: OutputForms,
    seconds: f64,
}

impl Source {
    async fn open(settings: &pgsplit_pg::ConnSettings) -> Result<Source, RunError> {
        let started = Instant::now();
        let leader = session::open(settings).await?;
        leader
            .client
            .batch_execute(pgsplit_copy::NO_TIMEOUTS)
            .await
            .map_err(|e| RunError::db(&leader.server, "set up the session", e))?;
        let props = target::DatabaseProps::read(&leader).await?;
        let identity = source_identity(&leader).await;
        let output_forms = OutputForms::read(&leader).await?;
        let snapshot = snapshot::export(&leader.client)
            .await
            .map_err(|e| RunError::db(&leader.server, "export a snapshot", e))?;
        // In the snapshot's transaction: its moment.
        let moment = leader
            .client
            .query_one("SELECT txid_snapshot_xmax(txid_current_snapshot())", &[])
            .await
            .ok()
            .map(|row| row.get::<_, i64>(0));
        let tables = tables::read_tables(&leader.client)
            .await
            .map_err(|e| RunError::db(&leader.server, "read the tables to copy", e))?;
        let catalog = schema_step::read_catalog(&leader.client).await?;
        fault::point("source_read");
        let free = session::free_lock_slots(&leader.client)
            .await
            .map_err(|e| RunError::db(&leader.server, "read the size of the lock table", e))?;
        let locked = tables.len() as i64 <= free;
        if locked {
            lock_tables(&leader, &tables).await?;
        } else {
            tracing::warn!(
                "{}: {} tables, more than the source's lock table can spare ({free}): \
                 tables are locked one at a time while copied, not all for the whole run; \
                 a table rewritten or emptied meanwhile fails the run",
                leader.server,
                tables.len()
            );
        }
        Ok(Source {
            leader,
            locked,
            snapshot,
            tables,
            version: catalog.server_version_num(),
            catalog: Some(catalog),
            props,
            identity,
            moment,
            output_forms,
            seconds: started.elapsed().as_secs_f64(),
        })
    }
}

/// The source database's `extra_float_digits` and `bytea_output` as its applications'
/// sessions get them: the target computes stored generated columns (loading), expression
/// indexes and materialized views (post-data) with them, as (most likely) the source's
/// sessions did. `float8::text` and `bytea::text` are immutable, so such an expression
/// may use them, yet their text depends on these two (pgsplit's sessions set 3 and hex
/// for their own reads; parsing a value is the same under any). The database's own
/// setting, else the server's (not one of pgsplit's role, which the applications' roles
/// need not share).
#[derive(Clone, Debug, Default)]
struct OutputForms(Vec<(String, String)>);

impl OutputForms {
    async fn read(conn: &Connection) -> Result<OutputForms, RunError> {
        let rows = conn
            .client
            .query(
                "SELECT p.name, COALESCE(d.value, CASE WHEN p.source IN ('default', \
                     'configuration file', 'command line', 'environment variable') \
                     THEN p.reset_val ELSE p.boot_val END) \
                 FROM pg_catalog.pg_settings p \
                 LEFT JOIN (SELECT pg_catalog.split_part(c, '=', 1) AS name, \
                                   pg_catalog.substr(c, pg_catalog.strpos(c, '=') + 1) AS value \
                              FROM pg_catalog.pg_db_role_setting s, \
                                   pg_catalog.unnest(s.setconfig) c \
                             WHERE s.setrole = 0 AND s.setdatabase = (SELECT oid FROM \
                                   pg_catalog.pg_database \
                                   WHERE datname = pg_catalog.current_database())) d \
                        ON d.name = p.name \
                 WHERE p.name IN ('extra_float_digits', 'bytea_output')",
                &[],
            )
            .await
            .map_err(|e| RunError::db(&conn.server, "read the output settings", e))?;
        Ok(OutputForms(
            rows.iter().map(|r| (r.get(0), r.get(1))).collect(),
        ))
    }

    /// Whether they print otherwise than pgsplit's own sessions do (3, hex): from
    /// PostgreSQL 12 every positive `extra_float_digits` prints the same shortest exact
    /// text.
    fn differ(&self) -> bool {
        self.0.iter().any(|(name, value)| match name.as_str() {
            "extra_float_digits" => value.parse::<i32>().map_or(true, |digits| digits <= 0),
            _ => value != "hex",
        })
    }

    /// `SET` statements (`SET LOCAL` ones: for the statement they come with, which a
    /// message of several runs as one transaction).
    fn statements(&self, local: bool) -> String {
        self.0
            .iter()
            .map(|(name, value)| {
                format!(
                    "SET {}{name} = {}",
                    if local { "LOCAL " } else { "" },
                    pgsplit_pg::quote::literal(value)
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Which database this is, across connections and addresses: its server's system
/// identifier, its OID and name. `None` where the role may not read the identifier.
async fn source_identity(conn: &Connection) -> Option<String> {
    conn.client
        .query_one(
            "SELECT (SELECT system_identifier::text FROM pg_catalog.pg_control_system()) \
                    || '/' || d.oid || '/' || d.datname \
             FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database()",
            &[],
        )
        .await
        .ok()
        .and_then(|row| row.get(0))
}

struct PhaseClock<'a> {
    report: &'a mut Vec<PhaseTime>,
    started: Instant,
}

impl PhaseClock<'_> {
    fn lap(&mut self, phase: &'static str) {
        self.report.push(PhaseTime {
            phase,
            seconds: self.started.elapsed().as_secs_f64(),
        });
        self.started = Instant::now();
    }
}

/// `--resume` when no line of the mapping has a journal in the work folder: a wrong
/// `--work-dir`, or a mapping that never ran. (A line without one among lines with one
/// had not started when the run stopped: it starts now.)
fn nothing_to_resume(mapping: &Mapping, options: &RunOptions) -> Option<String> {
    let journal =
        |line: &MappingLine| FileJournal::path_for(&options.work_dir, &line.target.to_string());
    (options.resume.is_some() && !mapping.lines.iter().any(|l| journal(l).exists())).then(|| {
        format!(
            "nothing to resume: no run journal for any target of the mapping in {} \
                     (a journal is found by its target's user, host, port and database as \
                     the mapping writes them: `localhost` is not `127.0.0.1`)",
            options.work_dir.display()
        )
    })
}

/// A line's journal: open (the stopped run's, reopened; or, with `--clean`, already
/// replaced), or a new one, written only once the target is found fit for a fresh run
/// ([`LineJournal::start`]): a run refused there must not replace the journal a later
/// `--resume` needs.
enum LineJournal {
    Open(Arc<dyn Journal>),
    New {
        path: std::path::PathBuf,
        lock: JournalLock,
        scope: String,
    },
}

impl LineJournal {
    fn start(self) -> Result<Arc<dyn Journal>, RunError> {
        match self {
            LineJournal::Open(journal) => Ok(journal),
            LineJournal::New { path, lock, scope } => {
                let journal = FileJournal::create(&path, lock)?;
                journal.record(&Event::Scope { scope })?;
                Ok(Arc::new(journal))
            }
        }
    }
}

/// A journal scope as JSON, its selector lists sorted and without repeats: journals
/// written before scopes were normalized ([`crate::split::Selector::normalized`]) kept them as typed.
fn parse_scope(text: &str) -> serde_json::Value {
    let mut scope = serde_json::from_str::<serde_json::Value>(text).unwrap_or_default();
    if let Some(selector) = scope.get_mut("selector") {
        for key in ["schemas", "tables", "exclude"] {
            if let Some(serde_json::Value::Array(list)) = selector.get_mut(key) {
                list.sort_by_key(|item| item.to_string());
                list.dedup();
            }
        }
    }
    scope
}

/// [`journal_scope`] of `line` with the run's `options`.
fn scope_of(line: &MappingLine, options: &RunOptions) -> String {
    journal_scope(
        line,
        options.sections,
        options.no_owner,
        options.no_acl,
        options.drop_cross_target_fks,
    )
}

/// What a line's journal records of what its run copies: a resume must copy the same.
pub(crate) fn journal_scope(
    line: &MappingLine,
    sections: Sections,
    no_owner: bool,
    no_acl: bool,
    drop_cross_target_fks: bool,
) -> String {
    serde_json::json!({
        "selector": line.selector.normalized(),
        "sections": sections,
        "no_owner": no_owner,
        "no_acl": no_acl,
        "drop_cross_target_fks": drop_cross_target_fks,
    })
    .to_string()
}

/// How to start over from a stopped run, by what it copied (its journal's `scope`, else
/// `sections`): a data-only target keeps its schema, which `--clean` would drop.
pub(crate) fn start_over_hint(scope: Option<&str>, sections: Sections) -> &'static str {
    if copied_data_only(scope, sections) {
        "or, to start over, empty its tables and delete the journal"
    } else {
        "or start over with --clean"
    }
}

/// [`start_over_hint`] as an instruction of its own.
fn start_over(scope: Option<&str>, sections: Sections) -> &'static str {
    if copied_data_only(scope, sections) {
        "to start over, empty its tables and delete the journal"
    } else {
        "start over with --clean"
    }
}

/// Whether the run whose journal has `scope` (else this one, `sections`) copied rows only.
fn copied_data_only(scope: Option<&str>, sections: Sections) -> bool {
    match scope.map(parse_scope) {
        Some(scope) if scope.get("sections").is_some() => {
            scope["sections"] == serde_json::json!(Sections::DataOnly)
        }
        _ => sections == Sections::DataOnly,
    }
}

/// Why a resume with scope `now` of a stopped run whose journal has `before` is refused
/// (it would copy something else), if it is.
pub(crate) fn resume_refusal(before: Option<&str>, now: &str) -> Option<String> {
    let before = before.filter(|before| !same_scope(before, now))?;
    Some(format!(
        "cannot resume: what this line copies changed since the stopped run ({}); resume \
         with the same, or start over with --clean",
        scope_changes(before, now)
    ))
}

/// Whether a stopped run's journal scope copies what `now` does ([`open_journal`]).
pub(crate) fn same_scope(before: &str, now: &str) -> bool {
    before == now || parse_scope(before) == parse_scope(now)
}

/// What differs between two journal scopes ([`open_journal`]), for people: the
/// selectors, then the options, each as the stopped run had it and as it is now.
fn scope_changes(before: &str, now: &str) -> String {
    let (before, now) = (parse_scope(before), parse_scope(now));
    let named = [
        ("selector", "its selectors"),
        ("sections", "--schema-only/--data-only"),
        ("no_owner", "--no-owner"),
        ("no_acl", "--no-acl"),
        ("drop_cross_target_fks", "--drop-cross-target-fks"),
    ];
    let changed: Vec<String> = named
        .iter()
        .filter(|(key, _)| before.get(key) != now.get(key))
        .map(|(key, what)| match (before.get(key), now.get(key)) {
            (Some(serde_json::Value::Object(b)), Some(serde_json::Value::Object(n)))
                if *key == "selector" =>
            {
                // Per selector word, as the mapping line writes it.
                let words = [
                    ("schemas", "schemas="),
                    ("tables", "tables="),
                    ("exclude", "exclude="),
                    ("filters", "where:"),
                    ("follows", "follow:"),
                    ("shard", "shard="),
                    ("reference", "reference="),
                ];
                let differ: Vec<String> = words
                    .iter()
                    .filter(|(field, _)| b.get(*field) != n.get(*field))
                    .map(|(field, word)| {
                        format!(
                            "{word} was {}, now {}",
                            selector_value(b.get(*field)),
                            selector_value(n.get(*field))
                        )
                    })
                    .collect();
                format!("{what}: {}", differ.join(", "))
            }
            (b, n) => {
                let show =
                    |v: Option<&serde_json::Value>| v.map(|v| v.to_string()).unwrap_or_default();
                format!("{what}: was {}, now {}", show(b), show(n))
            }
        })
        .collect();
    if changed.is_empty() {
        "its selectors or options".into()
    } else {
        changed.join("; ")
    }
}

/// A selector word's value from a journal scope, as a mapping line would write it where
/// that is short (`a.t,b.u`, `tenant_id:1/4`, none), else as JSON.
fn selector_value(value: Option<&serde_json::Value>) -> String {
    use serde_json::Value;
    match value {
        None | Some(Value::Null) => "none".into(),
        Some(Value::Array(items)) if items.is_empty() => "none".into(),
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(","),
        Some(Value::Object(map)) if map.is_empty() => "none".into(),
        Some(Value::Object(shard))
            if ["key", "modulus", "remainder"]
                .iter()
                .all(|k| shard.contains_key(*k)) =>
        {
            let part = |k: &str| match &shard[k] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            format!("{}:{}/{}", part("key"), part("remainder"), part("modulus"))
        }
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// Opens the journal of this line's target: the old one for `--resume`, else a new one.
/// `None` state for a fresh run, which a `--resume` is for a line whose stopped run wrote
/// nothing (it had not started it, or stopped before its first statement): such a line
/// starts afresh, into an empty target only ([`nothing_to_resume`] is checked before).
/// The line's journal, with the state of the stopped run it continues (`--resume`), and
/// whether the line starts over dropping what its target holds: with `--clean`, or on a
/// resume of a `--clean` run that had not reached it yet ([`Event::CleanPending`]).
fn open_journal(
    line: &MappingLine,
    options: &RunOptions,
) -> Result<(LineJournal, Option<JournalState>, bool), RunError> {
    let path = FileJournal::path_for(&options.work_dir, &line.target.to_string());
    let scope = scope_of(line, options);
    // Before the journal is read: another run of this target must not change it meanwhile.
    let lock = JournalLock::take(&path)?;
    let state = if path.exists() {
        Some(JournalState::fold(&read_events(&path)?))
    } else {
        None
    };
    let mut clean = options.clean;
    if options.resume.is_some() {
        if let Some(pending) = state
            .as_ref()
            .filter(|s| s.clean_pending && !s.wrote_anything())
        {
            if let Some(refusal) = resume_refusal(pending.scope.as_deref(), &scope) {
                return Err(RunError::Options(refusal));
            }
            clean = true;
        }
        if let Some(state) = state.filter(JournalState::wrote_anything) {
            if let Some(refusal) = resume_refusal(state.scope.as_deref(), &scope) {
                return Err(RunError::Options(refusal));
            }
            let journal = FileJournal::open(&path, lock)?;
            return Ok((LineJournal::Open(Arc::new(journal)), Some(state), false));
        }
    } else if !options.clean
        && let Some(refusal) = state
            .as_ref()
            .and_then(|state| left_unfinished(line, options, state, &scope, &path))
    {
        return Err(RunError::Options(refusal));
    }
    let journal = LineJournal::New { path, lock, scope };
    if clean {
        // Starting over: the stopped run's journal goes before its target does (were the
        // target dropped first and made again in vain, a resume would trust the old one).
        return Ok((LineJournal::Open(journal.start()?), None, true));
    }
    Ok((journal, None, false))
}

/// Why a run without `--resume` or `--clean` may not start `line`, whose journal (`state`,
/// at `path`) tells of a run that did not finish there. `scope`: this run's.
fn left_unfinished(
    line: &MappingLine,
    options: &RunOptions,
    state: &JournalState,
    scope: &str,
    path: &std::path::Path,
) -> Option<String> {
    if !state.unfinished() {
        return None;
    }
    let start_over = start_over_hint(state.scope.as_deref(), options.sections);
    // A run of something else into the same target (another share of a split, say) is
    // not this run's continuation.
    let other = if state
        .scope
        .as_deref()
        .is_some_and(|b| !same_scope(b, scope))
    {
        "; a run that copies something else into this target beside the stopped one needs \
         its own --work-dir"
    } else {
        ""
    };
    Some(format!(
        "a previous run into {} did not finish (journal {}): continue it with --resume, \
         {start_over}{other}",
        line.target,
        path.display()
    ))
}

/// At the start of a `--clean` run's source: each of its `lines` not yet copied gets a
/// journal saying so ([`Event::CleanPending`]) in place of the run before's, so that a
/// resume of this run, stopped before it reached a line, starts that line over rather
/// than keep what the older run copied (a split's targets from two snapshots).
fn mark_clean_pending(lines: &[&MappingLine], options: &RunOptions) {
    for line in lines {
        let path = FileJournal::path_for(&options.work_dir, &line.target.to_string());
        let scope = scope_of(line, options);
        let marked = JournalLock::take(&path)
            .map_err(RunError::from)
            .and_then(|lock| LineJournal::New { path, lock, scope }.start())
            .and_then(|journal| Ok(journal.record(&Event::CleanPending)?));
        if let Err(e) = marked {
            tracing::warn!(
                "line {}: cannot mark its journal as to be cleaned ({e}); a resume of this run \
                 stopped before the line may keep what an earlier run copied",
                line.line
            );
        }
    }
}

/// Whether a target transaction recorded in the journal committed.
async fn committed(target: &Connection, xid: &str) -> Result<bool, RunError> {
    let xid: i64 = xid
        .parse()
        .map_err(|_| RunError::Internal(format!("bad transaction id {xid:?} in the journal")))?;
    let status: Option<String> = target
        .client
        .query_one("SELECT txid_status($1)", &[&xid])
        .await
        .map_err(|e| RunError::db(&target.server, "check a journaled transaction", e))?
        .get(0);
    match status.as_deref() {
        Some("committed") => Ok(true),
        Some("aborted") => Ok(false),
        // A session of the stopped run still at work (one `end_orphans` does not know:
        // another application_name): loading again could add the rows twice.
        Some(other) => Err(RunError::Refused(format!(
            "{}: the stopped run's load in transaction {xid} is still {other}: a session \
             of that run is still working; let it end (or end it), then resume again",
            target.server
        ))),
        // Older than the server keeps transaction states for.
        None => Err(RunError::Refused(format!(
            "{}: the server no longer knows whether the stopped run's load in transaction \
             {xid} committed (too old); start over with --clean",
            target.server
        ))),
    }
}

/// How far the stopped run's pre-data got: after the latest journaled batch that
/// committed (every batch journaled after it did not, and the run that wrote it had
/// committed all before it). `None`: all of it (a journal of one all-or-nothing batch).
async fn pre_data_progress(
    target: &Connection,
    batches: &[PreDataBatch],
) -> Result<Option<schema_step::PreDataStart>, RunError> {
    for batch in batches.iter().rev() {
        if committed(target, &batch.xid).await? {
            return Ok(batch.next.map(|next| schema_step::PreDataStart {
                next,
                last: batch.last.clone(),
            }));
        }
    }
    Ok(Some(schema_step::PreDataStart::default()))
}

/// On a resume, the source's tables against those the stopped run created on the target:
/// a table whose columns changed on either side since (a column dropped or added, or of
/// another type: its binary values would be read as the old type's, `integer` bits as
/// `real`, local times as UTC) would be copied into the old ones, and one that appeared
/// after pre-data (done) would have no table at all: refused, to start over.
/// (`--data-only` targets are the user's.)
async fn changed_since_the_stop(
    target: &Connection,
    source_tables: &[SourceTable],
    pre_data_done: bool,
) -> Result<(), RunError> {
    let on_target = target::table_columns(target).await?;
    let mut changed = Vec::new();
    for t in source_tables {
        match on_target.get(&(t.schema.clone(), t.name.clone())) {
            None if pre_data_done => {
                changed.push(format!("{}: not on the target", t.display_name()))
            }
            None => {}
            Some(columns) => {
                let mut now: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
                let mut then: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
                now.sort_unstable();
                then.sort_unstable();
                if now != then {
                    changed.push(format!(
                        "{}: columns ({}) on the source, ({}) on the target",
                        t.display_name(),
                        now.join(", "),
                        then.join(", ")
                    ));
                    continue;
                }
                let retyped: Vec<String> = t
                    .columns
                    .iter()
                    .filter_map(|c| {
                        let made = columns.iter().find(|m| m.name == c.name)?;
                        if comparable(&c.type_name) != comparable(&made.type_name) {
                            return Some(format!(
                                "{} {} on the source, {} on the target",
                                c.name, c.type_name, made.type_name
                            ));
                        }
                        // A domain of one name over another type (made again, or another
                        // schema's).
                        (!c.base_type.is_empty()
                            && comparable(&c.base_type) != comparable(&made.base_type))
                        .then(|| {
                            format!(
                                "{} {} (over {}) on the source, {} (over {}) on the target",
                                c.name, c.type_name, c.base_type, made.type_name, made.base_type
                            )
                        })
                    })
                    .collect();
                if !retyped.is_empty() {
                    changed.push(format!(
                        "{}: column {}",
                        t.display_name(),
                        retyped.join(", ")
                    ));
                }
            }
        }
    }
    if changed.is_empty() {
        return Ok(());
    }
    Err(RunError::Refused(format!(
        "cannot resume: the source's tables and those the stopped run created on the \
         target no longer match ({}): one side changed since; start over with --clean",
        changed.join("; ")
    )))
}

fn another_source(before: &str, now: &str) -> String {
    format!(
        "cannot resume: the line's source is another database than the stopped run read \
         (server, OID, name: was {before}, now {now}); resume with the same source, or start \
         over with --clean"
    )
}

/// What `run --resume` of `line` (its journal `state`) would refuse, for `plan --resume`:
/// another source database than the stopped run read, or a table whose columns changed
/// since on either side ([`changed_since_the_stop`], the line's own tables, as the run
/// selects them). `None` also when a side cannot be read: the plan's facts say why.
pub(crate) async fn resume_refusal_of_tables(
    line: &MappingLine,
    state: &crate::journal::JournalState,
    options: &RunOptions,
) -> Option<String> {
    let source = session::open(&line.source).await.ok()?;
    if let (Some(before), Some(now)) = (&state.source, source_identity(&source).await)
        && *before != now
    {
        return Some(another_source(before, &now));
    }
    if options.sections == Sections::DataOnly {
        return None;
    }
    let tables = tables::read_tables(&source.client).await.ok()?;
    let catalog = schema_step::read_catalog(&source.client).await.ok()?;
    let target_version = session::target_version(&line.target).await.ok();
    let (tables, _, _) =
        schema_step::select(&catalog, &tables, &line.selector, options, target_version).ok()?;
    let target = session::open(&line.target).await.ok()?;
    match changed_since_the_stop(&target, &tables, state.pre_data_done).await {
        Err(RunError::Refused(refusal)) => Some(refusal),
        _ => None,
    }
}

/// A type's name as [`unqualified`], without quotes around a plain lower-case name: a
/// newer server quotes its new keywords (`"system_user"` on 16, `system_user` on 15).
fn comparable(type_name: &str) -> std::borrow::Cow<'_, str> {
    let name = unqualified(type_name);
    if let Some(quoted) = name.strip_prefix('"')
        && let Some(end) = quoted.find('"')
        && !quoted[end + 1..].starts_with('"')
        && quoted[..end]
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$')
        && quoted[..end].starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
    {
        return format!("{}{}", &quoted[..end], &quoted[end + 1..]).into();
    }
    name.into()
}

/// A type as `format_type` names it, without its schema: the name is qualified or not by
/// the session's search_path, which the two sides need not share.
fn unqualified(type_name: &str) -> &str {
    let name_end = |text: &str| -> Option<usize> {
        if let Some(quoted) = text.strip_prefix('"') {
            // A quoted name ends at a quote not doubled.
            let mut at = 0;
            let bytes = quoted.as_bytes();
            while at < bytes.len() {
                if bytes[at] == b'"' {
                    if bytes.get(at + 1) == Some(&b'"') {
                        at += 2;
                        continue;
                    }
                    return Some(at + 2);
                }
                at += 1;
            }
            None
        } else {
            text.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$'))
        }
    };
    match name_end(type_name) {
        Some(end) if type_name[end..].starts_with('.') => &type_name[end + 1..],
        _ => type_name,
    }
}

#[allow(clippy::too_many_arguments)]
async fn run_line(
    line: &MappingLine,
    source: &mut Source,
    last_of_source: bool,
    options: &RunOptions,
    taken: &[(usize, String)],
    progress: &Arc<Progress>,
    cancel: &Cancel,
    report: &mut LineReport,
) -> Result<(), RunError> {
    let (journal, resumed, clean) = open_journal(line, options)?;
    if let Some(state) = resumed.as_ref().filter(|s| s.finished) {
        // The journal vouches for a database that is still there (a script takes exit 0
        // for "migrated").
        let gone = |now: &str, again: &str| {
            RunError::Refused(format!(
                "the run journal says this line finished, but its target database {} {now}: \
                 nothing to resume; {again}",
                line.target.dbname
            ))
        };
        match session::open(&line.target).await {
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::INVALID_CATALOG_NAME) => {
                return Err(gone(
                    "does not exist any more",
                    "run without --resume to copy it again",
                ));
            }
            Ok(conn) if let Some(before) = &state.target => {
                let now = target::database(&conn).await?;
                if !now.same_as(before) {
                    return Err(gone(
                        &format!(
                            "is another one now (was {before}, now {now}: dropped and made \
                             again since, or another server answers at its address)"
                        ),
                        start_over(state.scope.as_deref(), options.sections),
                    ));
                }
            }
            _ => {}
        }
        report.mismatched_before = state.mismatched;
        report.note = Some(if state.mismatched {
            "already finished, by a run whose verification found differences: nothing to \
             resume; `pgsplit verify` tells what differs, --clean starts over"
                .into()
        } else {
            "already finished: nothing to resume".into()
        });
        return Ok(());
    }
    report.resumed = resumed.is_some();
    if let Some(before) = resumed.as_ref().and_then(|s| s.source.as_ref())
        && let Some(now) = &source.identity
        && before != now
    {
        return Err(RunError::Refused(another_source(before, now)));
    }
    let mut phases = Vec::new();
    let mut clock = PhaseClock {
        report: &mut phases,
        started: Instant::now(),
    };
    progress.set_phase("connect");

    let leader = &source.leader;
    let version = source.version;
    // What this target receives: decided before anything is written.
    let catalog = source
        .catalog
        .as_ref()
        .ok_or_else(|| RunError::Internal("the source catalog is gone".into()))?;
    // The DDL is written for the target's version (asked before it is touched).
    let target_version = Some(session::target_version(&line.target).await?);
    let (source_tables, mut schema, cross) = schema_step::select(
        catalog,
        &source.tables,
        &line.selector,
        options,
        target_version,
    )?;
    // The keys the source's snapshot vouches for on a --data-only target.
    let source_keys = if options.sections == Sections::DataOnly {
        kept_keys::source_keys(catalog)
    } else {
        HashSet::new()
    };
    if options.sections != Sections::SchemaOnly
        && let Some(plan) = resumed.as_ref().and_then(|s| s.plan.as_ref())
    {
        // The stopped run created and planned its tables only: one that appeared since
        // (a new partition, say) has no table on the target and no chunk in the plan.
        let planned: HashSet<(&str, &str)> = plan
            .iter()
            .map(|p| (p.schema.as_str(), p.table.as_str()))
            .collect();
        let added: Vec<String> = source_tables
            .iter()
            .filter(|t| !planned.contains(&(t.schema.as_str(), t.name.as_str())))
            .map(SourceTable::display_name)
            .collect();
        if !added.is_empty() {
            return Err(RunError::Refused(format!(
                "cannot resume: the source has tables the stopped run did not plan ({}); \
                 start over with --clean, or copy them with a run of their own",
                added.join(", ")
            )));
        }
    }
    if options.sections == Sections::DataOnly {
        // Only the tables among them matter here: their rows stay behind.
        report.not_copied = schema
            .not_written
            .iter()
            .filter(|n| n.table.is_some())
            .map(|n| n.describe())
            .collect();
        if !report.not_copied.is_empty() {
            tracing::warn!(
                "tables whose rows pgsplit does not copy: {}",
                report.not_copied.join(", ")
            );
        }
    } else {
        if options.strict && !schema.not_written.is_empty() {
            // Left out, they may weaken the copy (a restrictive policy, a foreign key).
            return Err(RunError::Refused(format!(
                "--strict: these would be left out, as they need objects pgsplit does not \
                 write: {}",
                schema.describe_not_written().join(", ")
            )));
        }
        report.not_copied = schema.describe_not_copied();
        if !report.not_copied.is_empty() {
            tracing::warn!(
                "objects pgsplit does not copy: {}",
                report.not_copied.join(", ")
            );
        }
    }
    if last_of_source {
        // No other line needs the catalog once this one has its DDL.
        source.catalog = None;
    }
    report.cross_target = cross;
    if options.clean && options.sections == Sections::DataOnly {
        // Dropping the database would take the schema the rows are meant for with it.
        return Err(RunError::Refused(
            "--clean drops the target database, and --data-only needs its tables: use one or the other".into(),
        ));
    }
    let create =
        (options.sections != Sections::DataOnly && resumed.is_none()).then_some(&source.props);
    // From here the target may change (made, or dropped by --clean).
    report.touched_target = true;
    let target_conn = target::prepare(
        &line.target,
        create,
        clean && resumed.is_none(),
        &source.snapshot,
        taken,
    )
    .await?;
    report.target_identity = target::identity(&target_conn).await;
    let database = target::database(&target_conn).await?;
    let journaled_target = resumed.as_ref().and_then(|s| s.target.as_ref());
    if let Some(before) = journaled_target
        && !before.same_as(&database)
    {
        return Err(RunError::Refused(format!(
            "cannot resume: the target database {} is another than the stopped run wrote \
             into (was {before}, now {database}: dropped and made again since, or another \
             server answers at its address); {}",
            line.target.dbname,
            start_over(
                resumed.as_ref().and_then(|s| s.scope.as_deref()),
                options.sections
            )
        )));
    }
    // Every later session checks that it reaches this database, not one made under its
    // name meanwhile (by a run with --clean from another work folder, say).
    let pinned = MappingLine {
        target: pgsplit_pg::ConnSettings {
            database: Some(database.clone()),
            ..line.target.clone()
        },
        ..line.clone()
    };
    let line = &pinned;
    if let Some(state) = &resumed {
        target::end_orphans(&target_conn).await?;
        if options.sections != Sections::DataOnly {
            changed_since_the_stop(&target_conn, &source_tables, state.pre_data_done).await?;
        }
    }
    if options.sections != Sections::DataOnly && resumed.is_none() {
        let objects = target::user_objects(&target_conn).await?;
        if objects > 0 && options.resume.is_some() && !clean {
            return Err(RunError::Refused(format!(
                "the target is not empty ({objects} objects) and the stopped run had not \
                 started this line (it has no journal): it starts afresh into an empty \
                 target only; empty it, or copy this line with a run of its own (--clean)"
            )));
        }
        if objects > 0 {
            return Err(RunError::TargetNotEmpty(objects));
        }
    }
    let fresh = resumed.is_none();
    let journal = journal.start()?;
    if fresh && let Some(identity) = &source.identity {
        journal.record(&Event::Source {
            identity: identity.clone(),
        })?;
    }
    if journaled_target.is_none() {
        journal.record(&Event::Target(database.clone()))?;
    }
    if let Some(xmax) = source.moment {
        journal.record(&Event::Moment { xmax })?;
    }
    let snapshot_id = source.snapshot.clone();
    clock.report.push(PhaseTime {
        phase: "snapshot",
        seconds: source.seconds,
    });
    clock.started = Instant::now();

    let superuser = schema_step::is_superuser(&target_conn).await?;
    if cancel.is_cancelled() {
        return Err(RunError::Interrupted);
    }
    if options.sections != Sections::DataOnly && fresh && !options.no_owner {
        // The database's owner first: from 15 on only it (and its members) may make
        // objects in `public`, so objects given to it there (a managed service's usual
        // layout) need it already. Refused here, it is tried again, and reported, with
        // the database's other properties at the end.
        let owner = source
            .props
            .level
            .statements(&line.target.dbname, false, true)
            .into_iter()
            .next();
        if let Some(owner) = owner
            && let Err(e) = target_conn.client.batch_execute(&owner.sql).await
        {
            tracing::info!("the database's owner is left for the end: {e}");
        }
    }
    if options.sections != Sections::DataOnly {
        progress.set_phase("pre-data");
        let from = match &resumed {
            Some(s) if s.pre_data_done => None,
            Some(s) => pre_data_progress(&target_conn, &s.pre_data_batches).await?,
            None => Some(schema_step::PreDataStart::default()),
        };
        if let Some(from) = from {
            let applied = schema_step::apply_pre_data(
                &target_conn,
                &schema,
                options,
                superuser,
                journal.as_ref(),
                from,
            );
            // A statement may wait long on a lock another session holds: stopped on the
            // server. What it had not committed is rolled back, as after a kill.
            report.skipped = tokio::select! {
                applied = applied => applied?,
                _ = cancel.cancelled() => {
                    let token = target_conn.client.cancel_token();
                    let _ = pgsplit_pg::cancel_query(&line.target, &token).await;
                    return Err(RunError::Interrupted);
                }
            };
        }
        clock.lap("pre-data");
    }
    schema.pre_data = Vec::new();
    let tables = Arc::new(if options.sections == Sections::SchemaOnly {
        Vec::new()
    } else {
        source_tables
    });
    // Before anything is written to a --data-only target (the extensions' configuration
    // rows below): its tables must be there, and empty.
    let tables = if options.sections == Sections::DataOnly {
        Arc::new(
            verify_step::check_data_only_target(
                &target_conn,
                &tables,
                // The stopped run checked them, if it got as far as its plan.
                resumed.as_ref().is_some_and(|s| s.plan.is_some()),
                &schema.post_data,
            )
            .await?,
        )
    } else {
        tables
    };
    // Keys of the target the load (with keys off) could break: checked after it.
    let kept_keys = if options.sections == Sections::DataOnly {
        kept_keys::read(&target_conn, &tables, &source_keys).await?
    } else {
        Vec::new()
    };
    if options.sections != Sections::SchemaOnly {
        report.extension_config = copy_extension_config(
            line,
            leader,
            options,
            resumed.as_ref(),
            journal.as_ref(),
            &mut report.skipped,
        )
        .await?;
    }
    // Added to the earlier lines' (whose copied rows and bytes the progress keeps).
    progress
        .tables_total
        .fetch_add(tables.len() as u64, std::sync::atomic::Ordering::Relaxed);
    progress.total_bytes.fetch_add(
        tables.iter().map(|t| t.bytes.max(0) as u64).sum(),
        std::sync::atomic::Ordering::Relaxed,
    );

    // Items: chunks of big tables, whole small ones; a resumed run keeps its plan.
    let items = match resumed.as_ref().and_then(|s| s.plan.as_ref()) {
        Some(plan) => items_from_plan(plan, &tables)?,
        None => {
            let items = plan_items(leader, &tables, options, version).await?;
            journal.record(&Event::Plan {
                items: items
                    .iter()
                    .map(|i| PlannedItem {
                        schema: tables[i.table].schema.clone(),
                        table: tables[i.table].name.clone(),
                        chunk: i.chunk.clone(),
                        whole: i.whole,
                    })
                    .collect(),
            })?;
            items
        }
    };
    fault::point("planned");
    let done = match &resumed {
        Some(state) => {
            resolve_done(
                state,
                &items,
                &tables,
                &target_conn,
                journal.as_ref(),
                options,
            )
            .await?
        }
        None => HashMap::new(),
    };
    let todo: Vec<usize> = (0..items.len()).filter(|i| !done.contains_key(i)).collect();
    let totals: Arc<Vec<Mutex<Moved>>> = Arc::new(
        tables
            .iter()
            .map(|_| Mutex::new(Moved::default()))
            .collect(),
    );
    for (&i, moved) in &done {
        let mut total = totals[items[i].table]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        total.rows += moved.rows;
        total.bytes += moved.bytes;
        total.digest.combine(&moved.digest);
    }
    let verifications = Arc::new(Mutex::new(Vec::new()));

    // Post-data work, ready to start per table as soon as it is loaded.
    let mut post_tasks: Vec<PostTask> = Vec::new();
    let mut event_triggers = Vec::new();
    let skipped_post = schema_step::post_tasks(
        &schema,
        &tables,
        options,
        superuser,
        &journal,
        resumed.as_ref(),
        // Only when they print otherwise: the statements stay as they are.
        &if source.output_forms.differ() {
            source.output_forms.statements(true)
        } else {
            String::new()
        },
        &mut post_tasks,
        &mut event_triggers,
    )?;
    report.skipped.extend(skipped_post);
    report.post_data.indexes = schema_step::index_count(&schema);
    // The tasks hold what they run.
    drop(schema);
    let target_version = session::server_version(&target_conn.client)
        .await
        .map_err(|e| RunError::db(&target_conn.server, "read the server version", e))?;
    verify_step::add_tasks(
        &tables,
        options.verify,
        options.sections != Sections::DataOnly,
        options.index_jobs.max(1),
        target_version,
        &totals,
        &verifications,
        &mut post_tasks,
    );
    let key_findings = Arc::new(Mutex::new(kept_keys::Findings::default()));
    kept_keys::add_tasks(
        kept_keys,
        &tables,
        options.strict,
        &key_findings,
        &mut post_tasks,
    );
    report.post_data.statements = post_tasks.len();

    let index_jobs = options.index_jobs.max(1);
    let sessions = Arc::new(post_data::Sessions {
        target: line.target.clone(),
        maintenance_work_mem: options.maintenance_work_mem,
    });
    sessions.set_up(&target_conn.client).await?;
    let mut post_connections = Vec::with_capacity(index_jobs);
    post_connections.push(Arc::new(target_conn.client));
    for _ in 1..index_jobs {
        post_connections.push(Arc::new(sessions.open().await?));
    }
    let (loaded_tx, loaded_rx) = mpsc::unbounded_channel();
    progress.set_phase("data");
    let post_started = Instant::now();
    let post_finished = Arc::new(AtomicUsize::new(0));
    let post_refusals = Arc::new(std::sync::Mutex::new(post_data::Refusals::default()));
    // What post-data did, also when the run ends early (a stop, a failure).
    let post_summary = {
        let finished = Arc::clone(&post_finished);
        let refusals = Arc::clone(&post_refusals);
        move |report: &mut LineReport| {
            report.post_data.seconds = post_started.elapsed().as_secs_f64();
            report.post_data.finished = finished.load(Ordering::Relaxed);
            let refusals = refusals.lock().unwrap_or_else(|e| e.into_inner());
            report.post_data.failed = refusals.failed.clone();
            report.post_data.not_run = refusals.not_run.clone();
        }
    };
    let post = tokio::spawn(post_data::run(post_data::Schedule {
        tasks: post_tasks,
        connections: post_connections,
        loaded: loaded_rx,
        table_count: tables.len(),
        progress: Arc::clone(progress),
        cancel: cancel.clone(),
        sessions,
        finished: post_finished,
        refusals: post_refusals,
    }));
    let data_started = Instant::now();
    let copied = if items.is_empty() {
        drop(loaded_tx);
        data::Copied {
            results: Vec::new(),
            stopped_by: None,
        }
    } else {
        data::run(
            data::DataPhase {
                source: line.source.clone(),
                target: line.target.clone(),
                snapshot: snapshot_id,
                tables: Arc::clone(&tables),
                items: items.clone(),
                todo,
                jobs: options.jobs,
                verify: options.verify,
                may_truncate: options.sections != Sections::DataOnly,
                resuming: resumed.is_some(),
                probe_toast: version >= 140000,
                disable_triggers: options.sections == Sections::DataOnly,
                guard_storage: !source.locked,
                target_forms: source.output_forms.statements(false),
                progress: Arc::clone(progress),
                totals: Arc::clone(&totals),
                journal: Arc::clone(&journal),
                cancel: cancel.clone(),
            },
            loaded_tx,
        )
        .await
    };
    let data_seconds = data_started.elapsed().as_secs_f64();
    let mut results = copied.results;
    let now = Instant::now();
    results.extend(done.iter().map(|(&item, &moved)| data::ItemResult {
        item,
        moved,
        started: now,
        finished: now,
        resumed: true,
    }));
    results.sort_by_key(|r| r.item);
    clock.report.push(PhaseTime {
        phase: "data",
        seconds: data_seconds,
    });
    if let Some(e) = copied.stopped_by {
        if matches!(e, RunError::Interrupted) {
            // Let the scheduler cancel its statements on the server.
            let _ = post.await;
        } else {
            post.abort();
        }
        post_summary(report);
        // What was committed stays for the resume: the report says so.
        report.tables = verify_step::table_reports(&tables, &items, &results, &verifications);
        report.tables.retain(|t| !t.chunks.is_empty());
        if !report.tables.is_empty() {
            report.note = Some(format!(
                "the {} table(s) above had rows committed before the stop; `--resume` \
                 keeps every finished table",
                report.tables.len()
            ));
        }
        report.phases = phases;
        return Err(e);
    }
    if options.sections != Sections::SchemaOnly {
        let copied = copy_large_objects(
            line,
            leader,
            options,
            cancel,
            superuser,
            resumed.as_ref(),
            journal.as_ref(),
        )
        .await;
        match copied {
            Ok(large_objects) => report.large_objects = large_objects,
            Err(e) => {
                if matches!(e, RunError::Interrupted) {
                    let _ = post.await;
                } else {
                    post.abort();
                }
                post_summary(report);
                // The tables' rows are on the target: the report says so.
                report.tables =
                    verify_step::table_reports(&tables, &items, &results, &verifications);
                report.phases = phases;
                return Err(e);
            }
        }
    }
    progress.set_phase("post-data");
    let post_result = post
        .await
        .map_err(|e| RunError::Internal(format!("post-data scheduler: {e}")))?;
    post_summary(report);
    let mut key_findings =
        std::mem::take(&mut *key_findings.lock().unwrap_or_else(|e| e.into_inner()));
    report.skipped.append(&mut key_findings.unchecked);
    clock.started = Instant::now();
    clock.report.push(PhaseTime {
        phase: "post-data (after data)",
        seconds: (post_started.elapsed().as_secs_f64() - data_seconds).max(0.0),
    });
    // The tables are reported also when post-data failed: their rows are on the target.
    report.tables = verify_step::table_reports(&tables, &items, &results, &verifications);
    // A --data-only run's broken keys, also beside statements the target refused (the
    // report has those from the scheduler).
    let outcome = match (post_result, key_findings.error()) {
        (Err(RunError::PostData(mut failures)), Some(keys)) => {
            report.post_data.failed.push(format!("{keys:#}"));
            failures.failed.push(keys);
            Err(RunError::PostData(failures))
        }
        (Err(e), _) => Err(e),
        (Ok(()), keys) => keys.map_or(Ok(()), Err),
    };
    if let Err(e) = outcome {
        report.phases = phases;
        return Err(e);
    }
    if options.sections != Sections::DataOnly {
        let statements =
            source
                .props
                .level
                .statements(&line.target.dbname, options.no_owner, options.no_acl);
        report.skipped_database =
            target::apply_database_level(&line.target, &statements, superuser, options.strict)
                .await?;
    }
    // Last: an event trigger fires on DDL, the run's own included.
    schema_step::apply_event_triggers(
        &line.target,
        &event_triggers,
        journal.as_ref(),
        resumed.as_ref(),
    )
    .await?;
    report.phases = phases;
    if report.note.is_none() {
        report.note = generated_columns_note(&tables);
    }
    if let Some(note) = two_moments_note(resumed.as_ref(), source.moment, report) {
        tracing::warn!("line {}: {note}", line.line);
        report.note = Some(match report.note.take() {
            Some(other) => format!("{other}\n{note}"),
            None => note,
        });
    }
    if report.mismatched() {
        journal.record(&Event::Mismatched)?;
    }
    journal.record(&Event::Finished)?;
    Ok(())
}

/// For a resume that read rows at another moment of the source than a stopped run kept
/// rows of (the source's server wrote in between, in this database or another): what
/// that may mean, and what to do. Silent when the server wrote nothing since.
fn two_moments_note(
    resumed: Option<&JournalState>,
    now: Option<i64>,
    report: &LineReport,
) -> Option<String> {
    let state = resumed?;
    let first = *state.moments.first()?;
    let kept = report
        .tables
        .iter()
        .flat_map(|t| &t.chunks)
        .any(|c| c.resumed);
    let read_now = report
        .tables
        .iter()
        .flat_map(|t| &t.chunks)
        .any(|c| !c.resumed);
    (kept && read_now && now != Some(first)).then(|| {
        format!(
            "the stopped run kept rows read at an earlier moment of the source, and this \
             resume read the rest now; the source's server has written since (its next \
             transaction id {first} then, {} now): if this database was written to, a row \
             changed in between may be missing or old here, or, in a split, on two targets or \
             none. `pgsplit verify` compares every table with the source as it is now; \
             `--clean` copies it again at one moment",
            now.map_or("unknown".to_string(), |n| n.to_string())
        )
    })
}

/// For tables with generated columns: the target computed those, and the run's checksums
/// (of the bytes it copied) do not hold them; `pgsplit verify` reads them on both sides.
fn generated_columns_note(tables: &[SourceTable]) -> Option<String> {
    const SHOWN: usize = 3;
    let computed: Vec<String> = tables
        .iter()
        .filter(|t| !t.generated.is_empty())
        .map(SourceTable::display_name)
        .collect();
    let (first, more) = match computed.len() {
        0 => return None,
        n if n > SHOWN => (&computed[..SHOWN], format!(", and {} more", n - SHOWN)),
        _ => (&computed[..], String::new()),
    };
    Some(format!(
        "the generated columns of {} table(s) ({}{more}) were computed by the target, not \
         copied, and this run's verification does not hold them: `pgsplit verify` compares them",
        computed.len(),
        first.join(", ")
    ))
}

/// The rows users keep in extensions' configuration tables, once per target, in one
/// transaction; verified like a table.
async fn copy_extension_config(
    line: &MappingLine,
    leader: &Connection,
    options: &RunOptions,
    resumed: Option<&JournalState>,
    journal: &dyn Journal,
    skipped: &mut Vec<String>,
) -> Result<Vec<report::ExtensionConfig>, RunError> {
    const STEP: &str = "extension configuration";
    if resumed.is_some_and(|s| s.post_data_done.contains(STEP)) {
        return Ok(Vec::new());
    }
    let copied = match extension_config::copy(&leader.client, &line.target, options.verify).await {
        Ok(copied) => copied,
        // Extensions' tables belong to whoever created them (a superuser, for most).
        Err(e)
            if !options.strict
                && e.sqlstate()
                    == Some(tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE) =>
        {
            tracing::warn!(
                "the rows of extensions' configuration tables were not copied: {e:#} \
                 (--strict makes this an error)"
            );
            skipped.push("rows of extensions' configuration tables".into());
            Vec::new()
        }
        Err(e) => return Err(e),
    };
    journal.record(&Event::PostDataDone { label: STEP.into() })?;
    Ok(copied)
}

/// Large objects, once per target, in one transaction; verified like a table.
async fn copy_large_objects(
    line: &MappingLine,
    leader: &Connection,
    options: &RunOptions,
    cancel: &Cancel,
    superuser: bool,
    resumed: Option<&JournalState>,
    journal: &dyn Journal,
) -> Result<Option<report::LargeObjects>, RunError> {
    const STEP: &str = "large objects";
    if resumed.is_some_and(|s| s.post_data_done.contains(STEP)) {
        return Ok(None);
    }
    let list = large_objects::list(&leader.client).await?;
    if list.is_empty() {
        // Nearly always: no target session for nothing.
        journal.record(&Event::PostDataDone { label: STEP.into() })?;
        return Ok(None);
    }
    let target = session::open(&line.target).await?;
    let metadata = large_objects::Metadata {
        owner: !options.no_owner,
        privileges: !options.no_acl,
        superuser,
    };
    let moved = large_objects::copy(
        &leader.client,
        &target,
        &list,
        metadata,
        resumed.is_some(),
        cancel,
    )
    .await?;
    journal.record(&Event::PostDataDone { label: STEP.into() })?;
    let matches = match options.verify {
        VerifyLevel::None => None,
        VerifyLevel::Count | VerifyLevel::Checksum => {
            let found = large_objects::read(&target.client)
                .await
                .map_err(|e| RunError::db(&target.server, "read the large objects back", e))?;
            Some(if options.verify == VerifyLevel::Count {
                found.rows == moved.rows
            } else {
                found.rows == moved.rows && found.digest == moved.digest
            })
        }
    };
    Ok(Some(report::LargeObjects {
        count: moved.rows,
        bytes: moved.bytes,
        matches,
    }))
}

/// Chunks of big tables, whole small ones.
async fn plan_items(
    leader: &Connection,
    tables: &[SourceTable],
    options: &RunOptions,
    version: i32,
) -> Result<Vec<data::WorkItem>, RunError> {
    let mut items = Vec::new();
    for (index, table) in tables.iter().enumerate() {
        let bounds = key_bounds(leader, table, options, version).await?;
        let chunks = chunk::plan_chunks(table, options.split_larger_than, version, bounds);
        let whole = chunks.len() == 1 && chunks[0] == Chunk::Whole;
        let per = table.bytes / chunks.len() as i64;
        items.extend(chunks.into_iter().map(|chunk| data::WorkItem {
            table: index,
            chunk,
            whole,
            estimated_bytes: per,
        }));
    }
    Ok(items)
}

/// The stopped run's plan, matched to today's tables by name.
fn items_from_plan(
    plan: &[PlannedItem],
    tables: &[SourceTable],
) -> Result<Vec<data::WorkItem>, RunError> {
    let index: HashMap<(&str, &str), usize> = tables
        .iter()
        .enumerate()
        .map(|(i, t)| ((t.schema.as_str(), t.name.as_str()), i))
        .collect();
    let mut parts: HashMap<(&str, &str), i64> = HashMap::new();
    for p in plan {
        *parts
            .entry((p.schema.as_str(), p.table.as_str()))
            .or_default() += 1;
    }
    plan.iter()
        .map(|p| {
            let key = (p.schema.as_str(), p.table.as_str());
            let table = *index.get(&key).ok_or_else(|| {
                RunError::Refused(format!(
                    "cannot resume: table {}.{} of the stopped run is gone from the source",
                    p.schema, p.table
                ))
            })?;
            Ok(data::WorkItem {
                table,
                chunk: p.chunk.clone(),
                whole: p.whole,
                estimated_bytes: tables[table].bytes / parts[&key].max(1),
            })
        })
        .collect()
}

/// Which items a stopped run finished: confirmed in the journal, or committed on the
/// target after their last journal entry. In safe mode, a table with only some of its
/// items done is emptied and copied again from the new snapshot.
async fn resolve_done(
    state: &JournalState,
    items: &[data::WorkItem],
    tables: &[SourceTable],
    target: &Connection,
    journal: &dyn Journal,
    options: &RunOptions,
) -> Result<HashMap<usize, Moved>, RunError> {
    let mut done = state.done.clone();
    for (&item, (xid, moved)) in &state.committing {
        if committed(target, xid).await? {
            journal.record(&Event::ItemDone {
                item,
                moved: *moved,
            })?;
            done.insert(item, *moved);
        }
    }
    done.retain(|&i, _| i < items.len());
    if options.resume == Some(ResumeMode::Safe) {
        // Every chunked table with a chunk to copy is emptied, also when none of its
        // chunks is known as done but it has rows: a resume stopped between journaling
        // a restart and its TRUNCATE left rows no chunk accounts for.
        let unfinished: HashSet<usize> = items
            .iter()
            .enumerate()
            .filter(|(i, item)| !item.whole && !done.contains_key(i))
            .map(|(_, item)| item.table)
            .collect();
        for t in unfinished {
            let table = &tables[t];
            let partly = items
                .iter()
                .enumerate()
                .any(|(i, it)| it.table == t && done.contains_key(&i));
            if partly {
                tracing::warn!(
                    "resume: {} was partly copied; copying it again from the new snapshot",
                    table.display_name()
                );
                journal.record(&Event::TableRestarted {
                    schema: table.schema.clone(),
                    table: table.name.clone(),
                })?;
            }
            fault::point("table_restarted");
            if !partly && !verify_step::has_rows(target, table).await? {
                continue;
            }
            // `--data-only`: the target's foreign keys are in place, and TRUNCATE refuses
            // a table one points to; the load's own mode (no triggers, no checks) lets
            // DELETE through.
            let empty = if options.sections == Sections::DataOnly {
                format!(
                    "BEGIN; SET LOCAL session_replication_role = replica; \
                     DELETE FROM ONLY {}; COMMIT",
                    table.qualified()
                )
            } else {
                format!("TRUNCATE ONLY {}", table.qualified())
            };
            target
                .client
                .batch_execute(&empty)
                .await
                .map_err(|e| RunError::db(&target.server, "empty a partly copied table", e))?;
            done.retain(|&i, _| items[i].table != t);
        }
    }
    Ok(done)
}

/// Holds `ACCESS SHARE` on every table until the data is copied, as pg_dump does, so that
/// nobody drops or rewrites a table under the copy. A table rewritten or emptied between
/// the snapshot and its lock fails the run.
async fn lock_tables(
    leader: &pgsplit_pg::Connection,
    tables: &[SourceTable],
) -> Result<(), RunError> {
    // One the role may not read it may not lock either: a line that copies it is refused
    // before its target is touched (`plan::unreadable_tables`), the others leave it be.
    let oids: Vec<u32> = tables.iter().map(|t| t.oid).collect();
    let readable: HashSet<u32> = leader
        .client
        .query(
            "SELECT c.oid FROM pg_catalog.pg_class c \
             WHERE c.oid = ANY($1) AND pg_catalog.has_table_privilege(c.oid, 'SELECT')",
            &[&oids],
        )
        .await
        .map_err(|e| RunError::db(&leader.server, "check the tables' privileges", e))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let tables: Vec<&SourceTable> = tables
        .iter()
        .filter(|t| readable.contains(&t.oid))
        .collect();
    for batch in tables.chunks(500) {
        let names: Vec<String> = batch.iter().map(|t| t.qualified()).collect();
        leader
            .client
            .batch_execute(&format!(
                "SET LOCAL lock_timeout = '60s'; LOCK TABLE {} IN ACCESS SHARE MODE",
                names.join(", ")
            ))
            .await
            .map_err(|e| RunError::db(&leader.server, "lock the tables to copy", e))?;
    }
    // Locked, the tables' catalog entries are today's; the snapshot read them earlier.
    let changed = leader
        .client
        .query(
            "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.oid = ANY($1) \
               AND pg_catalog.pg_relation_filenode(c.oid) IS DISTINCT FROM c.relfilenode",
            &[&oids],
        )
        .await
        .map_err(|e| RunError::db(&leader.server, "check the locked tables", e))?;
    if !changed.is_empty() {
        let names: Vec<String> = changed.iter().map(|r| r.get(0)).collect();
        return Err(RunError::Refused(format!(
            "{}: rewritten or emptied on the source (TRUNCATE, VACUUM FULL, ALTER TABLE …) \
             just after the run's snapshot; run again",
            names.join(", ")
        )));
    }
    Ok(())
}

/// Integer key bounds, only where a table is split by key (servers before 14).
async fn key_bounds(
    leader: &pgsplit_pg::Connection,
    table: &SourceTable,
    options: &RunOptions,
    version: i32,
) -> Result<Option<(i64, i64)>, RunError> {
    let big = options
        .split_larger_than
        .is_some_and(|t| table.bytes > t.max(chunk::MIN_CHUNK_BYTES));
    let Some(key) = table.int_key.as_ref().filter(|_| big && version < 140000) else {
        return Ok(None);
    };
    let key = pgsplit_pg::quote::ident(key);
    let row = leader
        .client
        .query_one(
            &format!(
                "SELECT min({key})::int8, max({key})::int8 FROM ONLY {}",
                table.qualified()
            ),
            &[],
        )
        .await
        .map_err(|e| RunError::db(&leader.server, "read key bounds", e))?;
    Ok(
        match (row.get::<_, Option<i64>>(0), row.get::<_, Option<i64>>(1)) {
            (Some(min), Some(max)) => Some((min, max)),
            _ => None,
        },
    )
}

/// What a `--data-only` run of a line would load: its tables, and the post-data
/// statements that set its sequences and refresh its materialized views.
pub(crate) struct DataOnlyShare {
    tables: Vec<SourceTable>,
    post_data: Vec<pgsplit_schema::Statement>,
}

/// [`DataOnlyShare`] of `line` from the source's `catalog` and `tables` as plan read them;
/// `None` when its selection does not fit (plan reports that itself).
pub(crate) fn data_only_share(
    line: &MappingLine,
    catalog: &pgsplit_schema::Catalog,
    tables: &[SourceTable],
    plan: crate::plan::PlanOptions,
) -> Option<DataOnlyShare> {
    let options = RunOptions {
        no_owner: plan.no_owner,
        no_acl: plan.no_acl,
        drop_cross_target_fks: plan.drop_cross_target_fks,
        sections: Sections::DataOnly,
        ..RunOptions::default()
    };
    let (tables, ddl, _) = schema_step::select(
        catalog,
        tables,
        &line.selector,
        &options,
        plan.target_version,
    )
    .ok()?;
    Some(DataOnlyShare {
        tables,
        post_data: ddl.post_data,
    })
}

/// `plan --data-only`: the check a `--data-only` run makes of its target before it writes
/// (the share's tables there with the source's columns and empty, its sequences and
/// materialized views there; not empty when `resuming`). `Ok(Some(why))`: the run would
/// refuse.
pub(crate) async fn data_only_mismatch(
    line: &MappingLine,
    share: &DataOnlyShare,
    resuming: bool,
) -> Result<Option<String>, String> {
    let target = session::open(&line.target)
        .await
        .map_err(|e| format!("target: {e}"))?;
    match verify_step::check_data_only_target(&target, &share.tables, resuming, &share.post_data)
        .await
    {
        Ok(_) => Ok(None),
        Err(RunError::Refused(why)) => Ok(Some(why)),
        Err(e) => Err(format!("target: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_type_is_compared_without_its_schema() {
        for (qualified, bare) in [
            ("public.mood", "mood"),
            ("app.mood[]", "mood[]"),
            ("\"My Schema\".\"We\"\"ird\"", "\"We\"\"ird\""),
            ("\"a.b\".c(3)", "c(3)"),
            ("character varying(10)", "character varying(10)"),
            ("timestamp with time zone", "timestamp with time zone"),
            ("integer[]", "integer[]"),
            ("\"Mood\"", "\"Mood\""),
        ] {
            assert_eq!(unqualified(qualified), bare, "{qualified}");
        }
        // A keyword one server quotes and another does not.
        assert_eq!(comparable("app.\"system_user\"[]"), "system_user[]");
        assert_eq!(comparable("system_user"), "system_user");
        assert_eq!(comparable("\"Mood\""), "\"Mood\"");
        assert_eq!(comparable("\"we\"\"ird\""), "\"we\"\"ird\"");
    }

    #[test]
    fn a_changed_selector_is_told_per_word_as_the_mapping_writes_it() {
        let scope = |selector: serde_json::Value| {
            serde_json::json!({"selector": selector, "sections": "all"}).to_string()
        };
        let before = scope(serde_json::json!({
            "schemas": ["a"], "tables": [], "shard": {"key": "tenant_id", "modulus": 4, "remainder": 1},
        }));
        let now = scope(serde_json::json!({
            "schemas": ["a", "b"], "tables": [], "shard": null,
        }));
        assert_eq!(
            scope_changes(&before, &now),
            "its selectors: schemas= was a, now a,b, shard= was tenant_id:1/4, now none"
        );
    }

    #[test]
    fn a_scope_with_its_lists_in_another_order_is_the_same_scope() {
        let now = r#"{"selector":{"schemas":["a","b"],"tables":[],"exclude":["x.y","z.w"]},"no_acl":false}"#;
        let old = r#"{"selector":{"schemas":["b","a","b"],"tables":[],"exclude":["z.w","x.y"]},"no_acl":false}"#;
        assert!(same_scope(old, now));
        let changed = r#"{"selector":{"schemas":["b","c"],"tables":[],"exclude":["z.w","x.y"]},"no_acl":false}"#;
        assert!(!same_scope(changed, now));
        assert_eq!(
            scope_changes(changed, now),
            "its selectors: schemas= was b,c, now a,b"
        );
        let option = r#"{"selector":{"schemas":["a","b"],"tables":[],"exclude":["x.y","z.w"]},"no_acl":true}"#;
        assert_eq!(scope_changes(option, now), "--no-acl: was true, now false");
    }
}
