//! The schema side of a run: the source catalog read inside the snapshot, pre-data
//! applied in a few large transactions, post-data turned into scheduled tasks.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use pgsplit_copy::SourceTable;
use pgsplit_pg::{ConnSettings, Connection};
use pgsplit_schema::{Catalog, CrossKind, CrossTarget, Ddl, ObjectKind, SchemaOptions, Statement};
use tokio_postgres::Client;

use tokio_postgres::error::SqlState;

use super::error::RunError;
use super::options::{RunOptions, Sections};
use super::post_data::{self, Attempt, BatchPart, PostTask};
use crate::fault;
use crate::journal::{Event, Journal, JournalState};
use crate::session;
use crate::split::{self, Selector};

/// `ANALYZE` comes last for its table: after the indexes (expression indexes have
/// statistics of their own) and after the foreign keys and everything else of the table,
/// so that nothing waits for it (it runs as a background task).
const ANALYZE_PHASE: u8 = 5;

/// Reads the catalog inside the caller's snapshot.
pub async fn read_catalog(client: &Client) -> Result<Catalog, RunError> {
    pgsplit_schema::introspect(client)
        .await
        .map_err(|e| RunError::Schema(format!("{e:#}")))
}

/// What one target receives: its tables (with their row filters), its DDL, and the
/// foreign keys and views left out because they would point into another target. A
/// table the DDL leaves out (it needs an object pgsplit does not write) is not copied.
pub fn select(
    catalog: &Catalog,
    tables: &[SourceTable],
    selector: &Selector,
    options: &RunOptions,
    target_version: Option<i32>,
) -> Result<(Vec<SourceTable>, Ddl, Vec<String>), RunError> {
    let schema_options = SchemaOptions {
        no_owner: options.no_owner,
        no_acl: options.no_acl,
        target_version,
    };
    if selector.is_everything() {
        let ddl = catalog.render(&schema_options);
        let tables = tables
            .iter()
            .filter(|t| !ddl.leaves_out_table(&t.schema, &t.name))
            .cloned()
            .collect();
        return Ok((tables, ddl, Vec::new()));
    }
    let resolved = split::resolve(selector, catalog, tables).map_err(RunError::Selection)?;
    select_resolved(catalog, tables, &resolved, options, target_version)
}

/// [`select`] for a split line whose selector is already resolved.
pub fn select_resolved(
    catalog: &Catalog,
    tables: &[SourceTable],
    resolved: &split::Resolved,
    options: &RunOptions,
    target_version: Option<i32>,
) -> Result<(Vec<SourceTable>, Ddl, Vec<String>), RunError> {
    let schema_options = SchemaOptions {
        no_owner: options.no_owner,
        no_acl: options.no_acl,
        target_version,
    };
    let (ddl, cross) = split::render_share(
        catalog,
        &schema_options,
        resolved,
        options.sections == Sections::DataOnly,
    )
    .map_err(RunError::Selection)?;
    let cross_fks: Vec<String> = cross
        .iter()
        .filter(|c| c.kind == CrossKind::ForeignKey)
        .map(CrossTarget::describe)
        .collect();
    if !cross_fks.is_empty() && !options.drop_cross_target_fks {
        return Err(RunError::Refused(format!(
            "foreign keys would point into another target: {}; choose the split differently, or leave them out with --drop-cross-target-fks",
            cross_fks.join("; ")
        )));
    }
    let selected = tables
        .iter()
        .filter(|t| {
            resolved
                .relations
                .contains(&(t.schema.clone(), t.name.clone()))
                && !ddl.leaves_out_table(&t.schema, &t.name)
        })
        .map(|t| {
            let mut t = t.clone();
            t.row_filter = resolved
                .predicates
                .get(&(t.schema.clone(), t.name.clone()))
                .cloned();
            t
        })
        .collect();
    Ok((
        selected,
        ddl,
        cross.iter().map(CrossTarget::describe).collect(),
    ))
}

/// Whether the connected role is a superuser.
pub async fn is_superuser(conn: &Connection) -> Result<bool, RunError> {
    session::is_superuser(&conn.client)
        .await
        .map_err(|e| RunError::db(&conn.server, "read the role's privileges", e))
}

/// Statements the target role cannot run, and those that need one of them: an error
/// with `--strict`, else skipped (listed). `section` is the list `statements` index.
fn filter_superuser<'a>(
    section: &[Statement],
    statements: impl Iterator<Item = (usize, &'a Statement)>,
    superuser: bool,
    strict: bool,
    skipped: &mut Vec<String>,
) -> Result<Vec<(usize, &'a Statement)>, RunError> {
    if superuser {
        return Ok(statements.collect());
    }
    let needs = Ddl::superuser_needs(section);
    let mut kept = Vec::new();
    for (i, s) in statements {
        if let Some(need) = needs[i] {
            // Said once per object: its owner and comment go with it.
            if let Some(what) = Ddl::describe_need(section, i, need) {
                if strict && !section[need].best_effort {
                    return Err(RunError::Refused(format!(
                        "--strict: {what} needs a superuser on the target"
                    )));
                }
                tracing::warn!("skipped {what} (needs a superuser on the target)");
                skipped.push(what);
            }
            continue;
        }
        kept.push((i, s));
    }
    Ok(kept)
}

/// Pre-data statements per target transaction. Every relation a transaction creates
/// stays locked until its commit, and the server's lock table holds about
/// `max_locks_per_transaction` (64 by default) × `max_connections` locks in all: a schema
/// of thousands of tables cannot be created in one transaction. A statement locks at
/// most a few relations (a table, its TOAST table and index, a sequence).
pub const PRE_DATA_BATCH: usize = 500;

/// Where pre-data starts: after `next` statements, the last of them named `last` (a
/// resumed run checks that the list still holds it there).
#[derive(Debug, Default)]
pub struct PreDataStart {
    pub next: usize,
    pub last: Option<String>,
}

/// Applies pre-data in transactions of [`PRE_DATA_BATCH`] statements, each journaled
/// (id, how far, last statement) before its commit; a schema smaller than that is
/// created all at once or not at all. Returns what was skipped.
pub async fn apply_pre_data(
    target: &Connection,
    ddl: &Ddl,
    options: &RunOptions,
    superuser: bool,
    journal: &dyn Journal,
    from: PreDataStart,
) -> Result<Vec<String>, RunError> {
    let mut skipped = Vec::new();
    let all = filter_superuser(
        &ddl.pre_data,
        ddl.pre_data.iter().enumerate(),
        superuser,
        options.strict,
        &mut skipped,
    )?;
    // Privileges on extension members come last, each on its own: the target's version
    // of an extension may lack a member the source's has (15's pg_stat_statements_reset
    // (oid, oid, bigint) is not 17's), and such a grant is skipped, not the run failed.
    let (members, statements): (Vec<_>, Vec<_>) =
        all.into_iter().partition(|(_, s)| s.extension_member);
    if from.next > 0 {
        let found = statements.get(from.next - 1).map(|(_, s)| &s.identity);
        if found != from.last.as_ref() {
            return Err(RunError::Refused(format!(
                "cannot resume: the source's schema changed since the stopped run (its \
                 pre-data statement {} was {}); start again with --clean",
                from.next,
                from.last.as_deref().unwrap_or("unnamed")
            )));
        }
    }
    let client = &target.client;
    client
        .batch_execute(Ddl::SESSION_SETUP)
        .await
        .map_err(|e| RunError::db(&target.server, "set up the session", e))?;
    let mut next = from.next;
    for batch in statements
        .get(from.next..)
        .unwrap_or(&[])
        .chunks(PRE_DATA_BATCH)
    {
        // The whole batch in one message: one round trip instead of one per statement,
        // which is what a distant target makes a schema of thousands of tables wait for.
        // (A newline ends each statement: its text may end in a line comment.)
        let mut script = String::from("BEGIN;\n");
        for (_, s) in batch {
            script.push_str(&s.sql);
            script.push_str("\n;\n");
        }
        if client.batch_execute(&script).await.is_err() {
            // Again one statement at a time, to name the one that fails.
            let _ = client.batch_execute("ROLLBACK").await;
            client
                .batch_execute("BEGIN")
                .await
                .map_err(|e| RunError::db(&target.server, "begin pre-data", e))?;
            for (_, s) in batch {
                if let Err(e) = client.batch_execute(&s.sql).await {
                    let _ = client.batch_execute("ROLLBACK").await;
                    return Err(RunError::Statement {
                        identity: s.identity.clone(),
                        sql: s.sql.clone(),
                        source: e,
                    });
                }
            }
        }
        let xid: String = client
            .query_one("SELECT txid_current()::text", &[])
            .await
            .map_err(|e| RunError::db(&target.server, "read the pre-data transaction id", e))?
            .get(0);
        next += batch.len();
        journal.record(&Event::PreDataCommitting {
            xid,
            next: Some(next),
            last: batch.last().map(|(_, s)| s.identity.clone()),
        })?;
        fault::point("pre_data_committing");
        client
            .batch_execute("COMMIT")
            .await
            .map_err(|e| RunError::db(&target.server, "commit pre-data", e))?;
    }
    for (_, s) in &members {
        match client.batch_execute(&s.sql).await {
            Ok(()) => {}
            Err(e) if e.code().is_some_and(|c| MEMBER_MISSING.contains(c)) => {
                let why = e
                    .as_db_error()
                    .map_or_else(|| e.to_string(), |d| d.message().into());
                if options.strict {
                    return Err(RunError::Statement {
                        identity: s.identity.clone(),
                        sql: s.sql.clone(),
                        source: e,
                    });
                }
                tracing::warn!(
                    "{}: skipped, the target's extension lacks it: {why}",
                    s.identity
                );
                skipped.push(format!(
                    "{} (the target's version of the extension lacks it: {why})",
                    s.identity
                ));
            }
            Err(e) => {
                return Err(RunError::Statement {
                    identity: s.identity.clone(),
                    sql: s.sql.clone(),
                    source: e,
                });
            }
        }
    }
    journal.append(&Event::PreDataDone)?;
    fault::point("pre_data_done");
    Ok(skipped)
}

/// How a grant on an extension member fails when the target's extension has no such
/// member: no such function, table, column or type.
const MEMBER_MISSING: &[SqlState] = &[
    SqlState::UNDEFINED_FUNCTION,
    SqlState::UNDEFINED_TABLE,
    SqlState::UNDEFINED_COLUMN,
    SqlState::UNDEFINED_OBJECT,
];

/// Statements that fail this way on a resumed run were done by the stopped run after
/// its last journal entry: `CREATE INDEX` (42P07), `ADD CONSTRAINT`/`CREATE TRIGGER`
/// (42710), a second primary key (42P16), and `ADD CONSTRAINT … USING INDEX` on an index
/// that already backs that constraint (55000, for constraints only).
fn already_done(error: &tokio_postgres::Error, kind: ObjectKind) -> bool {
    error.code().is_some_and(|c| {
        [
            SqlState::DUPLICATE_TABLE,
            SqlState::DUPLICATE_OBJECT,
            SqlState::INVALID_TABLE_DEFINITION,
        ]
        .contains(c)
            || (kind == ObjectKind::Constraint
                && *c == SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE
                && error
                    .as_db_error()
                    .is_some_and(|d| d.message().contains("already associated with a constraint")))
    })
}

fn wanted(kind: ObjectKind, sections: Sections) -> bool {
    let data = matches!(kind, ObjectKind::SequenceSet | ObjectKind::MatViewRefresh);
    match sections {
        Sections::All => true,
        Sections::SchemaOnly => !data,
        Sections::DataOnly => data,
    }
}

/// Turns post-data statements (and one `ANALYZE` per copied table) into tasks, except
/// the event triggers' statements, which go to `last` (for [`apply_event_triggers`]).
/// Returns what was skipped for want of superuser.
#[allow(clippy::too_many_arguments)]
pub fn post_tasks(
    ddl: &Ddl,
    tables: &Arc<Vec<SourceTable>>,
    options: &RunOptions,
    superuser: bool,
    journal: &Arc<dyn Journal>,
    resumed: Option<&JournalState>,
    // `SET LOCAL` statements of the source's output forms, which each statement runs with
    // (none: as it is).
    forms: &str,
    tasks: &mut Vec<PostTask>,
    last: &mut Vec<Statement>,
) -> Result<Vec<String>, RunError> {
    let index_of: HashMap<(String, String), usize> = tables
        .iter()
        .enumerate()
        .map(|(i, t)| ((t.schema.clone(), t.name.clone()), i))
        .collect();
    let needs = |names: &[&(String, String)]| -> Vec<usize> {
        names
            .iter()
            .filter_map(|n| index_of.get(*n).copied())
            .collect()
    };
    // Not copied (a view's trigger or comment): no rows at all.
    let small = |name: &(String, String)| {
        index_of
            .get(name)
            .is_none_or(|&i| tables[i].bytes < post_data::BATCH_BELOW_BYTES)
    };
    let mut skipped = Vec::new();
    let (held, kept): (Vec<_>, Vec<_>) = filter_superuser(
        &ddl.post_data,
        ddl.post_data
            .iter()
            .enumerate()
            .filter(|(_, s)| wanted(s.kind, options.sections)),
        superuser,
        options.strict,
        &mut skipped,
    )?
    .into_iter()
    .partition(|(_, s)| of_event_trigger(ddl, s));
    last.extend(held.into_iter().map(|(_, s)| s.clone()));
    let kept = merge_sequence_values(kept);
    let first = tasks.len();
    let task_of: HashMap<usize, usize> = kept
        .iter()
        .enumerate()
        .flat_map(|(n, (merged, _))| merged.iter().map(move |&i| (i, first + n)))
        .collect();
    for (merged, s) in &kept {
        let s: &Statement = s;
        let mut names: Vec<&(String, String)> = s.table.iter().collect();
        names.extend(s.waits_for.iter());
        // One copy of the text for the batch and the task alone, with the output forms
        // (the journal and the errors name the statement by its own text).
        let text: Arc<str> = Arc::from(s.sql.as_str());
        let sql: Arc<str> = if forms.is_empty() {
            Arc::clone(&text)
        } else {
            Arc::from(format!("{forms}; {}", s.sql))
        };
        let identity = s.identity.clone();
        let journal = Arc::clone(journal);
        let key = journal_key(s);
        let done_before = resumed.is_some_and(|r| r.post_data_done.contains(&key));
        let refused_before = resumed.is_some_and(|r| r.post_data_refused.contains(&key));
        let resuming = resumed.is_some();
        let kind = s.kind;
        // Resumed runs go one statement at a time, each allowed to find itself done.
        // A foreign key reads both its tables: both must be small.
        let batch = (!resuming
            && s.table.as_ref().is_some_and(small)
            && s.waits_for.iter().all(small)
            && kind != ObjectKind::MatViewRefresh)
            .then(|| {
                let journal = Arc::clone(&journal);
                let label = key.clone();
                BatchPart {
                    sql: Arc::clone(&sql),
                    committed: Box::new(move || post_data_done(&*journal, label.clone())),
                }
            });
        // Statements of an object after its first (an index's CLUSTER ON, REPLICA
        // IDENTITY, SET STATISTICS) carry its identity: named apart from it.
        let label = if s
            .depends_on
            .iter()
            .any(|&d| ddl.post_data[d].identity == s.identity)
        {
            format!("options of {}", s.identity)
        } else {
            s.identity.clone()
        };
        // An index attach completes the partitioned index it attaches to: without it,
        // that index stays invalid.
        let completes = s
            .completes
            .and_then(|d| task_of.get(&d).copied())
            .into_iter()
            .collect();
        // Each joined sequence value's own name, to say which the target refused.
        let sequences: Vec<String> = if merged.len() > 1 {
            merged
                .iter()
                .map(|&i| ddl.post_data[i].identity.clone())
                .collect()
        } else {
            Vec::new()
        };
        tasks.push(PostTask {
            label,
            owner: s.table.clone(),
            waits_for: s.waits_for.clone(),
            locks_also: s.locks_also.clone(),
            needs_loaded: needs(&names),
            phase: s.phase,
            after: s
                .depends_on
                .iter()
                .filter_map(|d| task_of.get(d).copied())
                .collect(),
            background: false,
            detached: false,
            pipelined: false,
            completes,
            batch,
            work: Box::new(move |client, attempt| {
                let (sql, text, identity, journal, key, sequences) = (
                    Arc::clone(&sql),
                    Arc::clone(&text),
                    identity.clone(),
                    Arc::clone(&journal),
                    key.clone(),
                    sequences.clone(),
                );
                Box::pin(async move {
                    if done_before {
                        return Ok(());
                    }
                    // Its object, found after this, may be this run's own.
                    if refused_before && attempt == Attempt::First {
                        journal.append(&Event::PostDataRetried { label: key.clone() })?;
                    }
                    match client.batch_execute(&sql).await {
                        // Tests: the connection lost just after the statement committed.
                        Ok(()) if fault::error("post_data_executed", &identity) => {
                            return Err(lose_connection(&client, identity, &text).await);
                        }
                        Ok(()) => {}
                        // By the stopped run, or by an attempt that failed after it.
                        Err(e)
                            if (resuming || attempt == Attempt::Again)
                                && already_done(&e, kind) =>
                        {
                            if refused_before && attempt == Attempt::First {
                                // Not this statement's doing: someone mended it so.
                                tracing::warn!(
                                    "{identity}: the target refused it in the stopped run, and \
                                     an object of its name is there now (made by hand?): kept \
                                     as it is; `pgsplit verify` compares it with the source's"
                                );
                            } else {
                                tracing::info!("{identity}: already done");
                            }
                        }
                        // Joined sequence values (one implicit transaction, nothing
                        // set): one at a time, each the target refuses named, the
                        // others set.
                        Err(_)
                            if kind == ObjectKind::SequenceSet
                                && text.contains(SEQUENCES_JOINED) =>
                        {
                            let mut refused = Vec::new();
                            for (n, one) in text.split(SEQUENCES_JOINED).enumerate() {
                                if let Err(source) = client.batch_execute(one).await {
                                    let identity = sequences
                                        .get(n)
                                        .cloned()
                                        .unwrap_or_else(|| "value of a sequence".into());
                                    let e = RunError::Statement {
                                        identity,
                                        sql: one.to_string(),
                                        source,
                                    };
                                    if !e.is_transient() {
                                        refused.push(e);
                                    } else {
                                        return Err(e);
                                    }
                                }
                            }
                            if !refused.is_empty() {
                                return Err(RunError::PostData(post_data::Failures {
                                    failed: refused,
                                    not_run: Vec::new(),
                                    stopped_by: None,
                                }));
                            }
                        }
                        Err(source) => {
                            let e = RunError::Statement {
                                identity,
                                sql: text.to_string(),
                                source,
                            };
                            if !e.is_transient() {
                                journal.append(&Event::PostDataRefused { label: key })?;
                            }
                            return Err(e);
                        }
                    }
                    post_data_done(&*journal, key)
                })
            }),
        });
    }
    if options.sections != Sections::SchemaOnly {
        for (index, table) in tables.iter().enumerate() {
            let sql: Arc<str> = Arc::from(format!("ANALYZE {}", table.qualified()));
            let batch = (table.bytes < post_data::BATCH_BELOW_BYTES).then(|| BatchPart {
                sql: Arc::clone(&sql),
                committed: Box::new(|| Ok(())),
            });
            tasks.push(PostTask {
                label: format!("analyze {}", table.display_name()),
                owner: Some((table.schema.clone(), table.name.clone())),
                waits_for: Vec::new(),
                locks_also: Vec::new(),
                needs_loaded: vec![index],
                phase: ANALYZE_PHASE,
                after: Vec::new(),
                background: true,
                detached: false,
                pipelined: false,
                completes: Vec::new(),
                batch,
                work: Box::new(move |client, _| {
                    let sql = Arc::clone(&sql);
                    Box::pin(async move { analyze(&client, &sql).await })
                }),
            });
        }
        // Partitioned tables hold no rows of their own, and autovacuum never analyzes
        // them: their statistics (of all their partitions) come once everything is in.
        tasks.push(PostTask {
            label: "analyze partitioned tables".into(),
            owner: None,
            waits_for: Vec::new(),
            locks_also: Vec::new(),
            needs_loaded: Vec::new(),
            phase: ANALYZE_PHASE,
            after: Vec::new(),
            background: false,
            detached: false,
            pipelined: false,
            completes: Vec::new(),
            batch: None,
            work: Box::new(|client, _| {
                Box::pin(async move {
                    let failed = |e| RunError::db_plain("analyze the partitioned tables", e);
                    // One statement (one transaction) each: one for all would hold a
                    // lock on every partition of every table until its end.
                    let tables = client.query(PARTITIONED, &[]).await.map_err(failed)?;
                    for table in tables {
                        let name: String = table.get(0);
                        analyze(&client, &format!("ANALYZE {name}")).await?;
                    }
                    Ok(())
                })
            }),
        });
    }
    Ok(skipped)
}

/// Runs `sql`, an `ANALYZE`. Statistics are the planner's, not the copy's: one the server
/// refuses (a statistics object over a function that finds objects by the search_path,
/// empty here) is left to autovacuum, with a warning, rather than failing a copy that is
/// complete. A lost connection or a
/// cancelled statement still fails the task (retried, or the run stopping).
async fn analyze(client: &tokio_postgres::Client, sql: &str) -> Result<(), RunError> {
    let Err(e) = client.batch_execute(sql).await else {
        return Ok(());
    };
    let canceled = e.code() == Some(&tokio_postgres::error::SqlState::QUERY_CANCELED);
    let error = RunError::db_plain(sql, e);
    if canceled || error.is_transient() {
        return Err(error);
    }
    tracing::warn!(
        "{error:#}; the table's statistics are left to autovacuum (its rows and the rest of \
         post-data are not affected)"
    );
    Ok(())
}

/// The partitioned tables of the target's own schemas, qualified (the session's
/// search_path is empty).
const PARTITIONED: &str = "SELECT c.oid::regclass::text FROM pg_catalog.pg_class c
      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind = 'p' AND n.nspname <> 'information_schema'
       AND n.nspname NOT LIKE 'pg\\_%' ORDER BY c.oid";

/// Whether a post-data statement creates an event trigger or belongs to one (its state,
/// comment and owner, which depend on the `CREATE EVENT TRIGGER`): those run after
/// everything else ([`apply_event_triggers`]).
fn of_event_trigger(ddl: &Ddl, s: &Statement) -> bool {
    let creates = |s: &Statement| s.kind == ObjectKind::EventTrigger;
    creates(s)
        || s.depends_on
            .iter()
            .any(|&d| ddl.post_data.get(d).is_some_and(creates))
}

/// Creates the event triggers (the statements [`post_tasks`] held back), as the run's
/// last statements (pg_dump too creates them last): an event trigger fires on DDL, and
/// one that refuses DDL would refuse the run's own. Each is journaled as a post-data
/// statement.
pub async fn apply_event_triggers(
    target: &ConnSettings,
    statements: &[Statement],
    journal: &dyn Journal,
    resumed: Option<&JournalState>,
) -> Result<(), RunError> {
    let todo: Vec<&Statement> = statements
        .iter()
        .filter(|s| !resumed.is_some_and(|r| r.post_data_done.contains(&journal_key(s))))
        .collect();
    if todo.is_empty() {
        return Ok(());
    }
    let conn = session::open(target).await?;
    conn.client
        .batch_execute(Ddl::SESSION_SETUP)
        .await
        .map_err(|e| RunError::db(&conn.server, "set up the session", e))?;
    for s in todo {
        match conn.client.batch_execute(&s.sql).await {
            Ok(()) => {}
            Err(e) if resumed.is_some() && already_done(&e, s.kind) => {
                tracing::info!("{}: already done by the stopped run", s.identity);
            }
            Err(source) => {
                return Err(RunError::Statement {
                    identity: s.identity.clone(),
                    sql: s.sql.clone(),
                    source,
                });
            }
        }
        post_data_done(journal, journal_key(s))?;
    }
    Ok(())
}

/// Ends the session's connection from the server side (tests, [`fault::error`]) and returns
/// the error the statement then gets.
async fn lose_connection(client: &Client, identity: String, sql: &str) -> RunError {
    match client
        .batch_execute("SELECT pg_catalog.pg_terminate_backend(pg_catalog.pg_backend_pid())")
        .await
    {
        Err(source) => RunError::Statement {
            identity,
            sql: sql.to_string(),
            source,
        },
        Ok(()) => RunError::Internal("the session outlived its own termination".into()),
    }
}

/// Journals a post-data statement that has run. Redone after a crash before this, the
/// statement answers "already exists".
fn post_data_done(journal: &dyn Journal, label: String) -> Result<(), RunError> {
    fault::point("post_data_executed");
    journal.append(&Event::PostDataDone { label })?;
    fault::point("post_data_done");
    Ok(())
}

/// Sequence values set per statement at most.
const SEQUENCES_PER_STATEMENT: usize = 500;

/// What joins sequence values into one statement.
const SEQUENCES_JOINED: &str = "\n;\n";

/// Joins runs of sequence values (`setval`, one short statement per sequence, run one
/// after another once all data is in) into statements of up to
/// [`SEQUENCES_PER_STATEMENT`]: a round trip each instead of one per sequence, which is
/// what thousands of sequences on a distant target wait for. Returns each statement with
/// the indices of the originals it stands for.
fn merge_sequence_values(kept: Vec<(usize, &Statement)>) -> Vec<(Vec<usize>, Cow<'_, Statement>)> {
    let joinable = |s: &Statement| {
        s.kind == ObjectKind::SequenceSet
            && s.table.is_none()
            && s.waits_for.is_empty()
            && s.depends_on.is_empty()
    };
    let mut out: Vec<(Vec<usize>, Cow<'_, Statement>)> = Vec::new();
    for (i, s) in kept {
        if let Some((merged, last)) = out.last_mut()
            && joinable(s)
            && joinable(last)
            && merged.len() < SEQUENCES_PER_STATEMENT
        {
            merged.push(i);
            let last = last.to_mut();
            last.sql.push_str(SEQUENCES_JOINED);
            last.sql.push_str(&s.sql);
            last.identity = format!("values of {} sequences", merged.len());
            continue;
        }
        out.push((vec![i], Cow::Borrowed(s)));
    }
    out
}

/// How the journal names a post-data statement: its identity and a hash of its SQL, so a
/// changed definition is not mistaken for a done one.
fn journal_key(s: &Statement) -> String {
    use sha2::{Digest, Sha256};
    let hash = Sha256::digest(s.sql.as_bytes());
    let short: String = hash[..6].iter().map(|b| format!("{b:02x}")).collect();
    format!("{} {short}", s.identity)
}

pub fn index_count(ddl: &Ddl) -> usize {
    ddl.post_data
        .iter()
        .filter(|s| s.kind == ObjectKind::Index)
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statement(kind: ObjectKind, name: &str, table: Option<&str>) -> Statement {
        Statement {
            kind,
            identity: name.to_string(),
            sql: format!("SELECT '{name}'"),
            table: table.map(|t| ("public".to_string(), t.to_string())),
            waits_for: Vec::new(),
            locks_also: Vec::new(),
            phase: 4,
            requires_superuser: false,
            depends_on: Vec::new(),
            completes: None,
            superuser_before: None,
            relation: None,
            extension_member: false,
            best_effort: false,
        }
    }

    #[test]
    fn event_triggers_are_held_back_with_their_comments() {
        let mut comment = statement(ObjectKind::Comment, "comment on event trigger e", None);
        comment.depends_on = vec![1];
        let ddl = Ddl {
            pre_data: Vec::new(),
            post_data: vec![
                statement(ObjectKind::Comment, "comment on table t", None),
                statement(ObjectKind::EventTrigger, "event trigger e", None),
                comment,
            ],
            ..Ddl::default()
        };
        let held: Vec<&str> = ddl
            .post_data
            .iter()
            .filter(|s| of_event_trigger(&ddl, s))
            .map(|s| s.identity.as_str())
            .collect();
        assert_eq!(held, ["event trigger e", "comment on event trigger e"]);
    }

    #[test]
    fn runs_of_sequence_values_become_one_statement_each() {
        let set = |n: &str| statement(ObjectKind::SequenceSet, n, None);
        let list = [
            set("a"),
            set("b"),
            set("c"),
            statement(ObjectKind::Comment, "comment", None),
            set("d"),
            statement(ObjectKind::SequenceSet, "owned", Some("t")),
            set("e"),
        ];
        let merged = merge_sequence_values(list.iter().enumerate().collect());
        let groups: Vec<&[usize]> = merged.iter().map(|(m, _)| m.as_slice()).collect();
        assert_eq!(groups, [&[0, 1, 2][..], &[3], &[4], &[5], &[6]]);
        assert_eq!(merged[0].1.identity, "values of 3 sequences");
        assert_eq!(merged[0].1.sql, "SELECT 'a'\n;\nSELECT 'b'\n;\nSELECT 'c'");
        assert_eq!(merged[4].1.sql, "SELECT 'e'");
    }
}
