//! One consistent moment of the source: the leader exports a snapshot and keeps its
//! transaction open; every worker imports it before its first read.

use tokio_postgres::Client;

use pgsplit_pg::quote;

/// Opens the leader's transaction and exports its snapshot. The snapshot lives as long
/// as this client stays in the transaction: keep it until every worker has imported it.
pub async fn export(leader: &Client) -> Result<String, tokio_postgres::Error> {
    leader
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .await?;
    let row = leader.query_one("SELECT pg_export_snapshot()", &[]).await?;
    Ok(row.get(0))
}

/// Starts a worker's read-only transaction at the exported snapshot.
pub async fn import(worker: &Client, snapshot: &str) -> Result<(), tokio_postgres::Error> {
    worker.batch_execute(&import_sql(snapshot)).await
}

/// The statements that start a read-only transaction at an exported snapshot.
pub fn import_sql(snapshot: &str) -> String {
    format!(
        "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET TRANSACTION SNAPSHOT {}",
        quote::literal(snapshot)
    )
}

/// Starts a worker's read-only transaction at a fresh snapshot of its own (when no
/// exported snapshot can be shared, e.g. `verify` on one table at a time).
pub async fn begin_read_only(worker: &Client) -> Result<(), tokio_postgres::Error> {
    worker
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .await
}
