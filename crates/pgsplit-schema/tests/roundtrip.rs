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

fn assert_same_dump(source: &TestDb<'_>, target: &TestDb<'_>) {
    let a = testing::pg_dump(source, &["--schema-only"]);
    let b = testing::pg_dump(target, &["--schema-only"]);
    assert!(
        a == b,
        "pg_dump --schema-only of source and target differ:\n{}",
        testing::diff(&a, &b)
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
    roundtrip(
        testing::shared(),
        "kinds",
        &[fixture("kinds.sql"), fixture("kinds_pg15.sql")],
    )
    .await;
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

/// Every object with its `pg_get_*def` text (tests/fixtures/inventory.sql).
fn inventory(db: &TestDb<'_>) -> String {
    db.psql_file(&fixture("inventory.sql"))
        .unwrap_or_else(|e| panic!("inventory: {e}"))
}

/// Creates the roles the schema names that the target cluster lacks.
async fn create_roles(source: &TestDb<'_>, target: &TestDb<'_>) {
    let catalog = pgsplit_schema::introspect(&client(source).await)
        .await
        .expect("introspect");
    // Roles named pg_* are the server's own (pg_database_owner, …): never created.
    for role in catalog
        .referenced_roles()
        .into_iter()
        .filter(|r| !r.starts_with("pg_"))
    {
        let quoted = pgsplit_pg::quote::ident(&role);
        target.psql(&format!(
            "DO $$ BEGIN CREATE ROLE {quoted}; EXCEPTION WHEN duplicate_object THEN NULL; END $$"
        ));
    }
}

/// Known, explained differences between a PostgreSQL 13 or 14 source and a 17 target, applied
/// to both inventories before they are compared:
/// - the `public` schema belongs to `pg_database_owner` from 15 on (initdb's choice, not
///   the copy's), and its initial ACL differs accordingly;
/// - 17 adds the MAINTAIN privilege (`m`) to a table owner's default privileges, so an
///   owner's explicit ACL item reads `arwdDxtm` where 14 reads `arwdDxt`;
/// - `pg_get_viewdef` of 16 and later leaves out the table qualifier of columns when the
///   query reads one table (`SELECT mood` where 14 prints `SELECT customer.mood`): view
///   definitions are compared without qualifiers.
fn normalize_to_17(text: &str) -> String {
    let mut in_view = false;
    text.lines()
        .map(|l| {
            if let Some((kind, _)) = l.split_once('|')
                && !kind.is_empty()
                && !kind.starts_with(' ')
                && kind.chars().all(|c| c.is_ascii_lowercase() || c == ' ')
            {
                in_view = kind == "view";
            }
            let l = if in_view {
                strip_qualifiers(l)
            } else {
                l.to_string()
            };
            let l = l.replace("arwdDxtm/", "arwdDxt/");
            if l.starts_with("schema|public|") {
                "schema|public|(initdb's)".to_string()
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn assert_same_text(what: &str, a: &str, b: &str) {
    if a == b {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (pa, pb) = (dir.path().join("source"), dir.path().join("target"));
    std::fs::write(&pa, a).expect("write");
    std::fs::write(&pb, b).expect("write");
    let diff = Command::new("diff")
        .arg("-u")
        .arg(&pa)
        .arg(&pb)
        .output()
        .expect("run diff");
    panic!("{what} differ:\n{}", String::from_utf8_lossy(&diff.stdout));
}

#[tokio::test]
async fn cross_version_14_to_17_inventory_matches() {
    let source = testing::shared_version(14).create_db("xv_source");
    load(&source, &[fixture("kinds.sql"), fixture("extensions.sql")]);
    let target = testing::shared_version(17).create_db("xv_target");
    create_roles(&source, &target).await;
    copy_schema(&source, &target, &SchemaOptions::default()).await;
    assert_same_text(
        "object inventories of the 14 source and the 17 target",
        &normalize_to_17(&inventory(&source)),
        &normalize_to_17(&inventory(&target)),
    );
}

/// The all-kinds fixtures (17's kinds included) in a database `{hint}_source` of
/// `source_major`, its schema copied into `{hint}_target` of `target_major`.
async fn copy_all_kinds(
    source_major: u32,
    target_major: u32,
    hint: &str,
) -> (TestDb<'static>, TestDb<'static>) {
    let source = testing::shared_version(source_major).create_db(&format!("{hint}_source"));
    load(
        &source,
        &[
            fixture("kinds.sql"),
            fixture("kinds_pg15.sql"),
            fixture("kinds_pg17.sql"),
            fixture("extensions.sql"),
        ],
    );
    let target = testing::shared_version(target_major).create_db(&format!("{hint}_target"));
    create_roles(&source, &target).await;
    copy_schema(&source, &target, &SchemaOptions::default()).await;
    (source, target)
}

#[tokio::test]
async fn cross_version_17_to_18_inventory_matches() {
    let (source, target) = copy_all_kinds(17, 18, "xv18").await;
    assert_same_text(
        "object inventories of the 17 source and the 18 target",
        &inventory(&source),
        &inventory(&target),
    );
    assert_same_text(
        "domain NOT NULL constraints of the 17 source and the 18 target",
        &source.psql(DOMAIN_NOT_NULLS),
        &target.psql(DOMAIN_NOT_NULLS),
    );
}

/// Every NOT NULL constraint of user tables with its name and state (PostgreSQL 18+;
/// the inventory leaves them out, as 17 has none to compare).
const NOT_NULLS: &str = "SELECT string_agg(format('%s.%s %s local=%s inh=%s', c.conrelid::regclass, \
    c.conname, pg_get_constraintdef(c.oid), c.conislocal, c.coninhcount), E'\\n' \
    ORDER BY c.conrelid::regclass::text, c.conname) FROM pg_constraint c \
    WHERE c.contype = 'n' AND c.conrelid >= 16384";

/// Every NOT NULL constraint of user domains with its name and comment (PostgreSQL 17+;
/// the inventory leaves them out, as 14 has none to compare).
const DOMAIN_NOT_NULLS: &str = "SELECT string_agg(format('%s %s %s comment=%s', c.contypid::regtype, \
    c.conname, pg_get_constraintdef(c.oid), obj_description(c.oid, 'pg_constraint')), E'\\n' \
    ORDER BY c.contypid::regtype::text, c.conname) FROM pg_constraint c \
    WHERE c.contype = 'n' AND c.contypid >= 16384";

#[tokio::test]
async fn same_version_18_inventory_matches() {
    let (source, target) = copy_all_kinds(18, 18, "sv18").await;
    assert_same_text(
        "object inventories of the 18 source and the 18 target",
        &inventory(&source),
        &inventory(&target),
    );
    assert_same_text(
        "NOT NULL constraints of the 18 source and the 18 target",
        &source.psql(NOT_NULLS),
        &target.psql(NOT_NULLS),
    );
    assert_same_text(
        "domain NOT NULL constraints of the 18 source and the 18 target",
        &source.psql(DOMAIN_NOT_NULLS),
        &target.psql(DOMAIN_NOT_NULLS),
    );
}

/// `a.b` → `b` for lower-case identifiers `a`.
fn strip_qualifiers(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let starts_word = (chars[i].is_ascii_lowercase() || chars[i] == '_')
            && (i == 0 || !(chars[i - 1].is_ascii_alphanumeric() || chars[i - 1] == '_'));
        if starts_word {
            let mut j = i;
            while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
                j += 1;
            }
            if j < chars.len()
                && chars[j] == '.'
                && j + 1 < chars.len()
                && chars[j + 1].is_ascii_lowercase()
            {
                i = j + 1;
                continue;
            }
            out.extend(&chars[i..j]);
            i = j;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// `tables` tables with 3 indexes each (primary key and two more), a foreign key on
/// every other table, and half as many functions as tables.
fn scale_schema(tables: usize) -> String {
    format!(
        r#"
DO $$
BEGIN
  FOR i IN 1..{tables} LOOP
    EXECUTE format('CREATE TABLE public.t%s (id serial PRIMARY KEY, a int NOT NULL, b text,
                    c timestamptz DEFAULT now(), d jsonb, e numeric(12,2) CHECK (e >= 0))', i);
    EXECUTE format('CREATE INDEX t%s_a ON public.t%s (a)', i, i);
    EXECUTE format('CREATE INDEX t%s_b ON public.t%s (lower(b)) WHERE b IS NOT NULL', i, i);
    EXECUTE format('COMMENT ON TABLE public.t%s IS %L', i, 'table ' || i);
    IF i % 2 = 0 THEN
      EXECUTE format('ALTER TABLE public.t%s ADD FOREIGN KEY (a) REFERENCES public.t%s (id)', i, i - 1);
    END IF;
  END LOOP;
  FOR i IN 1..{functions} LOOP
    EXECUTE format('CREATE FUNCTION public.f%s(x int) RETURNS int LANGUAGE plpgsql AS %L', i,
                   'BEGIN RETURN x + ' || i || '; END');
  END LOOP;
END $$;
"#,
        functions = tables / 2
    )
}

/// Reads and renders a schema of `tables` tables; returns (introspect, render) time.
async fn time_scale(tables: usize) -> (std::time::Duration, std::time::Duration, usize) {
    let db = testing::shared().create_db(&format!("scale_{tables}"));
    db.psql(&scale_schema(tables));
    let c = client(&db).await;
    let start = std::time::Instant::now();
    let catalog = pgsplit_schema::introspect(&c).await.expect("introspect");
    let read = start.elapsed();
    let start = std::time::Instant::now();
    let ddl = catalog.render(&SchemaOptions::default());
    let render = start.elapsed();
    let plain = catalog
        .relations
        .iter()
        .filter(|r| r.relkind == "r")
        .count();
    assert_eq!(plain, tables);
    (read, render, ddl.pre_data.len() + ddl.post_data.len())
}

#[tokio::test]
async fn scale_100_tables_reads_and_renders_quickly() {
    let (read, render, statements) = time_scale(100).await;
    eprintln!(
        "100 tables, 300 indexes, 50 functions: introspect {read:?}, render {render:?}, {statements} statements"
    );
    assert!(read + render < std::time::Duration::from_secs(10));
}

/// `cargo test -p pgsplit-schema --test roundtrip scale_ -- --nocapture` prints the times.
#[tokio::test]
async fn scale_1000_tables_reads_and_renders_quickly() {
    let (read, render, statements) = time_scale(1000).await;
    eprintln!(
        "1000 tables, 3000 indexes, 500 functions: introspect {read:?}, render {render:?}, {statements} statements"
    );
    assert!(read + render < std::time::Duration::from_secs(30));
}

#[tokio::test]
async fn options_leave_out_owners_and_grants() {
    let cluster = testing::shared();
    let source = cluster.create_db("opts");
    load(&source, &[fixture("kinds.sql")]);
    let target = cluster.create_db("opts_copy");
    let options = SchemaOptions {
        no_owner: true,
        no_acl: true,
        ..SchemaOptions::default()
    };
    let ddl = copy_schema(&source, &target, &options).await;
    let all: Vec<_> = ddl.pre_data.iter().chain(&ddl.post_data).collect();
    use pgsplit_schema::ObjectKind as K;
    for s in &all {
        assert!(
            !matches!(s.kind, K::Owner | K::Acl | K::DefaultAcl),
            "{} left in: {}",
            s.identity,
            s.sql
        );
    }
    let owner: String = target.psql(
        "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = 'app.customer'::regclass",
    );
    assert_eq!(owner.trim(), "postgres");
}

#[tokio::test]
async fn sections_flags_and_roles() {
    use pgsplit_schema::ObjectKind as K;
    let cluster = testing::shared();
    let source = cluster.create_db("sections");
    load(&source, &[fixture("kinds.sql"), fixture("extensions.sql")]);
    let catalog = pgsplit_schema::introspect(&client(&source).await)
        .await
        .expect("introspect");
    let ddl = catalog.render(&SchemaOptions::default());
    // Loading is fastest into bare tables: no index, key, check or trigger before it.
    for s in &ddl.pre_data {
        assert!(
            !matches!(
                s.kind,
                K::Index
                    | K::Constraint
                    | K::ForeignKey
                    | K::Trigger
                    | K::Rule
                    | K::Policy
                    | K::MatViewRefresh
                    | K::SequenceSet
            ),
            "pre-data holds {}",
            s.identity
        );
    }
    // A view that groups by a primary key needs it: it moves to post-data.
    assert!(
        ddl.post_data
            .iter()
            .any(|s| s.kind == K::View && s.identity == "view app.by_pk")
    );
    // Event triggers need a superuser; trusted extensions do not.
    let event = ddl
        .post_data
        .iter()
        .find(|s| s.kind == K::EventTrigger)
        .expect("event trigger");
    assert!(event.requires_superuser);
    let hstore = ddl
        .pre_data
        .iter()
        .find(|s| s.identity == "extension hstore")
        .expect("hstore");
    assert!(!hstore.requires_superuser);
    // A partition's own trigger state comes after its parent's, which sets every
    // partition's.
    let state_of = |table: &str, verb: &str| {
        ddl.post_data
            .iter()
            .position(|s| {
                s.identity == format!("trigger events_quiet on app.{table}") && s.sql.contains(verb)
            })
            .unwrap_or_else(|| panic!("{verb} events_quiet on {table}"))
    };
    let (parent, partition) = (
        state_of("events", "DISABLE"),
        state_of("events_2023", "ENABLE"),
    );
    assert!(
        ddl.post_data[partition].depends_on.contains(&parent),
        "{:?}",
        ddl.post_data[partition]
    );
    // Two levels down, the leaf's own state waits for the root's (not the middle's).
    let deep = |table: &str| {
        ddl.post_data
            .iter()
            .position(|s| {
                s.identity == format!("trigger events_deep_a on app.{table}")
                    && s.sql.contains("ABLE TRIGGER")
            })
            .unwrap_or_else(|| panic!("events_deep_a state on {table}"))
    };
    assert!(
        ddl.post_data[deep("events_2024_eu")]
            .depends_on
            .contains(&deep("events")),
        "{:?}",
        ddl.post_data[deep("events_2024_eu")]
    );
    // Scheduling: a foreign key waits for the table it references.
    let fk = ddl
        .post_data
        .iter()
        .find(|s| s.identity == "constraint a_b_fk on app.a")
        .expect("a_b_fk");
    assert_eq!(fk.table, Some(("app".into(), "a".into())));
    assert_eq!(fk.waits_for, vec![("app".to_string(), "b".to_string())]);
    assert_eq!(fk.phase, 3);
    assert!(fk.locks_also.is_empty(), "{:?}", fk.locks_also);
    // Statements on partitions name the partitioned tables above them, which they may
    // lock as well (attaching an index locks the parent's).
    let attach = ddl
        .post_data
        .iter()
        .find(|s| s.identity == "attach index app.events_2023_payload")
        .expect("index attachment");
    assert_eq!(attach.table, Some(("app".into(), "events_2023".into())));
    assert_eq!(
        attach.locks_also,
        vec![("app".to_string(), "events".to_string())]
    );
    let nested = ddl
        .post_data
        .iter()
        .find(|s| s.table == Some(("app".into(), "events_2024_eu".into())))
        .expect("a statement on a second-level partition");
    let mut above = nested.locks_also.clone();
    above.sort();
    assert_eq!(
        above,
        [
            ("app".to_string(), "events".to_string()),
            ("app".to_string(), "events_2024".to_string())
        ],
        "{}",
        nested.identity
    );
    for s in &ddl.post_data {
        for d in &s.depends_on {
            assert!(*d < ddl.post_data.len());
        }
    }
    let refresh = ddl
        .post_data
        .iter()
        .position(|s| s.identity == "refresh of materialized view app.mood_totals")
        .expect("refresh");
    let index = ddl
        .post_data
        .iter()
        .position(|s| s.identity == "index app.mood_totals_mood")
        .expect("matview index");
    assert!(index < refresh);
    let set = ddl
        .post_data
        .iter()
        .find(|s| s.identity == "value of sequence app.counter")
        .expect("setval");
    assert_eq!(set.kind, K::SequenceSet);
    assert!(set.sql.contains("42"), "{}", set.sql);
    assert!(catalog.unsupported.is_empty(), "{:?}", catalog.unsupported);
    let roles = catalog.referenced_roles();
    for role in ["Mixed Case", "pgsplit_owner", "pgsplit_reader", "postgres"] {
        assert!(
            roles.contains(&role.to_string()),
            "{role} missing from {roles:?}"
        );
    }
}

#[tokio::test]
async fn unsupported_objects_are_listed() {
    let db = testing::shared().create_db("unsupported");
    db.psql(
        "CREATE TYPE pair AS (a int, b int); CREATE TABLE typed OF pair; \
         CREATE FUNCTION pair_eq(pair, pair) RETURNS boolean LANGUAGE sql AS 'SELECT $1 = $2'; \
         CREATE OPERATOR === (LEFTARG = pair, RIGHTARG = pair, FUNCTION = pair_eq); \
         CREATE TRANSFORM FOR int LANGUAGE plpgsql \
             (FROM SQL WITH FUNCTION jsonb_subscript_handler(internal))",
    );
    let catalog = pgsplit_schema::introspect(&client(&db).await)
        .await
        .expect("introspect");
    // With the object when it is not written at all (what needs it is left out too).
    let kinds: Vec<(&str, bool)> = catalog
        .unsupported
        .iter()
        .map(|u| (u.kind.as_str(), u.key.is_some()))
        .collect();
    assert_eq!(kinds, vec![("operator", true), ("transform", true)]);
}

#[tokio::test]
async fn introspects_inside_an_imported_snapshot() {
    let cluster = testing::shared();
    let db = cluster.create_db("snapshot");
    db.psql("CREATE TABLE before_snapshot (id int)");
    let leader = client(&db).await;
    leader
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .expect("begin");
    let snapshot: String = leader
        .query_one("SELECT pg_export_snapshot()", &[])
        .await
        .expect("export")
        .get(0);
    db.psql("CREATE TABLE after_snapshot (id int)");
    let worker = client(&db).await;
    worker
        .batch_execute(&format!(
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT {}",
            pgsplit_pg::quote::literal(&snapshot)
        ))
        .await
        .expect("import snapshot");
    let catalog = pgsplit_schema::introspect(&worker)
        .await
        .expect("introspect");
    let names: Vec<String> = catalog
        .relations
        .iter()
        .filter(|r| r.relkind == "r")
        .map(|r| r.name.clone())
        .collect();
    assert_eq!(names, vec!["before_snapshot".to_string()]);
    worker.batch_execute("COMMIT").await.expect("commit");
    leader.batch_execute("COMMIT").await.expect("commit");
}

#[tokio::test]
async fn cross_version_13_to_17_inventory_matches() {
    let mut files = vec![fixture("extensions.sql")];
    match corpora() {
        Some(dir) => files.push(dir.join("pagila/pagila-schema.sql")),
        None => eprintln!("no shared corpora: 13 -> 17 without pagila"),
    }
    let source = testing::shared_version(13).create_db("xv13_source");
    load(&source, &files);
    let target = testing::shared_version(17).create_db("xv13_target");
    create_roles(&source, &target).await;
    copy_schema(&source, &target, &SchemaOptions::default()).await;
    assert_same_text(
        "object inventories of the 13 source and the 17 target",
        &normalize_to_17(&inventory(&source)),
        &normalize_to_17(&inventory(&target)),
    );
}
