//! Shared by the binary's end-to-end tests: run the real `pgsplit`, write mappings,
//! compare databases with oracles that do not use pgsplit's own code.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

use pgsplit_pg::testing::{self, TestDb};

pub fn pgsplit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pgsplit"))
        .args(args)
        .env_remove("PGPASSWORD")
        .env_remove("PGHOST")
        .env("PGSPLIT_LOG", "warn")
        .output()
        .expect("run pgsplit")
}

pub fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// SQL for `count` small tables `{prefix}01`, `{prefix}02`, …: table n has `base + n`
/// rows `(id, note)`, so that each table's count is its own.
pub fn small_tables_sql(prefix: &str, count: u32, base: u32) -> String {
    (1..=count)
        .map(|n| {
            format!(
                "CREATE TABLE {prefix}{n:02} (id int PRIMARY KEY, note text);
                 INSERT INTO {prefix}{n:02} SELECT g, '{prefix}{n}-' || g
                   FROM generate_series(1, {}) g;",
                base + n
            )
        })
        .collect()
}

/// The report of table `name` (any schema) of a run report's first line.
pub fn table_of(report: &serde_json::Value, name: &str) -> serde_json::Value {
    report["lines"][0]["tables"]
        .as_array()
        .expect("a line with tables")
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no table {name} in {report}"))
        .clone()
}

/// Whether tests on other PostgreSQL versions are turned off (`PGSPLIT_SKIP_OTHER_VERSIONS`):
/// says so, naming what is skipped.
pub fn skip_other_versions(what: &str) -> bool {
    let skip = std::env::var_os("PGSPLIT_SKIP_OTHER_VERSIONS").is_some();
    if skip {
        eprintln!("PGSPLIT_SKIP_OTHER_VERSIONS set: skipping {what}");
    }
    skip
}

/// `pgsplit verify` of one mapping line, `source` to `target_url`.
pub fn verify_pair(source: &TestDb<'_>, target_url: &str) -> Output {
    let dir = tempfile::tempdir().expect("tempdir");
    let mapping = write_mapping(&dir, &format!("{}@@{target_url}\n", source.url()));
    pgsplit(&["verify", &mapping])
}

pub fn write_mapping(dir: &tempfile::TempDir, body: &str) -> String {
    let path = dir.path().join("mapping.txt");
    std::fs::write(&path, body).expect("write mapping");
    path.to_str().expect("utf-8 path").to_string()
}

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// `pgsplit run MAPPING --no-progress` in the background, stopping at fault point `point`
/// (see `pgsplit_engine::fault`) until [`Paused::go`].
pub struct Paused {
    child: std::process::Child,
    release: PathBuf,
}

impl Paused {
    pub fn start(mapping: &str, work: &std::path::Path, point: &str) -> Paused {
        let release = work.with_extension("go");
        let child = Command::new(env!("CARGO_BIN_EXE_pgsplit"))
            .args(["run", mapping, "--no-progress", "--work-dir"])
            .arg(work)
            .env("PGSPLIT_LOG", "warn")
            .env("PGSPLIT_PAUSE_AT", point)
            .env("PGSPLIT_PAUSE_FILE", &release)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run pgsplit");
        let reached = work.with_extension("go.reached");
        for waited in 0.. {
            if reached.exists() {
                break;
            }
            assert!(waited < 600, "pgsplit never reached {point}");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        Paused { child, release }
    }

    /// Sends SIGTERM, as a Ctrl-C would stop it; it acts once [`Paused::go`] lets it on.
    pub fn terminate(&self) {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
    }

    /// Lets the run go on; its output once it ends.
    pub fn go(self) -> Output {
        std::fs::write(&self.release, b"").expect("release the run");
        self.child.wait_with_output().expect("pgsplit ends")
    }
}

/// Runs `pgsplit run` from `source` into a new database on the same cluster; returns the
/// JSON report. Panics with pgsplit's output when the exit code is not `expect_code`.
pub fn run_copy(
    source: &TestDb<'_>,
    target_name: &str,
    extra: &[&str],
    expect_code: i32,
) -> serde_json::Value {
    run_copy_to(source, &source.cluster.url(target_name), extra, expect_code)
}

/// [`run_copy`] into a database at any address (another cluster, another version).
pub fn run_copy_to(
    source: &TestDb<'_>,
    target_url: &str,
    extra: &[&str],
    expect_code: i32,
) -> serde_json::Value {
    run_copy_logged(source, target_url, extra, expect_code).0
}

/// [`run_copy_to`], also returning what pgsplit logged (stderr).
pub fn run_copy_logged(
    source: &TestDb<'_>,
    target_url: &str,
    extra: &[&str],
    expect_code: i32,
) -> (serde_json::Value, String) {
    run_urls_logged(&source.url(), target_url, extra, expect_code)
}

/// [`run_copy_logged`] from a source URL as given (another role's, say).
pub fn run_urls_logged(
    source_url: &str,
    target_url: &str,
    extra: &[&str],
    expect_code: i32,
) -> (serde_json::Value, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mapping = write_mapping(&dir, &format!("{source_url}@@{target_url}\n"));
    let json = dir.path().join("report.json");
    let work = dir.path().join("work");
    let mut args = vec![
        "run",
        &mapping,
        "--json",
        json.to_str().expect("utf-8"),
        "--work-dir",
        work.to_str().expect("utf-8"),
    ];
    args.extend_from_slice(extra);
    let out = pgsplit(&args);
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(expect_code),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let report = std::fs::read_to_string(&json)
        .unwrap_or_else(|e| panic!("no JSON report ({e}): {stdout}\n{stderr}"));
    let report: serde_json::Value = serde_json::from_str(&report).expect("valid JSON report");
    // The report says the outcome the exit code says.
    let status = match expect_code {
        0 => "ok",
        1 => "failed",
        2 => "bad_input",
        3 => "differs",
        _ => "interrupted",
    };
    assert_eq!(
        (report["status"].as_str(), report["exit_code"].as_i64()),
        (Some(status), Some(i64::from(expect_code))),
        "{report}"
    );
    (report, stderr)
}

/// `run_copy_to` with `--verify checksum`, expecting every table of the line to match.
pub fn copy_with_checksums(source: &TestDb<'_>, target_url: &str) -> serde_json::Value {
    let report = run_copy_to(source, target_url, &["--verify", "checksum"], 0);
    for t in report["lines"][0]["tables"].as_array().unwrap() {
        assert_eq!(t["verification"]["matches"], true, "{t}");
    }
    report
}

/// Asserts that `pgsplit verify` finds `target` (a database of the source's cluster) the
/// same as `source`.
pub fn assert_verified(source: &TestDb<'_>, target: &TestDb<'_>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mapping = write_mapping(&dir, &format!("{}@@{}\n", source.url(), target.url()));
    let out = pgsplit(&["verify", &mapping]);
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
}

/// Asserts that every table holds the same rows on both sides (count and md5 of sorted
/// row texts, computed by SQL).
pub fn assert_same_rows(source: &TestDb<'_>, target: &TestDb<'_>) {
    let a = testing::table_fingerprints(source);
    let b = testing::table_fingerprints(target);
    assert!(!a.is_empty(), "source has no tables");
    assert_eq!(
        a,
        b,
        "row fingerprints differ:\n{}",
        testing::diff(&a.join("\n"), &b.join("\n"))
    );
}

/// Asserts identical `pg_dump --schema-only` output, printing the diff otherwise.
pub fn assert_same_schema(source: &TestDb<'_>, target: &TestDb<'_>) {
    let a = testing::pg_dump(source, &["--schema-only"]);
    let b = testing::pg_dump(target, &["--schema-only"]);
    assert!(a == b, "schemas differ:\n{}", testing::diff(&a, &b));
}

/// A guard for a database that pgsplit creates, dropped at the end of the test.
/// A fresh database on the shared cluster holding the monolith fixture, the name of the
/// database its copy goes to, and the guard that drops that one.
pub fn monolith_and_its_copy(hint: &str) -> (TestDb<'static>, String, TestDb<'static>) {
    let cluster = testing::shared();
    let source = cluster.create_db(hint);
    source.psql_file(&fixture("monolith.sql")).unwrap();
    let target_name = format!("{}_copy", source.name);
    let target = adopt(cluster, &target_name);
    (source, target_name, target)
}

pub fn adopt<'a>(cluster: &'a testing::Cluster, name: &str) -> TestDb<'a> {
    TestDb {
        cluster,
        name: name.to_string(),
    }
}

/// The kinds of the problems `pgsplit plan --json` found on line `index`.
pub fn problem_kinds(doc: &serde_json::Value, index: usize) -> Vec<&str> {
    doc["lines"][index]["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap())
        .collect()
}

/// Whether database `name` exists on `cluster` (a refused run must not have made it).
pub fn database_exists(cluster: &testing::Cluster, name: &str) -> bool {
    let sql = format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'");
    cluster
        .psql("postgres", &sql)
        .expect("read pg_database")
        .trim()
        != "0"
}

/// A URL of `db` as `role`, without a password (the test clusters trust local roles).
pub fn role_url(cluster: &testing::Cluster, role: &str, db: &str) -> String {
    format!(
        "postgres://{role}@127.0.0.1:{}/{db}?sslmode=disable",
        cluster.port()
    )
}

/// A login role (`loader_NAME`) that is no superuser but may load `--data-only` (it may
/// set `session_replication_role`, PostgreSQL 15+); the caller grants it the tables.
pub fn data_only_loader(cluster: &testing::Cluster, name: &str) -> String {
    let role = format!("loader_{name}");
    cluster
        .psql(
            "postgres",
            &format!(
                "CREATE ROLE \"{role}\" LOGIN;
                 GRANT SET ON PARAMETER session_replication_role TO \"{role}\";"
            ),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    role
}

/// `pgsplit run MAPPING --json -` with `extra`, its journals in `dir`'s `work`.
pub fn run_in(dir: &tempfile::TempDir, mapping: &str, extra: &[&str]) -> std::process::Output {
    let work = dir.path().join("work");
    let mut args = vec![
        "run",
        mapping,
        "--json",
        "-",
        "--no-progress",
        "--work-dir",
        work.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    pgsplit(&args)
}
