//! Ctrl-C and SIGTERM end every command with exit 130, also while a server that took the
//! connection never answers (`plan`, `verify` and `schema` were killed by the signal, or
//! waited for good; `run` ignored every signal while it waited).

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// Sends SIGTERM to `child`.
fn terminate(child: &Child) {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
}

#[test]
fn a_signal_stops_every_command_waiting_on_a_silent_server() {
    // Takes connections and never answers; a minute of connect_timeout: the wait is ours.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = std::thread::spawn(move || {
        let mut open = Vec::new();
        for socket in listener.incoming().take(8) {
            open.push(socket);
        }
        std::thread::sleep(Duration::from_secs(120));
    });
    let url = |db: &str| {
        format!(
            "postgres://app:Sup3rSecret@127.0.0.1:{port}/{db}?connect_timeout=60&sslmode=disable"
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let mapping = write_mapping(&dir, &format!("{}@@{}\n", url("shop"), url("shop_new")));
    let work = dir.path().join("work");
    let source = url("shop");
    let commands: Vec<(&str, Vec<&str>, usize)> = vec![
        ("plan", vec!["plan", &mapping], 1),
        ("verify", vec!["verify", &mapping], 1),
        ("schema", vec!["schema", &source], 1),
        // Nothing is written before a line starts: the first signal ends the run (it
        // waited for the silent server, and then failed, exit 1).
        (
            "run",
            vec!["run", &mapping, "--work-dir", work.to_str().unwrap()],
            1,
        ),
    ];
    for (name, mut args, signals) in commands {
        args.extend(["--json", "-"]);
        let child = Command::new(env!("CARGO_BIN_EXE_pgsplit"))
            .args(&args)
            .env("PGSPLIT_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        let stopped = Instant::now();
        for _ in 0..signals {
            terminate(&child);
            std::thread::sleep(Duration::from_millis(300));
        }
        let out = child.wait_with_output().unwrap();
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(130), "{name}: {stdout}\n{stderr}");
        assert!(
            stopped.elapsed() < Duration::from_secs(10),
            "{name} took {:?}",
            stopped.elapsed()
        );
        assert!(!stderr.contains("Sup3rSecret"), "{name}: {stderr}");
        // A script reading --json learns it too.
        let document: serde_json::Value = serde_json::from_str(&stdout).expect(&stdout);
        assert_eq!(document["status"], "interrupted", "{name}: {document}");
        assert_eq!(document["exit_code"], 130, "{name}: {document}");
    }
    drop(held);
}

/// The first signal stops a pre-data statement waiting on a lock another session holds
/// (it waited for the lock, then wound down); the resume then copies everything.
#[test]
fn a_signal_stops_a_pre_data_statement_waiting_on_a_lock() {
    let cluster = pgsplit_pg::testing::shared();
    let source = cluster.create_db("stop_locked_src");
    source.psql("CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 100) g");
    let target = cluster.create_db("stop_locked_dst");
    // Held for a minute: no table can be made in the target meanwhile.
    let mut holder = cluster
        .psql_command(&target.name)
        .args([
            "-c",
            "BEGIN; LOCK pg_class IN SHARE MODE; SELECT pg_sleep(60)",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let waiting = |what: &str| {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let found = target.psql(&format!(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND {what}"
            ));
            if found.trim() != "0" {
                return;
            }
            assert!(Instant::now() < deadline, "never: {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    waiting("query LIKE '%pg_sleep(60)%' AND wait_event = 'PgSleep'");
    let dir = tempfile::tempdir().unwrap();
    let mapping = write_mapping(&dir, &format!("{}@@{}\n", source.url(), target.url()));
    let work = dir.path().join("work");
    let run = |extra: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pgsplit"));
        cmd.args(["run", &mapping, "--no-progress", "--work-dir"])
            .arg(&work)
            .args(extra)
            .env("PGSPLIT_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    };
    let child = run(&[]).spawn().unwrap();
    waiting("wait_event_type = 'Lock'");
    let stopped = Instant::now();
    terminate(&child);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{:?}", text(&out));
    assert!(
        stopped.elapsed() < Duration::from_secs(15),
        "took {:?} (the lock is held for 60 s)",
        stopped.elapsed()
    );
    // The holder's backend would sleep on without its client: ended on the server.
    target.psql(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()",
    );
    let _ = holder.wait();
    let out = run(&["--resume"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert_same_rows(&source, &target);
}
