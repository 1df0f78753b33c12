//! The data phase: (table, chunk) items, largest first, taken by `--jobs` workers. Each
//! worker reads inside the shared snapshot and loads each item in its own target
//! transaction, so an item is either wholly in the target or not at all.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_postgres::Client;
use tokio_postgres::error::SqlState;

use pgsplit_copy::{Chunk, CopySpec, Counters, Moved, SourceTable, pass, snapshot};
use pgsplit_pg::ConnSettings;

use super::error::RunError;
use super::options::VerifyLevel;
use crate::progress::Progress;
use crate::session;

/// One unit of copying.
#[derive(Clone, Debug)]
pub struct WorkItem {
    pub table: usize,
    pub chunk: Chunk,
    /// The only item of its table: it may empty the table first and load it frozen.
    pub whole: bool,
    pub estimated_bytes: i64,
}

/// What one item moved, and when.
#[derive(Clone, Debug)]
pub struct ItemResult {
    pub item: usize,
    pub moved: Moved,
    pub started: Instant,
    pub finished: Instant,
}

/// Shared by the workers of one data phase.
pub struct DataPhase {
    pub source: ConnSettings,
    pub target: ConnSettings,
    pub snapshot: String,
    pub tables: Arc<Vec<SourceTable>>,
    pub items: Vec<WorkItem>,
    pub jobs: usize,
    pub verify: VerifyLevel,
    /// Whole-table items may `TRUNCATE` and load with `FREEZE` (the table is ours).
    pub may_truncate: bool,
    /// `--data-only` into a schema with its constraints and triggers in place: load with
    /// `session_replication_role = replica` so that foreign keys and triggers do not fire.
    pub disable_triggers: bool,
    pub progress: Arc<Progress>,
    /// Per table: rows, bytes and digest of everything loaded so far (chunks add up).
    pub totals: Arc<Vec<Mutex<Moved>>>,
}

/// Runs the data phase. Each table's index is sent on `loaded` as soon as its last item
/// is committed. Returns every item's result.
pub async fn run(
    phase: DataPhase,
    loaded: mpsc::UnboundedSender<usize>,
) -> Result<Vec<ItemResult>, RunError> {
    let phase = Arc::new(phase);
    let mut order: Vec<usize> = (0..phase.items.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(phase.items[i].estimated_bytes));
    let queue = Arc::new(Mutex::new(VecDeque::from(order)));
    let remaining: Arc<Vec<AtomicUsize>> = Arc::new(
        (0..phase.tables.len())
            .map(|t| AtomicUsize::new(phase.items.iter().filter(|i| i.table == t).count()))
            .collect(),
    );
    // Tables without items (none here today) count as loaded at once.
    for (t, left) in remaining.iter().enumerate() {
        if left.load(Ordering::Relaxed) == 0 {
            let _ = loaded.send(t);
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    let results = Arc::new(Mutex::new(Vec::new()));
    let mut workers = JoinSet::new();
    for _ in 0..phase.jobs.max(1).min(phase.items.len().max(1)) {
        let phase = Arc::clone(&phase);
        let queue = Arc::clone(&queue);
        let remaining = Arc::clone(&remaining);
        let stop = Arc::clone(&stop);
        let results = Arc::clone(&results);
        let loaded = loaded.clone();
        workers.spawn(async move {
            let outcome = worker(&phase, &queue, &remaining, &stop, &results, &loaded).await;
            if outcome.is_err() {
                stop.store(true, Ordering::Relaxed);
            }
            outcome
        });
    }
    let mut first_error = None;
    while let Some(joined) = workers.join_next().await {
        let outcome =
            joined.unwrap_or_else(|e| Err(RunError::Internal(format!("worker panicked: {e}"))));
        if let Err(e) = outcome {
            first_error.get_or_insert(e);
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    let mut results = std::mem::take(&mut *results.lock().unwrap_or_else(|e| e.into_inner()));
    results.sort_by_key(|r| r.item);
    Ok(results)
}

async fn worker(
    phase: &DataPhase,
    queue: &Mutex<VecDeque<usize>>,
    remaining: &[AtomicUsize],
    stop: &AtomicBool,
    results: &Mutex<Vec<ItemResult>>,
    loaded: &mpsc::UnboundedSender<usize>,
) -> Result<(), RunError> {
    let source = session::open(&phase.source).await?;
    snapshot::import(&source.client, &phase.snapshot)
        .await
        .map_err(|e| RunError::db(&source.server, "import the snapshot", e))?;
    let target = session::open(&phase.target).await?;
    if phase.disable_triggers {
        target
            .client
            .batch_execute("SET session_replication_role = replica")
            .await
            .map_err(|e| {
                RunError::db(
                    &target.server,
                    "disable triggers and foreign keys for --data-only (needs superuser)",
                    e,
                )
            })?;
    }
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        let Some(index) = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front() else {
            return Ok(());
        };
        let item = &phase.items[index];
        let table = &phase.tables[item.table];
        let counters = Arc::new(Counters::default());
        let label = match item.chunk {
            Chunk::Whole => format!("copy {}", table.display_name()),
            ref chunk => format!("copy {} [{}]", table.display_name(), chunk.label()),
        };
        let _active = phase.progress.start(
            label,
            Some(Arc::clone(&counters)),
            item.estimated_bytes.max(0) as u64,
        );
        let started = Instant::now();
        let moved = load_item(
            phase,
            &source.client,
            &target.client,
            item,
            table,
            &counters,
        )
        .await
        .map_err(|e| e.in_table(table, &item.chunk))?;
        phase
            .progress
            .copied
            .bytes
            .fetch_add(moved.bytes, Ordering::Relaxed);
        phase
            .progress
            .copied
            .rows
            .fetch_add(moved.rows, Ordering::Relaxed);
        results
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(ItemResult {
                item: index,
                moved,
                started,
                finished: Instant::now(),
            });
        {
            let mut total = phase.totals[item.table]
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            total.rows += moved.rows;
            total.bytes += moved.bytes;
            total.digest.combine(&moved.digest);
        }
        if remaining[item.table].fetch_sub(1, Ordering::AcqRel) == 1 {
            phase.progress.tables_done.fetch_add(1, Ordering::Relaxed);
            let _ = loaded.send(item.table);
        }
    }
}

/// Loads one item in one target transaction.
async fn load_item(
    phase: &DataPhase,
    source: &Client,
    target: &Client,
    item: &WorkItem,
    table: &SourceTable,
    counters: &Counters,
) -> Result<Moved, RunError> {
    let spec = CopySpec {
        table,
        format: table.format,
        predicate: item.chunk.predicate(),
    };
    let hash = phase.verify == VerifyLevel::Checksum;
    let truncate = item.whole && phase.may_truncate;
    let mut freeze = truncate;
    loop {
        let begin = if truncate {
            format!("BEGIN; TRUNCATE ONLY {}", table.qualified())
        } else {
            "BEGIN".to_string()
        };
        target
            .batch_execute(&begin)
            .await
            .map_err(|e| RunError::db_plain("start the load transaction", e))?;
        match pass::forward(source, target, &spec, freeze, hash, counters).await {
            Ok(moved) => {
                target
                    .batch_execute("COMMIT")
                    .await
                    .map_err(|e| RunError::db_plain("commit the load", e))?;
                return Ok(moved);
            }
            Err(e) => {
                let _ = target.batch_execute("ROLLBACK").await;
                let freeze_refused = freeze
                    && e.db_error()
                        .and_then(|d| d.code())
                        .is_some_and(|c| *c == SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE);
                if freeze_refused {
                    // COPY FREEZE has preconditions (e.g. no older open cursor); without
                    // it the load is merely slower.
                    freeze = false;
                    counters.bytes.store(0, Ordering::Relaxed);
                    counters.rows.store(0, Ordering::Relaxed);
                    continue;
                }
                return Err(RunError::Copy(e));
            }
        }
    }
}
