//! `--data-only` loads with triggers and foreign keys off (`session_replication_role =
//! replica`). The source's snapshot vouches only for a key the source holds too (valid)
//! between two tables the line loads; every other foreign key of the target that holds
//! loaded rows (one into a table the line does not load: a split's other half, a table
//! the target fills itself; one the source does not have) is checked once its tables
//! are loaded, with the query the server's own check runs (the key's equality operators
//! and MATCH rule): a read, which locks nothing a reader of the target would wait for.
//! Every key is checked: the run then fails once, naming each key the rows break.

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
    /// Quoted where needed, as `regclass` quotes a table.
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
            if row.get("into_partly") {
                format!("into {pk_table}, of which this line loads only some partitions")
            } else {
                format!("into {pk_table}, which this line does not load")
            }
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
            name: row.get("shown"),
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

/// What the checks found, for the run to act on once post-data is over.
#[derive(Default)]
pub struct Findings {
    /// A key the rows break, or one `--strict` may not leave unchecked: the run fails.
    pub failed: Vec<String>,
    /// A key the role could not check (it may not read a table, row-level security):
    /// the report's skipped objects.
    pub unchecked: Vec<String>,
}

impl Findings {
    /// The run's error when a key failed: every one of them, so that one fix-up of the
    /// target answers them all (the rows stay: the report says what the target holds).
    pub fn error(&self) -> Option<RunError> {
        match self.failed.as_slice() {
            [] => None,
            [one] => Some(RunError::Refused(one.clone())),
            many => Some(RunError::Refused(format!(
                "{} foreign keys of the target fail after the --data-only load: {}",
                many.len(),
                many.iter()
                    .enumerate()
                    .map(|(i, m)| format!("({}) {m}", i + 1))
                    .collect::<Vec<_>>()
                    .join("; ")
            ))),
        }
    }
}

/// One post-data task per key, once the tables it holds rows of are loaded; what each
/// finds goes to `findings` (see [`Findings`]), so that every key is checked.
pub fn add_tasks(
    keys: Vec<KeptKey>,
    tables: &[SourceTable],
    strict: bool,
    findings: &Arc<Mutex<Findings>>,
    tasks: &mut Vec<PostTask>,
) {
    for key in keys {
        let Some(&first) = key.loaded.first() else {
            continue;
        };
        let owner = &tables[first];
        let key = Arc::new(key);
        let findings = Arc::clone(findings);
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
            completes: Vec::new(),
            batch: None,
            work: Box::new(move |client, _| {
                let key = Arc::clone(&key);
                let findings = Arc::clone(&findings);
                Box::pin(async move { check(&client, &key, strict, &findings).await })
            }),
        });
    }
}

async fn check(
    client: &tokio_postgres::Client,
    key: &KeptKey,
    strict: bool,
    findings: &Mutex<Findings>,
) -> Result<(), RunError> {
    let what = format!("foreign key {} on {}", key.name, key.fk_table);
    let found = match client.query_opt(key.query.as_str(), &[]).await {
        Ok(None) => return Ok(()),
        Ok(Some(row)) => Err(format!(
            "--data-only: the rows loaded break the target's {what} {} (the load runs \
             with triggers and foreign keys off): key {} is not present in {}",
            key.why,
            row.get::<_, String>(0),
            key.pk_table
        )),
        Err(e) => {
            // A lost session or a stop (the statement cancelled): the scheduler's to
            // handle; any other refusal of the server leaves the key unchecked.
            let why = match e.as_db_error() {
                Some(d) if *d.code() != tokio_postgres::error::SqlState::QUERY_CANCELED => {
                    d.message().to_string()
                }
                _ => return Err(RunError::db_plain("check a foreign key", e)),
            };
            if strict {
                Err(format!(
                    "--strict: cannot check the target's {what} ({}) after the --data-only \
                     load: {why}",
                    key.why
                ))
            } else {
                tracing::warn!(
                    "--data-only: the target's {what} ({}) is not checked: {why}",
                    key.why
                );
                Ok(format!(
                    "check of the target's {what} ({}; after --data-only: {why})",
                    key.why
                ))
            }
        }
    };
    let mut findings = findings.lock().unwrap_or_else(|e| e.into_inner());
    match found {
        Ok(unchecked) => findings.unchecked.push(unchecked),
        Err(failed) => {
            tracing::error!("{failed}");
            findings.failed.push(failed);
        }
    }
    Ok(())
}
