//! Table rows on both sides: tables paired by name, each side cut into its own chunks,
//! every (side, chunk) read by `--jobs` workers per side, inside that side's snapshot;
//! chunk counts and digests add up to the table's, which are then compared.
//!
//! A table may carry a row filter (a split's predicate): the source side then reads only
//! the rows that the target should hold, the target side reads all of its rows.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::StreamExt;
use futures::stream::FuturesOrdered;
use tokio::task::JoinSet;
use tokio_postgres::Client;

use pgsplit_copy::{Chunk, CopySpec, Counters, Digest, SourceTable, chunk, pass, snapshot};
use pgsplit_pg::{ConnSettings, Connection, quote};

use super::error::{ReadError, VerifyError};
use super::report::{SideRows, TableVerification};
use crate::progress::Progress;
use crate::run::VerifyLevel;
use crate::session;

/// Locks wait at most this long: a verify must not queue forever behind a DDL lock.
const LOCK_TIMEOUT: &str = "60s";
/// Tables locked per `LOCK TABLE` statement.
const LOCK_BATCH: usize = 500;

/// Sets up every verify session, on both sides: the text forms of values (text-format
/// tables, constants in deparsed definitions) then do not depend on each server's
/// defaults ([`pgsplit_copy::DATA_SESSION_SETUP`]), and long reads are not cut off.
pub async fn set_up_session(client: &tokio_postgres::Client) -> Result<(), tokio_postgres::Error> {
    client.batch_execute(pgsplit_copy::DATA_SESSION_SETUP).await
}

/// One table present on both sides, and how each side is read.
#[derive(Clone, Debug)]
pub struct TablePlan {
    /// The source's view: its columns and format are used on both sides.
    pub source: SourceTable,
    /// The target's own size, for cutting the target side into chunks.
    pub target: SourceTable,
    /// Only these source rows belong on the target (a SQL boolean expression).
    pub row_filter: Option<String>,
    pub source_chunks: Vec<Chunk>,
    pub target_chunks: Vec<Chunk>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Source,
    Target,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Source => "source",
            Side::Target => "target",
        }
    }
}

/// Where one side's workers connect and which snapshot they share (`None`: each worker
/// takes a fresh read-only snapshot of its own).
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub settings: ConnSettings,
    pub snapshot: Option<String>,
}

/// The problem of a table only the target has.
const EXTRA_ON_TARGET: &str = "extra on target";

/// Pairs the tables of both sides by name. Tables on one side only, and tables whose
/// columns differ, are findings (returned as non-matching verifications); the rest are
/// returned as pairs to read, in source order. With `data_only` (the target's tables are
/// the user's own), each source table is read as [`fit_to_target`] says, and tables only
/// the target has are no finding.
pub fn pair_tables(
    source: Vec<SourceTable>,
    target: Vec<SourceTable>,
    row_filters: &HashMap<(String, String), String>,
    data_only: bool,
) -> (Vec<(SourceTable, SourceTable)>, Vec<TableVerification>) {
    let mut target: HashMap<(String, String), SourceTable> = target
        .into_iter()
        .map(|t| ((t.schema.clone(), t.name.clone()), t))
        .collect();
    let mut pairs = Vec::new();
    let mut findings = Vec::new();
    for s in source {
        let key = (s.schema.clone(), s.name.clone());
        let filter = row_filters.get(&key).cloned();
        match target.remove(&key) {
            None => findings.push(finding(&s, filter, "missing on target")),
            Some(t) if data_only => {
                let mut s = s;
                match fit_to_target(&mut s, &t) {
                    Ok(()) => {
                        select_where_target_generates(&mut s, &t);
                        pairs.push((s, t));
                    }
                    Err(problem) => findings.push(finding(&s, filter, &problem)),
                }
            }
            Some(t) => {
                let mut a: Vec<(&str, &str)> = s
                    .columns
                    .iter()
                    .map(|c| (c.name.as_str(), c.type_name.as_str()))
                    .collect();
                let mut b: Vec<(&str, &str)> = t
                    .columns
                    .iter()
                    .map(|c| (c.name.as_str(), c.type_name.as_str()))
                    .collect();
                a.sort_unstable();
                b.sort_unstable();
                if a != b {
                    findings.push(finding(&s, filter, "columns differ (see the schema)"));
                } else {
                    let mut s = s;
                    select_where_target_generates(&mut s, &t);
                    pairs.push((s, t));
                }
            }
        }
    }
    if !data_only {
        let mut extra: Vec<SourceTable> = target.into_values().collect();
        extra.sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
        findings.extend(extra.iter().map(|t| finding(t, None, EXTRA_ON_TARGET)));
    }
    (pairs, findings)
}

/// A column the target generates and the source does not is read by a `SELECT` on both
/// sides (the source's table decides how both are read): a `COPY` of the target's table
/// cannot list it.
fn select_where_target_generates(table: &mut SourceTable, target: &SourceTable) {
    for c in &mut table.columns {
        if target
            .columns
            .iter()
            .any(|t| t.name == c.name && t.generated)
        {
            c.generated = true;
        }
    }
}

/// A source table as both sides of a `--data-only` copy are read (as the run reads them
/// back): its columns, by name; one of another type on the target (or of a domain over
/// another type) in text, read on both sides as the source's type when that is built in,
/// so that only values the target's type changed differ; a generated column when the
/// target has it (generated there too, or plain: the run copies its values into a
/// plain one); the target's other columns not at all. A column the target lacks is the
/// problem returned.
pub fn fit_to_target(table: &mut SourceTable, target: &SourceTable) -> Result<(), String> {
    let mut missing = Vec::new();
    let mut in_text = false;
    table
        .columns
        .retain_mut(|c| match target.columns.iter().find(|t| t.name == c.name) {
            None => {
                if !c.generated {
                    missing.push(c.name.clone());
                }
                false
            }
            Some(t) => {
                in_text |= c.fit_to(&t.type_name, &t.base_type);
                true
            }
        });
    if !missing.is_empty() {
        return Err(format!(
            "column(s) missing on target: {}",
            missing.join(", ")
        ));
    }
    if in_text {
        table.format = pgsplit_copy::Format::Text;
    }
    Ok(())
}

fn finding(table: &SourceTable, row_filter: Option<String>, problem: &str) -> TableVerification {
    TableVerification {
        schema: table.schema.clone(),
        name: table.name.clone(),
        format: table.format,
        row_filter,
        source: None,
        target: None,
        matches: false,
        problem: Some(problem.to_string()),
        seconds: 0.0,
    }
}

/// How one side of a table is cut: ctid pages from PostgreSQL 14, an integer key before.
pub async fn plan_chunks(
    client: &Client,
    table: &SourceTable,
    split_larger_than: Option<i64>,
    version: i32,
) -> Result<Vec<Chunk>, tokio_postgres::Error> {
    let big = split_larger_than.is_some_and(|t| table.bytes > t.max(chunk::MIN_CHUNK_BYTES));
    let bounds = match table.int_key.as_ref().filter(|_| big && version < 140000) {
        None => None,
        Some(key) => {
            let key = quote::ident(key);
            let row = client
                .query_one(
                    &format!(
                        "SELECT min({key})::int8, max({key})::int8 FROM ONLY {}",
                        table.qualified()
                    ),
                    &[],
                )
                .await?;
            row.get::<_, Option<i64>>(0)
                .zip(row.get::<_, Option<i64>>(1))
        }
    };
    Ok(chunk::plan_chunks(
        table,
        split_larger_than,
        version,
        bounds,
    ))
}

/// Holds `ACCESS SHARE` on every table until the transaction ends, so that no rewrite
/// (`TRUNCATE`, `ALTER TABLE … TYPE`) empties a table under the snapshot.
pub async fn lock(conn: &Connection, tables: &[SourceTable]) -> Result<(), VerifyError> {
    for batch in tables.chunks(LOCK_BATCH) {
        let names: Vec<String> = batch.iter().map(SourceTable::qualified).collect();
        conn.client
            .batch_execute(&format!(
                "SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'; LOCK TABLE {} IN ACCESS SHARE MODE",
                names.join(", ")
            ))
            .await
            .map_err(|e| VerifyError::db(&conn.server, "lock the tables to verify", e))?;
    }
    Ok(())
}

/// Counts (and at `checksum`, hashes) the rows a spec selects, the way the copy framed
/// them on their way to the target.
pub async fn read_rows(
    client: &Client,
    spec: &CopySpec<'_>,
    level: VerifyLevel,
    counters: &Counters,
) -> Result<(u64, Option<Digest>), ReadError> {
    if level != VerifyLevel::Checksum {
        let filter = spec
            .predicate
            .as_ref()
            .map(|p| format!(" WHERE {p}"))
            .unwrap_or_default();
        let row = client
            .query_typed_one(
                &format!(
                    "SELECT count(*) FROM ONLY {}{filter}",
                    spec.table.qualified()
                ),
                &[],
            )
            .await
            .map_err(ReadError::Count)?;
        return Ok((row.get::<_, i64>(0) as u64, None));
    }
    let moved = pass::read(client, spec, true, counters).await?;
    Ok((moved.rows, Some(moved.digest)))
}

struct Item {
    table: usize,
    chunk: Chunk,
    estimated_bytes: i64,
}

/// What has been read of one table so far.
#[derive(Default)]
struct Tally {
    source: SideRows,
    target: SideRows,
    remaining: usize,
    started: Option<Instant>,
    finished: Option<Instant>,
}

struct Shared {
    plans: Arc<Vec<TablePlan>>,
    level: VerifyLevel,
    progress: Arc<Progress>,
    tallies: Vec<Mutex<Tally>>,
    stop: AtomicBool,
}

/// Reads every table on both sides with `jobs` workers per side and compares them.
pub async fn compare(
    plans: Arc<Vec<TablePlan>>,
    source: Endpoint,
    target: Endpoint,
    jobs: usize,
    level: VerifyLevel,
    progress: Arc<Progress>,
) -> Result<Vec<TableVerification>, VerifyError> {
    let mut queues = [VecDeque::new(), VecDeque::new()];
    let mut tallies = Vec::with_capacity(plans.len());
    for (index, plan) in plans.iter().enumerate() {
        for (side, table, chunks) in [
            (Side::Source, &plan.source, &plan.source_chunks),
            (Side::Target, &plan.target, &plan.target_chunks),
        ] {
            let per = table.bytes.max(0) / chunks.len().max(1) as i64;
            let queue = &mut queues[side as usize];
            queue.extend(chunks.iter().map(|chunk| Item {
                table: index,
                chunk: chunk.clone(),
                estimated_bytes: per,
            }));
        }
        tallies.push(Mutex::new(Tally {
            remaining: plan.source_chunks.len() + plan.target_chunks.len(),
            ..Tally::default()
        }));
    }
    for queue in &mut queues {
        queue
            .make_contiguous()
            .sort_by_key(|i| std::cmp::Reverse(i.estimated_bytes));
    }
    let shared = Arc::new(Shared {
        plans: Arc::clone(&plans),
        level,
        progress,
        tallies,
        stop: AtomicBool::new(false),
    });
    let mut workers = JoinSet::new();
    for (side, endpoint, queue) in [
        (Side::Source, source, std::mem::take(&mut queues[0])),
        (Side::Target, target, std::mem::take(&mut queues[1])),
    ] {
        let count = jobs.max(1).min(queue.len());
        let queue = Arc::new(Mutex::new(queue));
        let endpoint = Arc::new(endpoint);
        for _ in 0..count {
            let shared = Arc::clone(&shared);
            let queue = Arc::clone(&queue);
            let endpoint = Arc::clone(&endpoint);
            workers.spawn(async move {
                let outcome = worker(side, &endpoint, &queue, &shared).await;
                if outcome.is_err() {
                    shared.stop.store(true, Ordering::Relaxed);
                }
                outcome
            });
        }
    }
    let mut first_error = None;
    while let Some(joined) = workers.join_next().await {
        let outcome =
            joined.unwrap_or_else(|e| Err(VerifyError::Internal(format!("worker panicked: {e}"))));
        if let Err(e) = outcome {
            first_error.get_or_insert(e);
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    Ok(plans
        .iter()
        .zip(&shared.tallies)
        .map(|(plan, tally)| {
            let tally = tally.lock().unwrap_or_else(|e| e.into_inner());
            verdict(plan, &tally)
        })
        .collect())
}

async fn worker(
    side: Side,
    endpoint: &Endpoint,
    queue: &Mutex<VecDeque<Item>>,
    shared: &Shared,
) -> Result<(), VerifyError> {
    let conn = session::open(&endpoint.settings).await?;
    set_up_session(&conn.client)
        .await
        .map_err(|e| VerifyError::db(&conn.server, "set up the session", e))?;
    let begun = match &endpoint.snapshot {
        Some(id) => snapshot::import(&conn.client, id).await,
        None => snapshot::begin_read_only(&conn.client).await,
    };
    begun.map_err(|e| VerifyError::db(&conn.server, "start a read-only snapshot", e))?;
    // Reads sent on this session whose answers are still coming, in the order sent: the
    // server runs them one after the other without waiting for the client.
    let mut reads = FuturesOrdered::new();
    // Only small reads go together: a large one holds up what is sent after it, which
    // another session could read meanwhile. (The queue is largest first.)
    let small = |item: &Item| item.estimated_bytes < PIPELINED_BELOW_BYTES;
    let mut all_small = true;
    loop {
        while reads.len() < READS_IN_FLIGHT && !shared.stop.load(Ordering::Relaxed) {
            let mut queue = queue.lock().unwrap_or_else(|e| e.into_inner());
            let joins = all_small && queue.front().is_some_and(small);
            if !reads.is_empty() && !joins {
                break;
            }
            let Some(item) = queue.pop_front() else {
                break;
            };
            all_small = small(&item);
            reads.push_back(read_item(side, &conn, item, shared));
        }
        match reads.next().await {
            Some(read) => read?,
            None => return Ok(()),
        }
    }
}

/// Small tables (or chunks) a session asks for before the answers to the ones before
/// came, at most (here and in a run's read-backs): a round trip per several tables
/// instead of one each, which a distant server with many tables makes count.
pub const READS_IN_FLIGHT: usize = 16;

/// Reads of items estimated below this size may be sent before the previous answers.
pub const PIPELINED_BELOW_BYTES: i64 = 1024 * 1024;

/// Reads one side of one item and adds it to its table's tally.
async fn read_item(
    side: Side,
    conn: &Connection,
    item: Item,
    shared: &Shared,
) -> Result<(), VerifyError> {
    let plan = &shared.plans[item.table];
    let spec = CopySpec {
        table: &plan.source,
        format: plan.source.format,
        predicate: pgsplit_copy::chunk::with_filter(
            &item.chunk,
            (side == Side::Source)
                .then_some(plan.row_filter.as_deref())
                .flatten(),
        ),
        guard: false,
    };
    let counters = Arc::new(Counters::default());
    let label = match item.chunk {
        Chunk::Whole => format!("verify {} ({})", plan.source.display_name(), side.name()),
        ref c => format!(
            "verify {} [{}] ({})",
            plan.source.display_name(),
            c.label(),
            side.name()
        ),
    };
    let _active = shared.progress.start(
        label,
        Some(Arc::clone(&counters)),
        item.estimated_bytes.max(0) as u64,
    );
    let started = Instant::now();
    let (rows, digest) = read_rows(&conn.client, &spec, shared.level, &counters)
        .await
        .map_err(|source| VerifyError::Read {
            server: conn.server.clone(),
            table: plan.source.display_name(),
            chunk: match &item.chunk {
                Chunk::Whole => String::new(),
                c => format!(" [{}]", c.label()),
            },
            source,
        })?;
    let read = counters.bytes.load(Ordering::Relaxed);
    // A count reads no bytes through here: credit the chunk's estimated size.
    let credited = if read > 0 {
        read
    } else {
        item.estimated_bytes.max(0) as u64
    };
    let copied = &shared.progress.copied;
    copied.bytes.fetch_add(credited, Ordering::Relaxed);
    copied.rows.fetch_add(rows, Ordering::Relaxed);
    let mut tally = shared.tallies[item.table]
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let sums = match side {
        Side::Source => &mut tally.source,
        Side::Target => &mut tally.target,
    };
    sums.rows += rows;
    sums.chunks += 1;
    if let Some(d) = digest {
        sums.digest.get_or_insert(Digest::ZERO).combine(&d);
    }
    tally.started = Some(tally.started.map_or(started, |s| s.min(started)));
    tally.finished = Some(Instant::now());
    tally.remaining -= 1;
    if tally.remaining == 0 {
        shared.progress.tables_done.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

fn verdict(plan: &TablePlan, tally: &Tally) -> TableVerification {
    let (s, t) = (tally.source, tally.target);
    let rows = |n: u64| {
        if n == 1 {
            "1 row".to_string()
        } else {
            format!("{n} rows")
        }
    };
    let problem = if s.rows != t.rows {
        Some(if s.rows > t.rows {
            format!(
                "{} fewer on target (source {}, target {})",
                rows(s.rows - t.rows),
                s.rows,
                t.rows
            )
        } else {
            format!(
                "{} more on target (source {}, target {})",
                rows(t.rows - s.rows),
                s.rows,
                t.rows
            )
        })
    } else if s.digest != t.digest {
        // Those the target generates (a --data-only target's plain copy of one is data).
        let generated: Vec<&str> = plan
            .target
            .columns
            .iter()
            .filter(|c| c.generated)
            .map(|c| c.name.as_str())
            .collect();
        Some(if generated.is_empty() {
            "same row count, different rows (digests differ)".to_string()
        } else {
            // Where to look first: the target computed these (a function that reads
            // other tables, or whose results changed between versions).
            format!(
                "same row count, different rows (digests differ; the rows include generated \
                 column(s) {}, computed by the target)",
                generated.join(", ")
            )
        })
    } else {
        None
    };
    TableVerification {
        schema: plan.source.schema.clone(),
        name: plan.source.name.clone(),
        format: plan.source.format,
        row_filter: plan.row_filter.clone(),
        source: Some(s),
        target: Some(t),
        matches: problem.is_none(),
        problem,
        seconds: match (tally.started, tally.finished) {
            (Some(a), Some(b)) => (b - a).as_secs_f64(),
            _ => 0.0,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Built from JSON, so that fields added to `SourceTable` with defaults need no change here.
    fn table(name: &str, columns: &[(&str, &str)]) -> SourceTable {
        serde_json::from_value(serde_json::json!({
            "oid": 1,
            "schema": "public",
            "name": name,
            "unlogged": false,
            "bytes": 0,
            "pages": 0,
            "estimated_rows": 0.0,
            "int_key": null,
            "columns": columns
                .iter()
                .map(|(n, t)| serde_json::json!({"name": n, "type_name": t}))
                .collect::<Vec<_>>(),
            "format": "binary",
        }))
        .expect("a valid table")
    }

    #[test]
    fn tables_pair_by_name_and_differences_are_findings() {
        let source = vec![
            table("a", &[("id", "integer"), ("v", "text")]),
            table("b", &[("id", "integer")]),
            table("c", &[("id", "integer")]),
        ];
        let target = vec![
            // Column order does not matter: both sides are read with the same list.
            table("a", &[("v", "text"), ("id", "integer")]),
            table("c", &[("id", "bigint")]),
            table("d", &[("id", "integer")]),
        ];
        let (pairs, findings) = pair_tables(source, target, &HashMap::new(), false);
        assert_eq!(pairs.len(), 1);
        assert_eq!(pairs[0].0.name, "a");
        let found: Vec<(String, String)> = findings
            .iter()
            .map(|f| (f.name.clone(), f.problem.clone().unwrap()))
            .collect();
        assert_eq!(
            found,
            [
                ("b".to_string(), "missing on target".to_string()),
                (
                    "c".to_string(),
                    "columns differ (see the schema)".to_string()
                ),
                ("d".to_string(), "extra on target".to_string()),
            ]
        );
        assert!(findings.iter().all(|f| !f.matches));
    }

    #[test]
    fn predicates_combine_chunk_and_row_filter() {
        let pages = Chunk::Pages {
            from: 0,
            to: Some(10),
        };
        let predicate = pgsplit_copy::chunk::with_filter;
        assert_eq!(predicate(&Chunk::Whole, None), None);
        assert_eq!(
            predicate(&Chunk::Whole, Some("tenant_id = 1 OR x")),
            Some("(tenant_id = 1 OR x)".into())
        );
        assert_eq!(
            predicate(&pages, Some("tenant_id = 1 OR x")),
            Some("ctid >= '(0,0)'::tid AND ctid < '(10,0)'::tid AND (tenant_id = 1 OR x)".into())
        );
        assert_eq!(predicate(&pages, None), pages.predicate());
    }

    fn plan() -> TablePlan {
        let t = table("t", &[("id", "integer")]);
        TablePlan {
            source: t.clone(),
            target: t,
            row_filter: None,
            source_chunks: vec![Chunk::Whole],
            target_chunks: vec![Chunk::Whole],
        }
    }

    fn side(rows: u64, row: &[u8]) -> SideRows {
        let mut digest = Digest::ZERO;
        digest.add_row(row);
        SideRows {
            rows,
            digest: Some(digest),
            chunks: 1,
        }
    }

    #[test]
    fn verdicts_name_the_difference() {
        let tally = |s, t| Tally {
            source: s,
            target: t,
            ..Tally::default()
        };
        let same = verdict(&plan(), &tally(side(3, b"x"), side(3, b"x")));
        assert!(same.matches && same.problem.is_none());
        let fewer = verdict(&plan(), &tally(side(3, b"x"), side(2, b"x")));
        assert_eq!(
            fewer.problem.as_deref(),
            Some("1 row fewer on target (source 3, target 2)")
        );
        let more = verdict(&plan(), &tally(side(3, b"x"), side(5, b"x")));
        assert!(more.problem.unwrap().starts_with("2 rows more on target"));
        let changed = verdict(&plan(), &tally(side(3, b"x"), side(3, b"y")));
        assert!(!changed.matches);
        assert!(changed.problem.unwrap().contains("digests differ"));
    }
}
