//! Stop anywhere, resume, lose nothing: pgsplit killed with SIGKILL at many points,
//! servers restarted, backends terminated, statements timing out, SIGTERM — then
//! `--resume` finishes and every row is there exactly once.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use pgsplit_pg::testing::{self, Cluster, ClusterOptions, TestDb};

/// Several tables; `big` is cut into chunks with `--split-tables-larger-than 8MB`.
fn make_source<'a>(cluster: &'a Cluster, hint: &str, big_rows: u32) -> TestDb<'a> {
    let db = cluster.create_db(hint);
    db.psql(&format!(
        "CREATE TABLE big (id bigint PRIMARY KEY, a int, payload text);
         INSERT INTO big SELECT g, g % 97, repeat(md5(g::text), 2) FROM generate_series(1, {big_rows}) g;
         CREATE TABLE parent (id int PRIMARY KEY, name text);
         INSERT INTO parent SELECT g, 'p' || g FROM generate_series(1, 2000) g;
         CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent, note text);
         INSERT INTO child SELECT g, 1 + g % 2000, 'c' || g FROM generate_series(1, 20000) g;
         CREATE INDEX child_parent ON child (parent_id);
         CREATE INDEX big_a ON big (a);
         CREATE TABLE small (k text PRIMARY KEY, v jsonb);
         INSERT INTO small SELECT 'k' || g, jsonb_build_object('g', g) FROM generate_series(1, 500) g;
         CREATE SEQUENCE counter; SELECT setval('counter', 4242);
         ANALYZE;"
    ));
    db
}

struct Run {
    mapping: String,
    work: String,
    _dir: tempfile::TempDir,
}

impl Run {
    /// A run of two lines from `source`, into `first` and `second`.
    fn two_lines(source: &TestDb<'_>, first: &TestDb<'_>, second: &TestDb<'_>) -> Run {
        let run = Run::new(source, &first.url());
        let line = |target: &TestDb<'_>| format!("{}@@{}\n", source.url(), target.url());
        std::fs::write(&run.mapping, line(first) + &line(second)).unwrap();
        run
    }

    /// `pgsplit plan --resume` of this run's mapping and work folder.
    fn plan_resume(&self) -> std::process::Output {
        pgsplit(&["plan", &self.mapping, "--resume", "--work-dir", &self.work])
    }

    fn new(source: &TestDb<'_>, target_url: &str) -> Run {
        let dir = tempfile::tempdir().unwrap();
        let mapping = write_mapping(&dir, &format!("{}@@{}\n", source.url(), target_url));
        let work = dir.path().join("work").to_str().unwrap().to_string();
        Run {
            mapping,
            work,
            _dir: dir,
        }
    }

    fn command(&self, extra: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pgsplit"));
        cmd.args([
            "run",
            &self.mapping,
            "--work-dir",
            &self.work,
            "--jobs",
            "2",
        ])
        .args([
            "--split-tables-larger-than",
            "8MB",
            "--no-progress",
            "--json",
            "-",
        ])
        .args(extra)
        .env("PGSPLIT_LOG", "warn");
        cmd
    }

    /// Runs with `extra`, killed (SIGKILL) at fault point `point`.
    fn killed_at(&self, extra: &[&str], point: &str) {
        let killed = self
            .command(extra)
            .env("PGSPLIT_FAULT_AT", point)
            .output()
            .unwrap();
        assert_eq!(
            killed.status.code(),
            None,
            "{point}: not killed: {:?}",
            text(&killed)
        );
    }

    fn journal(&self) -> String {
        let mut text = String::new();
        for entry in std::fs::read_dir(&self.work).unwrap().flatten() {
            if entry.file_name().to_string_lossy().starts_with("journal-") {
                text.push_str(&std::fs::read_to_string(entry.path()).unwrap());
            }
        }
        text
    }
}

fn report_of(out: &std::process::Output) -> serde_json::Value {
    let (stdout, stderr) = text(out);
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"))
}

/// How many chunks a resume kept; checks on the way that each table's speed is that of
/// the chunks this run copied (kept ones took no time).
fn resumed_chunks(report: &serde_json::Value) -> usize {
    for t in report["lines"][0]["tables"].as_array().unwrap() {
        let copied: f64 = t["chunks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["resumed"] == false)
            .map(|c| c["bytes"].as_f64().unwrap())
            .sum();
        let speed = t["mb_per_second"].as_f64().unwrap() * t["seconds"].as_f64().unwrap() * 1e6;
        assert!((speed - copied).abs() <= copied * 0.01 + 1.0, "{t}");
    }
    report["lines"][0]["tables"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["chunks"].as_array().unwrap())
        .filter(|c| c["resumed"] == true)
        .count()
}

fn all_verified(report: &serde_json::Value) {
    let tables = report["lines"][0]["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 4, "{report}");
    for t in tables {
        assert_eq!(t["verification"]["matches"], true, "{t}");
        assert_eq!(t["complete"], true, "{t}");
    }
    let post = &report["lines"][0]["post_data"];
    assert_eq!(post["finished"], post["statements"], "{post}");
}

#[test]
fn killed_at_fourteen_points_then_resumed_loses_nothing() {
    let cluster = testing::shared();
    let source = make_source(cluster, "kill_src", 150_000);
    let points = [
        ("planned", "safe"),
        ("pre_data_committing", "safe"),
        ("pre_data_done", "fast"),
        ("item_committing:1", "fast"),
        ("item_committed:1", "fast"),
        ("item_committed:4", "fast"),
        ("item_done:2", "safe"),
        ("item_committing:3", "safe"),
        ("item_done:4", "fast"),
        ("post_data_done:2", "fast"),
        ("post_data_done:6", "safe"),
        // Statements done on the target but not yet journaled: re-run on resume.
        ("post_data_executed:1", "fast"),
        ("post_data_executed:4", "safe"),
        ("post_data_executed:9", "fast"),
    ];
    let mut faults = 0;
    for (point, mode) in points {
        let target_name = format!("{}_{}", source.name, point.replace(':', "_"));
        let target = adopt(cluster, &target_name);
        let run = Run::new(&source, &cluster.url(&target_name));
        run.killed_at(&[], point);
        faults += 1;
        let journal = run.journal();
        let done_before = journal.matches("\"item_done\"").count();
        let committing_before = journal.matches("\"item_committing\"").count();
        let out = run
            .command(&[&format!("--resume={mode}")])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{point}: resume failed: {:?}",
            text(&out)
        );
        let report = report_of(&out);
        all_verified(&report);
        assert_same_rows(&source, &target);
        let kept = resumed_chunks(&report);
        if mode == "fast" {
            // Every chunk the journal knew as done was kept, not copied again.
            assert!(
                kept >= done_before && kept <= done_before + committing_before,
                "{point}: kept {kept}, done {done_before}, committing {committing_before}"
            );
        } else {
            assert!(
                kept <= done_before + committing_before,
                "{point}: kept {kept}"
            );
        }
        assert_eq!(target.psql("SELECT last_value FROM counter").trim(), "4242");
        // A finished run resumes to nothing.
        let again = run.command(&["--resume"]).output().unwrap();
        assert_eq!(again.status.code(), Some(0));
        assert!(
            text(&again).0.contains("already finished"),
            "{:?}",
            text(&again)
        );
    }
    eprintln!("injected {faults} SIGKILL faults; rows lost: 0 (fingerprints equal)");
}

#[test]
fn an_unfinished_run_must_be_resumed_or_cleaned() {
    let cluster = testing::shared();
    let source = make_source(cluster, "unfinished_src", 20_000);
    let target_name = format!("{}_copy", source.name);
    let target = adopt(cluster, &target_name);
    let run = Run::new(&source, &cluster.url(&target_name));
    let killed = run
        .command(&[])
        .env("PGSPLIT_FAULT_AT", "item_done:1")
        .output()
        .unwrap();
    assert_eq!(killed.status.code(), None);
    // Options that do not fit the stopped run: bad input, exit 2, nothing written.
    let out = run.command(&[]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let error = report_of(&out)["lines"][0]["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        error.contains("--resume") && error.contains("--clean"),
        "{error}"
    );
    // plan, given the run's work directory, says so too (not just "not empty"); planned
    // as the resume, the target is fine.
    let plan = |extra: &[&str]| {
        let mut args = vec![
            "plan",
            run.mapping.as_str(),
            "--work-dir",
            &run.work,
            "--json",
        ];
        args.extend_from_slice(extra);
        let out = pgsplit(&args);
        let (stdout, stderr) = text(&out);
        let doc: serde_json::Value = serde_json::from_str(&stdout).expect(&stderr);
        (out.status.code(), doc)
    };
    let (code, doc) = plan(&[]);
    assert_eq!(code, Some(1), "{doc}");
    assert_eq!(problem_kinds(&doc, 0), ["unfinished_run"], "{doc}");
    let message = doc["lines"][0]["problems"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("--resume") && message.contains("--clean"),
        "{message}"
    );
    let (code, doc) = plan(&["--resume"]);
    assert_eq!(code, Some(0), "{doc}");
    // What `run --resume` would refuse, plan --resume says: other options than the
    // stopped run's, or no journal to resume from.
    let (code, doc) = plan(&["--resume", "--no-owner"]);
    assert_eq!(code, Some(1), "{doc}");
    let message = doc["lines"][0]["problems"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("--no-owner: was false, now true"),
        "{message}"
    );
    let elsewhere = tempfile::tempdir().unwrap();
    let out = pgsplit(&[
        "plan",
        &run.mapping,
        "--resume",
        "--json",
        "--work-dir",
        elsewhere.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    assert!(
        text(&out).0.contains("nothing to resume"),
        "{:?}",
        text(&out)
    );
    // A resume must copy what the stopped run copied: another selector or another
    // --no-owner is refused, and the target is left as it was.
    let rows_before = target.psql("SELECT count(*) FROM big");
    let mapping = std::fs::read_to_string(&run.mapping).unwrap();
    std::fs::write(
        &run.mapping,
        format!("{} exclude=public.small\n", mapping.trim_end()),
    )
    .unwrap();
    let changed_selector = run.command(&["--resume"]).output().unwrap();
    std::fs::write(&run.mapping, &mapping).unwrap();
    let changed_option = run.command(&["--resume", "--no-owner"]).output().unwrap();
    for (out, what) in [
        (
            changed_selector,
            "its selectors: exclude= was none, now public.small",
        ),
        (changed_option, "--no-owner: was false, now true"),
    ] {
        assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
        let error = report_of(&out)["lines"][0]["error"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            error.contains("cannot resume: what this line copies changed") && error.contains(what),
            "{error}"
        );
    }
    assert_eq!(target.psql("SELECT count(*) FROM big"), rows_before);
    let out = run.command(&["--clean"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert_same_rows(&source, &target);
}

/// Waits until a COPY of pgsplit runs on the cluster; returns its backend pid.
fn wait_for_copy(cluster: &Cluster, child: &mut Child) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let pid = cluster
            .psql(
                "postgres",
                "SELECT pid FROM pg_stat_activity WHERE application_name = 'pgsplit' \
                 AND query LIKE 'COPY%TO STDOUT%' AND state = 'active' LIMIT 1",
            )
            .unwrap();
        if let Ok(pid) = pid.trim().parse() {
            return pid;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("pgsplit ended before a COPY was seen: {status}");
        }
        assert!(Instant::now() < deadline, "no COPY seen");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn spawn(cmd: &mut Command) -> Child {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn a_terminated_backend_is_retried() {
    let cluster = Cluster::start(ClusterOptions::system()).unwrap();
    let source = make_source(&cluster, "term_src", 600_000);
    let target_name = format!("{}_copy", source.name);
    let target = adopt(&cluster, &target_name);
    let run = Run::new(&source, &cluster.url(&target_name));
    let mut child = spawn(&mut run.command(&[]));
    let pid = wait_for_copy(&cluster, &mut child);
    cluster
        .psql("postgres", &format!("SELECT pg_terminate_backend({pid})"))
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("retrying"), "no retry logged: {stderr}");
    all_verified(&report_of(&out));
    assert_same_rows(&source, &target);
}

#[test]
fn a_commit_whose_answer_was_lost_is_not_loaded_again() {
    // The connection "breaks" just after a load committed: the retry must find that
    // commit (a chunk: its journaled transaction id) or empty the table first (a whole
    // table), not add the rows a second time.
    let cluster = testing::shared();
    let source = make_source(cluster, "lost_commit_src", 200_000);
    for (n, table) in ["public.big", "public.small"].into_iter().enumerate() {
        let fault = format!("item_committed@{table}");
        let target_name = format!("lost_commit_{n}");
        let target = adopt(cluster, &target_name);
        let run = Run::new(&source, &cluster.url(&target_name));
        let out = run
            .command(&[])
            .env("PGSPLIT_FAULT_ERROR", &fault)
            .output()
            .unwrap();
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert!(
            stderr.contains(&format!("{table}: ")) && stderr.contains("retrying"),
            "{fault}: {stderr}"
        );
        all_verified(&report_of(&out));
        assert_same_rows(&source, &target);
    }
}

#[test]
fn a_post_data_statement_whose_connection_was_lost_runs_again() {
    // The session is ended just after an index build committed: the build runs again on
    // a new session, finds its index there, and the run goes on (it used to stop the
    // line, leaving the rest of post-data to `--resume`).
    let cluster = testing::shared();
    let source = make_source(cluster, "lost_post_src", 200_000);
    let target = adopt(cluster, "lost_post_copy");
    let run = Run::new(&source, &cluster.url(&target.name));
    let out = run
        .command(&[])
        .env(
            "PGSPLIT_FAULT_ERROR",
            "post_data_executed@index public.big_a",
        )
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("post-data: index public.big_a: ") && stderr.contains("retrying"),
        "{stderr}"
    );
    all_verified(&report_of(&out));
    assert_same_rows(&source, &target);
    let indexes = "SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes \
                   WHERE tablename = 'big'";
    assert_eq!(target.psql(indexes).trim(), "big_a,big_pkey");
}

#[test]
fn small_tables_asked_of_the_source_ahead_are_copied_after_a_lost_connection() {
    // A worker sends the COPYs of the next small tables to the source before it reads
    // their rows. A lost connection leaves those unread: they must be copied on the
    // new sessions (and the loads in flight redone), none lost, none twice.
    let cluster = testing::shared();
    let source = cluster.create_db("ahead_src");
    source.psql(&small_tables_sql("s", 60, 100));
    let target = adopt(cluster, "ahead_copy");
    let run = Run::new(&source, &cluster.url(&target.name));
    let out = run
        .command(&[])
        .env("PGSPLIT_FAULT_ERROR", "ahead_committed:2")
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let asked_ahead: usize = stderr
        .split_once(" tables asked of the source ahead")
        .and_then(|(before, _)| before.rsplit(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no retry logged: {stderr}"));
    assert!(asked_ahead > 0, "{stderr}");
    let report = report_of(&out);
    let copied = report["lines"][0]["tables"].as_array().unwrap();
    assert_eq!(copied.len(), 60, "{report}");
    for t in copied {
        assert_eq!(t["verification"]["matches"], true, "{t}");
    }
    assert_same_rows(&source, &target);
}

#[test]
fn a_source_restart_stops_clearly_and_resume_finishes() {
    let cluster = Cluster::start(ClusterOptions::system()).unwrap();
    let source = make_source(&cluster, "restart_src", 600_000);
    let target_cluster = Cluster::start(ClusterOptions::system()).unwrap();
    let target_name = "restart_copy";
    let target = adopt(&target_cluster, target_name);
    let run = Run::new(&source, &target_cluster.url(target_name));
    let mut child = spawn(&mut run.command(&[]));
    wait_for_copy(&cluster, &mut child);
    cluster.restart().unwrap();
    let out = child.wait_with_output().unwrap();
    let (_, stderr) = text(&out);
    match out.status.code() {
        // Retried on a fresh snapshot is impossible: the snapshot died with the server.
        Some(1) => {
            let report = report_of(&out);
            let error = report["lines"][0]["error"].as_str().unwrap();
            assert!(error.contains("--resume"), "{error}\n{stderr}");
            let out = run.command(&["--resume"]).output().unwrap();
            assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
            all_verified(&report_of(&out));
        }
        Some(0) => all_verified(&report_of(&out)),
        other => panic!("unexpected exit {other:?}: {stderr}"),
    }
    assert_same_rows(&source, &target);
}

#[test]
fn a_data_only_run_the_target_stops_names_the_table_and_resume_finishes() {
    let cluster = testing::shared();
    let source = make_source(cluster, "refuse_src", 300_000);
    let target = cluster.create_db("refuse_dst");
    let schema = Run::new(&source, &target.url());
    let out = schema.command(&["--schema-only"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    // The user's schema refuses the later rows of `big`: its first chunk commits, a
    // later one fails.
    target.psql(
        "ALTER TABLE big ADD CONSTRAINT no_late CHECK (id <= 250000) NOT VALID;
         -- A table of the target's own that points to `big`: TRUNCATE would refuse it.
         CREATE TABLE big_notes (big_id bigint REFERENCES big);",
    );
    let run = Run::new(&source, &target.url());
    let out = run.command(&["--data-only"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    let error = report_of(&out)["lines"][0]["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(error.contains("table public.big"), "{error}");
    assert!(error.contains("no_late"), "{error}");
    let committed = target.psql("SELECT count(*) FROM big").trim().to_string();
    assert_ne!(committed, "0");
    // The report lists what the failed run committed (it listed no table at all).
    let report = report_of(&out);
    let line = &report["lines"][0];
    let big = line["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "big")
        .unwrap_or_else(|| panic!("big is not reported: {line}"));
    assert_eq!(big["rows"].to_string(), committed, "{big}");
    let note = line["note"].as_str().unwrap_or_default();
    assert!(note.contains("committed before the stop"), "{line}");
    target.psql("ALTER TABLE big DROP CONSTRAINT no_late");
    // A new data-only run is refused, with a way to start over that --data-only allows
    // (--clean, which would drop the schema, is not).
    let again = run.command(&["--data-only"]).output().unwrap();
    assert_eq!(again.status.code(), Some(2), "{:?}", text(&again));
    let error = report_of(&again)["lines"][0]["error"].to_string();
    assert!(
        error.contains("--resume")
            && error.contains("delete the journal")
            && !error.contains("--clean"),
        "{error}"
    );
    // The rows the stopped run committed do not make the resume refuse the target.
    let out = run
        .command(&["--data-only", "--resume=safe"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    all_verified(&report_of(&out));
    target.psql("DROP TABLE big_notes");
    assert_same_rows(&source, &target);
}

#[test]
fn timeouts_the_databases_set_do_not_cut_the_run_off() {
    let cluster = testing::shared();
    let source = make_source(cluster, "timeouts_src", 300_000);
    let target = cluster.create_db("timeouts_dst");
    let set = |sql: &str| {
        for db in [&source, &target] {
            let name = format!("\"{}\"", db.name);
            cluster.psql("postgres", &sql.replace("DB", &name)).unwrap();
        }
    };
    set("ALTER DATABASE DB SET statement_timeout = '50ms'; \
         ALTER DATABASE DB SET idle_in_transaction_session_timeout = '500ms'");
    let run = Run::new(&source, &target.url());
    // Paused after the first load: every session waits inside its transaction for
    // longer than the idle timeout, and the loads of `big` take longer than 50 ms.
    let paused = Paused::start(&run.mapping, std::path::Path::new(&run.work), "item_done");
    std::thread::sleep(Duration::from_millis(1500));
    let out = paused.go();
    set("ALTER DATABASE DB RESET statement_timeout; \
         ALTER DATABASE DB RESET idle_in_transaction_session_timeout");
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert_same_rows(&source, &target);
}

#[test]
fn a_safe_resume_stopped_while_emptying_a_partly_copied_table_doubles_nothing() {
    let cluster = testing::shared();
    let source = make_source(cluster, "restart_kill_src", 300_000);
    let target_name = format!("{}_copy", source.name);
    let target = adopt(cluster, &target_name);
    let run = Run::new(&source, &cluster.url(&target_name));
    run.killed_at(&[], "item_done:2");
    // Killed again after the resume journaled `big` as restarted, before emptying it.
    run.killed_at(&["--resume=safe"], "table_restarted");
    let out = run.command(&["--resume=safe"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    all_verified(&report_of(&out));
    assert_same_rows(&source, &target);
}

/// A stop while large objects are copied ends the run between two of their
/// transactions (it went on to copy every one of them and exited 0); a resume finishes.
#[test]
fn a_stop_while_large_objects_are_copied_ends_the_run_and_a_resume_finishes() {
    let cluster = testing::shared();
    let source = cluster.create_db("lo_stop_src");
    source.psql(
        "SELECT count(lo_from_bytea(0, convert_to(g::text, 'UTF8'))) \
         FROM generate_series(1, 1100) g;
         CREATE TABLE beside AS SELECT 1 AS id",
    );
    let target_name = format!("{}_copy", source.name);
    let target = adopt(cluster, &target_name);
    let dir = tempfile::tempdir().unwrap();
    let body = format!("{}@@{}\n", source.url(), cluster.url(&target_name));
    let mapping = write_mapping(&dir, &body);
    let work = dir.path().join("work");
    let paused = Paused::start(&mapping, &work, "large_objects_committed");
    paused.terminate();
    let out = paused.go();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(130), "{stdout}\n{stderr}");
    // The table copied before the stop is reported (the report said 0 tables).
    assert!(stdout.contains("public.beside"), "{stdout}");
    let count = "SELECT count(*) FROM pg_largeobject_metadata";
    let copied: u32 = target.psql(count).trim().parse().unwrap();
    assert!(
        copied > 0 && copied < 1100,
        "{copied} copied before the stop"
    );
    let work = work.to_str().unwrap();
    let out = pgsplit(&[
        "run",
        &mapping,
        "--resume",
        "--no-progress",
        "--work-dir",
        work,
    ]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert_eq!(target.psql(count).trim(), "1100");
}

#[test]
fn sigterm_cancels_in_flight_work_and_exits_130() {
    let cluster = Cluster::start(ClusterOptions::system()).unwrap();
    let source = make_source(&cluster, "sigterm_src", 600_000);
    let target_name = format!("{}_copy", source.name);
    let target = adopt(&cluster, &target_name);
    let run = Run::new(&source, &cluster.url(&target_name));
    let mut child = spawn(&mut run.command(&["--no-owner"]));
    wait_for_copy(&cluster, &mut child);
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    // The report of the stop says how far post-data got, and which tables have only
    // some of their chunks.
    let stopped = report_of(&out);
    let post = &stopped["lines"][0]["post_data"];
    assert!(post["seconds"].as_f64().unwrap() > 0.0, "{post}");
    assert!(
        post["finished"].as_u64().unwrap() < post["statements"].as_u64().unwrap(),
        "{post}"
    );
    for t in stopped["lines"][0]["tables"].as_array().unwrap() {
        let (copied, planned) = (
            t["chunks"].as_array().unwrap().len() as u64,
            t["chunks_planned"].as_u64().unwrap(),
        );
        assert!(copied <= planned, "{t}");
        assert_eq!(t["complete"], copied == planned, "{t}");
    }
    // The command to continue repeats what a resume must repeat.
    let resume = format!(
        "\n  pgsplit run {} --resume --no-owner --work-dir {}\n",
        run.mapping, run.work
    );
    assert!(stderr.contains(&resume), "{stderr}");
    // Nothing of pgsplit keeps running on the servers.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let busy = cluster
            .psql(
                "postgres",
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgsplit' AND state <> 'idle'",
            )
            .unwrap();
        if busy.trim() == "0" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "pgsplit backends still busy: {busy}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = run.command(&["--resume", "--no-owner"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    all_verified(&report_of(&out));
    assert_same_rows(&source, &target);
}

#[test]
fn sigterm_during_a_long_refresh_stops_it_on_the_server() {
    let cluster = testing::shared();
    let source = cluster.create_db("refresh_src");
    // Refreshing takes a minute anywhere but on the source.
    source.psql(&format!(
        "CREATE FUNCTION nap() RETURNS int VOLATILE LANGUAGE plpgsql AS $$
         BEGIN
             IF current_database() <> '{}' THEN PERFORM pg_sleep(60); END IF;
             RETURN 1;
         END $$;
         CREATE TABLE t (id int PRIMARY KEY);
         INSERT INTO t VALUES (1);
         CREATE MATERIALIZED VIEW slow AS SELECT nap() AS n FROM t;",
        source.name
    ));
    let target_name = format!("{}_copy", source.name);
    let _target = adopt(cluster, &target_name);
    let run = Run::new(&source, &cluster.url(&target_name));
    let mut child = spawn(&mut run.command(&[]));
    let deadline = Instant::now() + Duration::from_secs(60);
    let busy = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = '{target_name}' \
         AND query LIKE 'REFRESH MATERIALIZED VIEW%' AND state = 'active'"
    );
    while cluster.psql("postgres", &busy).unwrap().trim() == "0" {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("pgsplit ended before the refresh: {status}");
        }
        assert!(Instant::now() < deadline, "no refresh seen");
        std::thread::sleep(Duration::from_millis(50));
    }
    let sent = Instant::now();
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        sent.elapsed() < Duration::from_secs(20),
        "took {:?} to stop",
        sent.elapsed()
    );
    assert_eq!(cluster.psql("postgres", &busy).unwrap().trim(), "0");
}

#[test]
fn a_table_that_appeared_on_the_source_since_the_stop_is_refused_not_half_copied() {
    let cluster = testing::shared();
    let source = make_source(cluster, "appeared_src", 150_000);
    let target_name = format!("{}_copy", source.name);
    let target = adopt(cluster, &target_name);
    let run = Run::new(&source, &cluster.url(&target_name));
    run.killed_at(&[], "item_done:1");
    source.psql("CREATE TABLE late (id int PRIMARY KEY); INSERT INTO late VALUES (1);");
    let out = run.command(&["--resume"]).output().unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("did not plan (public.late)"), "{stderr}");
    let out = run.command(&["--clean"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert_same_rows(&source, &target);
}

#[test]
fn a_refused_run_keeps_the_journal_and_a_resume_never_writes_into_a_foreign_database() {
    let cluster = testing::shared();
    let source = make_source(cluster, "refused_src", 2_000);
    // Someone else's database at the target address: refused, and a resume of nothing
    // must not take it as a stopped run's.
    let foreign = cluster.create_db("refused_foreign");
    foreign.psql("CREATE TABLE theirs (id int)");
    let run = Run::new(&source, &foreign.url());
    let out = run.command(&[]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    let out = run.command(&["--resume"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
    let error = report_of(&out)["lines"][0]["error"].to_string();
    assert!(error.contains("nothing to resume"), "{error}");
    let ours = "SELECT count(*) FROM pg_class WHERE relname IN ('big', 'parent', 'child')";
    assert_eq!(foreign.psql(ours).trim(), "0");

    // A finished copy run again is refused (not empty): its journal still says finished.
    let target_name = format!("{}_copy", source.name);
    let _target = adopt(cluster, &target_name);
    let run = Run::new(&source, &cluster.url(&target_name));
    assert_eq!(run.command(&[]).output().unwrap().status.code(), Some(0));
    assert_eq!(run.command(&[]).output().unwrap().status.code(), Some(1));
    let out = run.command(&["--resume"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert_eq!(
        report_of(&out)["lines"][0]["note"],
        "already finished: nothing to resume"
    );
    // plan --resume agrees: a finished line is no problem.
    let out = run.plan_resume();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    // Its journal says finished, but the database is another, made again: not "ok".
    for sql in ["DROP DATABASE", "CREATE DATABASE"] {
        let sql = format!("{sql} \"{target_name}\"");
        cluster.psql("postgres", &sql).unwrap();
    }
    let out = run.command(&["--resume"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    let error = report_of(&out)["lines"][0]["error"].to_string();
    assert!(error.contains("is another one now"), "{error}");
    // Its journal says finished, but the database is gone: not "ok".
    cluster
        .psql("postgres", &format!("DROP DATABASE \"{target_name}\""))
        .unwrap();
    let out = run.command(&["--resume"]).output().unwrap();
    assert_ne!(out.status.code(), Some(0), "{:?}", text(&out));
    let error = report_of(&out)["lines"][0]["error"].to_string();
    assert!(error.contains("does not exist any more"), "{error}");
}

#[test]
fn a_resume_starts_the_lines_the_stopped_run_had_not_reached() {
    let cluster = testing::shared();
    let source = make_source(cluster, "lines_src", 2_000);
    let first = adopt(cluster, &format!("{}_one", source.name));
    let second = adopt(cluster, &format!("{}_two", source.name));
    let run = Run::two_lines(&source, &first, &second);
    // Stopped in the first line's data phase: the second has no journal.
    run.killed_at(&[], "item_done:1");
    let out = run.command(&["--resume"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let report = report_of(&out);
    assert_eq!(report["lines"][0]["resumed"], true, "{report}");
    assert_eq!(report["lines"][1]["resumed"], false, "{report}");
    assert_same_rows(&source, &first);
    assert_same_rows(&source, &second);
}

/// A line the stopped run had not started, whose target holds something: `plan --resume`
/// says what `run --resume` refuses (it said ok).
#[test]
fn plan_resume_foresees_a_line_not_started_into_a_target_not_empty() {
    let cluster = testing::shared();
    let source = make_source(cluster, "unstarted_src", 2_000);
    let first = adopt(cluster, &format!("{}_one", source.name));
    let second = cluster.create_db("unstarted_two");
    second.psql("CREATE TABLE already_here (id int)");
    let run = Run::two_lines(&source, &first, &second);
    run.killed_at(&[], "item_done:1");
    let out = run.plan_resume();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("the stopped run had not started this line"),
        "{stdout}"
    );
    let out = run.command(&["--resume"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    let error = report_of(&out)["lines"][1]["error"].to_string();
    assert!(error.contains("had not started this line"), "{error}");
}

/// A `--clean` run stopped in its first line, resumed: the second line is copied again
/// too (it kept the copy of the run before, from another snapshot, and said ok).
#[test]
fn a_resumed_clean_run_starts_over_the_lines_it_had_not_reached() {
    let cluster = testing::shared();
    let source = make_source(cluster, "clean_lines_src", 2_000);
    let first = adopt(cluster, &format!("{}_one", source.name));
    let second = adopt(cluster, &format!("{}_two", source.name));
    let run = Run::two_lines(&source, &first, &second);
    let out = run.command(&[]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    source.psql("INSERT INTO small SELECT 'later' || g, '{}' FROM generate_series(1, 7) g");
    run.killed_at(&["--clean"], "item_done:1");
    // A run neither resuming nor cleaning is refused before it writes anything.
    let out = run.command(&[]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
    let report = report_of(&out);
    for line in 0..2 {
        let error = report["lines"][line]["error"].to_string();
        assert!(
            error.contains("did not finish") || error.contains("not started"),
            "{report}"
        );
    }
    // plan --resume says the second target is dropped and copied again.
    let out = run.plan_resume();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("note: the stopped run was a --clean run that had not reached this line"),
        "{stdout}"
    );
    let out = run.command(&["--resume"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert_same_rows(&source, &first);
    assert_same_rows(&source, &second);
}

#[test]
fn a_table_changed_on_the_source_since_the_stop_is_refused_not_copied_into_old_columns() {
    let cluster = testing::shared();
    let source = make_source(cluster, "changed_src", 2_000);
    let target_name = format!("{}_copy", source.name);
    let target = adopt(cluster, &target_name);
    let run = Run::new(&source, &cluster.url(&target_name));
    run.killed_at(&[], "item_done:1");
    source.psql("ALTER TABLE child DROP COLUMN note");
    let out = run.command(&["--resume"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    let error = report_of(&out)["lines"][0]["error"].to_string();
    assert!(
        error.contains("public.child: columns (id, parent_id) on the source, (id, note, parent_id) on the target")
            && error.contains("--clean"),
        "{error}"
    );
    let out = run.command(&["--clean"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert_same_rows(&source, &target);

    // A column of another type since: its binary values would be read as the old type's
    // (a real's bits as an integer), and the run's own checksums, of those bytes, agree.
    run.killed_at(&["--clean"], "item_done:1");
    source.psql("ALTER TABLE big ALTER COLUMN a TYPE real");
    let out = run.command(&["--resume"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    let error = report_of(&out)["lines"][0]["error"].to_string();
    assert!(
        error.contains("public.big: column a real on the source, integer on the target"),
        "{error}"
    );
    // plan --resume says what run --resume refuses.
    let out = run.plan_resume();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("column a real on the source"), "{stdout}");
    let out = run.command(&["--clean"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert_same_rows(&source, &target);

    // A domain made again under its name over another type: the same bytes trap.
    source.psql("CREATE DOMAIN dint AS int; ALTER TABLE parent ADD COLUMN d dint DEFAULT 1");
    run.killed_at(&["--clean"], "item_done:1");
    source.psql(
        "ALTER TABLE parent ALTER d TYPE int; DROP DOMAIN dint; CREATE DOMAIN dint AS real;
         ALTER TABLE parent ALTER d TYPE dint USING d + 0.5",
    );
    let out = run.command(&["--resume"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    let error = report_of(&out)["lines"][0]["error"].to_string();
    assert!(
        error.contains("(over real) on the source")
            && error.contains("(over integer) on the target"),
        "{error}"
    );
    let out = run.command(&["--clean"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert_same_rows(&source, &target);

    // A schema-only run stopped after pre-data: a table made on the source since has no
    // table on the target.
    let schema_target = adopt(cluster, &format!("{}_schema", source.name));
    let run = Run::new(&source, &schema_target.url());
    run.killed_at(&["--schema-only"], "pre_data_done:1");
    source.psql("CREATE TABLE later (id int PRIMARY KEY)");
    let out = run
        .command(&["--resume", "--schema-only"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    let error = report_of(&out)["lines"][0]["error"].to_string();
    assert!(error.contains("public.later: not on the target"), "{error}");
}

#[test]
fn a_resume_whose_tables_come_from_two_moments_says_so() {
    let cluster = testing::shared();
    let source = cluster.create_db("two_moments_src");
    // The parent is the largest table: with one job it is copied first.
    source.psql(
        "CREATE TABLE parent (id int PRIMARY KEY, pad text);
         INSERT INTO parent SELECT g, repeat('p', 200) FROM generate_series(1, 20000) g;
         CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent);
         INSERT INTO child SELECT g, g FROM generate_series(1, 100) g;
         ANALYZE;",
    );
    let target_name = format!("{}_copy", source.name);
    let _target = adopt(cluster, &target_name);
    let dir = tempfile::tempdir().unwrap();
    let mapping = write_mapping(
        &dir,
        &format!("{}@@{}\n", source.url(), cluster.url(&target_name)),
    );
    let work = dir.path().join("work");
    let command_for = |mapping: &str, extra: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pgsplit"));
        cmd.args([
            "run",
            mapping,
            "--jobs",
            "1",
            "--no-progress",
            "--json",
            "-",
        ])
        .arg("--work-dir")
        .arg(&work)
        .args(extra)
        .env("PGSPLIT_LOG", "warn");
        cmd
    };
    let command = |extra: &[&str]| command_for(&mapping, extra);
    let killed = command(&[])
        .env("PGSPLIT_FAULT_AT", "item_done:1")
        .output()
        .unwrap();
    assert_eq!(killed.status.code(), None, "{:?}", text(&killed));
    // Written between the stop and the resume: a parent the finished copy lacks, and a
    // child of it, which the resume copies.
    source.psql("INSERT INTO parent VALUES (20001, 'new'); INSERT INTO child VALUES (101, 20001);");
    let out = command(&["--resume"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    let error = report_of(&out)["lines"][0]["error"].to_string();
    assert!(
        error.contains("child_parent_id_fkey") && error.contains("two moments"),
        "{error}"
    );
    // --resume=fast keeps the chunks of a table the stopped run had not finished: rows
    // updated since are in a kept chunk as they were and in a new one as they are, and
    // the primary key says so (the duplicate was reported without the why).
    let big = cluster.create_db("two_moments_chunks");
    big.psql(
        "CREATE TABLE big (id int PRIMARY KEY, pad text);
         INSERT INTO big SELECT g, repeat('b', 250) FROM generate_series(1, 100000) g;
         ANALYZE;",
    );
    let chunked_name = format!("{}_copy", big.name);
    let _chunked = adopt(cluster, &chunked_name);
    let chunks_dir = tempfile::tempdir().unwrap();
    let chunks_mapping = write_mapping(
        &chunks_dir,
        &format!("{}@@{}\n", big.url(), cluster.url(&chunked_name)),
    );
    let chunked = |extra: &[&str]| {
        let mut cmd = command_for(&chunks_mapping, &["--split-tables-larger-than", "8MB"]);
        cmd.args(extra);
        cmd
    };
    let killed = chunked(&[])
        .env("PGSPLIT_FAULT_AT", "item_done:1")
        .output()
        .unwrap();
    assert_eq!(killed.status.code(), None, "{:?}", text(&killed));
    big.psql("UPDATE big SET pad = 'q'");
    let out = chunked(&["--resume=fast"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    let error = report_of(&out)["lines"][0]["error"].to_string();
    assert!(
        error.contains("big_pkey") && error.contains("two moments"),
        "{error}"
    );
    // A change no key catches: the resume succeeds, and says that the rows it kept are of
    // an earlier moment than those it read now, which verify then finds.
    let quiet = cluster.create_db("two_moments_quiet");
    quiet.psql(
        "CREATE TABLE parent (id int PRIMARY KEY, pad text);
         INSERT INTO parent SELECT g, repeat('p', 200) FROM generate_series(1, 20000) g;
         CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent);
         INSERT INTO child SELECT g, g FROM generate_series(1, 100) g;
         ANALYZE;",
    );
    let quiet_name = format!("{}_copy", quiet.name);
    let _quiet_target = adopt(cluster, &quiet_name);
    let quiet_dir = tempfile::tempdir().unwrap();
    let quiet_mapping = write_mapping(
        &quiet_dir,
        &format!("{}@@{}\n", quiet.url(), cluster.url(&quiet_name)),
    );
    let killed = command_for(&quiet_mapping, &[])
        .env("PGSPLIT_FAULT_AT", "item_done:1")
        .output()
        .unwrap();
    assert_eq!(killed.status.code(), None, "{:?}", text(&killed));
    quiet.psql("UPDATE parent SET pad = 'changed' WHERE id = 1");
    let out = command_for(&quiet_mapping, &["--resume"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let note = report_of(&out)["lines"][0]["note"].to_string();
    assert!(
        note.contains("earlier moment of the source") && note.contains("pgsplit verify"),
        "{note}"
    );
    let verified = pgsplit(&["verify", &quiet_mapping, "--no-progress"]);
    assert_eq!(verified.status.code(), Some(3), "{:?}", text(&verified));
}

#[test]
fn a_resume_of_a_run_that_found_differences_still_reports_them() {
    let cluster = testing::shared();
    let source = cluster.create_db("mismatch_src");
    source.psql(
        "CREATE TABLE prices (id int PRIMARY KEY, amount numeric(12, 2));
         INSERT INTO prices SELECT g, g / 100.0 FROM generate_series(1, 500) g;",
    );
    let target = cluster.create_db("mismatch_dst");
    let dir = tempfile::tempdir().unwrap();
    let mapping = write_mapping(&dir, &format!("{}@@{}\n", source.url(), target.url()));
    let work = dir.path().join("work");
    let run = |extra: &[&str]| {
        let mut args = vec!["run", &mapping, "--no-progress", "--json", "-"];
        args.extend_from_slice(extra);
        args.extend(["--work-dir", work.to_str().unwrap()]);
        pgsplit(&args)
    };
    let out = run(&["--schema-only"]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    // A target column that rounds what it receives: the checksums differ.
    target.psql("ALTER TABLE prices ALTER COLUMN amount TYPE numeric(12, 0)");
    std::fs::remove_dir_all(&work).unwrap();
    let out = run(&["--data-only"]);
    assert_eq!(out.status.code(), Some(3), "{:?}", text(&out));
    let out = run(&["--data-only", "--resume"]);
    assert_eq!(out.status.code(), Some(3), "{:?}", text(&out));
    let line = &report_of(&out)["lines"][0];
    assert_eq!(line["mismatched_before"], true, "{line}");
    assert!(
        line["note"].as_str().unwrap().contains("found differences"),
        "{line}"
    );
}

#[test]
fn a_resume_from_another_source_database_is_refused() {
    let cluster = testing::shared();
    let source = make_source(cluster, "first_src", 2_000);
    let other = make_source(cluster, "other_src", 3_000);
    let target_name = format!("{}_copy", source.name);
    let target = adopt(cluster, &target_name);
    let run = Run::new(&source, &cluster.url(&target_name));
    run.killed_at(&[], "item_done:1");
    let mapping = std::fs::read_to_string(&run.mapping).unwrap();
    std::fs::write(&run.mapping, mapping.replace(&source.url(), &other.url())).unwrap();
    let out = run.command(&["--resume"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    let error = report_of(&out)["lines"][0]["error"].to_string();
    assert!(
        error.contains("another database than the stopped run read"),
        "{error}"
    );
    // The same source again resumes.
    std::fs::write(&run.mapping, &mapping).unwrap();
    let out = run.command(&["--resume"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert_same_rows(&source, &target);
}

#[test]
fn a_target_database_made_again_under_the_run_is_never_written_into() {
    let cluster = testing::shared();
    let source = make_source(cluster, "remade_src", 2_000);
    let target_name = format!("{}_copy", source.name);
    let target = adopt(cluster, &target_name);
    let run = Run::new(&source, &cluster.url(&target_name));
    // Paused after its first load, the run's database is dropped and made again under
    // its name (as another run with --clean would): its sessions, lost, must not
    // reconnect into the new one and report the copy done.
    let paused = Paused::start(&run.mapping, std::path::Path::new(&run.work), "item_done");
    for sql in ["DROP DATABASE {} WITH (FORCE)", "CREATE DATABASE {}"] {
        let sql = sql.replace("{}", &format!("\"{target_name}\""));
        cluster.psql("postgres", &sql).unwrap();
    }
    let out = paused.go();
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    let (_, stderr) = text(&out);
    assert!(
        stderr.contains("is not the one this run wrote into"),
        "{stderr}"
    );
    let tables =
        "SELECT count(*) FROM pg_class WHERE relname IN ('big', 'parent', 'child', 'small')";
    assert_eq!(
        target.psql(tables).trim(),
        "0",
        "written into the new database"
    );
    // Nor does a resume take the new database for the stopped run's.
    let out = run.command(&["--resume"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    let error = report_of(&out)["lines"][0]["error"].to_string();
    assert!(
        error.contains("another than the stopped run wrote into"),
        "{error}"
    );
    assert_eq!(target.psql(tables).trim(), "0", "a resume wrote into it");
    let out = run.plan_resume();
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    assert!(
        text(&out)
            .0
            .contains("another than the stopped run wrote into"),
        "{:?}",
        text(&out)
    );
    let out = run.command(&["--clean"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert_same_rows(&source, &target);
}

/// A resume starts a line the stopped run had not reached as a new run: its split is
/// checked on the source as it is now (a foreign key its rows would break refuses it,
/// before anything is written), not taken as checked by the stopped run.
#[test]
fn a_resume_checks_a_line_the_stopped_run_had_not_started_as_new() {
    let cluster = testing::shared();
    let source = cluster.create_db("resume_new_line_src");
    source.psql(
        "CREATE TABLE filler (id int PRIMARY KEY, pad text);
         INSERT INTO filler SELECT g, repeat('f', 100) FROM generate_series(1, 2000) g;
         CREATE TABLE customers (id int PRIMARY KEY, region text,
                                 referrer int REFERENCES customers);
         INSERT INTO customers VALUES (1, 'eu', NULL), (2, 'us', NULL), (3, 'eu', 1);",
    );
    let first = format!("{}_first", source.name);
    let second = format!("{}_second", source.name);
    let _first_db = adopt(cluster, &first);
    let _second_db = adopt(cluster, &second);
    let dir = tempfile::tempdir().unwrap();
    let mapping = write_mapping(
        &dir,
        &format!(
            "{src}@@{} tables=public.filler\n\
             {src}@@{} tables=public.customers where:public.customers=\"region = 'eu'\"\n",
            cluster.url(&first),
            cluster.url(&second),
            src = source.url()
        ),
    );
    let work = dir.path().join("work");
    let command = |extra: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pgsplit"));
        cmd.args(["run", &mapping, "--no-progress", "--json", "-"])
            .arg("--work-dir")
            .arg(&work)
            .args(extra)
            .env("PGSPLIT_LOG", "warn");
        cmd
    };
    let killed = command(&[])
        .env("PGSPLIT_FAULT_AT", "item_done:1")
        .output()
        .unwrap();
    assert_eq!(killed.status.code(), None, "{:?}", text(&killed));
    // Since the stop, an eu customer is referred to a us one: the second line's key
    // would fail after its copy.
    source.psql("UPDATE customers SET referrer = 2 WHERE id = 3");
    let out = command(&["--resume"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
    let error = report_of(&out)["lines"][1]["error"].to_string();
    assert!(
        error.contains("customers_referrer_fkey") && error.contains("would fail on the target"),
        "{error}"
    );
    let made = cluster
        .psql(
            "postgres",
            &format!("SELECT count(*) FROM pg_database WHERE datname = '{second}'"),
        )
        .unwrap();
    assert_eq!(made.trim(), "0");
}
