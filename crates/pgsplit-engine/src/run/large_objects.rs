//! Large objects: read inside the snapshot, written in target transactions of up to
//! [`PER_TRANSACTION`] objects with their owners, privileges and comments as on the
//! source, and counted and hashed for the report.

use sha2::{Digest as _, Sha256};
use tokio_postgres::{Client, Row};

use pgsplit_copy::Moved;
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

/// Large objects per target transaction, at most: each one's owner, grants and comment
/// lock it until the commit, and the server's lock table is shared and bounded (tens of
/// thousands of objects in one transaction ran it out: "out of shared memory"). Fewer
/// when the target's lock table has less room (see [`per_transaction`]).
const PER_TRANSACTION: usize = 1000;

/// Objects per target transaction: [`PER_TRANSACTION`], or half the lock table entries
/// the target has free for one session if that is fewer (at least [`GROUP`]).
async fn per_transaction(target: &Connection) -> Result<usize, RunError> {
    let free = crate::session::free_lock_slots(&target.client)
        .await
        .map_err(|e| RunError::db(&target.server, "read the lock table's size", e))?;
    Ok(usize::try_from(free / 2)
        .unwrap_or(0)
        .clamp(GROUP, PER_TRANSACTION))
}

/// Large objects read with one query and written with one message: a round trip per
/// group instead of several per object, which is what many small objects wait for.
const GROUP: usize = 64;

/// Bytes of each object read with its group; the rest of a longer one follows in
/// [`PIECE`]s. A group holds at most `GROUP` × this in memory (twice, as hex).
const FIRST_PIECE: i32 = 256 * 1024;

/// Bytes of one large object read or written at a time after the first: objects of
/// any size (a bytea value, and so one `lo_get`, stops at 1 GB) in bounded memory.
const PIECE: i32 = 16 * 1024 * 1024;

/// The first [`FIRST_PIECE`] bytes of each of `oids`, in their order.
async fn first_pieces(
    client: &Client,
    oids: &[i64],
) -> Result<Vec<Vec<u8>>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT lo_get(o.oid::oid, 0, $2) FROM unnest($1::int8[]) WITH ORDINALITY AS o(oid, n) \
              ORDER BY o.n",
            &[&oids, &FIRST_PIECE],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Reads what follows the first piece of a long object, a piece at a time, until one
/// comes back short; `each` gets every piece and its offset.
async fn rest_of<E>(
    client: &Client,
    oid: i64,
    mut each: impl AsyncFnMut(i64, Vec<u8>) -> Result<(), E>,
    read_error: impl Fn(tokio_postgres::Error) -> E,
) -> Result<u64, E> {
    let mut offset = i64::from(FIRST_PIECE);
    loop {
        let piece: Vec<u8> = client
            .query_one(
                "SELECT lo_get($1::int8::oid, $2, $3)",
                &[&oid, &offset, &PIECE],
            )
            .await
            .map_err(&read_error)?
            .get(0);
        let len = piece.len();
        if len > 0 {
            each(offset, piece).await?;
        }
        offset += len as i64;
        if len < PIECE as usize {
            return Ok(offset as u64);
        }
    }
}

fn hex(data: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(data.len() * 2);
    for &b in data {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

/// The source's large objects (oid, owner, privileges, default privileges, comment),
/// in oid order: what [`copy`] takes.
pub async fn list(source: &Client) -> Result<Vec<Row>, RunError> {
    source
        .query(
            "SELECT m.oid::int8, pg_get_userbyid(m.lomowner)::text, m.lomacl::text[], \
                    acldefault('L', m.lomowner)::text[], \
                    obj_description(m.oid, 'pg_largeobject') \
               FROM pg_largeobject_metadata m ORDER BY m.oid",
            &[],
        )
        .await
        .map_err(|e| RunError::db_plain("list large objects", e))
}

/// Copies the large objects [`list`] found: how many, their bytes, and the sum of
/// SHA-256(oid ‖ data). A stop ends it between two transactions.
pub async fn copy(
    source: &Client,
    target: &Connection,
    list: &[Row],
    metadata: Metadata,
    replace: bool,
    cancel: &crate::cancel::Cancel,
) -> Result<Moved, RunError> {
    let mut moved = Moved::default();
    let t = &target.client;
    let run = |sql: String, what: &'static str| async move {
        t.batch_execute(&sql)
            .await
            .map_err(|e| RunError::db(&target.server, what, e))
    };
    let mut skipped = 0usize;
    let per_transaction = per_transaction(target).await?;
    for batch in list.chunks(per_transaction) {
        if cancel.is_cancelled() {
            return Err(RunError::Interrupted);
        }
        run("BEGIN".into(), "begin the large objects").await?;
        if replace {
            // A resumed run: a stopped run may have committed them already. Only the
            // source's: a `--data-only` target may hold large objects of its own.
            let oids: Vec<i64> = batch.iter().map(|row| row.get(0)).collect();
            t.execute(
                "SELECT lo_unlink(oid) FROM pg_largeobject_metadata WHERE oid::int8 = ANY($1)",
                &[&oids],
            )
            .await
            .map_err(|e| RunError::db(&target.server, "remove large objects", e))?;
        }
        for group in batch.chunks(GROUP) {
            let oids: Vec<i64> = group.iter().map(|row| row.get(0)).collect();
            let firsts = first_pieces(source, &oids)
                .await
                .map_err(|e| RunError::db_plain("read large objects", e))?;
            let mut sql = String::new();
            for (row, first) in group.iter().zip(firsts) {
                let oid: i64 = row.get(0);
                let owner: String = row.get(1);
                let mut hasher = Sha256::new();
                hasher.update(oid.to_be_bytes());
                hasher.update(&first);
                sql.push_str(&format!(
                    "SELECT pg_catalog.lo_from_bytea({oid}, pg_catalog.decode('{}', 'hex'));\n",
                    hex(&first)
                ));
                let mut bytes = first.len() as u64;
                if first.len() == FIRST_PIECE as usize {
                    // A long one: what is queued goes first, then the rest piece by piece.
                    run(std::mem::take(&mut sql), "write large objects").await?;
                    bytes = rest_of(
                        source,
                        oid,
                        async |offset, piece| {
                            hasher.update(&piece);
                            t.execute(
                                "SELECT lo_put($1::int8::oid, $2, $3)",
                                &[&oid, &offset, &piece],
                            )
                            .await
                            .map(|_| ())
                            .map_err(|e| RunError::db(&target.server, "write a large object", e))
                        },
                        |e| RunError::db_plain(&format!("read large object {oid}"), e),
                    )
                    .await?;
                }
                if metadata.owner {
                    sql.push_str(&format!(
                        "ALTER LARGE OBJECT {oid} OWNER TO {};\n",
                        quote::ident(&owner)
                    ));
                }
                if metadata.privileges {
                    let privileges = Acl {
                        items: row.get(2),
                        default: row.get(3),
                        builtin: None,
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
                        sql.push_str(&statement.sql);
                        sql.push_str(";\n");
                    }
                }
                if let Some(comment) = row.get::<_, Option<String>>(4) {
                    sql.push_str(&format!(
                        "COMMENT ON LARGE OBJECT {oid} IS {};\n",
                        quote::literal(&comment)
                    ));
                }
                moved.rows += 1;
                moved.bytes += bytes;
                moved.digest.add_hash(&hasher.finalize().into());
            }
            if !sql.is_empty() {
                run(
                    sql,
                    "write large objects and their owners, privileges and comments",
                )
                .await?;
            }
        }
        run("COMMIT".into(), "commit the large objects").await?;
        crate::fault::point("large_objects_committed");
    }
    if skipped > 0 {
        tracing::warn!(
            "{skipped} privilege statement(s) on large objects granted by other roles were \
             skipped: replaying them needs a superuser on the target"
        );
    }
    Ok(moved)
}

/// Counts and hashes a database's large objects the way [`copy`] does, for verification
/// (of a run's target, or of both sides by `pgsplit verify`): a group's first pieces or
/// one later piece in memory at a time.
pub async fn read(client: &Client) -> Result<Moved, tokio_postgres::Error> {
    let oids: Vec<i64> = client
        .query(
            "SELECT oid::int8 FROM pg_largeobject_metadata ORDER BY oid",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut moved = Moved::default();
    for group in oids.chunks(GROUP) {
        let firsts = first_pieces(client, group).await?;
        for (&oid, first) in group.iter().zip(firsts) {
            let mut hasher = Sha256::new();
            hasher.update(oid.to_be_bytes());
            hasher.update(&first);
            let mut bytes = first.len() as u64;
            if first.len() == FIRST_PIECE as usize {
                bytes = rest_of(
                    client,
                    oid,
                    async |_, piece| {
                        hasher.update(&piece);
                        Ok(())
                    },
                    |e| e,
                )
                .await?;
            }
            moved.rows += 1;
            moved.bytes += bytes;
            moved.digest.add_hash(&hasher.finalize().into());
        }
    }
    Ok(moved)
}
