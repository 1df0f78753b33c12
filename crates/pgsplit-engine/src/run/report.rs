//! What a run did, per line, table and phase: shown to people and written as JSON.

use serde::Serialize;

use pgsplit_copy::{Digest, Format};

use super::options::VerifyLevel;

#[derive(Debug, Default, Serialize)]
pub struct RunReport {
    pub lines: Vec<LineReport>,
    pub seconds: f64,
    /// Stopped by Ctrl-C or SIGTERM: continue with `--resume`.
    pub interrupted: bool,
    /// Per split source: what no line takes, so no target holds ([`crate::plan::untaken`]).
    pub untaken: Vec<crate::plan::Untaken>,
}

impl RunReport {
    /// A line's input was bad, and no line wrote anything: lines of other sources run
    /// before a line whose selection is refused, as each source's selections are checked
    /// in its own snapshot.
    pub fn bad_input(&self) -> bool {
        self.lines.iter().any(|l| l.bad_input) && !self.lines.iter().any(|l| l.touched_target)
    }

    pub fn failed(&self) -> bool {
        self.lines.iter().any(|l| l.error.is_some())
    }

    pub fn mismatched(&self) -> bool {
        self.lines.iter().any(LineReport::mismatched)
    }
}

impl LineReport {
    /// Its verification found differences, now or (a line already finished) in the run
    /// that finished it.
    pub fn mismatched(&self) -> bool {
        self.mismatched_before
            || self
                .tables
                .iter()
                .any(|t| t.verification.as_ref().is_some_and(|v| !v.matches))
            || self
                .large_objects
                .as_ref()
                .is_some_and(|lo| lo.matches == Some(false))
            || self
                .extension_config
                .iter()
                .any(|c| c.matches == Some(false))
    }
}

#[derive(Debug, Default, Serialize)]
pub struct LineReport {
    pub line: usize,
    pub source_url: String,
    pub target_url: String,
    pub phases: Vec<PhaseTime>,
    pub tables: Vec<TableReport>,
    pub post_data: PostDataSummary,
    /// Objects not created because the target role may not (without `--strict`).
    pub skipped: Vec<String>,
    /// Source database properties (owner, privileges, comment, settings) the target
    /// refused (without `--strict`), each with the reason.
    pub skipped_database: Vec<String>,
    pub error: Option<String>,
    /// This line continued a stopped run.
    pub resumed: bool,
    /// Already finished, by a run whose verification found differences.
    pub mismatched_before: bool,
    /// The line's selector did not fit the source (exit 2).
    pub bad_input: bool,
    /// The target was connected to, made or dropped for writing: past the checks.
    #[serde(skip)]
    pub touched_target: bool,
    /// Which database the target is, whatever its address ([`super::target::identity`]).
    #[serde(skip)]
    pub target_identity: Option<String>,
    /// Foreign keys and views of the source that would point into another target: not
    /// created on this one.
    pub cross_target: Vec<String>,
    /// Source objects pgsplit cannot write (foreign tables and servers, publications,
    /// casts, operators, …), then the objects that need one of them (`view public.v
    /// (needs foreign table public.lines)`): not on the target.
    pub not_copied: Vec<String>,
    /// Large objects copied (none: absent).
    pub large_objects: Option<LargeObjects>,
    /// Rows of the extensions' configuration tables, and their marked sequences.
    pub extension_config: Vec<ExtensionConfig>,
    pub note: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct PhaseTime {
    pub phase: &'static str,
    pub seconds: f64,
}

#[derive(Debug, Serialize)]
pub struct TableReport {
    pub schema: String,
    pub name: String,
    pub format: Format,
    pub chunks: Vec<ChunkReport>,
    /// Chunks the table was cut into: more than `chunks` when the run stopped before all
    /// were copied (`complete` is then false).
    pub chunks_planned: usize,
    /// Every chunk is on the target.
    pub complete: bool,
    pub rows: u64,
    pub bytes: u64,
    /// Wall time from the first chunk's start to the last chunk's end.
    pub seconds: f64,
    pub mb_per_second: f64,
    pub verification: Option<Verification>,
}

#[derive(Debug, Serialize)]
pub struct ChunkReport {
    pub chunk: String,
    /// Copied by the stopped run and kept (taken from the journal, not copied again).
    pub resumed: bool,
    pub rows: u64,
    pub bytes: u64,
    pub seconds: f64,
}

#[derive(Debug, Serialize)]
pub struct Verification {
    pub level: VerifyLevel,
    pub source_rows: u64,
    pub target_rows: u64,
    pub source_digest: Option<Digest>,
    pub target_digest: Option<Digest>,
    pub matches: bool,
    /// The target was read back after the load. `false`: the row count of a table this
    /// run created empty, from the target's own counts of the rows its COPYs stored.
    pub read_back: bool,
    /// Pieces (ranges of pages) the read-back was cut into, read in parallel.
    pub pieces: usize,
    pub seconds: f64,
}

#[derive(Debug, Default, Serialize)]
pub struct PostDataSummary {
    pub statements: usize,
    /// Tasks done: fewer than `statements` when the run stopped or failed on the way.
    pub finished: usize,
    pub indexes: usize,
    pub seconds: f64,
    /// Statements the target refused (each error), while the others went on.
    pub failed: Vec<String>,
    /// Tasks left out because they come after a refused statement.
    pub not_run: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct LargeObjects {
    pub count: u64,
    pub bytes: u64,
    /// Count (and digest of oid and data) read back from the target; `None` unverified.
    pub matches: Option<bool>,
}

/// A table (its rows the extension's condition selects) or sequence an extension marked
/// as configuration with `pg_extension_config_dump`.
#[derive(Debug, Serialize)]
pub struct ExtensionConfig {
    pub extension: String,
    pub name: String,
    pub sequence: bool,
    pub rows: u64,
    pub bytes: u64,
    /// Count (and digest) read back from the target; `None` unverified or a sequence.
    pub matches: Option<bool>,
}
