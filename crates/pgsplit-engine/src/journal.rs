//! The run journal: what a run planned and what of it is done, so that a stopped run can
//! be resumed without redoing finished work or loading a chunk twice.
//!
//! Behind the [`Journal`] trait; [`FileJournal`] appends one JSON object per line. An
//! event that a resume could not do without (a transaction id about to commit rows that
//! loading again would duplicate) is synced to disk before the caller goes on; the others
//! are written at once but synced with the next durable one: they survive a stopped or
//! killed process, and a machine crash can only lose events whose work a resume either
//! redoes harmlessly (an emptied table copied again, a statement answered "already
//! exists") or finds on the target (a transaction id asked about). A crash can at worst
//! leave a torn last line, which loading ignores: the journal is readable after a crash
//! at any instant. A later
//! implementation can keep the same events in a PostgreSQL control database, for
//! workers on several machines.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use pgsplit_copy::{Chunk, Moved};

/// One planned unit of copying, by table name (OIDs change between snapshots).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedItem {
    pub schema: String,
    pub table: String,
    pub chunk: Chunk,
    pub whole: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// What the run copies (selector and the options that shape its statements), as JSON,
    /// written first: a resume must copy the same.
    Scope {
        scope: String,
    },
    /// The source database: its server's system identifier, OID and name.
    Source {
        identity: String,
    },
    /// The target database the run made (or found, for `--data-only`): a resume, and
    /// every later session, must write into this one, not another made under its name.
    Target(pgsplit_pg::DatabasePin),
    /// The moment of the source a run (the first or a resume) reads: its snapshot's
    /// `xmax`, the next transaction id of the source's server then. Two moments with the
    /// same one saw the same data: no transaction had written in between.
    Moment {
        xmax: i64,
    },
    /// The work of the run, written once at the start.
    Plan {
        items: Vec<PlannedItem>,
    },
    /// Pre-data statements up to `next` (of the run's list; all of them when absent)
    /// are about to commit in this target transaction; `last` names the last of them.
    PreDataCommitting {
        xid: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next: Option<usize>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last: Option<String>,
    },
    PreDataDone,
    /// An item's rows are in this target transaction, about to commit.
    ItemCommitting {
        item: usize,
        xid: String,
        moved: Moved,
    },
    ItemDone {
        item: usize,
        moved: Moved,
    },
    /// A table's data is being copied again from scratch (resume, safe mode).
    TableRestarted {
        schema: String,
        table: String,
    },
    PostDataDone {
        label: String,
    },
    /// The target refused this post-data statement (its key, as `PostDataDone`'s): a
    /// resume that then finds its object there says it keeps one made by someone else.
    PostDataRefused {
        label: String,
    },
    /// A run starts a statement the target refused before: from here on an object of its
    /// name may be that run's own (its commit may land after a stop).
    PostDataRetried {
        label: String,
    },
    /// The run's verification found differences (written before `Finished`).
    Mismatched,
    Finished,
    /// A run with `--clean` started over on this line's source, and this line is yet to
    /// be copied again (the journal of the run before is replaced by this): a resume
    /// starts the line over as that run would have, not keep what an older run copied.
    CleanPending,
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("run journal {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("run journal {path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error(
        "another pgsplit holds {path} (it runs into this target): let it finish or stop it first"
    )]
    Busy { path: PathBuf },
}

/// Where a run's progress is kept.
pub trait Journal: Send + Sync {
    /// Durably records one event (and every one before it) before returning.
    fn record(&self, event: &Event) -> Result<(), JournalError>;
    /// Records one event without waiting for the disk: it outlives the process at once,
    /// a machine crash only once a later [`Journal::record`] returned.
    fn append(&self, event: &Event) -> Result<(), JournalError>;
    /// Everything recorded so far, in order.
    fn events(&self) -> Result<Vec<Event>, JournalError>;
}

/// One transaction's worth of pre-data statements, as journaled before its commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreDataBatch {
    pub xid: String,
    /// Statements committed with it, counted from the first; `None`: all of them.
    pub next: Option<usize>,
    /// The identity of its last statement.
    pub last: Option<String>,
}

/// What the events say, folded.
#[derive(Debug, Default)]
pub struct JournalState {
    /// Absent in journals written before it was recorded.
    pub scope: Option<String>,
    /// [`Event::Source`]; absent where the server would not tell its identifier.
    pub source: Option<String>,
    /// [`Event::Target`]; absent in journals written before it was recorded.
    pub target: Option<pgsplit_pg::DatabasePin>,
    pub plan: Option<Vec<PlannedItem>>,
    /// [`Event::Moment`]s, one per run of the line, first first.
    pub moments: Vec<i64>,
    /// Pre-data batches in journal order; a resume asks the target which committed
    /// (the latest committed one tells how far pre-data got).
    pub pre_data_batches: Vec<PreDataBatch>,
    pub pre_data_done: bool,
    /// Items whose commit was confirmed.
    pub done: HashMap<usize, Moved>,
    /// Items whose commit was started but not confirmed: check the xid on the target.
    pub committing: HashMap<usize, (String, Moved)>,
    pub post_data_done: HashSet<String>,
    /// [`Event::PostDataRefused`].
    pub post_data_refused: HashSet<String>,
    /// The finished run's verification found differences.
    pub mismatched: bool,
    pub finished: bool,
    /// [`Event::CleanPending`]: a `--clean` run had yet to copy this line when it stopped.
    pub clean_pending: bool,
}

impl JournalState {
    /// Whether the run that wrote the journal may have written to its target: it
    /// journals each step before taking it, so a journal with its scope alone tells of a
    /// run stopped (or refused) before its first statement.
    pub fn wrote_anything(&self) -> bool {
        self.plan.is_some()
            || !self.pre_data_batches.is_empty()
            || self.pre_data_done
            || !self.done.is_empty()
            || !self.committing.is_empty()
            || !self.post_data_done.is_empty()
            || self.finished
    }

    /// A run that wrote to its target and did not finish, or a `--clean` run stopped
    /// before it reached this line: a run without `--resume` or `--clean` must not start
    /// into that target.
    pub fn unfinished(&self) -> bool {
        (self.wrote_anything() && !self.finished) || self.clean_pending
    }

    pub fn fold(events: &[Event]) -> JournalState {
        let mut s = JournalState::default();
        for event in events {
            match event {
                Event::Scope { scope } => s.scope = Some(scope.clone()),
                Event::Source { identity } => s.source = Some(identity.clone()),
                Event::Target(database) => s.target = Some(database.clone()),
                Event::Moment { xmax } => s.moments.push(*xmax),
                Event::Plan { items } => s.plan = Some(items.clone()),
                Event::PreDataCommitting { xid, next, last } => {
                    s.pre_data_batches.push(PreDataBatch {
                        xid: xid.clone(),
                        next: *next,
                        last: last.clone(),
                    })
                }
                Event::PreDataDone => s.pre_data_done = true,
                Event::ItemCommitting { item, xid, moved } => {
                    s.committing.insert(*item, (xid.clone(), *moved));
                }
                Event::ItemDone { item, moved } => {
                    s.committing.remove(item);
                    s.done.insert(*item, *moved);
                }
                Event::TableRestarted { schema, table } => {
                    if let Some(plan) = &s.plan {
                        for (i, p) in plan.iter().enumerate() {
                            if &p.schema == schema && &p.table == table {
                                s.done.remove(&i);
                                s.committing.remove(&i);
                            }
                        }
                    }
                }
                Event::PostDataDone { label } => {
                    s.post_data_done.insert(label.clone());
                }
                Event::PostDataRefused { label } => {
                    s.post_data_refused.insert(label.clone());
                }
                Event::PostDataRetried { label } => {
                    s.post_data_refused.remove(label);
                }
                Event::Mismatched => s.mismatched = true,
                Event::Finished => s.finished = true,
                Event::CleanPending => s.clean_pending = true,
            }
        }
        s
    }
}

/// A JSON-lines file, written at every event, synced at the durable ones.
pub struct FileJournal {
    path: PathBuf,
    file: Mutex<File>,
    /// Held while the journal is open: two runs of one target must not interleave.
    _lock: JournalLock,
}

/// The lock beside a journal (`….lock`): held from before the journal is read until the
/// run that writes it ends.
#[derive(Debug)]
pub struct JournalLock {
    /// Unlocked when closed.
    _file: File,
}

impl JournalLock {
    /// Takes the lock of journal `path`, or says another process holds it.
    pub fn take(path: &Path) -> Result<JournalLock, JournalError> {
        lock(path).map(|file| JournalLock { _file: file })
    }
}

fn lock(path: &Path) -> Result<File, JournalError> {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| JournalError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    }
    let io = |source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(PathBuf::from(&name))
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(JournalError::Busy {
            path: PathBuf::from(name),
        }),
        // A file system without locks (some network mounts): run unguarded.
        Err(std::fs::TryLockError::Error(e)) => {
            tracing::warn!(
                "cannot lock the run journal {} ({e}): make sure no other pgsplit runs into this target",
                path.display()
            );
            Ok(file)
        }
    }
}

impl FileJournal {
    /// The journal of one target inside the work folder: one file per target, named
    /// after a hash of its (redacted) address so that no secret reaches the file name.
    pub fn path_for(work_dir: &Path, target: &str) -> PathBuf {
        use sha2::{Digest, Sha256};
        let hash = Sha256::digest(target.as_bytes());
        let name: String = hash[..8].iter().map(|b| format!("{b:02x}")).collect();
        work_dir.join(format!("journal-{name}.jsonl"))
    }

    /// Starts a new journal, replacing any old one.
    pub fn create(path: &Path, lock: JournalLock) -> Result<FileJournal, JournalError> {
        let io = |source| JournalError::Io {
            path: path.to_path_buf(),
            source,
        };
        // The folder exists: the lock beside the journal made it.
        let file = File::create(path).map_err(io)?;
        Ok(FileJournal {
            path: path.to_path_buf(),
            file: Mutex::new(file),
            _lock: lock,
        })
    }

    /// Opens an existing journal to continue it. A torn last line (a crash while it was
    /// written) is cut off first: what follows must start on a line of its own.
    pub fn open(path: &Path, lock: JournalLock) -> Result<FileJournal, JournalError> {
        let io = |source| JournalError::Io {
            path: path.to_path_buf(),
            source,
        };
        let whole = complete_length(&std::fs::read(path).map_err(io)?);
        let file = OpenOptions::new().append(true).open(path).map_err(io)?;
        file.set_len(whole).map_err(io)?;
        Ok(FileJournal {
            path: path.to_path_buf(),
            file: Mutex::new(file),
            _lock: lock,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl FileJournal {
    fn write(&self, event: &Event, sync: bool) -> Result<(), JournalError> {
        let mut line = serde_json::to_string(event).map_err(|e| JournalError::Invalid {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        line.push('\n');
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        let io = |source| JournalError::Io {
            path: self.path.clone(),
            source,
        };
        file.write_all(line.as_bytes()).map_err(io)?;
        if sync {
            file.sync_data().map_err(io)?;
        }
        Ok(())
    }
}

impl Journal for FileJournal {
    fn record(&self, event: &Event) -> Result<(), JournalError> {
        self.write(event, true)
    }

    fn append(&self, event: &Event) -> Result<(), JournalError> {
        self.write(event, false)
    }

    fn events(&self) -> Result<Vec<Event>, JournalError> {
        read_events(&self.path)
    }
}

/// Reads a journal file. A torn last line (a crash while writing it) is ignored; a bad
/// line anywhere else is an error.
pub fn read_events(path: &Path) -> Result<Vec<Event>, JournalError> {
    // Bytes, not text: a line torn inside a character is no valid UTF-8.
    let bytes = std::fs::read(path).map_err(|source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let lines: Vec<&[u8]> = bytes
        .strip_suffix(b"\n")
        .unwrap_or(&bytes)
        .split(|&b| b == b'\n')
        .collect();
    let mut events = Vec::with_capacity(lines.len());
    let last = lines.len().saturating_sub(1);
    for (i, line) in lines.iter().enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice(line) {
            Ok(event) => events.push(event),
            Err(_) if i == last => {} // torn by a crash mid-write
            Err(e) => {
                return Err(JournalError::Invalid {
                    path: path.to_path_buf(),
                    reason: format!("line {}: {e}", i + 1),
                });
            }
        }
    }
    Ok(events)
}

/// The length of `journal` without a torn last line: one that does not end in a newline
/// or is not an event. A bad line before the last is left for [`read_events`] to report.
fn complete_length(journal: &[u8]) -> u64 {
    let mut end = 0;
    let mut lines = journal.split_inclusive(|&b| b == b'\n').peekable();
    while let Some(line) = lines.next() {
        let whole = line.strip_suffix(b"\n").is_some_and(|text| {
            text.iter().all(u8::is_ascii_whitespace)
                || serde_json::from_slice::<Event>(text).is_ok()
        });
        if !whole && lines.peek().is_none() {
            break;
        }
        end += line.len();
    }
    end as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgsplit_copy::Digest;

    #[test]
    fn one_process_at_a_time_holds_a_journal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let first = FileJournal::create(&path, JournalLock::take(&path).unwrap()).unwrap();
        let busy = JournalLock::take(&path).unwrap_err();
        assert!(busy.to_string().contains("journal.jsonl.lock"), "{busy}");
        drop(first);
        FileJournal::open(&path, JournalLock::take(&path).unwrap()).unwrap();
    }

    #[test]
    fn a_torn_last_line_is_cut_before_the_journal_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        for torn in [
            &b"{\"event\":\"pre_da"[..],
            b"\0\0\0\0",
            b"{\"event\":\"nonsense\"}\n",
            // Torn inside a character of a table's name.
            b"{\"event\":\"item_done\",\"schema\":\"caf\xc3",
        ] {
            // Read as it is (a resume reads before it goes on), and opened to go on.
            let path = dir.path().join("journal.jsonl");
            let mut text = b"{\"event\":\"pre_data_done\"}\n".to_vec();
            text.extend_from_slice(torn);
            std::fs::write(&path, &text).unwrap();
            let events = read_events(&path);
            let events =
                events.unwrap_or_else(|e| panic!("{:?}: {e}", String::from_utf8_lossy(torn)));
            assert_eq!(events.len(), 1, "{:?}", String::from_utf8_lossy(torn));

            let path = dir.path().join("journal.jsonl");
            let mut text = b"{\"event\":\"pre_data_done\"}\n".to_vec();
            text.extend_from_slice(torn);
            std::fs::write(&path, &text).unwrap();
            let journal = FileJournal::open(&path, JournalLock::take(&path).unwrap()).unwrap();
            journal.record(&Event::Finished).unwrap();
            journal.record(&Event::Finished).unwrap();
            let events = read_events(&path).unwrap();
            assert_eq!(events.len(), 3, "{:?}", String::from_utf8_lossy(torn));
        }
        // A bad line that is not the last stays, for reading to report.
        assert_eq!(complete_length(b"x\n{\"event\":\"finished\"}\n"), 23);
    }

    fn moved(rows: u64) -> Moved {
        let mut digest = Digest::ZERO;
        digest.add_row(&rows.to_be_bytes());
        Moved {
            rows,
            bytes: rows * 10,
            digest,
        }
    }

    /// A refused statement stays refused until a run starts it again: an object of its
    /// name found later may then be that run's own.
    #[test]
    fn a_refusal_is_forgotten_once_a_run_starts_the_statement_again() {
        let label = |l: &str| l.to_string();
        let refused = |events: &[Event]| JournalState::fold(events).post_data_refused;
        let once = [Event::PostDataRefused {
            label: label("index a"),
        }];
        assert!(refused(&once).contains("index a"));
        let retried = [
            Event::PostDataRefused {
                label: label("index a"),
            },
            Event::PostDataRetried {
                label: label("index a"),
            },
        ];
        assert!(refused(&retried).is_empty());
        let again = [
            Event::PostDataRefused {
                label: label("index a"),
            },
            Event::PostDataRetried {
                label: label("index a"),
            },
            Event::PostDataRefused {
                label: label("index a"),
            },
        ];
        assert!(refused(&again).contains("index a"));
    }

    #[test]
    fn events_round_trip_and_fold() {
        let dir = tempfile::tempdir().unwrap();
        let path = FileJournal::path_for(dir.path(), "postgres://u@h:5432/db");
        let j = FileJournal::create(&path, JournalLock::take(&path).unwrap()).unwrap();
        let item = |t: &str| PlannedItem {
            schema: "s".into(),
            table: t.into(),
            chunk: Chunk::Whole,
            whole: true,
        };
        j.record(&Event::Plan {
            items: vec![item("a"), item("b"), item("c")],
        })
        .unwrap();
        j.record(&Event::PreDataDone).unwrap();
        j.record(&Event::ItemCommitting {
            item: 0,
            xid: "10".into(),
            moved: moved(1),
        })
        .unwrap();
        j.append(&Event::ItemDone {
            item: 0,
            moved: moved(1),
        })
        .unwrap();
        j.record(&Event::ItemCommitting {
            item: 1,
            xid: "11".into(),
            moved: moved(2),
        })
        .unwrap();
        j.append(&Event::PostDataDone {
            label: "index s.a_idx".into(),
        })
        .unwrap();
        drop(j);
        let j = FileJournal::open(&path, JournalLock::take(&path).unwrap()).unwrap();
        let state = JournalState::fold(&j.events().unwrap());
        assert_eq!(state.plan.as_ref().unwrap().len(), 3);
        assert!(state.pre_data_done);
        assert_eq!(state.done.get(&0), Some(&moved(1)));
        assert_eq!(
            state.committing.get(&1),
            Some(&("11".to_string(), moved(2)))
        );
        assert!(state.post_data_done.contains("index s.a_idx"));
        assert!(!state.finished);
        j.record(&Event::TableRestarted {
            schema: "s".into(),
            table: "a".into(),
        })
        .unwrap();
        let state = JournalState::fold(&j.events().unwrap());
        assert!(state.done.is_empty());
    }

    #[test]
    fn a_torn_last_line_is_ignored_but_damage_elsewhere_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        std::fs::write(&path, "{\"event\":\"pre_data_done\"}\n{\"event\":\"fini").unwrap();
        assert_eq!(read_events(&path).unwrap().len(), 1);
        std::fs::write(&path, "{\"event\":\"pre_da\n{\"event\":\"finished\"}\n").unwrap();
        assert!(matches!(
            read_events(&path),
            Err(JournalError::Invalid { .. })
        ));
    }

    #[test]
    fn file_names_hold_no_secret() {
        let p = FileJournal::path_for(Path::new("/w"), "postgres://u@h:5432/db");
        let name = p.file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with("journal-") && name.ends_with(".jsonl"));
        assert!(!name.contains("db"));
    }
}
