//! Why a run (or one line of it) failed, with the context a user needs: server, table,
//! chunk, statement.

use pgsplit_copy::{Chunk, PassError, SourceTable};
use pgsplit_pg::wire::WireError;
use pgsplit_pg::{ConnectFailure, cause_chain};
use tokio_postgres::error::SqlState;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Connect(#[from] ConnectFailure),
    #[error("{server}: {what}: {}", cause_chain(.source))]
    Db {
        server: String,
        what: String,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("{what}: {}", cause_chain(.source))]
    DbPlain {
        what: String,
        #[source]
        source: tokio_postgres::Error,
    },
    /// A statement on a lean data-path connection ([`pgsplit_pg::wire`]).
    #[error("{server}: {what}: {}", cause_chain(.source))]
    Wire {
        server: String,
        what: String,
        #[source]
        source: WireError,
    },
    #[error("{}", cause_chain(.0))]
    Copy(#[source] PassError),
    #[error("table {table}{chunk}: {source}{}", partition_hint(.source))]
    Table {
        table: String,
        chunk: String,
        #[source]
        source: Box<RunError>,
    },
    #[error("{identity}: {}\nstatement: {sql}{}", cause_chain(.source), search_path_hint(.source, .sql))]
    Statement {
        identity: String,
        sql: String,
        #[source]
        source: tokio_postgres::Error,
    },
    /// Post-data statements the server refused; the others ran.
    #[error("{0}")]
    PostData(super::post_data::Failures),
    #[error("schema: {0}")]
    Schema(String),
    #[error(
        "the target is not empty ({0} objects): use --clean to replace them, or --resume to continue a stopped run"
    )]
    TargetNotEmpty(i64),
    #[error("{0}")]
    Refused(String),
    #[error("internal error: {0}")]
    Internal(String),
    #[error(transparent)]
    Journal(#[from] crate::journal::JournalError),
    #[error("interrupted")]
    Interrupted,
    /// A split selector that does not fit the source (bad input: exit 2).
    #[error("{0}")]
    Selection(String),
    /// What the options ask does not fit the stopped run this target holds: a `--resume`
    /// with other options or selectors, a run without `--resume` or `--clean` into an
    /// unfinished target (bad input: exit 2, nothing written).
    #[error("{0}")]
    Options(String),
    #[error(
        "the source snapshot is gone (the source server restarted or the leader connection was lost); finish with `pgsplit run MAPPING --resume`"
    )]
    SnapshotLost,
}

impl RunError {
    /// A foreign key or unique key its rows break: on a resumed run, the sign of tables
    /// (with `--resume=fast`, of chunks of one table) copied at two moments of a source
    /// written to in between.
    pub fn is_key_violation(&self) -> bool {
        match self {
            RunError::Statement { source, .. } => matches!(
                source.code(),
                Some(&SqlState::FOREIGN_KEY_VIOLATION | &SqlState::UNIQUE_VIOLATION)
            ),
            RunError::Table { source, .. } => source.is_key_violation(),
            RunError::PostData(failures) => failures.failed.iter().any(RunError::is_key_violation),
            _ => false,
        }
    }

    pub fn db(server: &str, what: &str, source: tokio_postgres::Error) -> RunError {
        RunError::Db {
            server: server.to_string(),
            what: what.to_string(),
            source,
        }
    }

    pub fn db_plain(what: &str, source: tokio_postgres::Error) -> RunError {
        RunError::DbPlain {
            what: what.to_string(),
            source,
        }
    }

    pub fn wire(server: &str, what: &str, source: WireError) -> RunError {
        RunError::Wire {
            server: server.to_string(),
            what: what.to_string(),
            source,
        }
    }

    pub fn in_table(self, table: &SourceTable, chunk: &Chunk) -> RunError {
        RunError::Table {
            table: table.display_name(),
            chunk: match chunk {
                Chunk::Whole => String::new(),
                c => format!(" [{}]", c.label()),
            },
            source: Box::new(self),
        }
    }

    /// Whether another try may succeed (see [`crate::retry`]).
    pub fn is_transient(&self) -> bool {
        match self {
            RunError::Connect(pgsplit_pg::ConnectFailure::Connect(e)) => {
                crate::retry::is_transient(&e.source)
            }
            RunError::Connect(pgsplit_pg::ConnectFailure::TimedOut { .. }) => true,
            RunError::Copy(PassError::RowCount { .. } | PassError::Frame(_)) => false,
            other => match other.wire_error() {
                Some(e) => match e.code() {
                    Some(code) => crate::retry::is_transient_state(&SqlState::from_code(code)),
                    None => e.is_connection(),
                },
                None => other.db_error().is_some_and(crate::retry::is_transient),
            },
        }
    }

    /// The SQLSTATE the server answered with, on either kind of connection.
    pub fn sqlstate(&self) -> Option<SqlState> {
        match self.wire_error() {
            Some(e) => e.code().map(SqlState::from_code),
            None => self.db_error().and_then(|e| e.code()).cloned(),
        }
    }

    /// The lean data-path connection's error underneath, if any.
    pub fn wire_error(&self) -> Option<&WireError> {
        match self {
            RunError::Wire { source, .. } => Some(source),
            RunError::Copy(e) => e.wire_error(),
            RunError::Table { source, .. } => source.wire_error(),
            _ => None,
        }
    }

    /// The database error underneath, if any.
    pub fn db_error(&self) -> Option<&tokio_postgres::Error> {
        match self {
            RunError::Db { source, .. }
            | RunError::DbPlain { source, .. }
            | RunError::Statement { source, .. } => Some(source),
            RunError::Copy(e) => e.db_error(),
            RunError::Table { source, .. } => source.db_error(),
            _ => None,
        }
    }
}

/// For a statement that failed inside a function's body on a name it could not find
/// (what a generated column, an index, a check or a materialized view runs): why, and what
/// to do. The target runs them with an empty search_path, as pg_restore does: the names a
/// body leaves unqualified would resolve by whoever runs it (its `"$user"`, its role's
/// and database's settings), so a copy could silently compute other values than the
/// source holds; failing is the safe side.
fn search_path_hint(error: &tokio_postgres::Error, _sql: &str) -> &'static str {
    use tokio_postgres::error::SqlState;
    let missing = [
        SqlState::UNDEFINED_FUNCTION,
        SqlState::UNDEFINED_TABLE,
        SqlState::UNDEFINED_OBJECT,
    ];
    let in_a_function = error
        .as_db_error()
        .and_then(|e| e.where_())
        .is_some_and(|context| context.contains("function"));
    if error.code().is_some_and(|c| missing.contains(c)) && in_a_function {
        "\nhint: a function this runs finds objects by the search_path, which pgsplit leaves \
         empty on the target, as pg_restore does (their values would depend on who runs them; \
         PostgreSQL 17 and newer build indexes and refresh with pg_catalog, pg_temp alone \
         anyway): qualify the names in its body, or give it its own search_path (ALTER \
         FUNCTION … SET search_path = …) on the source, then run again"
    } else {
        ""
    }
}

/// For a row the target puts in another partition than the source did: why it may.
fn partition_hint(error: &RunError) -> &'static str {
    if error.to_string().contains("violates partition constraint") {
        "\nhint: the target's partition refuses a row the source's holds: its bounds differ \
         (a --data-only target's own), or its key is text in a collation that sorts (or, \
         nondeterministic, hashes) otherwise on the target, with another ICU or C library \
         version than the source's: compare pg_collation_actual_version() on both servers"
    } else {
        ""
    }
}
