//! Large objects: read inside the snapshot, written in one target transaction (all or
//! none), owners set as on the source, and counted and hashed for the report.

use sha2::{Digest as _, Sha256};
use tokio_postgres::Client;

use pgsplit_copy::{Digest, Moved};
use pgsplit_pg::Connection;

use super::error::RunError;

/// How many large objects, their bytes, and the sum of SHA-256(oid ‖ data).
pub async fn copy(
    source: &Client,
    target: &Connection,
    set_owner: bool,
    replace: bool,
) -> Result<Moved, RunError> {
    let list = source
        .query(
            "SELECT oid::int8, pg_get_userbyid(lomowner)::text FROM pg_largeobject_metadata ORDER BY oid",
            &[],
        )
        .await
        .map_err(|e| RunError::db_plain("list large objects", e))?;
    let mut moved = Moved::default();
    if list.is_empty() {
        return Ok(moved);
    }
    let t = &target.client;
    t.batch_execute("BEGIN")
        .await
        .map_err(|e| RunError::db(&target.server, "begin the large objects", e))?;
    if replace {
        // A resumed run: a stopped run may have committed them already.
        t.batch_execute("SELECT lo_unlink(oid) FROM pg_largeobject_metadata")
            .await
            .map_err(|e| RunError::db(&target.server, "remove large objects", e))?;
    }
    for row in &list {
        let oid: i64 = row.get(0);
        let owner: String = row.get(1);
        let data: Vec<u8> = source
            .query_one("SELECT lo_get($1::int8::oid)", &[&oid])
            .await
            .map_err(|e| RunError::db_plain(&format!("read large object {oid}"), e))?
            .get(0);
        t.execute("SELECT lo_from_bytea($1::int8::oid, $2)", &[&oid, &data])
            .await
            .map_err(|e| RunError::db(&target.server, &format!("write large object {oid}"), e))?;
        if set_owner {
            t.batch_execute(&format!(
                "ALTER LARGE OBJECT {oid} OWNER TO {}",
                pgsplit_pg::quote::ident(&owner)
            ))
            .await
            .map_err(|e| {
                RunError::db(
                    &target.server,
                    &format!("set the owner of large object {oid}"),
                    e,
                )
            })?;
        }
        moved.rows += 1;
        moved.bytes += data.len() as u64;
        moved.digest.combine(&row_digest(oid, &data));
    }
    t.batch_execute("COMMIT")
        .await
        .map_err(|e| RunError::db(&target.server, "commit the large objects", e))?;
    Ok(moved)
}

/// Counts and hashes the target's large objects the same way, for verification.
pub async fn read(client: &Client) -> Result<Moved, RunError> {
    let rows = client
        .query(
            "SELECT oid::int8, lo_get(oid) FROM pg_largeobject_metadata ORDER BY oid",
            &[],
        )
        .await
        .map_err(|e| RunError::db_plain("read the target's large objects", e))?;
    let mut moved = Moved::default();
    for row in rows {
        let oid: i64 = row.get(0);
        let data: Vec<u8> = row.get(1);
        moved.rows += 1;
        moved.bytes += data.len() as u64;
        moved.digest.combine(&row_digest(oid, &data));
    }
    Ok(moved)
}

fn row_digest(oid: i64, data: &[u8]) -> Digest {
    let mut hasher = Sha256::new();
    hasher.update(oid.to_be_bytes());
    hasher.update(data);
    let mut d = Digest::ZERO;
    d.add_hash(&hasher.finalize().into());
    d
}
