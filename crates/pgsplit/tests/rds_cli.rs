//! `pgsplit rds migrate` as a process: what a user sees when they stop it.

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// `pgsplit rds migrate` of one instance through `endpoint`, with made-up credentials.
fn migrate(endpoint: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pgsplit"));
    cmd.args([
        "rds",
        "migrate",
        "--source-region",
        "us-east-1",
        "--target-region",
        "eu-west-1",
        "--instance",
        "orders",
        "--endpoint-url",
        endpoint,
    ])
    .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    .env("AWS_SECRET_ACCESS_KEY", "not-a-real-secret")
    .env_remove("AWS_PROFILE")
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    cmd
}

/// Waits until `child` has connected to `listener` (its request is in flight, unanswered),
/// then stops it with SIGTERM and returns what it printed.
fn stop_in_flight(listener: &TcpListener, child: Child) -> Output {
    let (_conn, _) = listener.accept().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn an_interrupted_migration_says_what_was_asked_of_aws_and_exits_130() {
    // An endpoint that accepts connections and never answers: the first call hangs, as a
    // long wait would.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let child = migrate(&endpoint)
        .args(["--json", json.to_str().unwrap()])
        .env("PGSPLIT_LOG", "warn")
        .spawn()
        .unwrap();
    let stopped = Instant::now();
    let out = stop_in_flight(&listener, child);
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

#[test]
fn verbose_output_names_no_aws_credential() {
    // -vv is pgsplit's own debug output: the SDK's (which signs requests, naming the
    // access key id) stays at warnings.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let child = migrate(&endpoint)
        .arg("-vv")
        .env_remove("PGSPLIT_LOG")
        .spawn()
        .unwrap();
    // The request is signed and sent by the time it reaches the listener.
    let out = stop_in_flight(&listener, child);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(130), "{stdout}\n{stderr}");
    // pgsplit's own debug lines are there...
    assert!(stderr.contains("DEBUG"), "{stderr}");
    // ...and no credential.
    for secret in ["AKIDEXAMPLE", "not-a-real-secret"] {
        assert!(!stderr.contains(secret), "{secret} in:\n{stderr}");
        assert!(!stdout.contains(secret), "{secret} in:\n{stdout}");
    }
}

/// The SDK printed an endpoint's query in its warnings (`query=token=…`): one from the
/// environment or the profile is held to --endpoint-url's rules.
#[test]
fn an_endpoint_from_the_environment_or_profile_with_a_query_is_refused_unechoed() {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("config");
    std::fs::write(
        &profile,
        "[default]\nregion = us-east-1\nendpoint_url = http://127.0.0.1:9/?token=XYZSECRET\n",
    )
    .unwrap();
    let cases: [(&str, &str); 3] = [
        (
            "AWS_ENDPOINT_URL_RDS",
            "http://127.0.0.1:9/?token=XYZSECRET",
        ),
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:9/#XYZSECRET"),
        ("AWS_CONFIG_FILE", profile.to_str().unwrap()),
    ];
    for (name, value) in cases {
        let out = Command::new(env!("CARGO_BIN_EXE_pgsplit"))
            .args(["rds", "migrate", "--source-region", "us-east-1"])
            .args(["--target-region", "eu-west-1", "--instance", "orders"])
            .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
            .env("AWS_SECRET_ACCESS_KEY", "not-a-real-secret")
            .env_remove("AWS_PROFILE")
            .env(name, value)
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{name}: {stdout}\n{stderr}");
        assert!(stderr.contains("AWS_ENDPOINT_URL_RDS"), "{name}: {stderr}");
        assert!(
            !stderr.contains("XYZSECRET") && !stdout.contains("XYZSECRET"),
            "{name}: {stdout}\n{stderr}"
        );
    }
}

#[test]
fn an_endpoint_url_with_a_password_is_refused_without_echoing_it() {
    let out = migrate("http://proxyuser:hunter2secret@127.0.0.1:9")
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(stderr.contains("--endpoint-url"), "{stderr}");
    assert!(!stderr.contains("hunter2secret") && !stdout.contains("hunter2secret"));
}
