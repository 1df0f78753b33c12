//! `--data-only` loads with triggers and foreign keys off (`session_replication_role =
//! replica`). A foreign key of the target from a loaded table into one the line does not
//! load is then held by nothing: the source's snapshot vouches only for pairs of tables
//! it loads together (a split that leaves the referenced table to another target, or a
//! target whose referenced table holds other rows). Such keys are checked once their
//! tables are loaded, by the server itself: the key is dropped and added again (which
//! validates every row) in a transaction that is rolled back.

use std::collections::HashMap;
use std::sync::Arc;

use pgsplit_copy::SourceTable;
use pgsplit_pg::Connection;

use super::error::RunError;
use super::post_data::PostTask;

/// After a table's verification: the check reads the whole table, as verification does.
const KEY_CHECK_PHASE: u8 = 3;

/// One foreign key of the target to check after the load.
#[derive(Clone, Debug)]
pub struct KeptKey {
    pub name: String,
    /// Qualified and quoted (`"a"."orders"`), as `regclass` prints it.
    pub fk_table: String,
    pub pk_table: String,
    /// `FOREIGN KEY (…) REFERENCES …` as the server gives it back.
    pub definition: String,
    /// Indices of the loaded tables the key holds rows of.
    pub loaded: Vec<usize>,
}

/// The target's foreign keys from `tables` (what the line loads) into tables it does not
/// load.
pub async fn read(target: &Connection, tables: &[SourceTable]) -> Result<Vec<KeptKey>, RunError> {
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
    Ok(rows
        .map_err(failed)?
        .iter()
        .map(|row| KeptKey {
            name: row.get("name"),
            fk_table: row.get("fk_table"),
            pk_table: row.get("pk_table"),
            definition: row.get("definition"),
            loaded: row
                .get::<_, Vec<String>>("loaded_tables")
                .iter()
                .filter_map(|n| index.get(n).copied())
                .collect(),
        })
        .collect())
}

/// One post-data task per key, once the tables it holds rows of are loaded. A key the
/// rows break fails the run (the rows stay: the report says what the target holds); a
/// key the target role may not drop (another owner) is reported and left unchecked.
pub fn add_tasks(keys: Vec<KeptKey>, tables: &[SourceTable], tasks: &mut Vec<PostTask>) {
    for key in keys {
        let Some(&first) = key.loaded.first() else {
            continue;
        };
        let owner = &tables[first];
        let key = Arc::new(key);
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
                Box::pin(async move { check(&client, &key).await })
            }),
        });
    }
}

async fn check(client: &tokio_postgres::Client, key: &KeptKey) -> Result<(), RunError> {
    let name = pgsplit_pg::quote::ident(&key.name);
    let checked = async {
        client.batch_execute("BEGIN").await?;
        client
            .batch_execute(&format!(
                "ALTER TABLE {t} DROP CONSTRAINT {name}; \
                 ALTER TABLE {t} ADD CONSTRAINT {name} {def}",
                t = key.fk_table,
                def = key.definition
            ))
            .await
    }
    .await;
    client
        .batch_execute("ROLLBACK")
        .await
        .map_err(|e| RunError::db_plain("roll back a foreign key check", e))?;
    let Err(e) = checked else {
        return Ok(());
    };
    let Some(db) = e.as_db_error() else {
        return Err(RunError::db_plain(
            &format!("check foreign key {name} on {}", key.fk_table),
            e,
        ));
    };
    if db.code() == &tokio_postgres::error::SqlState::FOREIGN_KEY_VIOLATION {
        return Err(RunError::Refused(format!(
            "--data-only: the rows loaded into {} break the target's foreign key {} into {}, \
             which this line does not load (the load runs with triggers and foreign keys \
             off): {}",
            key.fk_table,
            key.name,
            key.pk_table,
            db.detail().unwrap_or(db.message())
        )));
    }
    tracing::warn!(
        "--data-only: foreign key {} on {} into {} (a table this line does not load) is \
         not checked: {}",
        key.name,
        key.fk_table,
        key.pk_table,
        db.message()
    );
    Ok(())
}
