//! `--data-only` loads with triggers and foreign keys off (`session_replication_role =
//! replica`). The source's snapshot vouches only for a key the source holds too (valid)
//! between two tables the line loads; every other foreign key of the target that holds
//! loaded rows (one into a table the line does not load: a split's other half, a table
//! the target fills itself; one the source does not have) is checked once its tables
//! are loaded, with the query the server's own check runs (the key's equality operators
//! and MATCH rule): a read, which locks nothing a reader of the target would wait for.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use pgsplit_copy::SourceTable;
use pgsplit_pg::Connection;

use super::error::RunError;
use super::post_data::PostTask;

/// With the tables' verification: the check reads the whole table, as verification does.
const KEY_CHECK_PHASE: u8 = 3;

/// A source foreign key that held: (schema, table, name, definition).
type SourceKey = (String, String, String, String);

/// The source's valid foreign keys, as [`read`] matches the target's against them.
pub fn source_keys(catalog: &pgsplit_schema::Catalog) -> HashSet<SourceKey> {
    catalog
        .constraints
        .iter()
        .filter(|c| c.contype == "f" && c.parent == 0 && c.validated)
        .filter_map(|c| {
            let table = catalog.relation(c.table)?;
            Some((
                table.schema.clone(),
                table.name.clone(),
                c.name.clone(),
                c.definition.clone(),
            ))
        })
        .collect()
}

/// One foreign key of the target to check after the load.
#[derive(Clone, Debug)]
pub struct KeptKey {
    pub name: String,
    /// Qualified (`a.orders`), as `regclass` prints it.
    pub fk_table: String,
    pub pk_table: String,
    /// Why the load may have broken it, for the message.
    pub why: String,
    /// Finds one row breaking the key: its key values, `(a, b)=(1, 2)`.
    pub query: String,
    /// Indices of the loaded tables the check reads (the key's rows, and referenced
    /// ones the line loads too): it runs once they are all loaded.
    pub loaded: Vec<usize>,
}

/// The target's foreign keys over `tables` (what the line loads) that the source's
/// snapshot does not vouch for (`source`: [`source_keys`]).
pub async fn read(
    target: &Connection,
    tables: &[SourceTable],
    source: &HashSet<SourceKey>,
) -> Result<Vec<KeptKey>, RunError> {
    let index: HashMap<String, usize> = tables
        .iter()
        .enumerate()
        .map(|(i, t)| (t.qualified(), i))
        .collect();
    let names: Vec<&str> = index.keys().map(String::as_str).collect();
    let failed = |e| RunError::db(&target.server, "read the target's foreign keys", e);
    let saved = pgsplit_copy::tables::empty_search_path(&target.client)
        .await
        .map_err(failed)?;
    let rows = target
        .client
        .query(include_str!("kept_keys.sql"), &[&names])
        .await;
    pgsplit_copy::tables::restore_search_path(&target.client, &saved)
        .await
        .map_err(failed)?;
    let mut keys = Vec::new();
    for row in rows.map_err(failed)? {
        let name: String = row.get("name");
        let pk_table: String = row.get("pk_table");
        let why = if row.get("into_unloaded") {
            format!("into {pk_table}, which this line does not load (not all of it)")
        } else {
            let vouched = (
                row.get("fk_schema"),
                row.get("fk_name"),
                name.clone(),
                row.get("definition"),
            );
            if source.contains(&vouched) {
                continue;
            }
            format!("into {pk_table}, a key the source does not hold as the target does")
        };
        keys.push(KeptKey {
            name,
            fk_table: row.get("fk_table"),
            pk_table,
            why,
            query: row.get("query"),
            loaded: row
                .get::<_, Vec<String>>("loaded_tables")
                .iter()
                .filter_map(|n| index.get(n).copied())
                .collect(),
        });
    }
    Ok(keys)
}

/// One post-data task per key, once the tables it holds rows of are loaded. A key the
/// rows break fails the run (the rows stay: the report says what the target holds). A
/// key that cannot be checked (the role may not read a table, row-level security) fails
/// it with `strict`, else is listed in `unchecked` (the report's skipped objects).
pub fn add_tasks(
    keys: Vec<KeptKey>,
    tables: &[SourceTable],
    strict: bool,
    unchecked: &Arc<Mutex<Vec<String>>>,
    tasks: &mut Vec<PostTask>,
) {
    for key in keys {
        let Some(&first) = key.loaded.first() else {
            continue;
        };
        let owner = &tables[first];
        let key = Arc::new(key);
        let unchecked = Arc::clone(unchecked);
        tasks.push(PostTask {
            label: format!("check foreign key {} on {}", key.name, key.fk_table),
            owner: Some((owner.schema.clone(), owner.name.clone())),
            waits_for: Vec::new(),
            locks_also: key.loaded[1..]
                .iter()
                .map(|&i| (tables[i].schema.clone(), tables[i].name.clone()))
                .collect(),
            needs_loaded: key.loaded.clone(),
            phase: KEY_CHECK_PHASE,
            after: Vec::new(),
            background: false,
            detached: true,
            pipelined: false,
            batch: None,
            work: Box::new(move |client, _| {
                let key = Arc::clone(&key);
                let unchecked = Arc::clone(&unchecked);
                Box::pin(async move { check(&client, &key, strict, &unchecked).await })
            }),
        });
    }
}

async fn check(
    client: &tokio_postgres::Client,
    key: &KeptKey,
    strict: bool,
    unchecked: &Mutex<Vec<String>>,
) -> Result<(), RunError> {
    let what = format!("foreign key {} on {} {}", key.name, key.fk_table, key.why);
    match client.query_opt(key.query.as_str(), &[]).await {
        Ok(None) => Ok(()),
        Ok(Some(row)) => Err(RunError::Refused(format!(
            "--data-only: the rows loaded break the target's {what} (the load runs with \
             triggers and foreign keys off): key {} is not present in {}",
            row.get::<_, String>(0),
            key.pk_table
        ))),
        Err(e) => {
            let why = e
                .as_db_error()
                .map_or_else(|| pgsplit_pg::cause_chain(&e), |d| d.message().to_string());
            if strict {
                return Err(RunError::Refused(format!(
                    "--strict: cannot check the target's {what} after the --data-only load: \
                     {why}"
                )));
            }
            tracing::warn!("--data-only: the target's {what} is not checked: {why}");
            unchecked
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(format!(
                    "check of the target's {what} (after --data-only: {why})"
                ));
            Ok(())
        }
    }
}
