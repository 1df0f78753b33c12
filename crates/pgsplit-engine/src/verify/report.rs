//! What `verify` found, per line: every table's rows and digests on both sides, every
//! sequence's value, every schema difference. Shown to people and written as JSON.

use serde::Serialize;

use pgsplit_copy::{Digest, Format};

use crate::run::VerifyLevel;

#[derive(Debug, Default, Serialize)]
pub struct VerifyReport {
    pub lines: Vec<LineVerification>,
    /// Hash-sharded splits: per sharded table, the shares add up to the whole source.
    pub shards: Vec<super::shards::ShardCoverage>,
    /// Why the shard check could not run, if it could not.
    pub shards_error: Option<String>,
    pub seconds: f64,
}

impl VerifyReport {
    /// A line's selector did not fit its source.
    pub fn bad_input(&self) -> bool {
        self.lines.iter().any(|l| l.bad_input)
    }

    /// A line could not be checked to the end (connection, permission, read errors).
    pub fn failed(&self) -> bool {
        self.lines.iter().any(|l| l.error.is_some()) || self.shards_error.is_some()
    }

    /// Something differs between a source and its target.
    pub fn mismatched(&self) -> bool {
        self.lines.iter().any(LineVerification::mismatched)
            || self.shards.iter().any(|s| !s.matches)
    }
}

#[derive(Debug, Serialize)]
pub struct LineVerification {
    pub line: usize,
    pub source_url: String,
    pub target_url: String,
    pub level: VerifyLevel,
    pub tables: Vec<TableVerification>,
    pub sequences: Vec<SequenceVerification>,
    /// The schema and the database's properties were compared (not with `--data-only`).
    pub schema_compared: bool,
    /// Schema objects compared (rendered statements on the source side).
    pub schema_statements: usize,
    /// Only the differences: identical statements are not listed.
    pub schema_differences: Vec<SchemaDifference>,
    /// Large objects, when either side has any.
    pub large_objects: Option<LargeObjectsVerification>,
    /// The rows users keep in extensions' configuration tables (those the extension's
    /// condition selects), per table of an extension the target has.
    pub extension_config: Vec<ExtensionConfigVerification>,
    /// What differs without counting as a difference: an extension at another version
    /// on the target (a run makes the target's default one, as pg_restore does).
    pub notes: Vec<String>,
    pub seconds: f64,
    pub error: Option<String>,
    /// The line's selector did not fit the source (exit 2).
    pub bad_input: bool,
}

/// One extension configuration table on both sides (`None`: missing on that side).
#[derive(Debug, Serialize)]
pub struct ExtensionConfigVerification {
    pub extension: String,
    pub name: String,
    pub source: Option<SideRows>,
    pub target: Option<SideRows>,
    pub matches: bool,
}

/// Large objects on both sides: how many, and (`checksum`) the sum of SHA-256(oid ‖ data).
#[derive(Debug, Serialize)]
pub struct LargeObjectsVerification {
    pub source: SideRows,
    pub target: SideRows,
    pub matches: bool,
}

impl LineVerification {
    pub fn new(line: usize, source_url: String, target_url: String, level: VerifyLevel) -> Self {
        LineVerification {
            line,
            source_url,
            target_url,
            level,
            tables: Vec::new(),
            sequences: Vec::new(),
            schema_compared: true,
            schema_statements: 0,
            schema_differences: Vec::new(),
            large_objects: None,
            extension_config: Vec::new(),
            notes: Vec::new(),
            seconds: 0.0,
            error: None,
            bad_input: false,
        }
    }

    pub fn mismatched(&self) -> bool {
        self.tables.iter().any(|t| !t.matches)
            || self.sequences.iter().any(|s| !s.matches)
            || !self.schema_differences.is_empty()
            || self.large_objects.as_ref().is_some_and(|l| !l.matches)
            || self.extension_config.iter().any(|c| !c.matches)
    }
}

/// One side's reading of a table: all chunks added up.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct SideRows {
    pub rows: u64,
    /// `None` at `--level count`.
    pub digest: Option<Digest>,
    pub chunks: usize,
}

#[derive(Debug, Serialize)]
pub struct TableVerification {
    pub schema: String,
    pub name: String,
    pub format: Format,
    /// The row filter applied on the source side (a split's predicate), if any.
    pub row_filter: Option<String>,
    /// `None` when the table exists on one side only.
    pub source: Option<SideRows>,
    pub target: Option<SideRows>,
    pub matches: bool,
    /// Why it does not match, in words (`missing on target`, `3 rows fewer on target`, …).
    pub problem: Option<String>,
    /// Wall time from the first chunk read on either side to the last.
    pub seconds: f64,
}

impl TableVerification {
    pub fn display_name(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }
}

/// `last_value`, `is_called`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct SequenceState {
    pub last_value: i64,
    pub is_called: bool,
}

#[derive(Debug, Serialize)]
pub struct SequenceVerification {
    pub schema: String,
    pub name: String,
    /// `None`: the sequence does not exist on that side (or its value is unreadable).
    pub source: Option<SequenceState>,
    pub target: Option<SequenceState>,
    pub matches: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SchemaProblem {
    MissingOnTarget,
    /// An index the target has but marked invalid (a failed concurrent build).
    InvalidOnTarget,
    ExtraOnTarget,
    Differs,
}

impl SchemaProblem {
    pub fn describe(self) -> &'static str {
        match self {
            SchemaProblem::MissingOnTarget => "missing on target",
            SchemaProblem::InvalidOnTarget => "invalid on target (REINDEX it)",
            SchemaProblem::ExtraOnTarget => "extra on target",
            SchemaProblem::Differs => "differs",
        }
    }
}

/// One object whose statements differ: `index public.foo_idx: missing on target`.
#[derive(Debug, Serialize)]
pub struct SchemaDifference {
    /// The statement kind, e.g. `index`, `table`, `acl`.
    pub kind: String,
    /// The object, e.g. `index public.foo_idx`, `privileges on table public.t`.
    pub identity: String,
    pub problem: SchemaProblem,
    /// The statements that recreate the object from each side, in their sorted order.
    pub source_sql: Vec<String>,
    pub target_sql: Vec<String>,
}

impl SchemaDifference {
    /// What differs, for people: the identity, or for the settings a table's later
    /// statements make (storage, statistics, replica identity, clustering) `options of
    /// table public.t`, which the table's own difference would otherwise read as.
    pub fn subject(&self) -> String {
        if self.kind == "table_option" {
            format!("options of {}", self.identity)
        } else {
            self.identity.clone()
        }
    }
}
