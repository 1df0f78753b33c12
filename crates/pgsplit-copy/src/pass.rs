//! COPY pass-through: rows leave the source as COPY bytes and enter the target as the
//! same bytes, never decoded; on the way they are framed to count and hash them.

use std::sync::atomic::{AtomicU64, Ordering};

use futures::{StreamExt, pin_mut};
use pgsplit_pg::wire::{PassFault, WireConn, WireError};
use tokio_postgres::Client;

use crate::digest::Digest;
use crate::frame::{Format, FrameError, Framer};
use crate::tables::SourceTable;

/// Progress counters are brought up to date every this many bytes.
const REPORT_EVERY_BYTES: u64 = 64 * 1024;

/// What to read: a table's columns, in a format, optionally only rows matching a
/// predicate (a chunk's range, a split's row filter).
#[derive(Clone, Debug)]
pub struct CopySpec<'a> {
    pub table: &'a SourceTable,
    pub format: Format,
    pub predicate: Option<String>,
    /// Before reading, lock the table and check that its storage is still the one the
    /// snapshot saw ([`SourceTable::relfilenode`]): for runs that could not lock every
    /// table up front. Only [`forward`] applies it.
    pub guard: bool,
}

impl CopySpec<'_> {
    pub fn copy_out_sql(&self) -> String {
        let format = self.format.sql();
        match &self.predicate {
            None if !self.table.needs_select() => format!(
                "COPY {}{} TO STDOUT (FORMAT {format})",
                self.table.qualified(),
                self.table.copy_columns()
            ),
            None => format!(
                "COPY (SELECT {} FROM ONLY {}) TO STDOUT (FORMAT {format})",
                self.table.select_list(),
                self.table.qualified()
            ),
            Some(predicate) => format!(
                "COPY (SELECT {} FROM ONLY {} WHERE {predicate}) TO STDOUT (FORMAT {format})",
                self.table.select_list(),
                self.table.qualified()
            ),
        }
    }

    /// The statements that start the COPY on the source: with the guard, the lock and
    /// the read of the table's storage first (the COPY's answer then carries that storage).
    pub fn source_sql(&self) -> String {
        if !self.guard {
            return self.copy_out_sql();
        }
        // Locked first, the table can no longer change; the lock also processes the
        // catalog changes made since the snapshot, so the storage read is today's.
        format!(
            "LOCK TABLE ONLY {} IN ACCESS SHARE MODE; \
             SELECT pg_catalog.pg_relation_filenode({}::pg_catalog.regclass); {}",
            self.table.qualified(),
            self.table.oid,
            self.copy_out_sql()
        )
    }

    /// `freeze`: the table was created or truncated in this transaction, so rows can be
    /// written frozen (no hint-bit rewrite or anti-wraparound vacuum later).
    pub fn copy_in_sql(&self, freeze: bool) -> String {
        format!(
            "COPY {}{} FROM STDIN (FORMAT {}{})",
            self.table.qualified(),
            self.table.copy_columns(),
            self.format.sql(),
            if freeze { ", FREEZE" } else { "" }
        )
    }
}

/// Live counters that progress display reads while a copy runs.
#[derive(Debug, Default)]
pub struct Counters {
    pub bytes: AtomicU64,
    pub rows: AtomicU64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Moved {
    pub rows: u64,
    pub bytes: u64,
    pub digest: Digest,
}

#[derive(Debug, thiserror::Error)]
pub enum PassError {
    #[error("reading from the source: {0}")]
    Source(#[source] WireError),
    #[error("writing to the target: {0}")]
    Target(#[source] WireError),
    #[error("reading: {0}")]
    Read(#[source] tokio_postgres::Error),
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error("the target stored {stored} rows but {sent} were sent")]
    RowCount { sent: u64, stored: u64 },
    #[error(
        "the table was rewritten or emptied on the source (TRUNCATE, VACUUM FULL, ALTER TABLE …) after the run's snapshot, so the snapshot no longer sees its rows; run again"
    )]
    SourceChanged,
}

impl PassError {
    /// The database error underneath, for retry decisions.
    pub fn db_error(&self) -> Option<&tokio_postgres::Error> {
        match self {
            PassError::Read(e) => Some(e),
            _ => None,
        }
    }

    /// The error of the lean data-path connection underneath, for retry decisions.
    pub fn wire_error(&self) -> Option<&WireError> {
        match self {
            PassError::Source(e) | PassError::Target(e) => Some(e),
            _ => None,
        }
    }
}

/// Statements sent to the target in the same messages as the COPY's start and end: one
/// round trip each instead of two, which counts when tables are many and the target far.
#[derive(Clone, Copy, Debug, Default)]
pub struct TargetSteps<'a> {
    /// Runs just before the `COPY … FROM STDIN` (e.g. `BEGIN; TRUNCATE …`).
    pub before: Option<&'a str>,
    /// Runs with the end of the COPY (e.g. `COMMIT`), even if the COPY failed at its end.
    pub then: Option<&'a str>,
    /// Sends the rows without waiting for the target to accept the COPY: one round trip
    /// fewer. If the target refuses, the source has been read for nothing, and its
    /// session stays usable only if the refusal is found after the source's end: for
    /// small tables, and never where a refusal is to be followed by another try on the
    /// same sessions (a refused `FREEZE`).
    pub at_once: bool,
}

/// Streams one COPY from `source` into `target` over lean connections ([`WireConn`]):
/// the COPY's messages go from one to the other as they are, 256 kB at a time, framed on
/// the way to count and hash rows. The target side must already be in the transaction the
/// caller wants, unless `steps.before` opens it; the caller commits, unless `steps.then`
/// does. `hash: false` only counts.
pub async fn forward(
    source: &mut WireConn,
    target: &mut WireConn,
    spec: &CopySpec<'_>,
    freeze: bool,
    hash: bool,
    counters: &Counters,
    steps: TargetSteps<'_>,
) -> Result<Moved, PassError> {
    let sent = stream(source, target, spec, freeze, hash, counters, steps, true).await?;
    settle(target, sent).await
}

/// Rows passed to the target whose answer is still to be read ([`settle`]).
#[derive(Debug)]
pub struct Sent {
    moved: Moved,
    then: bool,
}

/// [`forward`] without waiting for the target's answer: the session may pass the next
/// COPY at once, and [`settle`] reads the answers in order later, a round trip per
/// several tables instead of one each. The target is not watched for a refusal while the
/// rows pass: for small tables. The statements that start the source's COPY
/// ([`CopySpec::source_sql`]) were sent ahead, too; only their answer is read here.
pub async fn send(
    source: &mut WireConn,
    target: &mut WireConn,
    spec: &CopySpec<'_>,
    hash: bool,
    counters: &Counters,
    steps: TargetSteps<'_>,
) -> Result<Sent, PassError> {
    stream(source, target, spec, false, hash, counters, steps, false).await
}

/// The target's answer to the oldest COPY [`send`] passed on this session.
pub async fn settle(target: &mut WireConn, sent: Sent) -> Result<Moved, PassError> {
    let stored = target
        .copy_in_answer(sent.then)
        .await
        .map_err(PassError::Target)?;
    if stored != sent.moved.rows {
        return Err(PassError::RowCount {
            sent: sent.moved.rows,
            stored,
        });
    }
    Ok(sent.moved)
}

#[allow(clippy::too_many_arguments)]
async fn stream(
    source: &mut WireConn,
    target: &mut WireConn,
    spec: &CopySpec<'_>,
    freeze: bool,
    hash: bool,
    counters: &Counters,
    steps: TargetSteps<'_>,
    answered: bool,
) -> Result<Sent, PassError> {
    // The target first: unless `at_once`, if it refuses the COPY, nothing has been read
    // from the source.
    let copy_in = match steps.before {
        Some(before) => format!("{before}; {}", spec.copy_in_sql(freeze)),
        None => spec.copy_in_sql(freeze),
    };
    if steps.at_once {
        target.send_copy_in(&copy_in).await
    } else {
        target.start_copy(&copy_in).await
    }
    .map_err(PassError::Target)?;
    // Unanswered passes go back to back on both sides: their source COPY was sent ahead.
    let started = match answered {
        true => source.start_copy_after_query(&spec.source_sql()).await,
        false => source.copy_started().await,
    };
    match started {
        Ok(storage) if !spec.guard || storage == Some(spec.table.relfilenode.to_string()) => {}
        Ok(_) => {
            // The source is mid-COPY: the caller drops both sessions.
            let _ = target.fail_copy("the source table changed").await;
            return Err(PassError::SourceChanged);
        }
        Err(e) => {
            let _ = target.fail_copy("the source refused the COPY").await;
            return Err(PassError::Source(e));
        }
    }
    let mut framer = Framer::new(spec.format, hash);
    let mut bytes = 0u64;
    let mut reported = (0u64, 0u64);
    let observe = |piece: &[u8]| {
        framer.feed(piece)?;
        bytes += piece.len() as u64;
        if bytes - reported.0 >= REPORT_EVERY_BYTES {
            report(counters, &mut reported, bytes, framer.rows());
        }
        Ok::<(), FrameError>(())
    };
    source
        .pass_copy_unanswered(target, steps.then, answered, observe)
        .await
        .map_err(|fault| match fault {
            PassFault::Source(e) => PassError::Source(e),
            PassFault::Target(e) => PassError::Target(e),
            PassFault::Observer(e) => PassError::Frame(e),
        })?;
    let (rows, digest) = framer.finish()?;
    report(counters, &mut reported, bytes, rows);
    Ok(Sent {
        moved: Moved {
            rows,
            bytes,
            digest,
        },
        then: steps.then.is_some(),
    })
}

/// Reads one COPY and frames it: the same rows and digest that [`forward`] computes,
/// for checking a target (or a source, in `verify`) later.
pub async fn read(
    client: &Client,
    spec: &CopySpec<'_>,
    hash: bool,
    counters: &Counters,
) -> Result<Moved, PassError> {
    let stream = client
        .copy_out(spec.copy_out_sql().as_str())
        .await
        .map_err(PassError::Read)?;
    pin_mut!(stream);
    let mut framer = Framer::new(spec.format, hash);
    let mut bytes = 0u64;
    let mut reported = (0u64, 0u64);
    while let Some(piece) = stream.next().await {
        let piece = piece.map_err(PassError::Read)?;
        framer.feed(&piece)?;
        bytes += piece.len() as u64;
        if bytes - reported.0 >= REPORT_EVERY_BYTES {
            report(counters, &mut reported, bytes, framer.rows());
        }
    }
    let (rows, digest) = framer.finish()?;
    report(counters, &mut reported, bytes, rows);
    Ok(Moved {
        rows,
        bytes,
        digest,
    })
}

fn report(counters: &Counters, reported: &mut (u64, u64), bytes: u64, rows: u64) {
    counters
        .bytes
        .fetch_add(bytes - reported.0, Ordering::Relaxed);
    counters
        .rows
        .fetch_add(rows - reported.1, Ordering::Relaxed);
    *reported = (bytes, rows);
}
