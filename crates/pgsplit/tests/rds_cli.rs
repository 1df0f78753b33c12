//! `pgsplit rds migrate` as a process: what a user sees when they stop it.

mod common;

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

#[test]
fn an_interrupted_migration_says_what_was_asked_of_aws_and_exits_130() {
    // An endpoint that accepts connections and never answers: the first call hangs, as a
    // long wait would.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let child = Command::new(env!("CARGO_BIN_EXE_pgsplit"))
        .args([
            "rds",
            "migrate",
            "--source-region",
            "us-east-1",
            "--target-region",
            "eu-west-1",
            "--instance",
            "orders",
            "--endpoint-url",
            &endpoint,
            "--json",
            json.to_str().unwrap(),
        ])
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "not-a-real-secret")
        .env_remove("AWS_PROFILE")
        .env("PGSPLIT_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until pgsplit has connected (its request is in flight), then stop it.
    let (_conn, _) = listener.accept().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let stopped = Instant::now();
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(130), "{stdout}\n{stderr}");
    assert!(stopped.elapsed() < Duration::from_secs(5));
    // Stopped while the source region was being listed: nothing was asked yet.
    assert!(
        stderr.contains("interrupted before any instance was planned: nothing was asked of AWS"),
        "{stderr}"
    );
    assert!(!stderr.contains("not-a-real-secret"), "{stderr}");
    // --json says so too (no report was written).
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["interrupted"], true, "{report}");
    assert_eq!(report["under_way"], serde_json::json!([]), "{report}");
}
