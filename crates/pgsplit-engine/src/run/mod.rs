//! `pgsplit run`: every mapping line end to end — target preparation, snapshot, pre-data,
//! parallel data copy with post-data work starting per table as soon as it is loaded,
//! verification, report.

mod data;
pub mod error;
pub mod options;
mod post_data;
pub mod report;
mod schema_step;
mod target;
mod verify_step;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::mpsc;

use pgsplit_copy::{Chunk, Moved, SourceTable, chunk, snapshot, tables};

use crate::mapping::{Mapping, MappingLine};
use crate::progress::Progress;
use crate::session;
pub use error::RunError;
pub use options::{RunOptions, Sections, VerifyLevel};
use post_data::PostTask;
pub use report::{LineReport, PhaseTime, RunReport};

/// Runs every line of the mapping, one after another.
pub async fn run(mapping: &Mapping, options: &RunOptions, progress: Arc<Progress>) -> RunReport {
    let started = Instant::now();
    let mut report = RunReport::default();
    for line in &mapping.lines {
        let mut line_report = LineReport {
            line: line.line,
            source_url: line.source.to_string(),
            target_url: line.target.to_string(),
            ..LineReport::default()
        };
        if let Err(e) = run_line(line, options, &progress, &mut line_report).await {
            tracing::error!("line {}: {e:#}", line.line);
            line_report.error = Some(format!("{e:#}"));
        }
        report.lines.push(line_report);
    }
    report.seconds = started.elapsed().as_secs_f64();
    report
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

async fn run_line(
    line: &MappingLine,
    options: &RunOptions,
    progress: &Arc<Progress>,
    report: &mut LineReport,
) -> Result<(), RunError> {
    let mut phases = Vec::new();
    let mut clock = PhaseClock {
        report: &mut phases,
        started: Instant::now(),
    };
    progress.set_phase("connect");

    // The leader holds the snapshot every reader shares.
    let leader = session::open(&line.source).await?;
    let props = target::DatabaseProps::read(&leader).await?;
    let create = (options.sections != Sections::DataOnly).then_some(&props);
    let target_conn = target::prepare(&line.target, create, options.clean).await?;
    if options.sections != Sections::DataOnly {
        let objects = target::user_objects(&target_conn).await?;
        if objects > 0 {
            return Err(RunError::TargetNotEmpty(objects));
        }
    }
    let snapshot_id = snapshot::export(&leader.client)
        .await
        .map_err(|e| RunError::db(&leader.server, "export a snapshot", e))?;
    let source_tables = tables::read_tables(&leader.client)
        .await
        .map_err(|e| RunError::db(&leader.server, "read the tables to copy", e))?;
    let version: i32 = leader
        .client
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .await
        .map_err(|e| RunError::db(&leader.server, "read the server version", e))?
        .get(0);
    let schema = schema_step::read(&leader.client, options).await?;
    lock_tables(&leader, &source_tables).await?;
    clock.lap("snapshot");

    let superuser = schema_step::is_superuser(&target_conn).await?;
    if options.sections != Sections::DataOnly {
        progress.set_phase("pre-data");
        report.skipped =
            schema_step::apply_pre_data(&target_conn, &schema, options, superuser).await?;
        clock.lap("pre-data");
    }

    let tables = Arc::new(if options.sections == Sections::SchemaOnly {
        Vec::new()
    } else {
        source_tables
    });
    let tables = if options.sections == Sections::DataOnly {
        Arc::new(verify_step::check_data_only_target(&target_conn, &tables).await?)
    } else {
        tables
    };
    progress
        .tables_total
        .store(tables.len() as u64, std::sync::atomic::Ordering::Relaxed);
    progress.total_bytes.store(
        tables.iter().map(|t| t.bytes.max(0) as u64).sum(),
        std::sync::atomic::Ordering::Relaxed,
    );

    // Items: chunks of big tables, whole small ones.
    let mut items = Vec::new();
    for (index, table) in tables.iter().enumerate() {
        let bounds = key_bounds(&leader, table, options, version).await?;
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
    let totals: Arc<Vec<Mutex<Moved>>> = Arc::new(
        tables
            .iter()
            .map(|_| Mutex::new(Moved::default()))
            .collect(),
    );
    let verifications = Arc::new(Mutex::new(Vec::new()));

    // Post-data work, ready to start per table as soon as it is loaded.
    let mut post_tasks: Vec<PostTask> = Vec::new();
    let skipped_post =
        schema_step::post_tasks(&schema, &tables, options, superuser, &mut post_tasks)?;
    report.skipped.extend(skipped_post);
    verify_step::add_tasks(
        &tables,
        options.verify,
        &totals,
        &verifications,
        &mut post_tasks,
    );
    report.post_data.statements = post_tasks.len();
    report.post_data.indexes = schema_step::index_count(&schema);

    let index_jobs = options.index_jobs.max(1);
    let mut post_connections = Vec::with_capacity(index_jobs);
    post_connections.push(Arc::new(target_conn.client));
    for _ in 1..index_jobs {
        post_connections.push(Arc::new(session::open(&line.target).await?.client));
    }
    for client in &post_connections {
        client
            .batch_execute(pgsplit_schema::Ddl::SESSION_SETUP)
            .await
            .map_err(|e| RunError::db_plain("set up a post-data session", e))?;
    }
    let (loaded_tx, loaded_rx) = mpsc::unbounded_channel();
    progress.set_phase("data");
    let post_started = Instant::now();
    let post = tokio::spawn(post_data::run(
        post_tasks,
        post_connections,
        loaded_rx,
        tables.len(),
        Arc::clone(progress),
    ));
    let data_started = Instant::now();
    let data_result = if items.is_empty() {
        drop(loaded_tx);
        Ok(Vec::new())
    } else {
        data::run(
            data::DataPhase {
                source: line.source.clone(),
                target: line.target.clone(),
                snapshot: snapshot_id,
                tables: Arc::clone(&tables),
                items: items.clone(),
                jobs: options.jobs,
                verify: options.verify,
                may_truncate: options.sections != Sections::DataOnly,
                disable_triggers: options.sections == Sections::DataOnly,
                progress: Arc::clone(progress),
                totals: Arc::clone(&totals),
            },
            loaded_tx,
        )
        .await
    };
    let data_seconds = data_started.elapsed().as_secs_f64();
    // Every worker has imported the snapshot by now; the leader may let it go.
    let _ = leader.client.batch_execute("COMMIT").await;
    let results = match data_result {
        Ok(results) => results,
        Err(e) => {
            post.abort();
            return Err(e);
        }
    };
    clock.report.push(PhaseTime {
        phase: "data",
        seconds: data_seconds,
    });
    progress.set_phase("post-data");
    post.await
        .map_err(|e| RunError::Internal(format!("post-data scheduler: {e}")))??;
    report.post_data.seconds = post_started.elapsed().as_secs_f64();
    clock.started = Instant::now();
    clock.report.push(PhaseTime {
        phase: "post-data (after data)",
        seconds: (post_started.elapsed().as_secs_f64() - data_seconds).max(0.0),
    });
    report.tables = verify_step::table_reports(&tables, &items, &results, &verifications);
    report.phases = phases;
    Ok(())
}

/// Holds `ACCESS SHARE` on every table until the data is copied, as pg_dump does, so that
/// nobody drops or rewrites a table under the copy.
async fn lock_tables(
    leader: &pgsplit_pg::Connection,
    tables: &[SourceTable],
) -> Result<(), RunError> {
    for batch in tables.chunks(500) {
        let names: Vec<String> = batch.iter().map(SourceTable::qualified).collect();
        leader
            .client
            .batch_execute(&format!(
                "SET LOCAL lock_timeout = '60s'; LOCK TABLE {} IN ACCESS SHARE MODE",
                names.join(", ")
            ))
            .await
            .map_err(|e| RunError::db(&leader.server, "lock the tables to copy", e))?;
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
