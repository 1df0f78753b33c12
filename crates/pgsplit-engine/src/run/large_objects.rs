//! Large objects: read inside the snapshot, written in one target transaction (all or
//! none) with their owners, privileges and comments as on the source, and counted and
//! hashed for the report.

use sha2::{Digest as _, Sha256};
use tokio_postgres::Client;

use pgsplit_copy::{Digest, Moved};
use pgsplit_pg::Connection;
use pgsplit_pg::quote;
use pgsplit_schema::acl::{self, AclTarget};
use pgsplit_schema::model::Acl;

use super::error::RunError;

/// What to carry over besides the data.
#[derive(Clone, Copy, Debug)]
pub struct Metadata {
    pub owner: bool,
    pub privileges: bool,
    /// Privileges granted by a role other than the owner are replayed as that role,
    /// which needs a superuser; without one they are skipped with a warning.
    pub superuser: bool,
}

/// How many large objects, their bytes, and the sum of SHA-256(oid ‖ data).
pub async fn copy(
    source: &Client,
    target: &Connection,
    metadata: Metadata,
    replace: bool,
) -> Result<Moved, RunError> {
    let list = source
        .query(
            "SELECT m.oid::int8, pg_get_userbyid(m.lomowner)::text, m.lomacl::text[], \
                    acldefault('L', m.lomowner)::text[], \
                    obj_description(m.oid, 'pg_largeobject') \
               FROM pg_largeobject_metadata m ORDER BY m.oid",
            &[],
        )
        .await
        .map_err(|e| RunError::db_plain("list large objects", e))?;
    let mut moved = Moved::default();
    if list.is_empty() {
        return Ok(moved);
    }
    let t = &target.client;
    let run = |sql: String, what: String| async move {
        t.batch_execute(&sql)
            .await
            .map_err(|e| RunError::db(&target.server, &what, e))
    };
    run("BEGIN".into(), "begin the large objects".into()).await?;
    if replace {
        // A resumed run: a stopped run may have committed them already. Only the
        // source's: a `--data-only` target may hold large objects of its own.
        let oids: Vec<i64> = list.iter().map(|row| row.get(0)).collect();
        t.execute(
            "SELECT lo_unlink(oid) FROM pg_largeobject_metadata WHERE oid::int8 = ANY($1)",
            &[&oids],
        )
        .await
        .map_err(|e| RunError::db(&target.server, "remove large objects", e))?;
    }
    let mut skipped = 0usize;
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
        if metadata.owner {
            run(
                format!("ALTER LARGE OBJECT {oid} OWNER TO {}", quote::ident(&owner)),
                format!("set the owner of large object {oid}"),
            )
            .await?;
        }
        if metadata.privileges {
            let privileges = Acl {
                items: row.get(2),
                default: row.get(3),
            };
            let name = oid.to_string();
            let on = AclTarget {
                kind: "LARGE OBJECT",
                name: &name,
                column: None,
                owner: &owner,
            };
            for statement in acl::statements(&on, &privileges) {
                if statement.requires_superuser && !metadata.superuser {
                    skipped += 1;
                    continue;
                }
                run(
                    statement.sql,
                    format!("set the privileges of large object {oid}"),
                )
                .await?;
            }
        }
        if let Some(comment) = row.get::<_, Option<String>>(4) {
            run(
                format!(
                    "COMMENT ON LARGE OBJECT {oid} IS {}",
                    quote::literal(&comment)
                ),
                format!("comment on large object {oid}"),
            )
            .await?;
        }
        moved.rows += 1;
        moved.bytes += data.len() as u64;
        moved.digest.combine(&row_digest(oid, &data));
    }
    run("COMMIT".into(), "commit the large objects".into()).await?;
    if skipped > 0 {
        tracing::warn!(
            "{skipped} privilege statement(s) on large objects granted by other roles were \
             skipped: replaying them needs a superuser on the target"
        );
    }
    Ok(moved)
}

/// Counts and hashes a database's large objects the way [`copy`] does, for verification
/// (of a run's target, or of both sides by `pgsplit verify`): one object in memory at a
/// time.
pub async fn read(client: &Client) -> Result<Moved, tokio_postgres::Error> {
    let oids = client
        .query(
            "SELECT oid::int8 FROM pg_largeobject_metadata ORDER BY oid",
            &[],
        )
        .await?;
    let mut moved = Moved::default();
    for row in oids {
        let oid: i64 = row.get(0);
        let data: Vec<u8> = client
            .query_one("SELECT lo_get($1::int8::oid)", &[&oid])
            .await?
            .get(0);
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
