//! The post-data scheduler: index builds, constraints, ANALYZE and verification start as
//! soon as the tables they need are loaded, `--index-jobs` at a time.
//!
//! Ordering rules, from each task's owner table, the other tables it waits for, and its
//! phase: a task waits until every table it names is loaded, and until every task of a
//! lower phase owned by any of those tables is done (a foreign key waits for the primary
//! key it references). From phase [`SEQUENTIAL_FROM_PHASE`] on, tasks of one owner and
//! phase also keep their list order. Tasks that name no table run last, one at a time, in
//! list order.
//!
//! Background tasks (`ANALYZE`) wait until a copy worker has nothing left to start and
//! then run only when no other task is ready: while every worker is copying, the target
//! is busy with COPY, and a statistics pass would only slow the streams still running;
//! later they fill the gaps left by the last tables (one COPY stream, then that table's
//! chain of index builds and foreign keys, one statement at a time). A table's `ANALYZE`
//! also waits for the other tasks that touch its table (a foreign key from a table still
//! loading, say), as its lock would hold them up, unless no other task runs at all.
//!
//! While copies run, each session builds its indexes with one server process
//! ([`SERIAL_INDEX_BUILDS`]): `--index-jobs` builds already run side by side, and
//! PostgreSQL's parallel index build would add up to two workers to each, outnumbering
//! the cores that the COPY streams (the longest of which decides the run) need. Once every
//! table is loaded, a session's next task first restores the server's setting.
//!
//! Short statements of small tables (their [`BatchPart`]) that are ready at the same time
//! travel together: up to [`BATCH_MAX`] in one message, which the server runs as one
//! transaction. A schema-per-tenant database has thousands of them, and against a distant
//! target each would otherwise wait a round trip. A batch holds its locks until it ends,
//! so it only takes tables that no running task touches, and no task starts on its tables
//! while it runs ([`Claims`]): it never waits for another session, nor another for it. If
//! it fails, nothing of it stays, and its statements run again one at a time, each with
//! its own error.
//!
//! A statement the server refuses (an index whose expression fails on the target, a
//! matview whose query does) does not stop the others, as with pg_restore: the tasks that
//! need it ([`Failures::not_run`]: `after` it, and what needs those) are left out, the
//! others run, also those that only came after it on its table, and the run ends with
//! every failure listed ([`RunError::PostData`]). A resume runs what is left. Anything else (a lost server once
//! the retries are spent, a cancelled statement, a stop) ends post-data at once.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_postgres::Client;

use pgsplit_pg::ConnSettings;

use super::error::RunError;
use crate::cancel::Cancel;
use crate::progress::Progress;
use crate::retry;

/// Phases from here on keep list order within one owner (triggers, rules, comments…).
pub const SEQUENTIAL_FROM_PHASE: u8 = 3;

/// Run on each post-data session before the data phase; undone by [`PARALLEL_INDEX_BUILDS`].
pub const SERIAL_INDEX_BUILDS: &str = "SET max_parallel_maintenance_workers = 0";
/// Back to the server's (or the role's, or the URL's) setting once the copies are over.
const PARALLEL_INDEX_BUILDS: &str = "RESET max_parallel_maintenance_workers";

/// Raises the session's `maintenance_work_mem` (index builds sort with it) to `bytes` if it
/// is lower; a setting the server, the role or the URL raised further is kept.
pub async fn raise_maintenance_work_mem(client: &Client, bytes: i64) -> Result<(), RunError> {
    // The server takes kB from 1 MB up to 2^31 - 1 kB.
    let kb = (bytes / 1024).clamp(1024, i64::from(i32::MAX));
    client
        .execute(
            "SELECT set_config('maintenance_work_mem', $1, false) \
             WHERE pg_size_bytes(current_setting('maintenance_work_mem')) < $2",
            &[&format!("{kb}kB"), &(kb * 1024)],
        )
        .await
        .map_err(|e| RunError::db_plain("raise maintenance_work_mem", e))?;
    Ok(())
}

/// How post-data sessions to the target are opened and set up: at the start, and again
/// for one whose connection was lost while it waited for work (a network blip, an
/// administrator ending idle sessions).
pub struct Sessions {
    pub target: ConnSettings,
    /// See [`raise_maintenance_work_mem`].
    pub maintenance_work_mem: Option<i64>,
}

impl Sessions {
    /// The copies' text forms (read-backs of text-format tables run here); DDL settings,
    /// the empty search_path last, but a SQL_ASCII database's bytes as they are (the
    /// read-backs); serial index builds while the copies run. One message.
    pub async fn set_up(&self, client: &Client) -> Result<(), RunError> {
        let setup = format!(
            "{}; {}; {}; {SERIAL_INDEX_BUILDS}",
            pgsplit_copy::DATA_SESSION_SETUP,
            pgsplit_schema::Ddl::SESSION_SETUP,
            pgsplit_copy::SQL_ASCII_AS_IS,
        );
        client
            .batch_execute(&setup)
            .await
            .map_err(|e| RunError::db_plain("set up a post-data session", e))?;
        if let Some(bytes) = self.maintenance_work_mem {
            raise_maintenance_work_mem(client, bytes).await?;
        }
        Ok(())
    }

    pub async fn open(&self) -> Result<Client, RunError> {
        let client = crate::session::open(&self.target).await?.client;
        self.set_up(&client).await?;
        Ok(client)
    }
}

/// Statements per batch at most (each holds a lock or two until the batch ends).
pub const BATCH_MAX: usize = 32;
/// Tables below this size have their short statements batched.
pub const BATCH_BELOW_BYTES: i64 = 1024 * 1024;
/// How far into the ready queue the scheduler looks for a task whose tables are free.
const SCAN_WINDOW: usize = 256;

/// The work of one task, run on a pooled target connection: once, or again after a
/// failure that may go away ([`Attempt`]).
pub type TaskFn = Box<
    dyn Fn(Arc<Client>, Attempt) -> Pin<Box<dyn Future<Output = Result<(), RunError>> + Send>>
        + Send
        + Sync,
>;

/// Whether a task runs for the first time, or again after a failure that may go away (its
/// connection lost while it ran, a deadlock): what it did may then have been committed
/// before the failure, and a statement may find itself done (as in a resumed run).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attempt {
    First,
    Again,
}

pub struct PostTask {
    pub label: String,
    /// The table (or other relation) this task belongs to: (schema, name).
    pub owner: Option<(String, String)>,
    /// Other relations whose lower-phase tasks must be done first.
    pub waits_for: Vec<(String, String)>,
    /// Relations the task may lock besides `owner` and `waits_for` (their partitioned
    /// parents): no batch shares them with another running task.
    pub locks_also: Vec<(String, String)>,
    /// Indices of copied tables that must be loaded first.
    pub needs_loaded: Vec<usize>,
    pub phase: u8,
    /// Earlier tasks (indices into the task list) that must be done first.
    pub after: Vec<usize>,
    /// Waits until a copy worker is idle, then runs only when nothing else is ready.
    pub background: bool,
    /// No other task waits for it (a read-back, which locks nothing others need).
    pub detached: bool,
    /// A short read: it may be sent on a session together with other such reads, whose
    /// answers then come one after the other (one round trip for all of them).
    pub pipelined: bool,
    /// Tasks that are not complete without this one (the partitioned index an index
    /// attach attaches a partition's index to: it stays invalid until every partition's
    /// is attached): if it fails or is left out, what needs them is left out too.
    pub completes: Vec<usize>,
    pub work: TaskFn,
    /// Set when the task may run in a batch with other ready ones instead of `work`.
    pub batch: Option<BatchPart>,
}

/// A task as a statement that may share one message (and transaction) with others.
pub struct BatchPart {
    pub sql: Arc<str>,
    /// What `work` does after its statement has run (the journal entry).
    pub committed: Box<dyn Fn() -> Result<(), RunError> + Send + Sync>,
}

/// What the data phase tells the scheduler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataEvent {
    /// Every item of this table (an index into the copied tables) is committed.
    Loaded(usize),
    /// A copy worker found no item left to start: the copies no longer use every job.
    WorkerIdle,
}

/// What the post-data scheduler is given.
pub struct Schedule {
    pub tasks: Vec<PostTask>,
    /// One per `--index-jobs`.
    pub connections: Vec<Arc<Client>>,
    /// Table indices as the data phase finishes them; closed when the data phase ends.
    pub loaded: mpsc::UnboundedReceiver<DataEvent>,
    pub table_count: usize,
    pub progress: Arc<Progress>,
    pub cancel: Cancel,
    pub sessions: Arc<Sessions>,
    /// Tasks done so far, read by the report also when the run ends early.
    pub finished: Arc<AtomicUsize>,
    /// Refusals so far (each error's text) and the tasks they left out: for the report
    /// also when the run ends early (a stop).
    pub refusals: Arc<std::sync::Mutex<Refusals>>,
}

/// What [`Schedule::refusals`] holds.
#[derive(Debug, Default)]
pub struct Refusals {
    pub failed: Vec<String>,
    pub not_run: Vec<String>,
}

/// Post-data statements the server refused, and the tasks left out because of them.
#[derive(Debug)]
pub struct Failures {
    /// The failed tasks' errors, in the order they failed.
    pub failed: Vec<RunError>,
    /// Tasks not run because they need a failed one (a primary key its index, a foreign
    /// key the key it references), or a task so left out.
    pub not_run: Vec<String>,
    /// What then ended post-data at once (a lost server once the retries were spent).
    pub stopped_by: Option<Box<RunError>>,
}

impl Failures {
    /// `e`, which ends post-data, with the statements refused before it.
    fn stopped(mut self, e: RunError) -> RunError {
        if self.failed.is_empty() || matches!(e, RunError::Interrupted) {
            return e;
        }
        self.stopped_by = Some(Box::new(e));
        RunError::PostData(self)
    }
}

impl std::fmt::Display for Failures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.failed.len();
        if let Some(e) = &self.stopped_by {
            write!(f, "post-data stopped: {e:#}\nbefore that, ")?;
        }
        write!(
            f,
            "{n} post-data statement{} failed",
            if n == 1 { "" } else { "s" }
        )?;
        if self.stopped_by.is_none() {
            write!(f, "; the others ran")?;
        }
        if !self.not_run.is_empty() {
            const SHOWN: usize = 10;
            let mut names = self.not_run[..self.not_run.len().min(SHOWN)].join(", ");
            if self.not_run.len() > SHOWN {
                names.push_str(&format!(", and {} more", self.not_run.len() - SHOWN));
            }
            let (lead, tail) = if self.stopped_by.is_none() {
                ("except", "")
            } else {
                ("and", " were left out")
            };
            write!(
                f,
                ", {lead} {} that need {}{tail}: {names}",
                self.not_run.len(),
                if n == 1 { "it" } else { "one of them" }
            )?;
        }
        // The database's own properties (its settings may change how a session behaves)
        // and event triggers (they fire on DDL) wait until every statement is in, where
        // the run writes them (not with --data-only).
        let which = if n == 1 && self.not_run.is_empty() {
            "it"
        } else {
            "them"
        };
        write!(
            f,
            "; what comes last (the database's properties, event triggers) waits for {which}: `pgsplit run \
             MAPPING --resume` runs what is left once the cause is mended on the target"
        )?;
        for (i, e) in self.failed.iter().enumerate() {
            write!(f, "\n{}. {e:#}", i + 1)?;
        }
        Ok(())
    }
}

/// Records a refusal (each statement of it, for joined sequence values) as it happens.
fn refuse(failures: &mut Failures, e: RunError, log: &std::sync::Mutex<Refusals>) {
    let each = match e {
        RunError::PostData(f) => f.failed,
        e => vec![e],
    };
    let mut log = log.lock().expect("never poisoned");
    for e in each {
        tracing::error!("post-data: {e:#}; what needs it is left out, the others go on");
        log.failed.push(format!("{e:#}"));
        failures.failed.push(e);
    }
}

/// Records a task left out because it needs a refused one.
fn leave_out_task(failures: &mut Failures, label: &str, log: &std::sync::Mutex<Refusals>) {
    failures.not_run.push(label.to_string());
    log.lock()
        .expect("never poisoned")
        .not_run
        .push(label.to_string());
}

/// A statement the server refused for what it says, not for a lost connection or a
/// cancel: the scheduler goes on without it.
fn goes_on_past(e: &RunError) -> bool {
    use tokio_postgres::error::SqlState;
    match e {
        // Several statements of one task (joined sequence values), each refused.
        RunError::PostData(f) => f.stopped_by.is_none() && f.failed.iter().all(goes_on_past),
        // Not what the server says of the whole server: insufficient resources (a full
        // disk, no memory), an administrator's intervention, a system or internal error
        // would fail every statement after it, for hours of index builds.
        RunError::Statement { .. } => {
            !e.is_transient()
                && e.sqlstate().is_some_and(|code| {
                    code != SqlState::QUERY_CANCELED
                        && !["53", "57", "58", "XX"].contains(&&code.code()[..2])
                })
        }
        _ => false,
    }
}

/// Runs every task of `schedule`, each once its tables are loaded and what it needs is done.
pub async fn run(schedule: Schedule) -> Result<(), RunError> {
    let Schedule {
        tasks,
        connections,
        mut loaded,
        table_count,
        progress,
        cancel,
        sessions,
        finished,
        refusals,
    } = schedule;
    let target = sessions.target.clone();
    let tokens = Arc::new(std::sync::Mutex::new(
        connections
            .iter()
            .map(|c| c.cancel_token())
            .collect::<Vec<_>>(),
    ));
    let mut cancel_seen = false;
    let n = tasks.len();
    let mut is_loaded = vec![false; table_count];
    // The copies are over once every table is loaded, a little before the data phase
    // closes `loaded` (its workers still finish and disconnect).
    let mut tables_unloaded = table_count;
    let mut unloaded_needs: Vec<usize> = tasks.iter().map(|t| t.needs_loaded.len()).collect();
    let mut waiting_on_table: HashMap<usize, Vec<usize>> = HashMap::new();
    for (i, t) in tasks.iter().enumerate() {
        for &table in &t.needs_loaded {
            waiting_on_table.entry(table).or_default().push(i);
        }
    }
    // Dependencies between non-global tasks.
    let mut by_owner: HashMap<&(String, String), Vec<usize>> = HashMap::new();
    for (i, t) in tasks.iter().enumerate() {
        if let Some(owner) = &t.owner {
            by_owner.entry(owner).or_default().push(i);
        }
    }
    // Global tasks: no table at all, or depending on a global task (list order is a valid
    // order, so running them last in list order keeps every dependency).
    let mut is_global = vec![false; n];
    for (i, t) in tasks.iter().enumerate() {
        is_global[i] = (t.owner.is_none() && t.waits_for.is_empty() && t.needs_loaded.is_empty())
            || t.after.iter().any(|&j| j < i && is_global[j]);
    }
    let global: Vec<usize> = (0..n).filter(|&i| is_global[i]).collect();
    let mut deps_left = vec![0usize; n];
    // Per task, the tasks that wait for it, and whether they need it (`after`: it makes
    // what they use) or only come after it on a table they share.
    let mut dependents: Vec<Vec<(usize, bool)>> = vec![Vec::new(); n];
    for (i, t) in tasks.iter().enumerate() {
        if is_global[i] {
            continue;
        }
        let mut seen: Vec<usize> = Vec::new();
        let mut add = |j: usize, seen: &mut Vec<usize>| {
            if j != i && !seen.contains(&j) {
                seen.push(j);
                dependents[j].push((i, t.after.contains(&j)));
                deps_left[i] += 1;
            }
        };
        for &j in &t.after {
            if j < n && !is_global[j] {
                add(j, &mut seen);
            }
        }
        for name in t.owner.iter().chain(t.waits_for.iter()) {
            for &j in by_owner.get(name).map(Vec::as_slice).unwrap_or(&[]) {
                if tasks[j].detached {
                    continue;
                }
                let pj = tasks[j].phase;
                let before =
                    pj < t.phase || (t.phase >= SEQUENTIAL_FROM_PHASE && pj == t.phase && j < i);
                if before && !is_global[j] {
                    add(j, &mut seen);
                }
            }
        }
    }

    let background: Vec<bool> = tasks.iter().map(|t| t.background).collect();
    let pipelined: Vec<bool> = tasks.iter().map(|t| t.pipelined).collect();
    // Tasks that only keep out of the way of those before them (`ANALYZE`, read-backs):
    // they run even when one they are said to need fails.
    let ordered_only: Vec<bool> = tasks.iter().map(|t| t.background || t.detached).collect();
    let labels: Vec<String> = tasks.iter().map(|t| t.label.clone()).collect();
    let completes: Vec<Vec<usize>> = tasks.iter().map(|t| t.completes.clone()).collect();
    // Done, but not complete: a partitioned index one of whose attaches failed.
    let mut incomplete = vec![false; n];
    let global_after: Vec<Vec<usize>> = tasks
        .iter()
        .zip(&is_global)
        .map(|(t, &g)| if g { t.after.clone() } else { Vec::new() })
        .collect();
    // Failed, or left out because it comes after a failed task.
    let mut left_out = vec![false; n];
    let mut failures = Failures {
        failed: Vec::new(),
        not_run: Vec::new(),
        stopped_by: None,
    };
    let mut claims = Claims::new(&tasks, &is_global);
    let mut works: Vec<Option<(String, TaskFn)>> = Vec::with_capacity(n);
    let mut parts: Vec<Option<BatchPart>> = Vec::with_capacity(n);
    for t in tasks {
        works.push(Some((t.label, t.work)));
        parts.push(t.batch);
    }
    let mut queue = Queue {
        ready: VecDeque::new(),
        later: VecDeque::new(),
        background,
    };
    for i in 0..n {
        if !is_global[i] && deps_left[i] == 0 && unloaded_needs[i] == 0 {
            queue.push(i);
        }
    }
    let mut pool: Vec<Session> = connections
        .into_iter()
        .map(|client| Session {
            client,
            serial_builds: true,
        })
        .collect();
    let jobs = pool.len().max(1);
    let mut running: JoinSet<(Vec<usize>, Session, JobResult)> = JoinSet::new();
    let mut non_global_left = n - global.len();
    let mut loads_open = true;
    let mut copies_winding_down = false;
    let mut first_error: Option<RunError> = None;

    loop {
        while first_error.is_none() && running.len() < jobs {
            let copies_over = !loads_open || tables_unloaded == 0;
            let background_allowed = copies_winding_down || copies_over;
            let idle = running.is_empty();
            let may_start = |i| claims.may_start(i) && (idle || !claims.too_early(i));
            let Some(first) = queue.take(background_allowed, may_start) else {
                break;
            };
            let mut members = vec![first];
            // What is ready is shared out among the free sessions.
            let fair_share = |limit: usize| {
                let free = jobs - running.len();
                (1 + queue.len(background_allowed) / free).min(limit)
            };
            if pipelined[first] {
                let cap = fair_share(crate::verify::tables::READS_IN_FLIGHT);
                while members.len() < cap {
                    let Some(j) =
                        queue.take(background_allowed, |j| pipelined[j] && claims.may_start(j))
                    else {
                        break;
                    };
                    members.push(j);
                }
            } else if parts[first].is_some() && claims.may_join(first, &[]) {
                let cap = fair_share(BATCH_MAX);
                let mut mine = claims.touches[first].clone();
                while members.len() < cap {
                    let Some(j) = queue.take(background_allowed, |j| {
                        parts[j].is_some()
                            && claims.may_join(j, &mine)
                            && (idle || !claims.too_early(j))
                    }) else {
                        break;
                    };
                    mine.extend_from_slice(&claims.touches[j]);
                    members.push(j);
                }
            }
            claims.start(&members);
            let job = if let [only] = members[..] {
                parts[only] = None;
                let (label, work) = works[only].take().expect("each task runs once");
                Job::Single(label, work)
            } else {
                let mut member = |j: usize| {
                    let (label, work) = works[j].take().expect("each task runs once");
                    Member {
                        label,
                        work,
                        part: parts[j].take(),
                        done: AtomicBool::new(false),
                        refused: std::sync::Mutex::new(None),
                    }
                };
                let members = members.iter().map(|&j| member(j)).collect();
                if pipelined[first] {
                    Job::Reads(members)
                } else {
                    Job::Batch(members)
                }
            };
            let mut session = pool.pop().expect("a free connection per running task");
            let progress = Arc::clone(&progress);
            let cancel = cancel.clone();
            let (sessions, tokens) = (Arc::clone(&sessions), Arc::clone(&tokens));
            running.spawn(async move {
                let label = job.label();
                let _active = progress.start(label.clone(), None, 0);
                let started = Instant::now();
                let result = session
                    .run(&job, &sessions, &tokens, &cancel, copies_over)
                    .await;
                tracing::debug!("post-data task {label} took {:?}", started.elapsed());
                (members, session, result)
            });
        }
        if running.is_empty() && (queue.is_empty() || first_error.is_some()) {
            if first_error.is_some() || non_global_left == 0 {
                break;
            }
            if !loads_open {
                let stuck: Vec<String> = works
                    .iter()
                    .enumerate()
                    .filter(|(i, w)| w.is_some() && !is_global[*i])
                    .map(|(_, w)| w.as_ref().map(|(l, _)| l.clone()).unwrap_or_default())
                    .take(5)
                    .collect();
                return Err(RunError::Internal(format!(
                    "post-data tasks can never start: {}",
                    stuck.join(", ")
                )));
            }
        }
        tokio::select! {
            _ = cancel.cancelled(), if !cancel_seen => {
                cancel_seen = true;
                first_error = Some(RunError::Interrupted);
                // Stop index builds and other statements in flight on the server.
                let tokens = tokens.lock().expect("never poisoned").clone();
                for token in &tokens {
                    let _ = pgsplit_pg::cancel_query(&target, token).await;
                }
            }
            table = loaded.recv(), if loads_open => match table {
                Some(DataEvent::WorkerIdle) => copies_winding_down = true,
                Some(DataEvent::Loaded(t)) if t < table_count && !is_loaded[t] => {
                    is_loaded[t] = true;
                    tables_unloaded -= 1;
                    for &i in waiting_on_table.get(&t).map(Vec::as_slice).unwrap_or(&[]) {
                        unloaded_needs[i] -= 1;
                        if unloaded_needs[i] == 0
                            && deps_left[i] == 0
                            && !is_global[i]
                            && !left_out[i]
                        {
                            queue.push(i);
                        }
                    }
                }
                Some(_) => {}
                None => loads_open = false,
            },
            Some(joined) = running.join_next(), if !running.is_empty() => {
                let (members, session, result) = joined
                    .map_err(|e| RunError::Internal(format!("post-data task panicked: {e}")))?;
                pool.push(session);
                claims.end(&members);
                match result {
                    Ok(refused) => {
                        finished.fetch_add(members.len() - refused.len(), Ordering::Relaxed);
                        let mut failed = Vec::new();
                        for (at, e) in refused {
                            refuse(&mut failures, e, &refusals);
                            failed.push(members[at]);
                        }
                        let mut ready = Vec::new();
                        for &i in &members {
                            non_global_left -= 1;
                            if failed.contains(&i) {
                                left_out[i] = true;
                            } else {
                                ready.extend(dependents[i].iter().map(|&(d, _)| d));
                            }
                        }
                        // What needs a failed task is left out, and what needs that; what
                        // only comes after it on its table goes on.
                        let mut leave_out = failed;
                        while let Some(i) = leave_out.pop() {
                            // What needs the partitioned index it would have completed
                            // (but the other partitions' attaches) goes with it.
                            let mut waiting: Vec<(usize, bool)> = dependents[i].clone();
                            for &p in &completes[i] {
                                incomplete[p] = true;
                                waiting.extend(
                                    dependents[p]
                                        .iter()
                                        .filter(|&&(d, needs)| {
                                            // Not started, and its edge from the
                                            // index not released again.
                                            needs
                                                && !ordered_only[d]
                                                && works[d].is_some()
                                                && !completes[d].contains(&p)
                                        })
                                        .copied(),
                                );
                            }
                            for (d, needs) in waiting {
                                if !needs || ordered_only[d] {
                                    ready.push(d);
                                } else if !left_out[d] {
                                    left_out[d] = true;
                                    works[d] = None;
                                    parts[d] = None;
                                    // Queued already when it needs a partitioned index
                                    // that turned out incomplete.
                                    queue.remove(d);
                                    non_global_left -= 1;
                                    claims.abandon(d);
                                    leave_out_task(&mut failures, &labels[d], &refusals);
                                    leave_out.push(d);
                                }
                            }
                        }
                        for d in ready {
                            if left_out[d] {
                                continue;
                            }
                            deps_left[d] -= 1;
                            if deps_left[d] == 0 && unloaded_needs[d] == 0 {
                                queue.push(d);
                            }
                        }
                    }
                    Err(e) => {
                        if !cancel_seen && first_error.is_none() {
                            // Said now, not after hours of copying: the copies go on
                            // (a resume keeps them), no further post-data starts.
                            tracing::error!(
                                "post-data failed: {e:#}; the copies go on and are kept for \
                                 --resume, no further post-data statement starts, and the \
                                 run ends with this error"
                            );
                            first_error = Some(e);
                        }
                    }
                }
            }
        }
    }
    if let Some(e) = first_error {
        return Err(failures.stopped(e));
    }
    // Global tasks (sequence values, matview refreshes, grants…) see all data loaded.
    while loaded.recv().await.is_some() {}
    // Global tasks: after everything else, in order.
    let mut session = pool
        .pop()
        .ok_or_else(|| RunError::Internal("no connection".into()))?;
    for g in global {
        if cancel.is_cancelled() {
            return Err(RunError::Interrupted);
        }
        // What needs an index left incomplete goes too, but the other attaches to it.
        if global_after[g]
            .iter()
            .any(|&j| left_out[j] || (incomplete[j] && !completes[g].contains(&j)))
        {
            left_out[g] = true;
            for &p in &completes[g] {
                incomplete[p] = true;
            }
            leave_out_task(&mut failures, &labels[g], &refusals);
            continue;
        }
        let (label, work) = works[g].take().expect("each task runs once");
        let _active = progress.start(label.clone(), None, 0);
        let job = Job::Single(label, work);
        let started = Instant::now();
        tokio::select! {
            done = session.run(&job, &sessions, &tokens, &cancel, true) => {
                let refused = match done {
                    Ok(refused) => refused,
                    Err(e) => return Err(failures.stopped(e)),
                };
                if let Some((_, e)) = refused.into_iter().next() {
                    refuse(&mut failures, e, &refusals);
                    left_out[g] = true;
                    for &p in &completes[g] {
                        incomplete[p] = true;
                    }
                    continue;
                }
            }
            // A refresh of a large materialized view may take hours: stopped on the server
            // (the session may have been opened again meanwhile).
            _ = cancel.cancelled() => {
                let token = session.client.cancel_token();
                let _ = pgsplit_pg::cancel_query(&target, &token).await;
                return Err(RunError::Interrupted);
            }
        }
        finished.fetch_add(1, Ordering::Relaxed);
        tracing::debug!("global post-data task took {:?}", started.elapsed());
    }
    if failures.failed.is_empty() {
        Ok(())
    } else {
        Err(RunError::PostData(failures))
    }
}

/// How a job went: its members the server refused (by their place in the job, with the
/// errors) while the others ran, or an error that ends post-data.
type JobResult = Result<Vec<(usize, RunError)>, RunError>;

/// What one session runs at a time: a task, a batch of ready tasks, or short reads sent
/// together.
enum Job {
    Single(String, TaskFn),
    Batch(Vec<Member>),
    Reads(Vec<Member>),
}

/// A task of a batch or of reads sent together.
struct Member {
    label: String,
    work: TaskFn,
    /// Its statement, for a batch.
    part: Option<BatchPart>,
    /// Done by an attempt that failed on another member: not run again (a read-back
    /// would count its rows twice).
    done: AtomicBool,
    /// Refused by the server in an attempt that then failed on another member: not run
    /// again (told `Attempt::Again`, it could take the refusal for itself done), and
    /// reported by the attempt that ends the job.
    refused: std::sync::Mutex<Option<RunError>>,
}

impl Member {
    async fn run(&self, client: &Arc<Client>, attempt: Attempt) -> Result<(), RunError> {
        if !self.done.load(Ordering::Relaxed) {
            (self.work)(Arc::clone(client), attempt).await?;
            self.done.store(true, Ordering::Relaxed);
        }
        Ok(())
    }
}

impl Job {
    fn label(&self) -> String {
        match self {
            Job::Single(label, _) => label.clone(),
            Job::Batch(members) => {
                format!("{} statements ({}, …)", members.len(), members[0].label)
            }
            Job::Reads(members) => format!("{} reads ({}, …)", members.len(), members[0].label),
        }
    }

    /// Runs the job; its members' statements the server refused ([`goes_on_past`]) come
    /// back by their place in the job, with their errors, and the others still run.
    async fn run(&self, client: &Arc<Client>, cancel: &Cancel, attempt: Attempt) -> JobResult {
        let members = match self {
            Job::Single(_, work) => {
                return match work(Arc::clone(client), attempt).await {
                    Ok(()) => Ok(Vec::new()),
                    Err(e) if goes_on_past(&e) => Ok(vec![(0, e)]),
                    Err(e) => Err(e),
                };
            }
            Job::Batch(members) => members,
            Job::Reads(members) => {
                // Polled together, their statements go out at once on the session.
                let reads = members.iter().map(|m| m.run(client, attempt));
                return futures::future::try_join_all(reads)
                    .await
                    .map(|_| Vec::new());
            }
        };
        // Once a batch may have been committed, each statement goes alone and may find
        // itself done.
        let parts: Vec<&BatchPart> = members.iter().filter_map(|m| m.part.as_ref()).collect();
        if attempt == Attempt::First {
            let sql: Vec<&str> = parts.iter().map(|part| &*part.sql).collect();
            match client.batch_execute(&sql.join("\n;\n")).await {
                Ok(()) => {
                    for part in parts {
                        (part.committed)()?;
                    }
                    return Ok(Vec::new());
                }
                Err(_) if cancel.is_cancelled() => return Err(RunError::Interrupted),
                Err(e) => tracing::debug!(
                    "a batch of {} post-data statements failed ({e}); running them one at a time",
                    members.len()
                ),
            }
        }
        for member in members {
            match member.run(client, attempt).await {
                Ok(()) => {}
                Err(e) if goes_on_past(&e) => {
                    member.done.store(true, Ordering::Relaxed);
                    *member.refused.lock().expect("never poisoned") = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(members
            .iter()
            .enumerate()
            .filter_map(|(at, m)| {
                let refused = m.refused.lock().expect("never poisoned").take();
                refused.map(|e| (at, e))
            })
            .collect())
    }
}

/// The tables each task touches (its owner and the tables it waits for), and which of
/// them running tasks and running batches touch.
struct Claims {
    touches: Vec<Vec<usize>>,
    /// Per table: running tasks (alone or in a batch) that touch it.
    busy: Vec<u32>,
    /// Per table: a running batch touches it.
    held: Vec<bool>,
    /// Per table: tasks touching it that are not done, background ones apart.
    unfinished: Vec<u32>,
    /// Per task: counted in `unfinished`.
    counted: Vec<bool>,
    background: Vec<bool>,
}

impl Claims {
    fn new(tasks: &[PostTask], is_global: &[bool]) -> Claims {
        let mut ids: HashMap<&(String, String), usize> = HashMap::new();
        let touches: Vec<Vec<usize>> = tasks
            .iter()
            .map(|t| {
                t.owner
                    .iter()
                    .chain(&t.waits_for)
                    .chain(&t.locks_also)
                    .map(|name| {
                        let next = ids.len();
                        *ids.entry(name).or_insert(next)
                    })
                    .collect()
            })
            .collect();
        let background: Vec<bool> = tasks.iter().map(|t| t.background).collect();
        // Global tasks run after the others (and after every background one).
        let counted: Vec<bool> = tasks
            .iter()
            .zip(is_global)
            .map(|(t, &global)| !t.background && !t.detached && !global)
            .collect();
        let mut unfinished = vec![0; ids.len()];
        for (i, tables) in touches.iter().enumerate() {
            if counted[i] {
                for &t in tables {
                    unfinished[t] += 1;
                }
            }
        }
        Claims {
            touches,
            busy: vec![0; ids.len()],
            held: vec![false; ids.len()],
            unfinished,
            counted,
            background,
        }
    }

    /// No running batch touches the task's tables.
    fn may_start(&self, task: usize) -> bool {
        self.touches[task].iter().all(|&t| !self.held[t])
    }

    /// A background task (`ANALYZE`) whose tables other tasks still have to touch: its lock
    /// would hold up an index build or a foreign key on them, which other work may wait
    /// for, so it runs early only when no other task runs.
    fn too_early(&self, task: usize) -> bool {
        self.background[task] && self.touches[task].iter().any(|&t| self.unfinished[t] > 0)
    }

    /// No running task touches the task's tables, apart from the batch's own (`mine`).
    fn may_join(&self, task: usize, mine: &[usize]) -> bool {
        self.touches[task]
            .iter()
            .all(|&t| self.busy[t] == 0 || mine.contains(&t))
    }

    /// A task that will not run: its tables no longer wait for it.
    fn abandon(&mut self, task: usize) {
        if std::mem::take(&mut self.counted[task]) {
            for &t in &self.touches[task] {
                self.unfinished[t] -= 1;
            }
        }
    }

    fn start(&mut self, members: &[usize]) {
        let batch = members.len() > 1;
        for &i in members {
            for &t in &self.touches[i] {
                self.busy[t] += 1;
                self.held[t] |= batch;
            }
        }
    }

    fn end(&mut self, members: &[usize]) {
        let batch = members.len() > 1;
        for &i in members {
            if self.counted[i] {
                for &t in &self.touches[i] {
                    self.unfinished[t] -= 1;
                }
            }
            for &t in &self.touches[i] {
                self.busy[t] -= 1;
                if batch {
                    self.held[t] = false;
                }
            }
        }
    }
}

/// A pooled target connection and whether it still builds indexes serially.
struct Session {
    client: Arc<Client>,
    serial_builds: bool,
}

impl Session {
    /// Runs `job`, and again (up to [`retry::MAX_ATTEMPTS`] in all, with back-off) after a
    /// failure that may go away: its connection lost while it waited or ran (opened again
    /// first), a deadlock, a server restarting.
    async fn run(
        &mut self,
        job: &Job,
        sessions: &Sessions,
        tokens: &std::sync::Mutex<Vec<tokio_postgres::CancelToken>>,
        cancel: &Cancel,
        copies_over: bool,
    ) -> JobResult {
        let mut attempt = 1;
        loop {
            let mut result = self
                .reopen_if_lost(sessions, tokens)
                .await
                .map(|()| Vec::new());
            if result.is_ok() {
                result = self.after_copies(copies_over).await.map(|()| Vec::new());
            }
            if result.is_ok() {
                let again = if attempt == 1 {
                    Attempt::First
                } else {
                    Attempt::Again
                };
                result = job.run(&self.client, cancel, again).await;
            }
            match result {
                Err(e)
                    if attempt < retry::MAX_ATTEMPTS
                        && e.is_transient()
                        && !cancel.is_cancelled() =>
                {
                    attempt += 1;
                    tracing::warn!(
                        "post-data: {e:#}; retrying: attempt {attempt} of {}",
                        retry::MAX_ATTEMPTS
                    );
                    tokio::select! {
                        _ = tokio::time::sleep(retry::delay(attempt)) => {}
                        _ = cancel.cancelled() => return Err(RunError::Interrupted),
                    }
                }
                done => return done,
            }
        }
    }

    /// A new connection in place of one that was lost, its cancel token added to `tokens`.
    async fn reopen_if_lost(
        &mut self,
        sessions: &Sessions,
        tokens: &std::sync::Mutex<Vec<tokio_postgres::CancelToken>>,
    ) -> Result<(), RunError> {
        if !self.client.is_closed() {
            return Ok(());
        }
        tracing::warn!("a post-data session to the target was lost; opening another");
        let client = sessions.open().await?;
        tokens
            .lock()
            .expect("never poisoned")
            .push(client.cancel_token());
        self.client = Arc::new(client);
        self.serial_builds = true;
        Ok(())
    }

    /// Restores parallel index builds once `copies_over`, the first time only.
    async fn after_copies(&mut self, copies_over: bool) -> Result<(), RunError> {
        if copies_over && self.serial_builds {
            self.client
                .batch_execute(PARALLEL_INDEX_BUILDS)
                .await
                .map_err(|e| RunError::db_plain("restore parallel index builds", e))?;
            self.serial_builds = false;
        }
        Ok(())
    }
}

/// Tasks whose dependencies are met: background ones apart, started only once the copies
/// wind down and nothing else waits.
struct Queue {
    ready: VecDeque<usize>,
    later: VecDeque<usize>,
    background: Vec<bool>,
}

impl Queue {
    fn push(&mut self, task: usize) {
        if self.background[task] {
            self.later.push_back(task);
        } else {
            self.ready.push_back(task);
        }
    }

    /// The first queued task (within [`SCAN_WINDOW`]) that `may` start, background ones
    /// only when `background_allowed` and after the others.
    fn take(&mut self, background_allowed: bool, may: impl Fn(usize) -> bool) -> Option<usize> {
        let found = |queue: &VecDeque<usize>| queue.iter().take(SCAN_WINDOW).position(|&i| may(i));
        if let Some(at) = found(&self.ready) {
            return self.ready.remove(at);
        }
        if background_allowed && let Some(at) = found(&self.later) {
            return self.later.remove(at);
        }
        None
    }

    /// Queued tasks that may start now (background ones only when allowed).
    fn len(&self, background_allowed: bool) -> usize {
        self.ready.len()
            + if background_allowed {
                self.later.len()
            } else {
                0
            }
    }

    fn is_empty(&self) -> bool {
        self.ready.is_empty() && self.later.is_empty()
    }

    fn remove(&mut self, task: usize) {
        self.ready.retain(|&t| t != task);
        self.later.retain(|&t| t != task);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A task that records the session's `max_parallel_maintenance_workers` under `label`.
    fn recorder(
        label: &str,
        owner: Option<(String, String)>,
        seen: &Arc<Mutex<Vec<(String, String)>>>,
    ) -> PostTask {
        let seen = Arc::clone(seen);
        let name = label.to_string();
        PostTask {
            label: name.clone(),
            owner,
            waits_for: Vec::new(),
            locks_also: Vec::new(),
            needs_loaded: Vec::new(),
            phase: 0,
            after: Vec::new(),
            background: false,
            detached: false,
            pipelined: false,
            completes: Vec::new(),
            batch: None,
            work: Box::new(move |client: Arc<Client>, _| {
                let (seen, name) = (Arc::clone(&seen), name.clone());
                Box::pin(async move {
                    let row = client
                        .query_one("SHOW max_parallel_maintenance_workers", &[])
                        .await
                        .map_err(|e| RunError::db_plain("show", e))?;
                    seen.lock().unwrap().push((name, row.get(0)));
                    Ok(())
                })
            }),
        }
    }

    /// A task of table `owner` that runs `sql`; `events` records how it ran.
    fn statement(
        label: &str,
        owner: &str,
        sql: &str,
        events: &Arc<Mutex<Vec<String>>>,
    ) -> PostTask {
        let (events, name, text) = (Arc::clone(events), label.to_string(), sql.to_string());
        let (batched, batched_name) = (Arc::clone(&events), name.clone());
        PostTask {
            label: name.clone(),
            owner: Some(("public".to_string(), owner.to_string())),
            waits_for: Vec::new(),
            locks_also: Vec::new(),
            needs_loaded: Vec::new(),
            phase: 1,
            after: Vec::new(),
            background: false,
            detached: false,
            pipelined: false,
            completes: Vec::new(),
            batch: Some(BatchPart {
                sql: text.as_str().into(),
                committed: Box::new(move || {
                    batched
                        .lock()
                        .unwrap()
                        .push(format!("{batched_name} in a batch"));
                    Ok(())
                }),
            }),
            work: Box::new(move |client: Arc<Client>, _| {
                let (events, name, text) = (Arc::clone(&events), name.clone(), text.clone());
                Box::pin(async move {
                    client
                        .batch_execute(&text)
                        .await
                        .map_err(|source| RunError::Statement {
                            identity: name.clone(),
                            sql: text,
                            source,
                        })?;
                    events.lock().unwrap().push(format!("{name} alone"));
                    Ok(())
                })
            }),
        }
    }

    /// A task of `owner` in `phase`, alone (no batch), that records `label` in table `seen`.
    fn inserting(
        label: &str,
        owner: &str,
        phase: u8,
        events: &Arc<Mutex<Vec<String>>>,
    ) -> PostTask {
        let sql = format!("INSERT INTO seen VALUES ('{label}')");
        let mut task = statement(label, owner, &sql, events);
        task.phase = phase;
        task.batch = None;
        task
    }

    /// Runs `tasks` on one session of `db`, the data phase already over.
    async fn schedule(
        db: &pgsplit_pg::testing::TestDb<'_>,
        tasks: Vec<PostTask>,
    ) -> Result<(), RunError> {
        schedule_on(db, 1, tasks).await
    }

    /// Runs `tasks` on `sessions` sessions of `db`, the data phase already over.
    async fn schedule_on(
        db: &pgsplit_pg::testing::TestDb<'_>,
        sessions: usize,
        tasks: Vec<PostTask>,
    ) -> Result<(), RunError> {
        let mut connections = Vec::new();
        for _ in 0..sessions {
            let client = crate::session::open(&db.settings()).await.unwrap().client;
            connections.push(Arc::new(client));
        }
        let (loaded_tx, loaded_rx) = mpsc::unbounded_channel();
        drop(loaded_tx);
        let (count, finished) = (tasks.len(), Arc::new(AtomicUsize::new(0)));
        let result = run(Schedule {
            tasks,
            connections,
            loaded: loaded_rx,
            table_count: 0,
            progress: Arc::new(Progress::default()),
            cancel: Cancel::default(),
            sessions: Arc::new(Sessions {
                target: db.settings(),
                maintenance_work_mem: None,
            }),
            finished: Arc::clone(&finished),
            refusals: Arc::default(),
        })
        .await;
        // Every task is counted once, batched or not.
        if result.is_ok() {
            assert_eq!(finished.load(Ordering::Relaxed), count);
        }
        result
    }

    /// A session whose connection an administrator ends between two tasks: the second
    /// runs on a new one (it failed with "connection closed").
    #[tokio::test]
    async fn a_session_lost_while_idle_is_opened_again() {
        let db = pgsplit_pg::testing::shared().create_db("post_data_lost");
        db.psql("CREATE TABLE seen (n int)");
        let settings = db.settings();
        let mut ender = recorder("end my session", None, &Arc::new(Mutex::new(Vec::new())));
        ender.work = Box::new(move |client: Arc<Client>, _| {
            let settings = settings.clone();
            Box::pin(async move {
                let pid: i32 = client
                    .query_one("SELECT pg_backend_pid()", &[])
                    .await
                    .map_err(|e| RunError::db_plain("pid", e))?
                    .get(0);
                let admin = crate::session::open(&settings).await?.client;
                admin
                    .execute("SELECT pg_terminate_backend($1)", &[&pid])
                    .await
                    .map_err(|e| RunError::db_plain("terminate", e))?;
                while !client.is_closed() {
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
                Ok(())
            })
        });
        let events = Arc::new(Mutex::new(Vec::new()));
        let mut insert = statement(
            "insert",
            "seen",
            "INSERT INTO public.seen VALUES (1)",
            &events,
        );
        insert.after = vec![0];
        schedule(&db, vec![ender, insert]).await.unwrap();
        assert_eq!(db.psql("SELECT count(*) FROM seen").trim(), "1");
    }

    /// A statement whose connection an administrator ends while it runs: it runs again on
    /// a new connection (it failed the run with "terminating connection due to
    /// administrator command").
    #[tokio::test]
    async fn a_statement_whose_session_is_lost_while_it_runs_runs_again() {
        let db = pgsplit_pg::testing::shared().create_db("post_data_lost_running");
        db.psql("CREATE TABLE seen (n int); CREATE TABLE ended ()");
        // Sleeps until the session has been ended once.
        let sql = "INSERT INTO public.seen SELECT 1 FROM pg_sleep(CASE WHEN EXISTS \
                   (SELECT FROM public.ended) THEN 0 ELSE 60 END)";
        let events = Arc::new(Mutex::new(Vec::new()));
        let insert = statement("insert", "seen", sql, &events);
        let admin = crate::session::open(&db.settings()).await.unwrap().client;
        let ender = async {
            let find = "SELECT pid FROM pg_stat_activity WHERE wait_event = 'PgSleep' \
                        AND datname = current_database()";
            loop {
                if let Some(row) = admin.query_opt(find, &[]).await.unwrap() {
                    let pid: i32 = row.get(0);
                    admin
                        .batch_execute(&format!(
                            "INSERT INTO public.ended DEFAULT VALUES; \
                             SELECT pg_terminate_backend({pid})"
                        ))
                        .await
                        .unwrap();
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        };
        let (result, ()) = tokio::join!(schedule(&db, vec![insert]), ender);
        result.unwrap();
        assert_eq!(db.psql("SELECT count(*) FROM seen").trim(), "1");
        assert_eq!(*events.lock().unwrap(), ["insert alone"]);
    }

    /// Reads sent together, one of which fails in a way that may go away: the attempt that
    /// follows runs only that one (a read-back run twice counted its rows twice).
    #[tokio::test]
    async fn reads_sent_together_run_again_only_where_they_failed() {
        let db = pgsplit_pg::testing::shared().create_db("post_data_reads_again");
        let runs = Arc::new(Mutex::new(Vec::new()));
        let read = |name: &'static str, fails_first: bool| {
            let runs = Arc::clone(&runs);
            let mut task = recorder(name, Some(("public".into(), name.into())), &Arc::default());
            task.pipelined = true;
            task.work = Box::new(move |_, attempt| {
                let runs = Arc::clone(&runs);
                Box::pin(async move {
                    runs.lock().unwrap().push(name);
                    if fails_first && attempt == Attempt::First {
                        return Err(RunError::Connect(pgsplit_pg::ConnectFailure::TimedOut {
                            server: "test".into(),
                            after: std::time::Duration::from_secs(1),
                        }));
                    }
                    Ok(())
                })
            });
            task
        };
        schedule(&db, vec![read("ok", false), read("flaky", true)])
            .await
            .unwrap();
        assert_eq!(*runs.lock().unwrap(), ["ok", "flaky", "flaky"]);
    }

    #[tokio::test]
    async fn ready_statements_of_small_tables_run_in_one_transaction() {
        let db = pgsplit_pg::testing::shared().create_db("post_data_batch");
        db.psql("CREATE TABLE seen (xid bigint)");
        let events = Arc::new(Mutex::new(Vec::new()));
        let insert = "INSERT INTO seen SELECT txid_current()";
        let tasks = vec![
            statement("first", "a", insert, &events),
            statement("second", "b", insert, &events),
            statement("third", "a", insert, &events),
        ];
        schedule(&db, tasks).await.unwrap();
        assert_eq!(
            db.psql("SELECT count(*), count(DISTINCT xid) FROM seen")
                .trim(),
            "3|1"
        );
        assert_eq!(
            *events.lock().unwrap(),
            ["first in a batch", "second in a batch", "third in a batch"]
        );
    }

    #[tokio::test]
    async fn a_failed_batch_leaves_nothing_and_its_statements_run_alone() {
        let db = pgsplit_pg::testing::shared().create_db("post_data_batch_fails");
        db.psql("CREATE TABLE seen (n int)");
        let events = Arc::new(Mutex::new(Vec::new()));
        let tasks = vec![
            statement("first", "a", "INSERT INTO seen VALUES (1)", &events),
            statement("second", "b", "INSERT INTO nowhere VALUES (2)", &events),
            statement("third", "c", "INSERT INTO seen VALUES (3)", &events),
        ];
        let error = schedule(&db, tasks).await.unwrap_err();
        let RunError::PostData(failures) = &error else {
            panic!("{error}");
        };
        assert!(
            matches!(&failures.failed[..], [RunError::Statement { identity, .. }] if identity == "second"),
            "{error}"
        );
        // The batch rolled back; alone, the first and third ran and the second failed.
        assert_eq!(
            db.psql("SELECT string_agg(n::text, ',' ORDER BY n) FROM seen")
                .trim(),
            "1,3"
        );
        assert_eq!(*events.lock().unwrap(), ["first alone", "third alone"]);
    }

    /// A statement the server refuses leaves out what needs it (and what needs that), not
    /// the others: what only comes after it on its table, `ANALYZE` and read-backs run.
    #[tokio::test]
    async fn a_refused_statement_leaves_out_what_needs_it_and_nothing_else() {
        let db = pgsplit_pg::testing::shared().create_db("post_data_goes_on");
        db.psql("CREATE TABLE seen (n text)");
        let events = Arc::new(Mutex::new(Vec::new()));
        let insert = |label: &str, owner: &str, phase: u8| inserting(label, owner, phase, &events);
        let mut refused = insert("refused", "a", 1);
        refused.work = statement("refused", "a", "SELECT 1/0", &events).work;
        let mut needs_it = insert("needs it", "b", 1);
        needs_it.after = vec![0];
        let follows_it = insert("follows it on its table", "a", 2);
        let mut after_those = insert("after those", "c", 1);
        after_those.after = vec![1];
        let mut references_it = insert("waits for its table", "d", 2);
        references_it.waits_for = vec![("public".into(), "a".into())];
        let mut analyze = insert("analyze", "a", 5);
        analyze.background = true;
        let mut read_back = insert("read back", "a", 3);
        read_back.detached = true;
        let other = insert("other table", "e", 1);
        let mut global = insert("global after the refused", "x", 1);
        global.owner = None;
        global.after = vec![3];
        let mut global_other = insert("global", "x", 1);
        global_other.owner = None;
        let tasks = vec![
            refused,
            needs_it,
            follows_it,
            after_those,
            references_it,
            analyze,
            read_back,
            other,
            global,
            global_other,
        ];
        let error = schedule(&db, tasks).await.unwrap_err();
        let RunError::PostData(failures) = &error else {
            panic!("{error}");
        };
        assert_eq!(failures.failed.len(), 1, "{error}");
        assert!(error.to_string().contains("division by zero"), "{error}");
        let mut not_run = failures.not_run.clone();
        not_run.sort();
        assert_eq!(
            not_run,
            ["after those", "global after the refused", "needs it"],
            "{error}"
        );
        assert_eq!(
            db.psql("SELECT string_agg(n, ',' ORDER BY n) FROM seen")
                .trim(),
            "analyze,follows it on its table,global,other table,read back,waits for its table"
        );
    }

    /// A partition's index that fails leaves its attach out, and so the partitioned index
    /// invalid: what needs that index (a foreign key, here one waiting for the partitions'
    /// tasks, and a task after all the others) is left out too, while the other
    /// partition's attach runs.
    #[tokio::test]
    async fn what_needs_a_partitioned_index_left_incomplete_is_left_out() {
        let db = pgsplit_pg::testing::shared().create_db("post_data_incomplete");
        db.psql("CREATE TABLE seen (n text)");
        let events = Arc::new(Mutex::new(Vec::new()));
        let insert = |label: &str, owner: &str, phase: u8| inserting(label, owner, phase, &events);
        let parent = insert("parent index", "p", 1);
        let mut first = insert("first partition index", "p1", 1);
        first.work = statement("first", "p1", "SELECT 1/0", &events).work;
        let second = insert("second partition index", "p2", 1);
        let mut attach_first = insert("attach first", "p1", 2);
        attach_first.after = vec![0, 1];
        attach_first.completes = vec![0];
        let mut attach_second = insert("attach second", "p2", 2);
        attach_second.after = vec![0, 2];
        attach_second.completes = vec![0];
        let mut key = insert("foreign key", "r", 3);
        key.after = vec![0];
        key.waits_for = vec![
            ("public".into(), "p1".into()),
            ("public".into(), "p2".into()),
        ];
        let mut global = insert("after everything", "x", 1);
        global.owner = None;
        global.after = vec![0];
        let tasks = vec![
            parent,
            first,
            second,
            attach_first,
            attach_second,
            key,
            global,
        ];
        let error = schedule(&db, tasks).await.unwrap_err();
        let RunError::PostData(failures) = &error else {
            panic!("{error}");
        };
        let mut not_run = failures.not_run.clone();
        not_run.sort();
        assert_eq!(
            not_run,
            ["after everything", "attach first", "foreign key"],
            "{error}"
        );
        assert_eq!(
            db.psql("SELECT string_agg(n, ',' ORDER BY n) FROM seen")
                .trim(),
            "attach second,parent index,second partition index"
        );
    }

    #[tokio::test]
    async fn batches_never_share_a_partitioned_parent() {
        // Attaching a partition's index locks the partitioned table. Two batches that
        // each attach one partition of `pa` and one of `pb`, in opposite orders, would
        // each hold one parent and wait for the other: a deadlock, after which both
        // batches' statements run again one by one.
        let db = pgsplit_pg::testing::shared().create_db("post_data_parents");
        for parent in ["pa", "pb"] {
            db.psql(&format!(
                "CREATE TABLE {parent} (k int) PARTITION BY LIST (k);
                 CREATE TABLE {parent}_1 PARTITION OF {parent} FOR VALUES IN (1);
                 CREATE TABLE {parent}_2 PARTITION OF {parent} FOR VALUES IN (2);
                 CREATE INDEX {parent}_k ON ONLY {parent} (k);
                 CREATE INDEX {parent}_1_k ON {parent}_1 (k);
                 CREATE INDEX {parent}_2_k ON {parent}_2 (k);"
            ));
        }
        let events = Arc::new(Mutex::new(Vec::new()));
        let attach = |parent: &str, n: u8| {
            // The pause lets both batches take their first lock before either goes on.
            let sql = format!(
                "ALTER INDEX {parent}_k ATTACH PARTITION {parent}_{n}_k; SELECT pg_sleep(0.3)"
            );
            let mut task = statement(
                &format!("{parent}_{n}"),
                &format!("{parent}_{n}"),
                &sql,
                &events,
            );
            task.locks_also = vec![("public".to_string(), parent.to_string())];
            task
        };
        let tasks = vec![
            attach("pa", 1),
            attach("pb", 1),
            attach("pb", 2),
            attach("pa", 2),
        ];
        schedule_on(&db, 2, tasks).await.unwrap();
        // The first batch took both parents; what was left ran after it.
        let seen = events.lock().unwrap().clone();
        assert_eq!(seen[..2], ["pa_1 in a batch", "pb_1 in a batch"]);
        assert_eq!(seen.len(), 4, "{seen:?}");
        // A backend reports its deadlocks to the statistics when it exits.
        let others = "SELECT count(*) FROM pg_stat_activity \
                      WHERE datname = current_database() AND pid <> pg_backend_pid()";
        for attempt in 0.. {
            if db.psql(others).trim() == "0" {
                break;
            }
            assert!(attempt < 100, "the sessions of the run did not end");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(
            db.psql("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
                .trim(),
            "0"
        );
        assert_eq!(
            db.psql("SELECT count(*) FROM pg_index WHERE indisvalid AND indexrelid::regclass::text IN ('pa_k', 'pb_k')").trim(),
            "2"
        );
    }

    #[test]
    fn a_running_batch_keeps_others_off_its_tables_and_off_busy_ones() {
        let table = |name: &str| ("public".to_string(), name.to_string());
        let task = |owner: &str, waits_for: &[&str]| PostTask {
            label: String::new(),
            owner: Some(table(owner)),
            waits_for: waits_for.iter().map(|n| table(n)).collect(),
            locks_also: Vec::new(),
            needs_loaded: Vec::new(),
            phase: 1,
            after: Vec::new(),
            background: false,
            detached: false,
            pipelined: false,
            completes: Vec::new(),
            batch: None,
            work: Box::new(|_, _| Box::pin(async { Ok(()) })),
        };
        let tasks = vec![
            task("a", &[]),
            task("a", &[]),
            task("b", &["a"]),
            task("c", &[]),
            task("c", &[]),
        ];
        let mut claims = Claims::new(&tasks, &[false; 5]);
        claims.start(&[0, 1]);
        assert!(
            !claims.may_start(2),
            "a foreign key onto a table in a running batch"
        );
        assert!(claims.may_start(3));
        claims.start(&[3]);
        assert!(
            claims.may_start(4),
            "a task alone may run beside another of its table"
        );
        assert!(
            !claims.may_join(4, &[]),
            "but no batch may take a table in use"
        );
        claims.end(&[0, 1]);
        assert!(claims.may_start(2));
        assert!(claims.may_join(2, &[]));
        claims.end(&[3]);
        assert!(claims.may_join(4, &[]));
    }

    #[test]
    fn analyze_waits_for_the_other_tasks_on_its_table_unless_nothing_else_runs() {
        let table = |name: &str| ("public".to_string(), name.to_string());
        let task = |owner: Option<&str>, waits_for: &[&str], background: bool| PostTask {
            label: String::new(),
            owner: owner.map(table),
            waits_for: waits_for.iter().map(|n| table(n)).collect(),
            locks_also: Vec::new(),
            needs_loaded: Vec::new(),
            phase: 1,
            after: Vec::new(),
            background,
            detached: false,
            pipelined: false,
            completes: Vec::new(),
            batch: None,
            work: Box::new(|_, _| Box::pin(async { Ok(()) })),
        };
        let tasks = vec![
            task(Some("customers"), &[], false),         // an index build
            task(Some("events"), &["customers"], false), // a foreign key onto customers
            task(Some("customers"), &[], true),          // ANALYZE customers
            task(Some("events"), &[], true),             // ANALYZE events
            task(Some("customers"), &[], false),         // a global task, run last
        ];
        let mut claims = Claims::new(&tasks, &[false, false, false, false, true]);
        assert!(
            claims.too_early(2),
            "the index and the foreign key are to come"
        );
        assert!(claims.too_early(3), "the foreign key is to come");
        assert!(!claims.too_early(0), "only background tasks wait");
        claims.start(&[0]);
        claims.end(&[0]);
        assert!(claims.too_early(2), "the foreign key locks customers too");
        claims.start(&[1]);
        claims.end(&[1]);
        assert!(
            !claims.too_early(2),
            "a global task does not hold ANALYZE back"
        );
        assert!(!claims.too_early(3));
    }

    #[tokio::test]
    async fn indexes_are_built_serially_while_copies_run_and_in_parallel_after() {
        let db = pgsplit_pg::testing::shared().create_db("serial_index_builds");
        let settings = db.settings();
        let fresh = crate::session::open(&settings).await.unwrap().client;
        let server_default: String = fresh
            .query_one("SHOW max_parallel_maintenance_workers", &[])
            .await
            .unwrap()
            .get(0);
        assert_ne!(
            server_default, "0",
            "the test needs parallel builds allowed"
        );

        let seen = Arc::new(Mutex::new(Vec::new()));
        let table = Some(("public".to_string(), "t".to_string()));
        // A task of a table runs while the copies run; one waiting for the last table
        // starts once it is loaded, before the data phase ends (its workers still
        // disconnect), when the copies are over; a task of no table (like setting
        // sequence values) runs after the data phase.
        let mut last_table = recorder("after the last table", table.clone(), &seen);
        last_table.needs_loaded = vec![0];
        last_table.phase = 1;
        let tasks = vec![
            recorder("during the copies", table, &seen),
            last_table,
            recorder("after the copies", None, &seen),
        ];
        let mut connections = Vec::new();
        for _ in 0..2 {
            let client = crate::session::open(&settings).await.unwrap().client;
            client.batch_execute(SERIAL_INDEX_BUILDS).await.unwrap();
            connections.push(Arc::new(client));
        }
        let (loaded_tx, loaded_rx) = mpsc::unbounded_channel();
        let scheduler = tokio::spawn(run(Schedule {
            tasks,
            connections,
            loaded: loaded_rx,
            table_count: 1,
            progress: Arc::new(Progress::default()),
            cancel: Cancel::default(),
            sessions: Arc::new(Sessions {
                target: settings.clone(),
                maintenance_work_mem: None,
            }),
            finished: Arc::default(),
            refusals: Arc::default(),
        }));
        // The data phase ends once the first task is done.
        while seen.lock().unwrap().is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        loaded_tx.send(DataEvent::Loaded(0)).unwrap();
        while seen.lock().unwrap().len() < 2 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        drop(loaded_tx);
        scheduler.await.unwrap().unwrap();

        let seen = seen.lock().unwrap().clone();
        assert_eq!(
            seen,
            vec![
                ("during the copies".to_string(), "0".to_string()),
                ("after the last table".to_string(), server_default.clone()),
                ("after the copies".to_string(), server_default),
            ]
        );
    }

    #[tokio::test]
    async fn maintenance_work_mem_is_raised_but_never_lowered() {
        let db = pgsplit_pg::testing::shared().create_db("maintenance_work_mem");
        let client = crate::session::open(&db.settings()).await.unwrap().client;
        let show = || async {
            let row = client
                .query_one("SHOW maintenance_work_mem", &[])
                .await
                .unwrap();
            row.get::<_, String>(0)
        };
        assert_eq!(
            show().await,
            "64MB",
            "the test expects the server's default"
        );
        raise_maintenance_work_mem(&client, super::super::DEFAULT_MAINTENANCE_WORK_MEM)
            .await
            .unwrap();
        assert_eq!(show().await, "1GB");
        client
            .batch_execute("SET maintenance_work_mem = '2GB'")
            .await
            .unwrap();
        raise_maintenance_work_mem(&client, super::super::DEFAULT_MAINTENANCE_WORK_MEM)
            .await
            .unwrap();
        assert_eq!(show().await, "2GB", "a larger setting is kept");
        // Beyond what the server takes: its maximum, not an error.
        raise_maintenance_work_mem(&client, i64::MAX).await.unwrap();
        assert_eq!(show().await, "2147483647kB");
    }

    #[test]
    fn background_tasks_wait_until_allowed_and_then_come_after_the_others() {
        let mut queue = Queue {
            ready: VecDeque::new(),
            later: VecDeque::new(),
            background: vec![true, false, true, false],
        };
        for task in 0..4 {
            queue.push(task);
        }
        let any = |_| true;
        assert_eq!(queue.take(false, any), Some(1));
        assert_eq!(queue.take(false, any), Some(3));
        assert_eq!(queue.take(false, any), None);
        assert!(!queue.is_empty(), "the background tasks are still queued");
        queue.push(1);
        assert_eq!(queue.take(true, any), Some(1));
        assert_eq!(queue.take(true, any), Some(0));
        assert_eq!(queue.take(true, any), Some(2));
        assert!(queue.is_empty());
    }
}
