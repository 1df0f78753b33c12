//! Round trips: a source database's schema, introspected and rendered by pgsplit and
//! applied to an empty database, must dump (`pg_dump --schema-only`) exactly like the
//! source.

use std::path::{Path, PathBuf};
use std::process::Command;

use pgsplit_pg::testing::{self, Cluster, TestDb};
use pgsplit_schema::{Ddl, SchemaOptions};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// `/work/shared/corpora` (the repository's sibling `shared`), if present.
fn corpora() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora");
    dir.is_dir().then_some(dir)
}

async fn client(db: &TestDb<'_>) -> tokio_postgres::Client {
    pgsplit_pg::connect(&db.settings())
        .await
        .expect("connect")
        .client
}

/// Reads `source`, renders its DDL and applies pre-data then post-data to `target`.
async fn copy_schema(source: &TestDb<'_>, target: &TestDb<'_>, options: &SchemaOptions) -> Ddl {
    let src = client(source).await;
    let catalog = pgsplit_schema::introspect(&src).await.expect("introspect");
    let ddl = catalog.render(options);
    let dst = client(target).await;
    dst.batch_execute(Ddl::SESSION_SETUP)
        .await
        .expect("session setup");
    for (section, list) in [("pre-data", &ddl.pre_data), ("post-data", &ddl.post_data)] {
        for s in list {
            if let Err(e) = dst.batch_execute(&s.sql).await {
                panic!(
                    "{section} statement for {} failed: {}\n{}",
                    s.identity,
                    pgsplit_pg::cause_chain(&e),
                    s.sql
                );
            }
        }
    }
    ddl
}

fn pg_dump(db: &TestDb<'_>) -> String {
    let cluster = db.cluster;
    let out = Command::new(cluster.binaries().client("pg_dump"))
        .args([
            "--schema-only",
            "-h",
            "127.0.0.1",
            "-p",
            &cluster.port().to_string(),
        ])
        .args(["-U", "postgres", "-d", &db.name])
        .env("PGSSLMODE", "disable")
        .output()
        .expect("run pg_dump");
    assert!(
        out.status.success(),
        "pg_dump failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn assert_same_dump(source: &TestDb<'_>, target: &TestDb<'_>) {
    let a = pg_dump(source);
    let b = pg_dump(target);
    if a == b {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (pa, pb) = (dir.path().join("source.sql"), dir.path().join("target.sql"));
    std::fs::write(&pa, &a).expect("write dump");
    std::fs::write(&pb, &b).expect("write dump");
    let diff = Command::new("diff")
        .arg("-u")
        .arg(&pa)
        .arg(&pb)
        .output()
        .expect("run diff");
    panic!(
        "pg_dump --schema-only of source and target differ:\n{}",
        String::from_utf8_lossy(&diff.stdout)
    );
}

fn load(db: &TestDb<'_>, files: &[PathBuf]) {
    for f in files {
        db.psql_file(f)
            .unwrap_or_else(|e| panic!("load {}: {e}", f.display()));
    }
}

async fn roundtrip(cluster: &Cluster, hint: &str, files: &[PathBuf]) {
    let source = cluster.create_db(hint);
    load(&source, files);
    let target = cluster.create_db(&format!("{hint}_copy"));
    copy_schema(&source, &target, &SchemaOptions::default()).await;
    assert_same_dump(&source, &target);
}

#[tokio::test]
async fn fixture_all_kinds_round_trips() {
    roundtrip(testing::shared(), "kinds", &[fixture("kinds.sql")]).await;
}

#[tokio::test]
async fn fixture_extensions_round_trip() {
    roundtrip(testing::shared(), "exts", &[fixture("extensions.sql")]).await;
}

#[tokio::test]
async fn corpus_pagila_round_trips() {
    let Some(dir) = corpora() else {
        eprintln!("skipping: no shared corpora folder next to the repository");
        return;
    };
    roundtrip(
        testing::shared(),
        "pagila",
        &[dir.join("pagila/pagila-schema.sql")],
    )
    .await;
}

#[tokio::test]
async fn corpus_northwind_round_trips() {
    let Some(dir) = corpora() else {
        eprintln!("skipping: no shared corpora folder next to the repository");
        return;
    };
    roundtrip(
        testing::shared(),
        "northwind",
        &[dir.join("northwind/northwind.sql")],
    )
    .await;
}

#[tokio::test]
async fn corpus_adventureworks_round_trips() {
    let Some(dir) = corpora() else {
        eprintln!("skipping: no shared corpora folder next to the repository");
        return;
    };
    roundtrip(
        testing::shared(),
        "adventureworks",
        &[dir.join("adventureworks/install-schema-only.sql")],
    )
    .await;
}

/// The Chinook scripts create and `\c` into their own database: load them into ours.
fn chinook_script(path: &Path) -> tempfile::NamedTempFile {
    let text = std::fs::read_to_string(path).expect("read chinook script");
    let kept: String = text
        .lines()
        .filter(|l| {
            let t = l.trim_start();
            !(t.starts_with("DROP DATABASE")
                || t.starts_with("CREATE DATABASE")
                || t.starts_with("\\c "))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), kept).expect("write script");
    file
}

#[tokio::test]
async fn corpus_chinook_round_trips() {
    let Some(dir) = corpora() else {
        eprintln!("skipping: no shared corpora folder next to the repository");
        return;
    };
    for variant in [
        "Chinook_PostgreSql.sql",
        "Chinook_PostgreSql_AutoIncrementPKs.sql",
        "Chinook_PostgreSql_SerialPKs.sql",
    ] {
        let script = chinook_script(&dir.join("chinook").join(variant));
        roundtrip(testing::shared(), "chinook", &[script.path().to_path_buf()]).await;
    }
}
