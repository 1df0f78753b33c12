//! Opening connections for a run: the user's settings plus the defaults a batch tool
//! needs (a connect timeout, so that an unreachable server fails instead of hanging).

use std::time::Duration;

use pgsplit_pg::{ConnSettings, ConnectFailure, Connection};

/// Used when neither the URL nor `PGCONNECT_TIMEOUT` sets one.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

pub async fn open(settings: &ConnSettings) -> Result<Connection, ConnectFailure> {
    pgsplit_pg::connect(&with_defaults(settings)).await
}

/// The user's settings plus a connect timeout when they set none.
pub fn with_defaults(settings: &ConnSettings) -> ConnSettings {
    let mut settings = settings.clone();
    settings
        .connect_timeout
        .get_or_insert(DEFAULT_CONNECT_TIMEOUT);
    settings
}

/// [`crate::mapping::Mapping::by_source`], with groups whose sources turn out to be one
/// database of one running server merged: a database reached through two addresses (a
/// host name and its IP address, TCP and a socket) is one source, copied from one
/// snapshot, its lines' shards checked together. Asked of each group's first source
/// over a short connection; one that cannot be reached stays a group of its own (the run
/// says why).
pub async fn by_source_database(mapping: &crate::mapping::Mapping) -> Vec<Vec<usize>> {
    let groups = mapping.by_source();
    if groups.len() < 2 {
        return groups;
    }
    let identities = futures::future::join_all(
        groups
            .iter()
            .map(|g| running_database(&mapping.lines[g[0]].source)),
    )
    .await;
    let mut merged: Vec<(Option<String>, Vec<usize>)> = Vec::new();
    for (identity, group) in identities.into_iter().zip(groups) {
        match merged
            .iter_mut()
            .find(|(seen, _)| identity.is_some() && *seen == identity)
        {
            Some((_, lines)) => {
                tracing::info!(
                    "lines {:?} read the database of line {} through another address: one \
                     source, one snapshot",
                    group
                        .iter()
                        .map(|&i| mapping.lines[i].line)
                        .collect::<Vec<_>>(),
                    mapping.lines[lines[0]].line
                );
                lines.extend(group);
                lines.sort_unstable();
            }
            None => merged.push((identity, group)),
        }
    }
    merged.into_iter().map(|(_, lines)| lines).collect()
}

/// The database `settings` reach, as one of one running server: the cluster's system
/// identifier, the server's start time (a standby shares the identifier, not the start)
/// and the database's OID. `None` when it cannot be told.
async fn running_database(settings: &ConnSettings) -> Option<String> {
    let conn = open(settings).await.ok()?;
    conn.client
        .query_one(
            "SELECT (SELECT system_identifier::text FROM pg_catalog.pg_control_system()) \
                    || '/' || pg_catalog.pg_postmaster_start_time()::text || '/' || d.oid::text \
             FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database()",
            &[],
        )
        .await
        .ok()?
        .get(0)
}

/// Lines whose target is the target of an earlier line reached through another address
/// (a host name and its IP address, TCP and a socket): `(line, earlier line)`. The
/// mapping check compares spellings; this asks each target's server (its start time and
/// port, which need no privilege) over a short connection, to the target database or,
/// while it does not exist, the maintenance database. A target that cannot be reached is
/// left to the run to report.
pub async fn targets_reached_twice(mapping: &crate::mapping::Mapping) -> Vec<(usize, usize)> {
    use futures::StreamExt;
    if mapping.lines.len() < 2 {
        return Vec::new();
    }
    let identities: Vec<Option<String>> = futures::stream::iter(&mapping.lines)
        .map(|line| target_identity(&line.target))
        .buffered(16)
        .collect()
        .await;
    let mut twice = Vec::new();
    for (at, identity) in identities.iter().enumerate() {
        let Some(identity) = identity else { continue };
        if let Some(earlier) = identities[..at]
            .iter()
            .position(|other| other.as_ref() == Some(identity))
        {
            twice.push((mapping.lines[at].line, mapping.lines[earlier].line));
        }
    }
    twice
}

async fn target_identity(settings: &ConnSettings) -> Option<String> {
    // A short look: a target that does not answer soon is the run's to report.
    let mut quick = with_defaults(settings);
    quick.connect_timeout = quick.connect_timeout.map(|t| t.min(PROBE_TIMEOUT));
    let (conn, database) = match pgsplit_pg::connect(&quick).await {
        Ok(conn) => (conn, None),
        Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::INVALID_CATALOG_NAME) => {
            let conn = pgsplit_pg::connect(&maintenance_db(&quick)).await.ok()?;
            (conn, Some(settings.dbname.clone()))
        }
        Err(_) => return None,
    };
    // The database as the server names it (a pooler may call it otherwise); the
    // server by its start (not as text: that depends on the session's time zone) and
    // port.
    let row = conn
        .client
        .query_one(
            "SELECT extract(epoch FROM pg_catalog.pg_postmaster_start_time())::text || ' ' || \
                    pg_catalog.current_setting('port'), pg_catalog.current_database()::text",
            &[],
        )
        .await
        .ok()?;
    let server: String = row.get(0);
    Some(format!(
        "{server} {}",
        database.unwrap_or_else(|| row.get(1))
    ))
}

/// How long [`targets_reached_twice`] waits for a target to answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// The database that always exists, to create the target database from.
pub fn maintenance_db(settings: &ConnSettings) -> ConnSettings {
    settings.with_dbname("postgres")
}

/// Whether the session's role is a superuser.
pub async fn is_superuser(client: &tokio_postgres::Client) -> Result<bool, tokio_postgres::Error> {
    Ok(client
        .query_one(
            "SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user",
            &[],
        )
        .await?
        .get(0))
}

/// The server's `server_version_num` (150004 for 15.4).
pub async fn server_version(client: &tokio_postgres::Client) -> Result<i32, tokio_postgres::Error> {
    Ok(client
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .await?
        .get(0))
}

/// The `server_version_num` of `target`'s server, asked of its database or, while that
/// does not exist, of the maintenance database.
pub async fn target_version(target: &ConnSettings) -> Result<i32, crate::run::RunError> {
    let conn = match open(target).await {
        Ok(conn) => conn,
        Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::INVALID_CATALOG_NAME) => {
            open(&maintenance_db(target)).await?
        }
        Err(e) => return Err(e.into()),
    };
    server_version(&conn.client)
        .await
        .map_err(|e| crate::run::RunError::db(&conn.server, "read the server version", e))
}

/// Lock table entries a run or a verification may take to lock every table up front:
/// half of what the server's shared lock table holds (`max_locks_per_transaction` per
/// possible process) less the entries in use, so that its other sessions keep room.
pub async fn free_lock_slots(
    client: &tokio_postgres::Client,
) -> Result<i64, tokio_postgres::Error> {
    let row = client
        .query_one(
            "SELECT (current_setting('max_locks_per_transaction')::int8 \
                     * (current_setting('max_connections')::int8 \
                        + current_setting('max_prepared_transactions')::int8 \
                        + current_setting('max_worker_processes')::int8 \
                        + current_setting('autovacuum_max_workers')::int8 \
                        + current_setting('max_wal_senders')::int8 + 1)) / 2 \
                    - (SELECT count(*) FROM pg_catalog.pg_locks)",
            &[],
        )
        .await?;
    Ok(row.get(0))
}

/// Whether `conn` can import the source's exported `snapshot`, which only a session of
/// the same database on the same server can: then it is the source, whatever its
/// address says. Any error (another server: "invalid snapshot identifier"; another
/// database of the same server) means another database. Leaves no transaction open.
pub async fn is_the_source(conn: &Connection, snapshot: &str) -> bool {
    let imported = pgsplit_copy::snapshot::import(&conn.client, snapshot).await;
    let _ = conn.client.batch_execute("ROLLBACK").await;
    if let Err(e) = &imported {
        tracing::debug!("{}: not the source ({e})", conn.server);
    }
    imported.is_ok()
}
