//! Verification inside a run: once a table is loaded, its target copy is read back and
//! its row count (and digest) compared with what left the source inside the snapshot.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use pgsplit_copy::{Chunk, CopySpec, Counters, Digest, Format, Moved, SourceTable, chunk};
use pgsplit_pg::Connection;
use pgsplit_schema::{ObjectKind, Statement};

use super::data::{ItemResult, WorkItem};
use super::error::RunError;
use super::options::VerifyLevel;
use super::post_data::PostTask;
use super::report::{ChunkReport, TableReport, Verification};
use crate::verify::ReadError;
use crate::verify::tables::{PIPELINED_BELOW_BYTES, read_rows};

/// Verification reads a table back once its indexes and the constraints built from
/// them are in (those take locks a long read would hold up), beside its foreign keys and
/// `ANALYZE`; nothing waits for it.
const VERIFY_PHASE: u8 = 3;

/// A table read back in pieces gets one piece per this many bytes (at most one per
/// post-data session), so that the read-back of the last, largest table is not one
/// long single-session tail.
const READ_BACK_PIECE_BYTES: i64 = 16 * 1024 * 1024;

pub type Verifications = Arc<Mutex<Vec<(usize, Verification)>>>;

/// Counts and hashes what the target holds for one table (or one range of its pages), the
/// same way the copy did (and `pgsplit verify` does). The target is read without the
/// table's row filter: it holds only what the filter let through, and the filter may not
/// mean the same there (a `follow` subquery over a parent not loaded yet, `now()`, tables
/// of the source only).
pub async fn read_target(
    client: &tokio_postgres::Client,
    table: &SourceTable,
    chunk: &Chunk,
    level: VerifyLevel,
) -> Result<(u64, Option<Digest>), RunError> {
    let spec = CopySpec {
        table,
        format: table.format,
        predicate: chunk.predicate(),
        guard: false,
    };
    // Text forms of OID alias values (`regclass`) depend on the search_path: this DDL
    // session's empty one names objects as the copy's sessions (pg_catalog alone) do.
    let found = read_rows(client, &spec, level, &Counters::default()).await;
    found.map_err(|e| match e {
        ReadError::Count(e) => RunError::db_plain("count target rows", e),
        ReadError::Copy(e) => RunError::Copy(e),
    })
}

/// The pieces a table is read back in: one per [`READ_BACK_PIECE_BYTES`], at most
/// `sessions`, cut like the copy's chunks (ranges of pages on PostgreSQL 14+, whose TID
/// range scans read only their pages; the last range is open-ended, so pages the target
/// has beyond the source's count are read too). Older targets read a table whole.
fn read_back_pieces(table: &SourceTable, sessions: usize, target_version: i32) -> Vec<Chunk> {
    let wanted = (table.bytes.max(0) / READ_BACK_PIECE_BYTES).min(sessions as i64);
    if wanted < 2 {
        return vec![Chunk::Whole];
    }
    let per_piece = (table.bytes + wanted - 1) / wanted;
    chunk::plan_chunks(table, Some(per_piece), target_version, None)
}

/// What the pieces of one table's read-back have found so far.
struct ReadBack {
    left: usize,
    rows: u64,
    digest: Option<Digest>,
    started: Option<Instant>,
}

/// Adds one verification task per table. `created_by_run`: the run created every table
/// empty (not `--data-only`), so each table holds exactly the rows its COPYs stored, and
/// the target's own count of those was compared with the rows that left the source
/// as each item committed (a difference fails the item): for `--verify count`, reading the
/// tables back would count the same rows again.
#[allow(clippy::too_many_arguments)]
pub fn add_tasks(
    tables: &Arc<Vec<SourceTable>>,
    level: VerifyLevel,
    created_by_run: bool,
    sessions: usize,
    target_version: i32,
    totals: &Arc<Vec<Mutex<Moved>>>,
    verifications: &Verifications,
    tasks: &mut Vec<PostTask>,
) {
    if level == VerifyLevel::None {
        return;
    }
    for (index, table) in tables.iter().enumerate() {
        let read_back = level == VerifyLevel::Checksum || !created_by_run;
        let pieces = if read_back {
            read_back_pieces(table, sessions, target_version)
        } else {
            vec![Chunk::Whole]
        };
        let piece_count = pieces.len();
        let found = Arc::new(Mutex::new(ReadBack {
            left: piece_count,
            rows: 0,
            digest: (level == VerifyLevel::Checksum).then(Digest::default),
            started: None,
        }));
        for chunk in pieces {
            let tables = Arc::clone(tables);
            let totals = Arc::clone(totals);
            let verifications = Arc::clone(verifications);
            let found = Arc::clone(&found);
            let label = match chunk {
                Chunk::Whole => format!("verify {}", table.display_name()),
                ref c => format!("verify {} [{}]", table.display_name(), c.label()),
            };
            tasks.push(PostTask {
                label,
                owner: Some((table.schema.clone(), table.name.clone())),
                waits_for: Vec::new(),
                locks_also: Vec::new(),
                needs_loaded: vec![index],
                phase: VERIFY_PHASE,
                after: Vec::new(),
                background: false,
                detached: true,
                pipelined: !read_back || table.bytes < PIPELINED_BELOW_BYTES,
                completes: Vec::new(),
                batch: None,
                work: Box::new(move |client, _| {
                    let (tables, totals, verifications, found) = (
                        Arc::clone(&tables),
                        Arc::clone(&totals),
                        Arc::clone(&verifications),
                        Arc::clone(&found),
                    );
                    let chunk = chunk.clone();
                    Box::pin(async move {
                        let table = &tables[index];
                        found
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .started
                            .get_or_insert_with(Instant::now);
                        let (rows, digest) = if read_back {
                            read_target(&client, table, &chunk, level)
                                .await
                                .map_err(|e| e.in_table(table, &chunk))?
                        } else {
                            (
                                totals[index].lock().unwrap_or_else(|e| e.into_inner()).rows,
                                None,
                            )
                        };
                        let mut found = found.lock().unwrap_or_else(|e| e.into_inner());
                        found.rows += rows;
                        if let (Some(sum), Some(piece)) = (found.digest.as_mut(), digest) {
                            sum.combine(&piece);
                        }
                        found.left -= 1;
                        if found.left > 0 {
                            return Ok(());
                        }
                        let source = *totals[index].lock().unwrap_or_else(|e| e.into_inner());
                        let source_digest =
                            (level == VerifyLevel::Checksum).then_some(source.digest);
                        let target_rows = found.rows;
                        let target_digest = found.digest;
                        let matches = source.rows == target_rows && source_digest == target_digest;
                        if !matches {
                            let what = if source.rows == target_rows {
                                format!(
                                    "{target_rows} rows on both sides, but their checksums differ"
                                )
                            } else {
                                format!("source {} rows, target {target_rows} rows", source.rows)
                            };
                            tracing::error!(
                                "verification failed for {}: {what}",
                                table.display_name()
                            );
                        }
                        let seconds = found
                            .started
                            .map(|t| t.elapsed().as_secs_f64())
                            .unwrap_or_default();
                        verifications
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push((
                                index,
                                Verification {
                                    level,
                                    source_rows: source.rows,
                                    target_rows,
                                    source_digest,
                                    target_digest,
                                    matches,
                                    read_back,
                                    pieces: piece_count,
                                    seconds,
                                },
                            ));
                        Ok(())
                    })
                }),
            });
        }
    }
}

/// Per-table rows of the report, from the items' results and the verifications.
pub fn table_reports(
    tables: &[SourceTable],
    items: &[WorkItem],
    results: &[ItemResult],
    verifications: &Verifications,
) -> Vec<TableReport> {
    let mut verifications =
        std::mem::take(&mut *verifications.lock().unwrap_or_else(|e| e.into_inner()));
    tables
        .iter()
        .enumerate()
        .map(|(index, table)| {
            let mine: Vec<&ItemResult> = results
                .iter()
                .filter(|r| items[r.item].table == index)
                .collect();
            let rows = mine.iter().map(|r| r.moved.rows).sum();
            let bytes: u64 = mine.iter().map(|r| r.moved.bytes).sum();
            // Time and speed of what this run copied: chunks a resume kept took none.
            let copied: Vec<&&ItemResult> = mine.iter().filter(|r| !r.resumed).collect();
            let copied_bytes: u64 = copied.iter().map(|r| r.moved.bytes).sum();
            let seconds = match (
                copied.iter().map(|r| r.started).min(),
                copied.iter().map(|r| r.finished).max(),
            ) {
                (Some(a), Some(b)) => (b - a).as_secs_f64(),
                _ => 0.0,
            };
            let verification = verifications
                .iter()
                .position(|(t, _)| *t == index)
                .map(|p| verifications.swap_remove(p).1);
            let chunks_planned = items.iter().filter(|i| i.table == index).count();
            TableReport {
                schema: table.schema.clone(),
                name: table.name.clone(),
                format: table.format,
                chunks: mine
                    .iter()
                    .map(|r| ChunkReport {
                        chunk: items[r.item].chunk.label(),
                        resumed: r.resumed,
                        rows: r.moved.rows,
                        bytes: r.moved.bytes,
                        seconds: (r.finished - r.started).as_secs_f64(),
                    })
                    .collect(),
                chunks_planned,
                complete: mine.len() >= chunks_planned,
                rows,
                bytes,
                seconds,
                mb_per_second: if seconds > 0.0 {
                    copied_bytes as f64 / 1e6 / seconds
                } else {
                    0.0
                },
                verification,
            }
        })
        .collect()
}

/// `--data-only`: every table must exist on the target with the same columns and be
/// empty (not when `resuming`: the stopped run's rows are there, and the journal knows
/// which). A column whose target type differs makes that table travel in text format.
/// The sequences whose values and the materialized views whose refresh `post_data` holds
/// must be there too (they were found after every table was loaded).
pub async fn check_data_only_target(
    target: &Connection,
    tables: &[SourceTable],
    resuming: bool,
    post_data: &[Statement],
) -> Result<Vec<SourceTable>, RunError> {
    let saved = pgsplit_copy::tables::empty_search_path(&target.client)
        .await
        .map_err(|e| RunError::db(&target.server, "empty the search_path", e))?;
    let mut problems = Vec::new();
    let checked = compare_data_only_tables(target, tables, resuming, &mut problems).await;
    let relations = missing_data_only_relations(target, post_data, &mut problems).await;
    pgsplit_copy::tables::restore_search_path(&target.client, &saved)
        .await
        .map_err(|e| RunError::db(&target.server, "restore the search_path", e))?;
    let checked = checked?;
    relations?;
    if !problems.is_empty() {
        return Err(RunError::Refused(format!(
            "--data-only: the target does not match:\n  {}",
            problems.join("\n  ")
        )));
    }
    Ok(checked)
}

/// Adds to `problems` each sequence or materialized view of `post_data`'s data
/// statements that the target lacks, or has as another kind of relation, or that the
/// target role may not set (a sequence needs UPDATE) or refresh (a materialized view
/// needs its owner's rights, or MAINTAIN on PostgreSQL 17+; its owner needs to read
/// what its query reads): the run would fail after the rows are in.
async fn missing_data_only_relations(
    target: &Connection,
    post_data: &[Statement],
    problems: &mut Vec<String>,
) -> Result<(), RunError> {
    // (relkind, what it is, schema.name, "schema"."name")
    let wanted: Vec<(&str, &str, String, String)> = post_data
        .iter()
        .filter_map(|s| {
            let (relkind, what) = match s.kind {
                ObjectKind::SequenceSet => ("S", "sequence"),
                ObjectKind::MatViewRefresh => ("m", "materialized view"),
                _ => return None,
            };
            let (schema, name) = s.relation.as_ref()?;
            Some((
                relkind,
                what,
                format!("{schema}.{name}"),
                pgsplit_pg::quote::qualified(schema, name),
            ))
        })
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = wanted.iter().map(|w| w.3.as_str()).collect();
    let found = target
        .client
        .query(include_str!("data_only_relations.sql"), &[&names])
        .await
        .map_err(|e| {
            RunError::db(
                &target.server,
                "look for sequences and materialized views",
                e,
            )
        })?;
    for ((relkind, what, display, _), row) in wanted.iter().zip(&found) {
        if row.get::<_, Option<String>>("relkind").as_deref() != Some(relkind) {
            problems.push(format!(
                "{what} {display} does not exist on the target (its {} comes from the source)",
                if *relkind == "S" { "value" } else { "refresh" }
            ));
        } else if !row.get::<_, bool>("may") {
            problems.push(if *relkind == "S" {
                format!("the target role may not set sequence {display} (it needs UPDATE on it)")
            } else {
                format!(
                    "the target role may not refresh materialized view {display} (it must \
                     own it, or on PostgreSQL 17+ have MAINTAIN on it)"
                )
            });
        } else if let Some(unreadable) = row.get::<_, Option<String>>("unreadable") {
            problems.push(format!(
                "materialized view {display} cannot be refreshed: its owner {} lacks \
                 {unreadable} (the refresh runs its query as the owner)",
                row.get::<_, String>("owner")
            ));
        }
    }
    Ok(())
}

/// [`check_data_only_target`] with an empty search_path: type names as the source's
/// [`pgsplit_copy::tables::read_tables`] gives them.
async fn compare_data_only_tables(
    target: &Connection,
    tables: &[SourceTable],
    resuming: bool,
    problems: &mut Vec<String>,
) -> Result<Vec<SourceTable>, RunError> {
    let mut checked = Vec::with_capacity(tables.len());
    for table in tables {
        // One row per column; one without a column for a table that has none; none for
        // a table the target lacks.
        let rows = target
            .client
            .query(
                &pgsplit_copy::tables::with_base_type(include_str!("target_columns.sql")),
                &[&table.qualified()],
            )
            .await
            .map_err(|e| RunError::db(&target.server, "read target columns", e))?;
        let Some(first) = rows.first() else {
            problems.push(format!(
                "table {} does not exist on the target",
                table.display_name()
            ));
            continue;
        };
        let relkind: String = first.get("relkind");
        if relkind == "p" {
            // Its rows would go to its partitions, but the emptiness check, the count and
            // the read-back would see none of them (they read the table itself, as the
            // source's).
            problems.push(format!(
                "table {} is partitioned on the target and not on the source: make it a \
                 plain table, or load it another way",
                table.display_name()
            ));
            continue;
        }
        if relkind != "r" {
            problems.push(format!(
                "{} on the target is not a table (a view, a foreign table, …): rows cannot \
                 be copied into it",
                table.display_name()
            ));
            continue;
        }
        struct TargetColumn {
            name: String,
            type_name: String,
            base_type: String,
            generated: bool,
            needs_value: bool,
        }
        let columns: Vec<TargetColumn> = rows
            .iter()
            .filter_map(|r| {
                Some(TargetColumn {
                    name: r.get::<_, Option<String>>("name")?,
                    type_name: r.get::<_, Option<String>>("type_name")?,
                    base_type: r.get::<_, Option<String>>("base_type")?,
                    generated: r.get::<_, Option<bool>>("generated")?,
                    needs_value: r.get::<_, Option<bool>>("needs_value")?,
                })
            })
            .collect();
        let mut table = table.clone();
        // A column the source generates and the target holds as a plain one: its values
        // are copied (read on the source by a SELECT), not left to the column's default.
        let (copied, generated): (Vec<_>, Vec<_>) = std::mem::take(&mut table.generated)
            .into_iter()
            .partition(|g| columns.iter().any(|c| c.name == g.name && !c.generated));
        table.generated = generated;
        if !copied.is_empty() && !table.generated_binary {
            table.format = Format::Text;
        }
        table.columns.extend(copied);
        let name = table.display_name();
        let mut any_text = false;
        for column in &mut table.columns {
            match columns.iter().find(|c| c.name == column.name) {
                None => problems.push(format!(
                    "column {name}.{} does not exist on the target",
                    column.name
                )),
                Some(c) if c.generated => problems.push(format!(
                    "column {name}.{} is generated on the target: it takes no value",
                    column.name
                )),
                Some(c) => any_text |= column.fit_to(&c.type_name, &c.base_type),
            }
        }
        if any_text {
            table.format = Format::Text;
        }
        let mut defaulted = Vec::new();
        for c in columns.iter().filter(|c| !c.generated) {
            if table.columns.iter().any(|s| s.name == c.name) {
                continue;
            }
            if c.needs_value {
                problems.push(format!(
                    "column {}.{} is NOT NULL (or of a NOT NULL domain) without a default on \
                     the target and the source has no such column: no row could be copied",
                    table.display_name(),
                    c.name
                ));
            } else {
                defaulted.push(c.name.as_str());
            }
        }
        if !defaulted.is_empty() && !resuming {
            // A column the source lacks.
            tracing::warn!(
                "--data-only: {} has column(s) the source does not copy ({}): they get their \
                 default (or NULL)",
                table.display_name(),
                defaulted.join(", ")
            );
        }
        if resuming {
            checked.push(table);
            continue;
        }
        if has_rows(target, &table).await? {
            problems.push(format!(
                "table {} on the target is not empty",
                table.display_name()
            ));
        }
        checked.push(table);
    }
    Ok(checked)
}

/// Whether `table` holds a row on the target.
pub(super) async fn has_rows(target: &Connection, table: &SourceTable) -> Result<bool, RunError> {
    Ok(target
        .client
        .query_one(
            &format!("SELECT EXISTS (SELECT 1 FROM ONLY {})", table.qualified()),
            &[],
        )
        .await
        .map_err(|e| RunError::db(&target.server, "look for rows", e))?
        .get(0))
}
