//! Rows extensions keep in their configuration tables (marked with
//! `pg_extension_config_dump`, e.g. pg_partman's `part_config`, pg_cron's `job`, PostGIS's
//! `spatial_ref_sys`): `CREATE EXTENSION` makes the tables on the target, with the rows
//! its script inserts; the rows the extension's condition selects are the users', and
//! are copied here. One target transaction (all or none), in text format (the extension's
//! version may differ), after pre-data; each table counted and hashed like a table, and
//! the sequences the extension marks set to the source's values.

use std::collections::HashSet;
use std::pin::pin;

use futures::{SinkExt as _, TryStreamExt as _};
use tokio_postgres::Client;
use tokio_postgres::error::SqlState;

use pgsplit_copy::Moved;
use pgsplit_copy::frame::{Format, Framer};
use pgsplit_pg::{ConnSettings, Connection, quote};

use super::error::RunError;
use super::options::VerifyLevel;
use super::report::ExtensionConfig;
use crate::session;

/// The source's configuration tables and sequences, in the order each extension marked
/// them, with the foreign keys between them.
const LIST: &str = "\
SELECT e.extname::text, c.oid::int8, n.nspname::text, c.relname::text, c.relkind = 'S',
       coalesce(x.cond, ''),
       ARRAY(SELECT a.attname::text FROM pg_catalog.pg_attribute a
              WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                AND a.attgenerated = '' ORDER BY a.attnum),
       ARRAY(SELECT f.confrelid::int8 FROM pg_catalog.pg_constraint f
              WHERE f.conrelid = c.oid AND f.contype = 'f' AND f.confrelid <> c.oid)
  FROM pg_catalog.pg_extension e
 CROSS JOIN LATERAL unnest(e.extconfig, e.extcondition) WITH ORDINALITY AS x(rel, cond, n)
  JOIN pg_catalog.pg_class c ON c.oid = x.rel
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 ORDER BY e.extname, x.n";

/// A table or sequence an extension marked as configuration.
#[derive(Debug)]
struct Marked {
    extension: String,
    oid: i64,
    /// Quoted for SQL.
    name: String,
    /// `schema.name` as is, for people.
    display: String,
    sequence: bool,
    /// `WHERE …` choosing the users' rows, or empty for all of them.
    condition: String,
    columns: Vec<String>,
    /// Other marked or unmarked tables its foreign keys point to.
    references: Vec<i64>,
}

impl Marked {
    /// The columns, quoted, as a list.
    fn column_list(&self) -> String {
        let columns: Vec<String> = self.columns.iter().map(|c| quote::ident(c)).collect();
        columns.join(", ")
    }

    fn rows_sql(&self) -> String {
        format!(
            "COPY (SELECT {} FROM ONLY {} {}) TO STDOUT",
            self.column_list(),
            self.name,
            self.condition
        )
    }
}

/// The marked objects of the connected database's extensions.
async fn marked(client: &Client) -> Result<Vec<Marked>, tokio_postgres::Error> {
    let rows = client.query(LIST, &[]).await?;
    Ok(rows
        .iter()
        .map(|r| {
            let (schema, name): (&str, &str) = (r.get(2), r.get(3));
            Marked {
                extension: r.get(0),
                oid: r.get(1),
                name: quote::qualified(schema, name),
                display: format!("{schema}.{name}"),
                sequence: r.get(4),
                condition: r.get(5),
                columns: r.get(6),
                references: r.get(7),
            }
        })
        .collect())
}

/// The objects of `marked` whose extension the target has (a split target may lack
/// some), tables a foreign key points to first.
async fn on_target(marked: Vec<Marked>, target: &Client) -> Result<Vec<Marked>, RunError> {
    let names = extension_names(target)
        .await
        .map_err(|e| RunError::db_plain("list the target's extensions", e))?;
    let marked = marked
        .into_iter()
        .filter(|m| names.contains(&m.extension))
        .collect();
    Ok(referenced_first(marked))
}

/// One configuration table's chosen rows, counted and hashed as [`copy`] does.
#[derive(Debug)]
pub struct ConfigRows {
    pub extension: String,
    /// `schema.name`.
    pub name: String,
    /// `None`: the role may not read it.
    pub moved: Option<Moved>,
}

/// Reads the users' rows of every configuration table of the connected database's
/// extensions named in `extensions` (for `pgsplit verify`, on each side; the session is
/// set up for data and holds a snapshot). A table the role may not read is left out,
/// with a warning, and the snapshot's transaction goes on.
pub async fn read_all(
    client: &Client,
    extensions: &HashSet<String>,
) -> Result<Vec<ConfigRows>, tokio_postgres::Error> {
    let mut found = Vec::new();
    let marked = marked(client).await?;
    for m in marked
        .into_iter()
        .filter(|m| !m.sequence && extensions.contains(&m.extension))
    {
        client
            .batch_execute("SAVEPOINT pgsplit_extension_config")
            .await?;
        match read(client, &m.rows_sql()).await {
            Ok(moved) => found.push(ConfigRows {
                extension: m.extension,
                name: m.display,
                moved: Some(moved),
            }),
            Err(e) if e.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) => {
                tracing::warn!("{} not compared: {e}", m.display);
                client
                    .batch_execute("ROLLBACK TO SAVEPOINT pgsplit_extension_config")
                    .await?;
                found.push(ConfigRows {
                    extension: m.extension,
                    name: m.display,
                    moved: None,
                });
            }
            Err(e) => return Err(e),
        }
        client
            .batch_execute("RELEASE SAVEPOINT pgsplit_extension_config")
            .await?;
    }
    Ok(found)
}

/// The names of the connected database's extensions.
pub async fn extension_names(client: &Client) -> Result<HashSet<String>, tokio_postgres::Error> {
    Ok(client
        .query("SELECT extname::text FROM pg_catalog.pg_extension", &[])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

/// Orders tables so that the ones a foreign key points to come before the ones that
/// point (the rows go in in this order, and are removed in the reverse one); a cycle
/// keeps the extension's order.
fn referenced_first(mut pending: Vec<Marked>) -> Vec<Marked> {
    let mut ordered: Vec<Marked> = Vec::with_capacity(pending.len());
    while !pending.is_empty() {
        let waiting: HashSet<i64> = pending.iter().map(|m| m.oid).collect();
        let ready = pending
            .iter()
            .position(|m| m.references.iter().all(|r| !waiting.contains(r)))
            .unwrap_or(0);
        ordered.push(pending.remove(ready));
    }
    ordered
}

/// Copies the users' rows of every marked table the target's extensions have, and sets
/// the marked sequences. `source`: a session inside the run's snapshot. A session to the
/// target is opened only when the source has marked objects (most have none).
pub async fn copy(
    source: &Client,
    target: &ConnSettings,
    verify: VerifyLevel,
) -> Result<Vec<ExtensionConfig>, RunError> {
    let marked = marked(source)
        .await
        .map_err(|e| RunError::db_plain("list the extensions' configuration tables", e))?;
    if marked.is_empty() {
        return Ok(Vec::new());
    }
    let target = session::open(target).await?;
    let marked = on_target(marked, &target.client).await?;
    if marked.is_empty() {
        return Ok(Vec::new());
    }
    source
        .batch_execute(pgsplit_copy::DATA_SESSION_SETUP)
        .await
        .map_err(|e| RunError::db_plain("set up the source session", e))?;
    // The source session holds the run's snapshot: a read that fails (a table the
    // source role may not read) must not end its transaction.
    let savepoint = |sql: &'static str| async move {
        source
            .batch_execute(sql)
            .await
            .map_err(|e| RunError::db_plain("keep the snapshot's transaction", e))
    };
    savepoint("SAVEPOINT pgsplit_extension_config").await?;
    match copy_marked(source, &target, verify, &marked).await {
        Ok(copied) => {
            savepoint("RELEASE SAVEPOINT pgsplit_extension_config").await?;
            Ok(copied)
        }
        Err(e) => {
            savepoint("ROLLBACK TO SAVEPOINT pgsplit_extension_config").await?;
            savepoint("RELEASE SAVEPOINT pgsplit_extension_config").await?;
            Err(e)
        }
    }
}

/// [`copy`] of the objects `marked`.
async fn copy_marked(
    source: &Client,
    target: &Connection,
    verify: VerifyLevel,
    marked: &[Marked],
) -> Result<Vec<ExtensionConfig>, RunError> {
    let t = &target.client;
    let server = target.server.as_str();
    let on_target = |what: String| move |e| RunError::db(server, &what, e);
    t.batch_execute(pgsplit_copy::DATA_SESSION_SETUP)
        .await
        .map_err(on_target("set up the session".into()))?;
    t.batch_execute("BEGIN")
        .await
        .map_err(on_target("begin the extensions' configuration rows".into()))?;
    // What the extension's script inserted and the condition selects (a resumed run's
    // copy, or rows the condition does not tell from the users'), so nothing is doubled.
    for m in marked.iter().rev().filter(|m| !m.sequence) {
        t.batch_execute(&format!("DELETE FROM ONLY {} {}", m.name, m.condition))
            .await
            .map_err(on_target(format!("empty {}", m.display)))?;
    }
    let mut copied = Vec::with_capacity(marked.len());
    for m in marked {
        if m.sequence {
            let row = source
                .query_one(
                    &format!("SELECT last_value, is_called FROM {}", m.name),
                    &[],
                )
                .await
                .map_err(|e| RunError::db_plain(&format!("read sequence {}", m.display), e))?;
            let (value, called): (i64, bool) = (row.get(0), row.get(1));
            t.execute(
                "SELECT pg_catalog.setval($1::text::regclass, $2, $3)",
                &[&m.name, &value, &called],
            )
            .await
            .map_err(on_target(format!("set sequence {}", m.display)))?;
            copied.push(ExtensionConfig {
                extension: m.extension.clone(),
                name: m.display.clone(),
                sequence: true,
                rows: 0,
                bytes: 0,
                matches: None,
            });
            continue;
        }
        let moved = copy_rows(source, t, m)
            .await
            .map_err(|e| e.on(server, &m.display))?;
        let matches = match verify {
            VerifyLevel::None => None,
            VerifyLevel::Count | VerifyLevel::Checksum => {
                let found = read(t, &m.rows_sql())
                    .await
                    .map_err(on_target(format!("read {} back", m.display)))?;
                Some(
                    found.rows == moved.rows
                        && (verify == VerifyLevel::Count || found.digest == moved.digest),
                )
            }
        };
        copied.push(ExtensionConfig {
            extension: m.extension.clone(),
            name: m.display.clone(),
            sequence: false,
            rows: moved.rows,
            bytes: moved.bytes,
            matches,
        });
    }
    t.batch_execute("COMMIT").await.map_err(on_target(
        "commit the extensions' configuration rows".into(),
    ))?;
    Ok(copied)
}

/// Which side of one table's copy failed.
enum CopyFailure {
    Source(tokio_postgres::Error),
    Target(tokio_postgres::Error),
}

impl CopyFailure {
    fn on(self, server: &str, table: &str) -> RunError {
        match self {
            CopyFailure::Source(e) => RunError::db_plain(&format!("read {table}"), e),
            CopyFailure::Target(e) => RunError::db(server, &format!("load {table}"), e),
        }
    }
}

/// Streams one table's chosen rows from source to target, counting and hashing them.
async fn copy_rows(source: &Client, target: &Client, m: &Marked) -> Result<Moved, CopyFailure> {
    let rows = source
        .copy_out(&m.rows_sql())
        .await
        .map_err(CopyFailure::Source)?;
    let sink = target
        .copy_in(&format!("COPY {} ({}) FROM STDIN", m.name, m.column_list()))
        .await
        .map_err(CopyFailure::Target)?;
    let mut rows = pin!(rows);
    let mut sink = pin!(sink);
    let mut lines = Lines::default();
    while let Some(data) = rows.try_next().await.map_err(CopyFailure::Source)? {
        lines.feed(&data);
        sink.feed(data).await.map_err(CopyFailure::Target)?;
    }
    sink.as_mut().finish().await.map_err(CopyFailure::Target)?;
    Ok(lines.finish())
}

/// Counts and hashes the rows a `COPY … TO STDOUT` returns.
async fn read(client: &Client, sql: &str) -> Result<Moved, tokio_postgres::Error> {
    let rows = client.copy_out(sql).await?;
    let mut rows = pin!(rows);
    let mut lines = Lines::default();
    while let Some(data) = rows.try_next().await? {
        lines.feed(&data);
    }
    Ok(lines.finish())
}

/// Text-format COPY rows (a row is its line, as the data path frames them), however the
/// data is cut into messages, and their bytes.
struct Lines {
    framer: Framer,
    bytes: u64,
}

impl Default for Lines {
    fn default() -> Lines {
        Lines {
            framer: Framer::new(Format::Text, true),
            bytes: 0,
        }
    }
}

impl Lines {
    fn feed(&mut self, data: &[u8]) {
        self.bytes += data.len() as u64;
        // Text rows end at newlines: framing them has nothing to reject.
        let _ = self.framer.feed(data);
    }

    fn finish(self) -> Moved {
        Moved {
            rows: self.framer.rows(),
            bytes: self.bytes,
            digest: self.framer.digest(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marked(oid: i64, references: &[i64]) -> Marked {
        Marked {
            extension: "e".into(),
            oid,
            name: format!("t{oid}"),
            display: format!("t{oid}"),
            sequence: false,
            condition: String::new(),
            columns: Vec::new(),
            references: references.to_vec(),
        }
    }

    #[test]
    fn referenced_tables_come_first_and_a_cycle_keeps_the_order() {
        let order = |list: Vec<Marked>| -> Vec<i64> {
            referenced_first(list).iter().map(|m| m.oid).collect()
        };
        assert_eq!(
            order(vec![marked(1, &[2]), marked(2, &[3]), marked(3, &[])]),
            [3, 2, 1]
        );
        // A reference to a table that is not marked does not hold anything back.
        assert_eq!(order(vec![marked(1, &[9]), marked(2, &[])]), [1, 2]);
        assert_eq!(
            order(vec![marked(1, &[2]), marked(2, &[1]), marked(3, &[])]),
            [3, 1, 2]
        );
    }

    #[test]
    fn rows_are_counted_however_the_messages_cut_them() {
        let whole = {
            let mut l = Lines::default();
            l.feed(b"1\ta\n2\tb\\nc\n");
            l.finish()
        };
        let cut = {
            let mut l = Lines::default();
            for piece in [&b"1\t"[..], b"a\n2", b"\tb\\nc", b"\n"] {
                l.feed(piece);
            }
            l.finish()
        };
        assert_eq!(whole.rows, 2);
        assert_eq!((cut.rows, cut.bytes), (whole.rows, whole.bytes));
        assert_eq!(cut.digest, whole.digest);
    }
}
