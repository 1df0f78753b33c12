//! The data path: snapshots, the tables to copy, chunks, COPY pass-through with row
//! framing, and the order-independent table digest used to verify every copy.

pub mod chunk;
pub mod digest;
pub mod frame;
pub mod pass;
pub mod snapshot;
pub mod tables;
pub mod toast;

pub use chunk::Chunk;
pub use digest::Digest;
pub use frame::Format;
pub use pass::{CopySpec, Counters, Moved, PassError};
pub use tables::SourceTable;

// The statement of [`SQL_ASCII_AS_IS`], as a literal for `concat!`.
macro_rules! sql_ascii_as_is {
    () => {
        "SELECT pg_catalog.set_config('client_encoding', 'SQL_ASCII', false) \
         WHERE pg_catalog.current_setting('server_encoding') = 'SQL_ASCII'"
    };
}

/// Settings of every session that reads or writes rows (both sides of a copy, the run's
/// read-backs, `verify`): values that travel as text are written and read in one style
/// whatever each server's defaults (dates, intervals, floats, time zone, money, string
/// escapes, quoted names), and row-level security makes a read fail instead of hiding
/// rows from it. Timeouts a server or database sets for interactive use (`ALTER DATABASE … SET statement_timeout`,
/// common on managed servers) would cut off a long COPY, or a session waiting between
/// statements inside its snapshot: off, as pg_dump and pg_restore have them. Values of
/// `regclass`, `regtype`, … travel as names, qualified only where the session's
/// search_path does not find them: with pg_catalog alone on it, on both sides, a name
/// means the same object there (the target's own search_path, a database setting the run
/// copies at its end, may differ from the source's until then). A SQL_ASCII database's
/// text may hold any bytes: its sessions read and write them as they are (a UTF8 session
/// refuses those that are not UTF-8).
pub const DATA_SESSION_SETUP: &str = concat!(
    "SET DateStyle = ISO; SET IntervalStyle = postgres; \
    SET extra_float_digits = 3; SET TimeZone = 'UTC'; SET bytea_output = hex; \
    SET lc_monetary = 'C'; SET row_security = off; SET statement_timeout = 0; \
    SET lock_timeout = 0; SET idle_in_transaction_session_timeout = 0; \
    SET standard_conforming_strings = on; SET quote_all_identifiers = off; \
    SET search_path = pg_catalog; ",
    sql_ascii_as_is!()
);

/// The part of [`DATA_SESSION_SETUP`] that has a SQL_ASCII database's sessions take its
/// bytes as they are, for a session whose later settings chose another encoding.
pub const SQL_ASCII_AS_IS: &str = sql_ascii_as_is!();

/// The timeouts of [`DATA_SESSION_SETUP`], for a session that holds the run's snapshot:
/// it waits inside its transaction while the copies run.
pub const NO_TIMEOUTS: &str =
    "SET statement_timeout = 0; SET idle_in_transaction_session_timeout = 0";
