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
        // The first signal asks run to wind down, which waits on the silent server; the
        // second stops it at once.
        (
            "run",
            vec!["run", &mapping, "--work-dir", work.to_str().unwrap()],
            2,
        ),
    ];
    for (name, args, signals) in commands {
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
    }
    drop(held);
}
