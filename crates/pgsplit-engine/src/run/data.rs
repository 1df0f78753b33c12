//! The data phase: (table, chunk) items, largest first, taken by `--jobs` workers. Each
//! worker reads inside the shared snapshot and loads each item in its own target
//! transaction, so an item is either wholly in the target or not at all. Before the
//! commit, the transaction id goes into the journal: after a crash, the target itself
//! says whether that commit happened (`txid_status`), so no chunk is loaded twice.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_postgres::error::SqlState;

use pgsplit_copy::{
    Chunk, CopySpec, Counters, Moved, PassError, SourceTable, pass, snapshot, toast,
};
use pgsplit_pg::ConnSettings;
use pgsplit_pg::wire::{self, WireConn};

use super::error::RunError;
use super::options::VerifyLevel;
use super::post_data::DataEvent;
use crate::cancel::Cancel;
use crate::fault;
use crate::journal::{Event, Journal};
use crate::progress::Progress;
use crate::retry;
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
    /// Copied by an earlier, stopped run (taken from the journal).
    pub resumed: bool,
}

/// Shared by the workers of one data phase.
pub struct DataPhase {
    pub source: ConnSettings,
    pub target: ConnSettings,
    pub snapshot: String,
    pub tables: Arc<Vec<SourceTable>>,
    pub items: Vec<WorkItem>,
    /// Indices of `items` still to copy.
    pub todo: Vec<usize>,
    pub jobs: usize,
    pub verify: VerifyLevel,
    /// Whole-table items may `TRUNCATE` and load with `FREEZE` (the table is ours).
    pub may_truncate: bool,
    /// A resumed run: a table may hold rows of a load the stopped run committed.
    pub resuming: bool,
    /// The source can tell which values it stores compressed (PostgreSQL 14): whole-table
    /// loads keep the large values it could not compress uncompressed ([`toast`]).
    pub probe_toast: bool,
    /// `--data-only` into a schema with its constraints and triggers in place: load with
    /// `session_replication_role = replica` so that foreign keys and triggers do not fire.
    pub disable_triggers: bool,
    /// The leader could not lock every table: each load locks its own and checks that
    /// the snapshot still sees its storage ([`pgsplit_copy::CopySpec::guard`]).
    pub guard_storage: bool,
    /// Statements the target's loading sessions run after their setup: the source
    /// database's output forms, with which the target computes stored generated columns.
    pub target_forms: String,
    pub progress: Arc<Progress>,
    /// Per table: rows, bytes and digest of everything loaded so far (chunks add up).
    pub totals: Arc<Vec<Mutex<Moved>>>,
    pub journal: Arc<dyn Journal>,
    pub cancel: Cancel,
}

impl DataPhase {
    /// The COPY that reads `chunk` of `table` from the source.
    fn spec<'a>(&self, table: &'a SourceTable, chunk: &Chunk) -> CopySpec<'a> {
        CopySpec {
            table,
            format: table.format,
            predicate: table.predicate(chunk),
            guard: self.guard_storage,
        }
    }

    /// Rows are hashed on their way (`--verify checksum`), not only counted.
    fn hashes(&self) -> bool {
        self.verify == VerifyLevel::Checksum
    }
}

/// An item's line in the progress display, and the counters it shows.
fn show_copy(
    phase: &DataPhase,
    item: &WorkItem,
    table: &SourceTable,
) -> (Arc<Counters>, crate::progress::TaskGuard) {
    let counters = Arc::new(Counters::default());
    let label = match item.chunk {
        Chunk::Whole => format!("copy {}", table.display_name()),
        ref chunk => format!("copy {} [{}]", table.display_name(), chunk.label()),
    };
    let guard = phase.progress.start(
        label,
        Some(Arc::clone(&counters)),
        item.estimated_bytes.max(0) as u64,
    );
    (counters, guard)
}

struct Shared {
    phase: DataPhase,
    queue: Mutex<VecDeque<usize>>,
    remaining: Vec<AtomicUsize>,
    stop: AtomicBool,
    results: Mutex<Vec<ItemResult>>,
    loaded: mpsc::UnboundedSender<DataEvent>,
}

/// What the data phase copied (in item order), and what stopped it, if anything: the
/// items committed before a failure stay on the target for `--resume`.
pub struct Copied {
    pub results: Vec<ItemResult>,
    pub stopped_by: Option<RunError>,
}

/// Runs the data phase. Each table's index is sent on `loaded` as soon as its last item
/// is committed (at once for tables with nothing left to copy), and the first worker
/// that finds nothing left to start says so.
pub async fn run(phase: DataPhase, loaded: mpsc::UnboundedSender<DataEvent>) -> Copied {
    let mut order = phase.todo.clone();
    order.sort_by_key(|&i| std::cmp::Reverse(phase.items[i].estimated_bytes));
    let mut items_per_table = vec![0; phase.tables.len()];
    for &i in &order {
        items_per_table[phase.items[i].table] += 1;
    }
    let remaining: Vec<AtomicUsize> = items_per_table.into_iter().map(AtomicUsize::new).collect();
    for (t, left) in remaining.iter().enumerate() {
        if left.load(Ordering::Relaxed) == 0 {
            phase.progress.tables_done.fetch_add(1, Ordering::Relaxed);
            let _ = loaded.send(DataEvent::Loaded(t));
        }
    }
    let workers_wanted = phase.jobs.max(1).min(order.len());
    let shared = Arc::new(Shared {
        phase,
        queue: Mutex::new(VecDeque::from(order)),
        remaining,
        stop: AtomicBool::new(false),
        results: Mutex::new(Vec::new()),
        loaded,
    });
    let mut workers = JoinSet::new();
    for _ in 0..workers_wanted {
        let shared = Arc::clone(&shared);
        workers.spawn(async move {
            let outcome = worker(&shared).await;
            if outcome.is_err() {
                shared.stop.store(true, Ordering::Relaxed);
            }
            outcome
        });
    }
    let mut first_error = None;
    while let Some(joined) = workers.join_next().await {
        let outcome =
            joined.unwrap_or_else(|e| Err(RunError::Internal(format!("worker panicked: {e}"))));
        if let Err(e) = outcome {
            // An interruption explains the other workers' failures: report it first.
            if matches!(e, RunError::Interrupted) || first_error.is_none() {
                first_error = Some(e);
            }
        }
    }
    let mut results =
        std::mem::take(&mut *shared.results.lock().unwrap_or_else(|e| e.into_inner()));
    results.sort_by_key(|r| r.item);
    Copied {
        results,
        stopped_by: first_error,
    }
}

/// Items a worker copies in one source transaction. Each table read stays locked until
/// the transaction ends, and the server's lock table is shared and bounded (about
/// `max_locks_per_transaction` × `max_connections`): a worker that read thousands of
/// tables in one transaction would exhaust it. Then it starts a new one at the same
/// snapshot; the leader's locks on every table still keep DDL away.
const ITEMS_PER_SOURCE_TRANSACTION: usize = 100;

/// Whole tables at least this large (estimated on the source) are emptied in their load's
/// transaction and loaded with `COPY … FREEZE`.
pub const FREEZE_FROM_BYTES: i64 = 1024 * 1024;

/// Loads of tables below this size (without `FREEZE`) send their rows without waiting for
/// the target to accept the COPY ([`pass::TargetSteps::at_once`]): a round trip per table
/// fewer, for the cost of reading a small table in vain should the target refuse.
pub const AT_ONCE_BELOW_BYTES: i64 = 1024 * 1024;

/// A worker's two connections: the source inside the snapshot, and the target. Both are
/// lean data-path sessions ([`WireConn`]): COPY bytes pass between them unparsed.
struct Pair {
    source: WireConn,
    target: WireConn,
    /// The target's server process for this session, to end it should the pair be given up.
    target_process: Process,
    /// Items read (or asked for) in the source's current transaction.
    source_items: usize,
    /// Small tables taken from the queue whose COPY was sent to `source` before the rows
    /// of the ones before were read, in the order sent: the next ones this pair copies.
    ahead: VecDeque<usize>,
}

/// A server process: its id, and when it started (microseconds since 1970 on the
/// server's clock). An id alone may since serve another session: ids are reused.
#[derive(Clone, Copy, Debug)]
struct Process {
    pid: i32,
    /// Unknown when the server does not show the session its own start.
    started_us: Option<i64>,
}

impl Process {
    /// The session's own server process.
    async fn of(conn: &mut WireConn, settings: &ConnSettings) -> Result<Process, RunError> {
        let rows = conn
            .simple_query(&format!(
                "SELECT pg_backend_pid(), \
                        (SELECT {STARTED_US} FROM pg_stat_activity WHERE pid = pg_backend_pid())"
            ))
            .await
            .map_err(|e| RunError::wire(&settings.to_string(), "identify the session", e))?;
        let row = rows.into_iter().next().unwrap_or_default();
        let value = |i: usize| -> Option<i64> { row.get(i)?.as_deref()?.parse().ok() };
        let pid = value(0)
            .and_then(|p| i32::try_from(p).ok())
            .ok_or_else(|| RunError::Internal(format!("{settings}: no process id")))?;
        Ok(Process {
            pid,
            started_us: value(1),
        })
    }

    /// A condition on `pg_stat_activity` rows: this process, if it still runs (and is
    /// not the asking session's own, which its id may serve now).
    fn matching(&self) -> String {
        let this = format!("pid = {} AND pid <> pg_backend_pid()", self.pid);
        match self.started_us {
            Some(started) => format!("{this} AND {STARTED_US} = {started}"),
            None => this,
        }
    }
}

/// A `pg_stat_activity` row's process start, as [`Process::started_us`].
const STARTED_US: &str = "(extract(epoch FROM backend_start) * 1000000)::int8";

/// Starts `sql`, which ends in the import of the run's snapshot, on the source.
async fn import_snapshot(
    source: &mut WireConn,
    phase: &DataPhase,
    sql: &str,
) -> Result<(), RunError> {
    source.execute(sql).await.map_err(|e| {
        let code = e.code().map(SqlState::from_code);
        if code == Some(SqlState::INVALID_PARAMETER_VALUE)
            || code == Some(SqlState::UNDEFINED_OBJECT)
        {
            RunError::SnapshotLost
        } else {
            RunError::wire(&phase.source.to_string(), "import the snapshot", e)
        }
    })
}

impl Pair {
    async fn open(phase: &DataPhase) -> Result<Pair, RunError> {
        let source_name = phase.source.to_string();
        let target_name = phase.target.to_string();
        let mut source = WireConn::connect(&session::with_defaults(&phase.source))
            .await
            .map_err(|e| RunError::wire(&source_name, "connect", e))?;
        source
            .execute(pgsplit_copy::DATA_SESSION_SETUP)
            .await
            .map_err(|e| RunError::wire(&source_name, "set up the session", e))?;
        import_snapshot(&mut source, phase, &snapshot::import_sql(&phase.snapshot)).await?;
        let mut target = WireConn::connect(&session::with_defaults(&phase.target))
            .await
            .map_err(|e| RunError::wire(&target_name, "connect", e))?;
        target
            .execute(&format!(
                "{}; {}",
                pgsplit_copy::DATA_SESSION_SETUP,
                phase.target_forms
            ))
            .await
            .map_err(|e| RunError::wire(&target_name, "set up the session", e))?;
        let target_process = Process::of(&mut target, &phase.target).await?;
        if phase.disable_triggers {
            target
                .execute("SET session_replication_role = replica")
                .await
                .map_err(|e| {
                    RunError::wire(
                        &target_name,
                        "disable triggers and foreign keys for --data-only (needs superuser)",
                        e,
                    )
                })?;
        }
        Ok(Pair {
            source,
            target,
            target_process,
            source_items: 0,
            ahead: VecDeque::new(),
        })
    }

    /// Ends the source's transaction once it has read enough tables, and starts another
    /// at the same snapshot, so that the worker's table locks do not pile up.
    async fn release_source_locks(&mut self, phase: &DataPhase) -> Result<(), RunError> {
        if self.source_items >= ITEMS_PER_SOURCE_TRANSACTION {
            let sql = format!("COMMIT; {}", snapshot::import_sql(&phase.snapshot));
            import_snapshot(&mut self.source, phase, &sql).await?;
            self.source_items = 0;
        }
        self.source_items += 1;
        Ok(())
    }

    /// Stops whatever both connections run on the servers, then drops them.
    async fn cancel(self, phase: &DataPhase) {
        if let Some(key) = self.source.cancel_key() {
            let _ = wire::cancel(&phase.source, &key).await;
        }
        if let Some(key) = self.target.cancel_key() {
            let _ = wire::cancel(&phase.target, &key).await;
        }
    }
}

impl Shared {
    /// The next item to copy, taken from the queue.
    fn take(&self) -> Option<usize> {
        self.queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front()
    }

    /// The next item to copy, if `wanted` says so.
    fn take_if(&self, wanted: impl FnOnce(usize) -> bool) -> Option<usize> {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let next = *queue.front()?;
        wanted(next).then(|| queue.pop_front()).flatten()
    }
}

async fn worker(shared: &Shared) -> Result<(), RunError> {
    let phase = &shared.phase;
    let mut pair: Option<Pair> = None;
    let mut in_flight: VecDeque<InFlight> = VecDeque::new();
    loop {
        if shared.stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        if phase.cancel.is_cancelled() {
            return Err(RunError::Interrupted);
        }
        let next = match pair.as_mut().and_then(|p| p.ahead.pop_front()) {
            Some(index) => Some((index, true)),
            None => shared.take().map(|index| (index, false)),
        };
        let Some((index, sent_ahead)) = next else {
            while !in_flight.is_empty() {
                settle_oldest(shared, &mut pair, &mut in_flight).await?;
            }
            let _ = shared.loaded.send(DataEvent::WorkerIdle);
            return Ok(());
        };
        let item = &phase.items[index];
        let table = &phase.tables[item.table];
        if let Some(p) = pair.as_mut().filter(|_| deferrable(phase, item, table)) {
            let (counters, active) = show_copy(phase, item, table);
            let started = Instant::now();
            let sent = tokio::select! {
                sent = send_small(shared, p, table, &counters, sent_ahead) => sent,
                _ = phase.cancel.cancelled() => Err(RunError::Interrupted),
            };
            match sent {
                Ok(sent) => {
                    in_flight.push_back(InFlight {
                        index,
                        sent,
                        started,
                        _active: active,
                    });
                    if in_flight.len() >= IN_FLIGHT_MAX {
                        settle_oldest(shared, &mut pair, &mut in_flight).await?;
                    }
                }
                Err(e) => {
                    drop(active);
                    lost(shared, &mut pair, &mut in_flight, index, e).await?;
                }
            }
            continue;
        }
        debug_assert!(!sent_ahead, "only small tables are asked for ahead");
        while !in_flight.is_empty() {
            settle_oldest(shared, &mut pair, &mut in_flight).await?;
        }
        copy_item(shared, &mut pair, index, false, None).await?;
    }
}

/// Small whole tables sent ahead of the answers to earlier ones, per worker at most.
const IN_FLIGHT_MAX: usize = 16;

/// Small whole tables whose COPY a worker sends to the source before it reads the rows
/// of the ones before, at most: a round trip to the source per several tables instead of
/// one each, which is what a distant source with many tables waits for.
const SOURCE_AHEAD_MAX: usize = 16;

/// Bytes of statements sent to the source at once, at most (beyond the one table's that
/// an idle source is sent in any case): far below what a connection buffers.
const SOURCE_AHEAD_BYTES: usize = 16 * 1024;

/// A small table's load sent to the target, its answer not read yet.
struct InFlight {
    index: usize,
    sent: pass::Sent,
    started: Instant,
    _active: crate::progress::TaskGuard,
}

/// Loads that may go out before the answers to the previous ones (on a worker whose
/// sessions are open): small whole tables of this run's own, loaded with `BEGIN`, the
/// COPY and `COMMIT` in two messages. A round trip to the target per several tables
/// instead of one each, which is what a distant target with many tables waits for.
fn deferrable(phase: &DataPhase, item: &WorkItem, table: &SourceTable) -> bool {
    item.whole
        && phase.may_truncate
        && !phase.resuming
        && table.bytes < FREEZE_FROM_BYTES
        && table.bytes < AT_ONCE_BELOW_BYTES
}

/// Sends one small table's load (see [`deferrable`]) without reading the target's answer.
/// Before its rows are read, the COPYs of the next small tables in the queue are sent to
/// the source (taken into [`Pair::ahead`]); `sent_ahead`: this one's was, too.
async fn send_small(
    shared: &Shared,
    pair: &mut Pair,
    table: &SourceTable,
    counters: &Counters,
    sent_ahead: bool,
) -> Result<pass::Sent, RunError> {
    let phase = &shared.phase;
    let spec = phase.spec(table, &Chunk::Whole);
    let source_error = |e| RunError::Copy(pass::PassError::Source(e));
    if !sent_ahead {
        pair.release_source_locks(phase).await?;
        pair.source
            .queue_query(&spec.source_sql())
            .map_err(source_error)?;
    }
    // Only when few are left: each top-up is one write, and the source must not run dry.
    if pair.ahead.len() <= SOURCE_AHEAD_MAX / 2 {
        // The tables asked for ahead are read in the current source transaction.
        while pair.ahead.len() < SOURCE_AHEAD_MAX
            && pair.source_items < ITEMS_PER_SOURCE_TRANSACTION
        {
            // The source may be blocked sending rows nobody reads yet, and then it reads
            // no more statements: what is sent meanwhile must fit in the connection's
            // buffers, or both sides would wait for each other.
            let room = SOURCE_AHEAD_BYTES.saturating_sub(pair.source.queued_bytes());
            let mut sql = String::new();
            let Some(next) = shared.take_if(|i| {
                let item = &phase.items[i];
                let table = &phase.tables[item.table];
                if !deferrable(phase, item, table) {
                    return false;
                }
                sql = phase.spec(table, &Chunk::Whole).source_sql();
                sql.len() < room
            }) else {
                break;
            };
            pair.ahead.push_back(next);
            pair.source_items += 1;
            pair.source.queue_query(&sql).map_err(source_error)?;
        }
    }
    pair.source.send_queued().await.map_err(source_error)?;
    let steps = pass::TargetSteps {
        before: Some("BEGIN"),
        then: Some("COMMIT"),
        at_once: true,
    };
    fault::point("item_committing");
    pass::send(
        &mut pair.source,
        &mut pair.target,
        &spec,
        phase.hashes(),
        counters,
        steps,
    )
    .await
    .map_err(RunError::Copy)
}

/// Reads the answer to the oldest load in flight and records it.
async fn settle_oldest(
    shared: &Shared,
    pair: &mut Option<Pair>,
    in_flight: &mut VecDeque<InFlight>,
) -> Result<(), RunError> {
    let phase = &shared.phase;
    let Some(oldest) = in_flight.pop_front() else {
        return Ok(());
    };
    let table = &phase.tables[phase.items[oldest.index].table];
    let p = pair
        .as_mut()
        .ok_or_else(|| RunError::Internal("loads in flight without a session".into()))?;
    // Tests lose the answer while tables asked of the source ahead are still unread
    // (`ahead_committed`): counted only then, so the case does not depend on timing.
    let ahead_unread = !p.ahead.is_empty();
    let answer = tokio::select! {
        answer = pass::settle(&mut p.target, oldest.sent) => answer.map_err(RunError::Copy),
        _ = phase.cancel.cancelled() => Err(RunError::Interrupted),
    };
    let answer = answer.and_then(|moved| {
        fault::point("item_committed");
        let name = table.display_name();
        if fault::error("item_committed", &name)
            || (ahead_unread && fault::error("ahead_committed", &name))
        {
            let server = phase.target.to_string();
            return Err(RunError::wire(
                &server,
                "commit the load",
                wire::WireError::Closed,
            ));
        }
        Ok(moved)
    });
    match answer {
        Ok(moved) => {
            phase.journal.append(&Event::ItemDone {
                item: oldest.index,
                moved,
            })?;
            fault::point("item_done");
            record(shared, oldest.index, moved, oldest.started);
            Ok(())
        }
        Err(e) => lost(shared, pair, in_flight, oldest.index, e).await,
    }
}

/// A load in flight (or being sent) failed: stops on an error that another try would
/// meet again; else (a lost connection) loads it and every other load in flight again,
/// one at a time, emptying each table first: each may or may not have committed. Then
/// the tables sent ahead to the source, which the target has not seen.
async fn lost(
    shared: &Shared,
    pair: &mut Option<Pair>,
    in_flight: &mut VecDeque<InFlight>,
    index: usize,
    error: RunError,
) -> Result<(), RunError> {
    let phase = &shared.phase;
    let mut old = pair.take();
    let stale = old.as_ref().map(|p| p.target_process);
    let ahead = old
        .as_mut()
        .map(|p| std::mem::take(&mut p.ahead))
        .unwrap_or_default();
    if let Some(p) = old
        && matches!(error, RunError::Interrupted)
    {
        p.cancel(phase).await;
    }
    if matches!(error, RunError::Interrupted) || !error.is_transient() {
        let item = &phase.items[index];
        return Err(match error {
            RunError::Interrupted => error,
            e => e.in_table(&phase.tables[item.table], &item.chunk),
        });
    }
    tracing::warn!(
        "{}: {error:#}; retrying it and the {} tables sent after it, each emptied first, \
         then the {} tables asked of the source ahead",
        phase.tables[phase.items[index].table].display_name(),
        in_flight.len(),
        ahead.len()
    );
    let again: Vec<usize> = std::iter::once(index)
        .chain(in_flight.drain(..).map(|f| f.index))
        .collect();
    // The old target session may still be working through loads it had received:
    // the first reload ends it before emptying any table.
    let mut stale = stale;
    for index in again {
        copy_item(shared, pair, index, true, stale.take()).await?;
    }
    for index in ahead {
        copy_item(shared, pair, index, false, stale.take()).await?;
    }
    Ok(())
}

/// Copies one item, answer awaited, with retries. `again`: an earlier try may have
/// committed. `stale`: the server process of a target session given up on, which may
/// still be loading: ended before anything is loaded again.
async fn copy_item(
    shared: &Shared,
    pair: &mut Option<Pair>,
    index: usize,
    again: bool,
    stale: Option<Process>,
) -> Result<(), RunError> {
    let phase = &shared.phase;
    let item = &phase.items[index];
    let table = &phase.tables[item.table];
    let (counters, _active) = show_copy(phase, item, table);
    let started = Instant::now();
    let mut attempt = if again { 2 } else { 1 };
    // Sessions given up on, to end before loading: all of them, also when ending one
    // failed and the retry gave up on another.
    let mut stale: Vec<Process> = stale.into_iter().collect();
    // The transaction id of an attempt that sent its COMMIT, and what it loaded: if
    // the answer was lost with the connection, the target knows whether it committed.
    let mut committing: Option<(String, Moved)> = None;
    let moved = loop {
        let outcome = async {
            if pair.is_none() {
                *pair = Some(Pair::open(phase).await?);
            }
            let p = pair.as_mut().expect("opened above");
            while let Some(&process) = stale.first() {
                end_backend(&mut p.target, &phase.target, process).await?;
                stale.remove(0);
            }
            if let Some((xid, moved)) = committing.clone() {
                // Its session has ended: the transaction committed or it never will.
                let done = committed(&mut p.target, &phase.target, &xid).await?;
                committing = None;
                if done {
                    phase.journal.append(&Event::ItemDone { item: index, moved })?;
                    return Ok(moved);
                }
            }
            p.release_source_locks(phase).await?;
            let again = attempt > 1;
            tokio::select! {
                moved = load_item(phase, &mut p.source, &mut p.target, index, item, table, &counters, again, &mut committing) => moved,
                _ = phase.cancel.cancelled() => Err(RunError::Interrupted),
            }
        }
        .await;
        match outcome {
            Ok(moved) => break moved,
            Err(RunError::Interrupted) => {
                if let Some(p) = pair.take() {
                    p.cancel(phase).await;
                }
                return Err(RunError::Interrupted);
            }
            Err(e) if e.is_transient() && attempt < retry::MAX_ATTEMPTS => {
                attempt += 1;
                tracing::warn!(
                    "{}: {e:#}; retrying: attempt {attempt} of {}",
                    table.display_name(),
                    retry::MAX_ATTEMPTS
                );
                stale.extend(pair.take().map(|p| p.target_process));
                counters.bytes.store(0, Ordering::Relaxed);
                counters.rows.store(0, Ordering::Relaxed);
                tokio::time::sleep(retry::delay(attempt)).await;
            }
            Err(e) => return Err(e.in_table(table, &item.chunk)),
        }
    };
    record(shared, index, moved, started);
    Ok(())
}

/// Counts a loaded item in the progress, the table's totals and the results; tells the
/// post-data scheduler when it was the table's last.
fn record(shared: &Shared, index: usize, moved: Moved, started: Instant) {
    let phase = &shared.phase;
    let item = &phase.items[index];
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
    {
        let mut total = phase.totals[item.table]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        total.rows += moved.rows;
        total.bytes += moved.bytes;
        total.digest.combine(&moved.digest);
    }
    shared
        .results
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(ItemResult {
            item: index,
            moved,
            started,
            finished: Instant::now(),
            resumed: false,
        });
    if shared.remaining[item.table].fetch_sub(1, Ordering::AcqRel) == 1 {
        phase.progress.tables_done.fetch_add(1, Ordering::Relaxed);
        let _ = shared.loaded.send(DataEvent::Loaded(item.table));
    }
}

/// Whether the target committed transaction `xid` (`txid_status`).
async fn committed(
    target: &mut WireConn,
    settings: &ConnSettings,
    xid: &str,
) -> Result<bool, RunError> {
    let xid: i64 = xid
        .parse()
        .map_err(|_| RunError::Internal(format!("bad transaction id {xid:?}")))?;
    let rows = target
        .simple_query(&format!("SELECT txid_status({xid})"))
        .await
        .map_err(|e| RunError::wire(&settings.to_string(), "check a lost commit", e))?;
    let status = rows
        .into_iter()
        .next()
        .and_then(|r| r.into_iter().next().flatten());
    match status.as_deref() {
        Some("committed") => Ok(true),
        Some("aborted") => Ok(false),
        other => Err(RunError::Refused(format!(
            "{settings}: cannot tell whether the load in transaction {xid} committed \
             (txid_status: {}); finish with `pgsplit run MAPPING --resume`",
            other.unwrap_or("unknown")
        ))),
    }
}

/// How long a target session given up on may take to end.
const STALE_SESSION_WAIT: Duration = Duration::from_secs(60);

/// Ends the target's server `process` (a session given up on after an error, which may
/// still hold or be about to run loads) and waits until it is gone: only then may its
/// loads be looked up or done again. A process gone already is left alone, even if its
/// id serves another session now.
async fn end_backend(
    target: &mut WireConn,
    settings: &ConnSettings,
    process: Process,
) -> Result<(), RunError> {
    let server = settings.to_string();
    let this = process.matching();
    target
        .execute(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE {this}"
        ))
        .await
        .map_err(|e| RunError::wire(&server, "end the session of the failed load", e))?;
    let started = Instant::now();
    loop {
        let rows = target
            .simple_query(&format!("SELECT 1 FROM pg_stat_activity WHERE {this}"))
            .await
            .map_err(|e| RunError::wire(&server, "wait for the failed load's session", e))?;
        if rows.is_empty() {
            return Ok(());
        }
        if started.elapsed() > STALE_SESSION_WAIT {
            return Err(RunError::Refused(format!(
                "{server}: the session of a failed load (process {}) does not end; \
                 finish with `pgsplit run MAPPING --resume` once it has",
                process.pid
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Loads one item in one target transaction and journals it. `again`: an earlier attempt
/// may have committed (its answer lost with the connection), so a whole table is emptied
/// in the load's transaction; an item that cannot be emptied leaves its transaction id
/// in `committing` before its commit.
#[allow(clippy::too_many_arguments)]
async fn load_item(
    phase: &DataPhase,
    source: &mut WireConn,
    target: &mut WireConn,
    index: usize,
    item: &WorkItem,
    table: &SourceTable,
    counters: &Counters,
    again: bool,
    committing: &mut Option<(String, Moved)>,
) -> Result<Moved, RunError> {
    let spec = phase.spec(table, &item.chunk);
    let hash = phase.hashes();
    // Loading a whole table of our own again is harmless: a resumed run empties it first.
    // Such loads need no transaction id in the journal before their commit.
    let redo_safe = item.whole && phase.may_truncate;
    // Emptying the table in the load's transaction lets COPY FREEZE store the rows already
    // frozen. A table this run has just created is empty already, and for a small one the
    // TRUNCATE (a new file for the table, its TOAST table and index) costs more than the
    // later hint-bit writes it saves.
    let truncate = redo_safe && (phase.resuming || again || table.bytes >= FREEZE_FROM_BYTES);
    let mut freeze = truncate;
    let server = phase.target.to_string();
    // Only a load that emptied the table holds the lock that changing its storage needs.
    let mut uncompressed = match toast::probe_sql(table) {
        Some(sql) if truncate && phase.probe_toast && table.bytes >= toast::SAMPLE_FROM_BYTES => {
            let answer = source.simple_query(&sql).await.map_err(|e| {
                RunError::wire(&phase.source.to_string(), "sample stored values", e)
            })?;
            let row = answer.into_iter().next().unwrap_or_default();
            toast::incompressible(table, &row)
        }
        _ => Vec::new(),
    };
    loop {
        let mut begin = if truncate {
            format!("BEGIN; TRUNCATE ONLY {}", table.qualified())
        } else {
            "BEGIN".to_string()
        };
        // Without a storage switch (which the target may refuse, and which must be undone
        // before the commit), the transaction's start goes with the COPY's, and the commit
        // of a load that may simply be redone with the COPY's end: two round trips per
        // table fewer, which tells when tables are many and the target is far.
        let pipelined = uncompressed.is_empty();
        let commit_with_copy = pipelined && redo_safe;
        if !pipelined {
            begin.push_str("; ");
            begin.push_str(&toast::set_storage_sql(table, &uncompressed, "EXTERNAL"));
            match target.execute(&begin).await {
                Ok(()) => {}
                Err(e @ wire::WireError::Server(_)) => {
                    // Changing the storage needs the table's owner; the load does not.
                    tracing::info!(
                        "{}: loading with the columns' own storage: {e}",
                        table.display_name()
                    );
                    let _ = target.execute("ROLLBACK").await;
                    uncompressed.clear();
                    continue;
                }
                Err(e) => return Err(RunError::wire(&server, "start the load transaction", e)),
            }
        }
        if commit_with_copy {
            fault::point("item_committing");
        }
        let steps = pass::TargetSteps {
            before: pipelined.then_some(begin.as_str()),
            then: commit_with_copy.then_some("COMMIT"),
            at_once: !freeze && table.bytes < AT_ONCE_BELOW_BYTES,
        };
        let moved = match pass::forward(source, target, &spec, freeze, hash, counters, steps).await
        {
            Ok(moved) => moved,
            Err(e) => {
                let e = RunError::Copy(e);
                let freeze_refused = freeze
                    && matches!(e, RunError::Copy(PassError::Target(_)))
                    && e.sqlstate() == Some(SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE);
                if freeze_refused {
                    // COPY FREEZE has preconditions (e.g. no older open cursor); without
                    // it the load is merely slower. The refusal came before any data, so
                    // both sessions are still in step.
                    let _ = target.execute("ROLLBACK").await;
                    freeze = false;
                    counters.bytes.store(0, Ordering::Relaxed);
                    counters.rows.store(0, Ordering::Relaxed);
                    continue;
                }
                return Err(e);
            }
        };
        if !commit_with_copy {
            commit(
                phase,
                target,
                index,
                table,
                moved,
                &uncompressed,
                redo_safe,
                committing,
            )
            .await?;
        }
        fault::point("item_committed");
        if fault::error("item_committed", &table.display_name()) {
            return Err(RunError::wire(
                &server,
                "commit the load",
                wire::WireError::Closed,
            ));
        }
        *committing = None;
        phase
            .journal
            .append(&Event::ItemDone { item: index, moved })?;
        fault::point("item_done");
        return Ok(moved);
    }
}

/// Ends a load whose commit did not go with its COPY: the columns' storage back, the
/// transaction id journaled (and kept in `committing`) where a resume or a retry needs
/// it, then the commit.
#[allow(clippy::too_many_arguments)]
async fn commit(
    phase: &DataPhase,
    target: &mut WireConn,
    index: usize,
    table: &SourceTable,
    moved: Moved,
    uncompressed: &[String],
    redo_safe: bool,
    committing: &mut Option<(String, Moved)>,
) -> Result<(), RunError> {
    let server = phase.target.to_string();
    if !uncompressed.is_empty() {
        target
            .execute(&toast::set_storage_sql(table, uncompressed, "EXTENDED"))
            .await
            .map_err(|e| RunError::wire(&server, "restore the columns' storage", e))?;
    }
    if !redo_safe {
        // Loading these rows again would add them twice: a resume must be able to
        // ask the target whether this transaction committed.
        let xid = target
            .simple_query("SELECT txid_current()::text")
            .await
            .map_err(|e| RunError::wire(&server, "read the load transaction id", e))?
            .into_iter()
            .next()
            .and_then(|row| row.into_iter().next().flatten())
            .ok_or_else(|| RunError::Internal("txid_current() returned no row".into()))?;
        phase.journal.record(&Event::ItemCommitting {
            item: index,
            xid: xid.clone(),
            moved,
        })?;
        *committing = Some((xid, moved));
    }
    fault::point("item_committing");
    target
        .execute("COMMIT")
        .await
        .map_err(|e| RunError::wire(&server, "commit the load", e))?;
    Ok(())
}
