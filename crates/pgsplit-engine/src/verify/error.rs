//! Why `verify` could not check a line: a connection, a catalog read, a table read.
//! Differences between source and target are findings in the report, never errors.

use pgsplit_copy::PassError;
use pgsplit_pg::{ConnectFailure, cause_chain};
use pgsplit_schema::SchemaError;

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Connect(#[from] ConnectFailure),
    #[error("{server}: {what}: {}", cause_chain(.source))]
    Db {
        server: String,
        what: String,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("{server}: read the schema: {}", cause_chain(.source))]
    Schema {
        server: String,
        #[source]
        source: SchemaError,
    },
    #[error("{server}: table {table}{chunk}: {}", cause_chain(.source))]
    Read {
        server: String,
        table: String,
        chunk: String,
        #[source]
        source: ReadError,
    },
    #[error("internal error: {0}")]
    Internal(String),
    /// A split selector that does not fit the source.
    #[error("{0}")]
    Selection(String),
}

impl VerifyError {
    pub fn db(server: &str, what: &str, source: tokio_postgres::Error) -> VerifyError {
        VerifyError::Db {
            server: server.to_string(),
            what: what.to_string(),
            source,
        }
    }
}

/// Reading one table (or chunk) failed: the count query or the COPY.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("count rows")]
    Count(#[source] tokio_postgres::Error),
    #[error(transparent)]
    Copy(#[from] PassError),
}
