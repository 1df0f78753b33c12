//! What a run is asked to do, free of any command-line types.

use std::path::PathBuf;

/// How much a run checks after copying each table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VerifyLevel {
    None,
    Count,
    Checksum,
}

/// Which parts of the database a run copies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sections {
    /// Schema and data.
    All,
    /// Schema only (pre-data and post-data DDL, sequences).
    SchemaOnly,
    /// Rows only, into a schema that already exists on the target.
    DataOnly,
}

/// What `--maintenance-work-mem` gives each post-data session unless it already has more:
/// 1 GB, what pgcopydb sets on its target sessions. The server's default 64 MB spills the
/// keys of a few million rows to disk (a build on the benchmark's 2M-row table then takes
/// ~20 % longer); at 4× the benchmark's data, 1 GB against 256 MB took 33.5–34.1 s against
/// 37.4–39.5 s. It is an upper bound: a build takes only what its sort needs.
pub const DEFAULT_MAINTENANCE_WORK_MEM: i64 = 1024 * 1024 * 1024;

#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Parallel table/chunk copies (`--jobs`).
    pub jobs: usize,
    /// Parallel post-data statements: index builds, constraints, checks (`--index-jobs`).
    pub index_jobs: usize,
    /// Post-data sessions raise `maintenance_work_mem` to this many bytes when lower
    /// (`--maintenance-work-mem`); `None` leaves it alone.
    pub maintenance_work_mem: Option<i64>,
    /// Tables larger than this many bytes are copied as several chunks.
    pub split_larger_than: Option<i64>,
    pub verify: VerifyLevel,
    pub sections: Sections,
    /// Replace what the copy creates when the target is not empty.
    pub clean: bool,
    pub no_owner: bool,
    pub no_acl: bool,
    /// Fail instead of skipping what the target role may not create.
    pub strict: bool,
    /// Where the run journal lives.
    pub work_dir: PathBuf,
    /// Continue a stopped run from its journal.
    pub resume: Option<ResumeMode>,
    /// In a split, leave out foreign keys that would point into another target (each is
    /// listed in the report) instead of refusing the split.
    pub drop_cross_target_fks: bool,
}

/// What a resumed run does with tables that were partly copied when the run stopped.
/// The stopped run's snapshot died with it: the resumed run reads from a new one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ResumeMode {
    /// Copy partly copied tables again from scratch, from the new snapshot: every table
    /// is consistent in itself (tables finished before the stop are from the old one).
    Safe,
    /// Keep every finished chunk and copy only the missing ones: exact when the source
    /// was not written in between, otherwise a table may mix two moments.
    Fast,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            jobs: 4,
            index_jobs: 2,
            maintenance_work_mem: Some(DEFAULT_MAINTENANCE_WORK_MEM),
            split_larger_than: None,
            verify: VerifyLevel::Checksum,
            sections: Sections::All,
            clean: false,
            no_owner: false,
            no_acl: false,
            strict: false,
            work_dir: PathBuf::from(".pgsplit"),
            resume: None,
            drop_cross_target_fks: false,
        }
    }
}
