//! Bad input gets a clear message and exit 2, and nothing is written or connected to:
//! malformed mappings, URLs, flags and work folders.

mod common;

use std::net::TcpListener;
use std::time::Duration;

use common::*;

struct Case {
    name: &'static str,
    mapping: Option<String>,
    args: Vec<String>,
    expect: &'static str,
}

#[test]
fn twenty_plus_kinds_of_bad_input_exit_2_and_touch_nothing() {
    // Every URL points at a listener we own: no connection may reach it.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let src = format!("postgres://app:Sup3rSecret@127.0.0.1:{port}/shop");
    let dst = format!("postgres://app:Sup3rSecret@127.0.0.1:{port}/shop_new");
    let good = format!("{src}@@{dst}\n");
    let dir = tempfile::tempdir().unwrap();
    let a_file = dir.path().join("a-file");
    std::fs::write(&a_file, "x").unwrap();
    let work = dir.path().join("work");
    let w = |s: &str| s.to_string();
    let case = |name, mapping: Option<String>, args: &[&str], expect| Case {
        name,
        mapping,
        args: args.iter().map(|s| s.to_string()).collect(),
        expect,
    };
    let mut cases = vec![
        case(
            "missing mapping file",
            None,
            &["run", "/nonexistent/mapping.txt"],
            "cannot read mapping file",
        ),
        case(
            "no @@",
            Some(format!("{src} {dst}\n")),
            &[],
            ":1: missing '@@'",
        ),
        case(
            "two @@",
            Some(format!("{src}@@{dst}@@{dst}\n")),
            &[],
            ":1: more than one '@@'",
        ),
        case(
            "not postgres scheme",
            Some(format!("mysql://a:Sup3rSecret@h/x@@{dst}\n")),
            &[],
            "source is not a postgres://",
        ),
        case(
            "bad port",
            Some(format!("{src}@@postgres://a:Sup3rSecret@h:70000/x\n")),
            &[],
            "invalid value for port",
        ),
        case(
            "unknown parameter",
            Some(format!("{src}@@{dst}?colour=blue\n")),
            &[],
            "unknown connection parameter \"colour\"",
        ),
        case(
            "bad sslmode",
            Some(format!("{src}@@{dst}?sslmode=sometimes\n")),
            &[],
            "invalid value for sslmode",
        ),
        case(
            "bad connect_timeout",
            Some(format!("{src}@@{dst}?connect_timeout=soon\n")),
            &[],
            "invalid value for connect_timeout",
        ),
        case(
            "bad percent-encoding",
            Some(format!("{src}@@postgres://a:Sup3rSecret@h/%ff\n")),
            &[],
            "percent-encoding",
        ),
        case(
            "target is source",
            Some(format!("{src}@@{src}\n")),
            &[],
            "is the source itself",
        ),
        case(
            "same target twice",
            Some(format!("{good}{src}x@@{dst}\n")),
            &[],
            ":2: target",
        ),
        case(
            "only comments",
            Some(w("# nothing here\n\n")),
            &[],
            "no mapping lines",
        ),
        case(
            "empty source",
            Some(format!("@@{dst}\n")),
            &[],
            "empty source URL",
        ),
        case(
            "bad third line",
            Some(format!("{good}\n{src}\n")),
            &[],
            ":3: missing '@@'",
        ),
        case(
            "jobs zero",
            Some(good.clone()),
            &["--jobs", "0"],
            "--jobs and --index-jobs must be at least 1",
        ),
        case(
            "index jobs zero",
            Some(good.clone()),
            &["--index-jobs", "0"],
            "--jobs and --index-jobs must be at least 1",
        ),
        case(
            "jobs not a number",
            Some(good.clone()),
            &["--jobs", "many"],
            "invalid value 'many'",
        ),
        case(
            "bad size",
            Some(good.clone()),
            &["--split-tables-larger-than", "banana"],
            "is not a size",
        ),
        case(
            "bad size unit",
            Some(good.clone()),
            &["--split-tables-larger-than", "5parsecs"],
            "unknown size unit",
        ),
        case(
            "bad verify level",
            Some(good.clone()),
            &["--verify", "sometimes"],
            "invalid value 'sometimes'",
        ),
        case(
            "schema-only with data-only",
            Some(good.clone()),
            &["--schema-only", "--data-only"],
            "cannot be used with",
        ),
        case(
            "resume with clean",
            Some(good.clone()),
            &["--resume", "--clean"],
            "cannot be used with",
        ),
        case(
            "bad resume mode",
            Some(good.clone()),
            &["--resume=maybe"],
            "invalid value 'maybe'",
        ),
        case(
            "unknown flag",
            Some(good.clone()),
            &["--frobnicate"],
            "unexpected argument '--frobnicate'",
        ),
        case(
            "clean with data only",
            Some(good.clone()),
            &["--data-only", "--clean"],
            "'--data-only' cannot be used with '--clean'",
        ),
        case(
            "work dir is a file",
            Some(good.clone()),
            &["--work-dir", a_file.to_str().unwrap()],
            "exists and is not a folder",
        ),
        case(
            "work dir under a file",
            Some(good.clone()),
            &["--work-dir", a_file.join("sub").to_str().unwrap()],
            "--work-dir",
        ),
        case(
            "a JSON report that cannot be written",
            Some(good.clone()),
            &["--json", "/nonexistent/folder/report.json"],
            "cannot write the JSON report /nonexistent/folder/report.json",
        ),
        // A URL where something else was expected is echoed without its password.
        case(
            "a mapping line instead of a mapping file",
            None,
            &["plan", good.trim()],
            "cannot read mapping file postgres://app:***@",
        ),
        case(
            "a second URL for schema",
            None,
            &["schema", &src, &dst],
            "unexpected argument 'postgres://app:***@",
        ),
        case(
            "a URL as the value of --jobs",
            None,
            &["run", "--jobs", &src, "m.txt"],
            "invalid value 'postgres://app:***@",
        ),
        case(
            "a URL as the JSON report",
            Some(good.clone()),
            &["--json", &format!("{src}/report.json")],
            "cannot write the JSON report postgres://app:***@",
        ),
        case(
            "a password parameter with an encoded name",
            Some(format!("{dst}?pass%77ord=Sup3rSecret&x@@{dst}_b\n")),
            &[],
            ":1: ",
        ),
        case(
            "a password holding @@postgres://",
            Some(format!(
                "{src}@@postgres://app:Sup3rSecret@@postgres://Sup3rSecret@127.0.0.1:{port}/y\n"
            )),
            &[],
            ":1: more than one '@@'",
        ),
        case(
            "a NUL in a database name",
            Some(format!("{src}@@{dst}%00x\n")),
            &[],
            ":1: target URL: invalid value for dbname",
        ),
        case(
            "a database name the server would cut",
            Some(format!("{src}@@{dst}{}\n", "x".repeat(60))),
            &[],
            "longer than 63 bytes",
        ),
        case(
            "resume without work dir",
            Some(good.clone()),
            &[
                "--resume",
                "--work-dir",
                dir.path().join("never").to_str().unwrap(),
            ],
            "there is no run to resume",
        ),
    ];
    // The report would replace the mapping.
    let own_mapping = dir.path().join(format!("mapping-{}.txt", cases.len()));
    cases.push(case(
        "the JSON report into the mapping file",
        Some(good.clone()),
        &["--json", own_mapping.to_str().unwrap()],
        "names the command's own input",
    ));
    assert!(cases.len() >= 20);
    for (i, c) in cases.iter().enumerate() {
        let mut args: Vec<String> = Vec::new();
        if let Some(body) = &c.mapping {
            let path = dir.path().join(format!("mapping-{i}.txt"));
            std::fs::write(&path, body).unwrap();
            args.push("run".into());
            args.push(path.to_str().unwrap().into());
            if !c.args.iter().any(|a| a == "--work-dir") {
                args.push("--work-dir".into());
                args.push(work.to_str().unwrap().into());
            }
        }
        args.extend(c.args.iter().cloned());
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = pgsplit(&refs);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{}: {stdout}\n{stderr}", c.name);
        assert!(
            stderr.contains(c.expect),
            "{}: expected {:?} in:\n{stderr}",
            c.name,
            c.expect
        );
        for line in stderr.lines() {
            let parts: Vec<&str> = line.split(": ").collect();
            assert!(
                parts.windows(2).all(|w| w[0] != w[1]),
                "{}: a cause said twice in {line:?}",
                c.name
            );
        }
        assert!(
            !stderr.contains('\x1b'),
            "{}: terminal colours in a captured stderr:\n{stderr}",
            c.name
        );
        assert!(
            !stderr.contains("Sup3rSecret") && !stdout.contains("Sup3rSecret"),
            "{}: password printed:\n{stderr}",
            c.name
        );
        assert!(!work.exists(), "{}: the work folder was created", c.name);
    }
    // With --json, a script gets a document all the same.
    let broken = dir.path().join("broken.txt");
    std::fs::write(&broken, format!("{src} {dst}\n")).unwrap();
    for command in ["run", "plan", "verify"] {
        let out = pgsplit(&[command, broken.to_str().unwrap(), "--json", "-"]);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{command}: {stdout}\n{stderr}");
        let document: serde_json::Value = serde_json::from_str(&stdout).expect(&stdout);
        assert_eq!(document["status"], "bad_input", "{command}: {document}");
        assert_eq!(document["exit_code"], 2, "{command}: {document}");
        let error = document["error"].as_str().unwrap();
        assert!(error.contains(":1: missing '@@'"), "{command}: {error}");
        assert!(!stdout.contains("Sup3rSecret"), "{command}: {stdout}");
    }
    std::thread::sleep(Duration::from_millis(100));
    assert!(listener.accept().is_err(), "a connection was opened");
    assert_eq!(std::fs::read_to_string(&a_file).unwrap(), "x");
    assert_eq!(std::fs::read_to_string(&own_mapping).unwrap(), good);
}

#[test]
fn an_unreachable_server_is_one_plain_line_per_error_without_the_password() {
    // A port nobody listens on once the listener is gone.
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let mapping = dir.path().join("mapping.txt");
    std::fs::write(
        &mapping,
        format!(
            "postgres://app:Sup3rSecret@127.0.0.1:{port}/shop@@postgres://app:Sup3rSecret@127.0.0.1:{port}/shop_new\n"
        ),
    )
    .unwrap();
    let work = dir.path().join("work");
    let out = pgsplit(&[
        "run",
        mapping.to_str().unwrap(),
        "--work-dir",
        work.to_str().unwrap(),
        "--no-progress",
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("cannot connect to postgres://app@127.0.0.1:"),
        "{stderr}"
    );
    // The log goes to a pipe here: no terminal colour codes in it.
    assert!(!stderr.contains('\x1b'), "{stderr:?}");
    assert!(
        !stderr.contains("Sup3rSecret") && !stdout.contains("Sup3rSecret"),
        "{stdout}\n{stderr}"
    );
    // plan -q: no report, but its problems, as errors.
    let out = pgsplit(&["plan", "-q", mapping.to_str().unwrap()]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        stderr.contains("line 1: source: cannot connect to postgres://app@127.0.0.1:"),
        "{stderr}"
    );
    assert!(!stderr.contains("Sup3rSecret"), "{stderr}");
}
