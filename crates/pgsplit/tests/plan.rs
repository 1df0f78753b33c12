//! `pgsplit plan` end to end: the real binary against real clusters.

mod common;

use common::*;

use std::net::TcpListener;
use std::time::Duration;

use pgsplit_pg::testing::{self, Cluster, ClusterOptions, TestDb};

fn password_url(cluster: &Cluster, role: &str, password: &str, db: &str) -> String {
    format!(
        "postgres://{role}:{password}@127.0.0.1:{}/{db}?sslmode=disable",
        cluster.port()
    )
}

#[test]
fn plan_shows_facts_and_never_prints_the_password() {
    let cluster = testing::shared();
    let source = cluster.create_db("plan_src");
    let full_target = cluster.create_db("plan_full");
    let role = format!("{}_r", source.name);
    let secret = "Pl4n-s3cret-%40x";
    source.psql(&format!(
        "CREATE ROLE \"{role}\" LOGIN SUPERUSER PASSWORD 'Pl4n-s3cret-@x' IN ROLE password_users;
         CREATE EXTENSION IF NOT EXISTS hstore;
         CREATE TABLE big AS SELECT g AS id, repeat('x', 200) AS pad FROM generate_series(1, 20000) g;
         CREATE TABLE small (id int); ANALYZE;"
    ));
    full_target.psql("CREATE TABLE leftover (id int)");
    let new_target = format!("{}_new", source.name);
    let dir = tempfile::tempdir().unwrap();
    let mapping = write_mapping(
        &dir,
        &format!(
            "# two lines\n{}@@{}\n\n{}@@{}\n",
            password_url(cluster, &role, secret, &source.name),
            password_url(cluster, &role, secret, &new_target),
            password_url(cluster, &role, secret, &source.name),
            password_url(cluster, &role, secret, &full_target.name),
        ),
    );
    let out = pgsplit(&["plan", &mapping]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("line 2:"), "{stdout}");
    assert!(stdout.contains("line 4:"), "{stdout}");
    assert!(stdout.contains("PostgreSQL 15"), "{stdout}");
    assert!(stdout.contains("2 tables"), "{stdout}");
    assert!(stdout.contains("hstore"), "{stdout}");
    assert!(stdout.contains("public.big"), "{stdout}");
    assert!(stdout.contains("~20k rows"), "{stdout}");
    assert!(
        stdout.contains("database does not exist (will be created)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("target database is not empty (1 objects)"),
        "{stdout}"
    );
    assert!(stdout.contains("2 line(s), 1 problem(s)"), "{stdout}");

    let json_file = dir.path().join("plan.json");
    let out = pgsplit(&["plan", &mapping, "--json", json_file.to_str().unwrap()]);
    let (stdout, stderr) = text(&out);
    let json = std::fs::read_to_string(&json_file).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["lines"][0]["source"]["tables"], 2);
    assert_eq!(doc["lines"][0]["target"]["database_exists"], false);
    assert_eq!(doc["lines"][1]["problems"][0]["kind"], "target_not_empty");
    let out_stdout_json = pgsplit(&["plan", &mapping, "--json"]);
    let (stdout_json, stderr_json) = text(&out_stdout_json);
    assert!(serde_json::from_str::<serde_json::Value>(&stdout_json).is_ok());
    for blob in [&stdout, &stderr, &json, &stdout_json, &stderr_json] {
        assert!(!blob.contains("Pl4n-s3cret"), "password leaked: {blob}");
    }
    // --clean: a non-empty target is what the run will replace, not a problem.
    let out = pgsplit(&["plan", &mapping, "--clean"]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    source.psql(&format!("DROP OWNED BY \"{role}\"; DROP ROLE \"{role}\""));
}

#[test]
fn broken_line_exits_2_before_any_connection() {
    // Lines 1 and 2 point at a listener we own: no connection may reach it.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let mapping = write_mapping(
        &dir,
        &format!(
            "postgres://u:hunter2@127.0.0.1:{port}/a@@postgres://u:hunter2@127.0.0.1:{port}/b\n\
             postgres://u@127.0.0.1:{port}/c@@postgres://u@127.0.0.1:{port}/d\n\
             postgres://u:hunter2@127.0.0.1:{port}/e postgres://u@127.0.0.1:{port}/f\n"
        ),
    );
    let out = pgsplit(&["plan", &mapping]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(stderr.contains("mapping.txt:3: missing '@@'"), "{stderr}");
    assert!(
        !stderr.contains("hunter2") && !stdout.contains("hunter2"),
        "{stderr}"
    );
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        listener.accept().is_err(),
        "pgsplit connected before validating the mapping"
    );
}

#[test]
fn unreachable_servers_and_older_targets_are_problems() {
    let cluster = testing::shared();
    let source = cluster.create_db("plan_unreach");
    let dir = tempfile::tempdir().unwrap();
    let dead_port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut body = format!(
        "{}@@postgres://x@127.0.0.1:{dead_port}/gone?sslmode=disable\n",
        cluster.url(&source.name)
    );
    let older = std::env::var_os("PGSPLIT_SKIP_OTHER_VERSIONS")
        .is_none()
        .then(|| testing::shared_version(13));
    if let Some(older) = older {
        body.push_str(&format!(
            "{}@@{}\n",
            cluster.url(&source.name),
            older.url("fresh13")
        ));
    }
    let mapping = write_mapping(&dir, &body);
    let (doc, stdout) = plan_with_problems(&mapping);
    let first = &doc["lines"][0]["problems"][0];
    assert_eq!(first["kind"], "target_unreachable");
    let message = first["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("127.0.0.1:{dead_port}/gone")),
        "{message}"
    );
    if older.is_some() {
        assert_eq!(problem_kinds(&doc, 1), ["target_older"], "{stdout}");
    }
}

/// `pgsplit plan --json` of `mapping`, which must find problems (exit 1): the document
/// and its text.
fn plan_with_problems(mapping: &str) -> (serde_json::Value, String) {
    let out = pgsplit(&["plan", mapping, "--json"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    (serde_json::from_str(&stdout).unwrap(), stdout)
}

/// Two lines of one source that take the same shard: a problem of the second (its rows
/// would be copied to both targets).
#[test]
fn a_shard_taken_by_two_lines_is_a_problem() {
    let cluster = testing::shared();
    let source = cluster.create_db("plan_shard_twice");
    source.psql("CREATE TABLE accounts (tenant_id int, name text)");
    let dir = tempfile::tempdir().unwrap();
    let lines: String = [0, 1, 1]
        .iter()
        .enumerate()
        .map(|(n, r)| {
            format!(
                "{}@@{} shard=tenant_id:{r}/3\n",
                source.url(),
                cluster.url(&format!("plan_shard_{n}"))
            )
        })
        .collect();
    let mapping = write_mapping(&dir, &lines);
    // A selection that does not fit the source, as run takes it: exit 2.
    let out = pgsplit(&["plan", &mapping, "--json"]);
    assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
    let doc: serde_json::Value = serde_json::from_str(&text(&out).0).unwrap();
    assert!(problem_kinds(&doc, 0).is_empty(), "{doc}");
    assert!(problem_kinds(&doc, 1).is_empty(), "{doc}");
    assert_eq!(problem_kinds(&doc, 2), ["shard_taken_twice"], "{doc}");
    let message = doc["lines"][2]["problems"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("shard=tenant_id:1/3 is line 2's too"),
        "{message}"
    );
}

/// Tables no line of a split source takes are listed (their rows would stay behind);
/// not when a line copies the whole database.
#[test]
fn tables_no_split_line_takes_are_listed() {
    let cluster = testing::shared();
    let source = cluster.create_db("plan_untaken");
    source.psql(
        "CREATE SCHEMA a; CREATE SCHEMA b;
         CREATE TABLE a.p (id int) PARTITION BY RANGE (id);
         CREATE TABLE a.p1 PARTITION OF a.p FOR VALUES FROM (0) TO (10);
         CREATE TABLE a.p2 PARTITION OF a.p FOR VALUES FROM (10) TO (20);
         CREATE TABLE a.t2 AS SELECT generate_series(1, 5000) AS id;
         CREATE TABLE b.t3 (id int); CREATE TABLE b.t4 (id serial);
         CREATE FUNCTION public.tcount() RETURNS int LANGUAGE sql AS 'SELECT 1';
         CREATE FUNCTION b.taken() RETURNS int LANGUAGE sql AS 'SELECT 2';
         CREATE SEQUENCE public.counter;",
    );
    let dir = tempfile::tempdir().unwrap();
    let url = source.url();
    // Tables as a run counts them: the partitioned a.p is its two leaves.
    let whole_line = format!("{url}@@{}\n", cluster.url("plan_untaken_x"));
    let out = pgsplit(&["plan", &write_mapping(&dir, &whole_line), "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&text(&out).0).unwrap();
    assert_eq!(doc["lines"][0]["source"]["tables"], 5, "{doc}");
    let split = format!(
        "{url}@@{} tables=a.p\n{url}@@{} schemas=b exclude=b.t3\n",
        cluster.url("plan_untaken_1"),
        cluster.url("plan_untaken_2")
    );
    let mapping = write_mapping(&dir, &split);
    let out = pgsplit(&["plan", &mapping, "--json"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let untaken = &doc["untaken"];
    assert_eq!(untaken.as_array().unwrap().len(), 1, "{untaken}");
    assert_eq!(untaken[0]["lines"], serde_json::json!([1, 2]), "{untaken}");
    let names: Vec<&str> = untaken[0]["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    // Largest first.
    assert_eq!(names, ["a.t2", "b.t3"], "{untaken}");
    // Objects of their own no line writes (not b's function, nor the sequence b.t4 owns).
    assert_eq!(
        untaken[0]["objects"],
        serde_json::json!(["function public.tcount()", "sequence public.counter"]),
        "{untaken}"
    );
    let out = pgsplit(&["plan", &mapping]);
    let stdout = text(&out).0;
    assert!(
        stdout.contains("takes these 2 table(s)") && stdout.contains("b.t3"),
        "{stdout}"
    );
    assert!(
        stdout.contains("writes these 2 object(s), which no table it takes needs: function public.tcount(), sequence public.counter"),
        "{stdout}"
    );
    // A line that copies the whole database takes them all.
    let whole = format!("{split}{url}@@{}\n", cluster.url("plan_untaken_3"));
    let out = pgsplit(&["plan", &write_mapping(&dir, &whole), "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&text(&out).0).unwrap();
    assert_eq!(doc["untaken"], serde_json::json!([]));
}

/// Shard lines that leave a remainder to no line: its rows would stay behind, and verify
/// checks coverage only when every remainder is taken.
#[test]
fn a_shard_no_line_takes_is_listed() {
    let cluster = testing::shared();
    let source = cluster.create_db("plan_untaken_shard");
    source.psql(
        "CREATE TABLE accounts (tenant_id int, name text);
         INSERT INTO accounts SELECT i, 'n' FROM generate_series(1, 3000) i;
         ANALYZE accounts;",
    );
    let dir = tempfile::tempdir().unwrap();
    let line = |r: u32| {
        format!(
            "{}@@{} shard=tenant_id:{r}/3\n",
            source.url(),
            cluster.url(&format!("plan_untaken_shard_{r}"))
        )
    };
    let plan = |body: &str| {
        let out = pgsplit(&["plan", &write_mapping(&dir, body), "--json"]);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
        serde_json::from_str::<serde_json::Value>(&stdout).unwrap()
    };
    let doc = plan(&(line(0) + &line(1)));
    // A hash spreads the rows evenly: a third each (the planner, with no statistics for
    // the hash expression, would guess 0.5% of them).
    for i in 0..2 {
        let rows = doc["lines"][i]["split"]["estimated_rows"].as_i64().unwrap();
        assert_eq!(rows, 1000, "{doc}");
    }
    assert_eq!(
        doc["untaken"][0]["shards"],
        serde_json::json!([{
            "key": "tenant_id", "modulus": 3, "remainders": [2], "tables": ["public.accounts"]
        }]),
        "{doc}"
    );
    let doc = plan(&(line(0) + &line(1) + &line(2)));
    assert_eq!(doc["untaken"], serde_json::json!([]), "{doc}");

    // With a row condition besides the shard: the condition's rows over the modulus.
    let filtered = format!(
        "{}@@{} shard=tenant_id:0/3 where:public.accounts=\"tenant_id <= 1500\"\n",
        source.url(),
        cluster.url("plan_untaken_shard_w")
    );
    let doc = plan(&filtered);
    let rows = doc["lines"][0]["split"]["estimated_rows"].as_i64().unwrap();
    assert!((400..=600).contains(&rows), "{rows}: {doc}");

    // Per table: a remainder another table's line takes does not cover this one.
    source.psql("CREATE TABLE orders (tenant_id int, n int)");
    let cut = |shard: &str, more: &str| {
        format!(
            "{}@@{} shard=tenant_id:{shard}{more}\n",
            source.url(),
            cluster.url(&format!("plan_untaken_shard_{}", shard.replace('/', "_")))
        )
    };
    let doc = plan(&(cut("0/2", " tables=public.accounts") + &cut("1/2", "")));
    assert_eq!(
        doc["untaken"][0]["shards"],
        serde_json::json!([{
            "key": "tenant_id", "modulus": 2, "remainders": [0], "tables": ["public.orders"]
        }]),
        "{doc}"
    );
    // Moduli that differ: 0/2 holds 0/4 and 2/4.
    let doc = plan(&(cut("0/2", "") + &cut("1/4", "") + &cut("3/4", "")));
    assert_eq!(doc["untaken"], serde_json::json!([]), "{doc}");
    let doc = plan(&(cut("0/2", "") + &cut("1/4", "")));
    assert_eq!(
        doc["untaken"][0]["shards"],
        serde_json::json!([{
            "key": "tenant_id", "modulus": 4, "remainders": [3],
            "tables": ["public.accounts", "public.orders"]
        }]),
        "{doc}"
    );
}

/// A table a run leaves out (a child of a foreign table) takes no rows with its line: it
/// was shown among the line's tables and left out of the untaken list.
#[test]
fn a_table_the_run_leaves_out_is_untaken() {
    let cluster = testing::shared();
    let source = cluster.create_db("plan_untaken_ft");
    source.psql(
        "CREATE SCHEMA c; CREATE SCHEMA d;
         CREATE FOREIGN DATA WRAPPER plan_untaken_fdw;
         CREATE SERVER plan_untaken_srv FOREIGN DATA WRAPPER plan_untaken_fdw;
         CREATE FOREIGN TABLE c.ft (a int) SERVER plan_untaken_srv;
         CREATE TABLE c.child (z int) INHERITS (c.ft);
         CREATE TABLE d.t (id int);",
    );
    let dir = tempfile::tempdir().unwrap();
    let url = source.url();
    let body = format!(
        "{url}@@{} schemas=c\n{url}@@{} schemas=d\n",
        cluster.url("plan_untaken_ft_1"),
        cluster.url("plan_untaken_ft_2")
    );
    let out = pgsplit(&["plan", &write_mapping(&dir, &body), "--json"]);
    let (stdout, stderr) = text(&out);
    let doc: serde_json::Value = serde_json::from_str(&stdout).expect(&stderr);
    assert_eq!(
        doc["lines"][0]["split"]["tables"],
        serde_json::json!([]),
        "{stdout}"
    );
    let names: Vec<&str> = doc["untaken"][0]["tables"]
        .as_array()
        .unwrap_or_else(|| panic!("{stdout}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["c.child"], "{stdout}");
    // The source's count and largest tables are of the tables a run copies: d.t only.
    assert_eq!(doc["lines"][0]["source"]["tables"], 1, "{stdout}");
    let largest = doc["lines"][0]["source"]["largest_tables"].to_string();
    assert!(
        !largest.contains("child") && largest.contains("\"t\""),
        "{largest}"
    );
}

/// `plan --data-only` checks what `run --data-only` needs of its target (its tables with
/// the source's columns, empty; its sequences and materialized views), not emptiness:
/// before, plan could only call such a target "not empty".
#[test]
fn plan_data_only_checks_the_targets_tables() {
    let cluster = testing::shared();
    let source = cluster.create_db("plan_data_only");
    source.psql(
        "CREATE TABLE t (id int, name text); INSERT INTO t VALUES (1, 'a'), (2, 'b');
         CREATE SEQUENCE s; CREATE MATERIALIZED VIEW mv AS SELECT count(*) FROM t;",
    );
    let target_db = format!("{}_copy", source.name);
    let target = adopt(cluster, &target_db);
    run_copy(&source, &target_db, &["--schema-only"], 0);
    let dir = tempfile::tempdir().unwrap();
    let mapping = write_mapping(
        &dir,
        &format!("{}@@{}\n", source.url(), cluster.url(&target_db)),
    );
    let plan = |args: &[&str], code: i32| {
        let mut all = vec!["plan", mapping.as_str(), "--json"];
        all.extend(args);
        let out = pgsplit(&all);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(code), "{stdout}\n{stderr}");
        serde_json::from_str::<serde_json::Value>(&stdout).unwrap()
    };
    assert_eq!(problem_kinds(&plan(&[], 1), 0), ["target_not_empty"]);
    assert_eq!(
        plan(&["--data-only"], 0)["lines"][0]["problems"],
        serde_json::json!([])
    );
    target.psql("DROP MATERIALIZED VIEW mv; ALTER TABLE t DROP COLUMN name");
    let doc = plan(&["--data-only"], 1);
    assert_eq!(problem_kinds(&doc, 0), ["data_only_mismatch"], "{doc}");
    let message = doc["lines"][0]["problems"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("materialized view public.mv does not exist")
            && message.contains("public.t.name"),
        "{message}"
    );
    // A target role that may not turn triggers and foreign keys off for the load.
    let role = format!("loader_{}", source.name);
    cluster
        .psql("postgres", &format!("CREATE ROLE \"{role}\" LOGIN"))
        .unwrap();
    let as_role = role_url(cluster, &role, &target_db);
    let limited = write_mapping(&dir, &format!("{}@@{as_role}\n", source.url()));
    let out = pgsplit(&["plan", &limited, "--data-only"]);
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    assert!(
        text(&out).0.contains("session_replication_role"),
        "{:?}",
        text(&out)
    );
    // A target database that does not exist has no tables to load.
    let missing = write_mapping(
        &dir,
        &format!("{}@@{}\n", source.url(), cluster.url("plan_data_only_none")),
    );
    let out = pgsplit(&["plan", &missing, "--json", "--data-only"]);
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    assert!(text(&out).0.contains("data_only_mismatch"));
}

/// A `--data-only` run sets the target's sequences and refreshes its materialized views
/// after the rows are in: a target role that may not (no UPDATE on the sequence, not the
/// view's owner) is found by plan and by the run before anything is loaded; with those
/// rights the same role's run loads.
#[test]
fn a_data_only_target_role_that_may_not_set_or_refresh_is_a_problem() {
    let cluster = testing::shared();
    let source = cluster.create_db("plan_data_only_rights");
    source.psql(
        "CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2);
         CREATE SEQUENCE s; SELECT nextval('s');
         CREATE MATERIALIZED VIEW mv AS SELECT count(*) AS n FROM t;
         CREATE TABLE u (id int, v int); INSERT INTO u VALUES (1, 5);
         CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1';
         REVOKE EXECUTE ON FUNCTION f() FROM PUBLIC;
         CREATE MATERIALIZED VIEW mv2 AS SELECT sum(v) + f() AS n FROM u;",
    );
    let target_db = format!("{}_copy", source.name);
    let target = adopt(cluster, &target_db);
    run_copy(&source, &target_db, &["--schema-only"], 0);
    let role = data_only_loader(cluster, &source.name);
    target.psql(&format!(
        "GRANT SELECT, INSERT, TRUNCATE ON t TO \"{role}\"; GRANT SELECT ON s, mv TO \"{role}\";
         GRANT SELECT (id), INSERT, TRUNCATE ON u TO \"{role}\""
    ));
    let as_role = role_url(cluster, &role, &target_db);
    let dir = tempfile::tempdir().unwrap();
    let mapping = write_mapping(&dir, &format!("{}@@{as_role}\n", source.url()));
    let out = pgsplit(&["plan", &mapping, "--json", "--data-only"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(problem_kinds(&doc, 0), ["data_only_mismatch"], "{doc}");
    let message = doc["lines"][0]["problems"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("may not set sequence public.s")
            && message.contains("may not refresh materialized view public.mv"),
        "{message}"
    );
    let work = dir.path().join("work");
    let out = pgsplit(&[
        "run",
        &mapping,
        "--data-only",
        "--work-dir",
        work.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&out);
    assert_ne!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stderr.contains("may not refresh"), "{stdout}\n{stderr}");
    assert_eq!(target.psql("SELECT count(*) FROM t").trim(), "0");
    // Refreshing runs the view's query as its owner, who must read what it reads.
    target.psql(&format!(
        "GRANT UPDATE ON s TO \"{role}\"; ALTER MATERIALIZED VIEW mv OWNER TO \"{role}\";
         ALTER MATERIALIZED VIEW mv2 OWNER TO \"{role}\""
    ));
    let out = pgsplit(&["plan", &mapping, "--json", "--data-only"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let message = doc["lines"][0]["problems"][0]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "materialized view public.mv2 cannot be refreshed: its owner {role} lacks"
        )) && message.contains("SELECT on public.u (column v)")
            && message.contains("EXECUTE on function public.f()")
            && !message.contains("public.mv ")
            && !message.contains("column id"),
        "{message}"
    );
    target.psql(&format!(
        "GRANT SELECT ON u TO \"{role}\"; GRANT EXECUTE ON FUNCTION f() TO \"{role}\""
    ));
    let out = pgsplit(&["plan", &mapping, "--data-only"]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let out = pgsplit(&[
        "run",
        &mapping,
        "--data-only",
        "--work-dir",
        work.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert_eq!(target.psql("SELECT n FROM mv").trim(), "2");
    assert_eq!(target.psql("SELECT n FROM mv2").trim(), "6");
    assert_eq!(target.psql("SELECT last_value FROM s").trim(), "1");
}

/// A filtered table's rows are estimated with its filter (a shard of a 10000-row table
/// was shown as 10000 rows), and a table never analyzed from its size (shown as ~0).
#[test]
fn a_split_lines_rows_are_estimated_with_its_filters() {
    let cluster = testing::shared();
    let source = cluster.create_db("plan_estimates");
    source.psql(
        "CREATE TABLE t (id int, tenant_id int);
         INSERT INTO t SELECT g, g % 100 FROM generate_series(1, 10000) g;
         ANALYZE t;
         CREATE TABLE u (id int, pad text);
         INSERT INTO u SELECT g, repeat('x', 100) FROM generate_series(1, 5000) g;",
    );
    let dir = tempfile::tempdir().unwrap();
    let mapping = write_mapping(
        &dir,
        &format!(
            "{}@@{} where:public.t=\"tenant_id < 10\"\n",
            source.url(),
            cluster.url("plan_estimates_a")
        ),
    );
    let out = pgsplit(&["plan", &mapping, "--json"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let split = &doc["lines"][0]["split"];
    let rows = |name: &str| {
        split["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap()["estimated_rows"]
            .as_i64()
            .unwrap()
    };
    let (t, u) = (rows("t"), rows("u"));
    assert!((500..=2000).contains(&t), "t: {t} ({split})");
    assert!((2000..=25000).contains(&u), "u: {u} ({split})");
    assert_eq!(split["estimated_rows"].as_i64().unwrap(), t + u, "{split}");
}

/// Plans `source` into `newer` and into `not_newer`: the first line's only problem is
/// `target_cannot_hold`, whose message is returned; the second line has none.
fn cannot_hold_on_first(source: &TestDb<'_>, newer: &str, not_newer: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let url = source.url();
    let body = format!("{url}@@{newer}\n{url}@@{not_newer}\n");
    let (doc, stdout) = plan_with_problems(&write_mapping(&dir, &body));
    assert_eq!(problem_kinds(&doc, 0), ["target_cannot_hold"], "{stdout}");
    assert_eq!(
        doc["lines"][1]["problems"],
        serde_json::json!([]),
        "{stdout}"
    );
    doc["lines"][0]["problems"][0]["message"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A child column without its parent's NOT NULL (possible before 18) cannot be made on
/// 18: plan says so for an 18 target, not for an older one.
#[test]
fn a_child_without_its_parents_not_null_is_a_problem_for_18() {
    if skip_other_versions("a plan for 18") {
        return;
    }
    let cluster = testing::shared();
    let source = cluster.create_db("plan_nn_src");
    source.psql(
        "CREATE TABLE parent (a int NOT NULL);
         CREATE TABLE child () INHERITS (parent);
         ALTER TABLE child ALTER COLUMN a DROP NOT NULL;",
    );
    let message = cannot_hold_on_first(
        &source,
        &testing::shared_version(18).url("fresh18"),
        &cluster.url("plan_nn_fresh15"),
    );
    assert!(message.contains("public.child.a"), "{message}");
}

/// From a 13 source, what 14 refuses: an aggregate over array_append(anyarray,
/// anyelement), a range type whose multirange name is taken, the factorial operators;
/// not for a 13 target.
#[test]
fn what_14_refuses_is_a_problem_for_a_newer_target() {
    if skip_other_versions("a plan from 13") {
        return;
    }
    let older = testing::shared_version(13);
    let source = older.create_db("plan_14_src");
    source.psql(
        "CREATE AGGREGATE accum (anyelement) (sfunc = array_append, stype = anyarray, initcond = '{}');
         CREATE AGGREGATE int_accum (int) (sfunc = array_append, stype = int[], initcond = '{}');
         CREATE TYPE floatmultirange AS ENUM ('x');
         CREATE TYPE floatrange AS RANGE (subtype = float8);
         CREATE TYPE textrange AS RANGE (subtype = text);
         CREATE TABLE f (id int); CREATE INDEX f_fact ON f (((id % 5) !));
         CREATE VIEW fv AS SELECT !! 3 AS six;
         CREATE DOMAIN fd AS bigint DEFAULT 4 !;
         CREATE DOMAIN fc AS bigint CONSTRAINT fc_small CHECK (VALUE ! < 1000);
         CREATE VIEW tq AS SELECT !! 'a'::tsquery AS q;
         CREATE VIEW nf AS SELECT numeric_fac(5) AS f;",
    );
    let message = cannot_hold_on_first(
        &source,
        &testing::shared().url("plan_14_fresh15"),
        &older.url("plan_14_fresh13"),
    );
    assert!(
        message.contains("aggregate public.accum(anyelement) uses array_append"),
        "{message}"
    );
    assert!(
        message.contains("range type public.floatrange"),
        "{message}"
    );
    assert!(
        !message.contains("int_accum") && !message.contains("textrange"),
        "{message}"
    );
    // The factorial operators 14 removed (an index failed after every row was copied).
    for what in [
        "index public.f_fact",
        "rule _RETURN on view public.fv",
        "type public.fd",
        "rule _RETURN on view public.nf",
        "constraint fc_small on domain public.fc",
    ] {
        assert!(
            message.contains(&format!("{what} uses the factorial operator")),
            "{what}: {message}"
        );
    }
    // tsquery's prefix `!!` (negation) is still there.
    assert!(!message.contains("public.tq"), "{message}");
}

/// What a newer version refuses is a problem of the split lines whose share holds it:
/// a line of another schema plans and runs (it was refused for the whole source's), also
/// with the range type but not the type that takes its multirange name.
#[test]
fn what_a_newer_version_refuses_is_a_problem_of_the_line_that_takes_it() {
    if skip_other_versions("a plan from 13") {
        return;
    }
    let older = testing::shared_version(13);
    let source = older.create_db("plan_refused_split");
    source.psql(
        "CREATE SCHEMA a; CREATE SCHEMA b;
         CREATE TABLE a.f (id int); CREATE INDEX f_fact ON a.f (((id % 5) !));
         CREATE AGGREGATE a.accum (anyelement) (sfunc = array_append, stype = anyarray, initcond = '{}');
         CREATE TYPE a.floatmultirange AS ENUM ('x');
         CREATE TYPE a.floatrange AS RANGE (subtype = float8);
         CREATE TABLE a.p (id int, k int) PARTITION BY LIST (k);
         CREATE TABLE a.p1 (id int GENERATED ALWAYS AS IDENTITY, k int);
         ALTER TABLE a.p ATTACH PARTITION a.p1 FOR VALUES IN (1);
         CREATE TABLE b.t (id int); INSERT INTO b.t VALUES (1), (2);
         CREATE TABLE b.rng (id int, r a.floatrange);",
    );
    let newer = testing::shared_version(18);
    let dir = tempfile::tempdir().unwrap();
    let url = source.url();
    let body = format!(
        "{url}@@{} schemas=a\n{url}@@{} schemas=b\n",
        newer.url("plan_refused_a"),
        newer.url("plan_refused_b")
    );
    let (doc, stdout) = plan_with_problems(&write_mapping(&dir, &body));
    assert_eq!(problem_kinds(&doc, 0), ["target_cannot_hold"], "{stdout}");
    let message = doc["lines"][0]["problems"][0]["message"].as_str().unwrap();
    for what in [
        "index a.f_fact uses the factorial operator",
        "aggregate a.accum(anyelement) uses array_append",
        "range type a.floatrange",
        "partition a.p1 has an identity column of its own",
    ] {
        assert!(message.contains(what), "{what}: {message}");
    }
    assert_eq!(
        doc["lines"][1]["problems"],
        serde_json::json!([]),
        "{stdout}"
    );
    // A selection that does not fit: that alone, not every finding of the source.
    let bad = format!("{url}@@{} tables=a.nosuch\n", newer.url("plan_refused_bad"));
    let out = pgsplit(&["plan", &write_mapping(&dir, &bad), "--json"]);
    assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
    let doc: serde_json::Value = serde_json::from_str(&text(&out).0).unwrap();
    assert_eq!(problem_kinds(&doc, 0), ["selection"], "{doc}");
    let target = newer.url("plan_refused_run_b");
    run_copy_to(&source, &format!("{target} schemas=b"), &[], 0);
    let copied = newer
        .psql("plan_refused_run_b", "SELECT count(*) FROM b.t")
        .unwrap();
    assert_eq!(copied.trim(), "2");
}

/// A function that `SET`s a parameter the target role may not set (a superuser-only one,
/// shown or hidden, or on 15+ a custom one the server does not define): plan passed and
/// the run failed in pre-data. Found by both now; `GRANT SET ON PARAMETER` lets it in.
#[test]
fn a_function_setting_a_parameter_the_target_role_may_not_set_is_a_problem() {
    let cluster = testing::shared();
    let source = cluster.create_db("plan_fnset");
    let role = format!("limited_{}", source.name);
    source.psql(&format!(
        "CREATE FUNCTION f_x() RETURNS int LANGUAGE sql SET myapp.x = '1' AS 'SELECT 1';
         CREATE FUNCTION f_log() RETURNS int LANGUAGE sql SET log_min_duration_statement = 0
             AS 'SELECT 1';
         CREATE FUNCTION f_dl() RETURNS int LANGUAGE sql SET dynamic_library_path = '$libdir'
             AS 'SELECT 1';
         CREATE FUNCTION f_ok() RETURNS int LANGUAGE sql SET work_mem = '8MB' AS 'SELECT 1';
         CREATE ROLE \"{role}\" LOGIN CREATEDB;"
    ));
    let target_db = format!("{}_copy", source.name);
    let target = role_url(cluster, &role, &target_db);
    let dir = tempfile::tempdir().unwrap();
    let mapping = write_mapping(&dir, &format!("{}@@{target}\n", source.url()));
    let out = pgsplit(&["plan", &mapping, "--json", "--no-owner"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(!stdout.contains("f_ok"), "{stdout}");
    for what in [
        "function public.f_x() sets myapp.x",
        "function public.f_log() sets log_min_duration_statement",
        "function public.f_dl() sets dynamic_library_path",
    ] {
        assert!(stdout.contains(what), "{what}: {stdout}");
    }
    let work = dir.path().join("work");
    let run = |code: i32| {
        let out = pgsplit(&[
            "run",
            &mapping,
            "--no-owner",
            "--no-progress",
            "--work-dir",
            work.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(code), "{:?}", text(&out));
        text(&out).0
    };
    let report = run(1);
    assert!(
        report.contains("nothing was written") && report.contains("myapp.x"),
        "{report}"
    );
    cluster
        .psql(
            "postgres",
            &format!(
                "GRANT SET ON PARAMETER myapp.x, log_min_duration_statement, \
                 dynamic_library_path TO \"{role}\""
            ),
        )
        .unwrap();
    let out = pgsplit(&["plan", &mapping, "--no-owner"]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    run(0);
}

/// A function that sets a parameter 16 renamed (13's `force_parallel_mode`), and a
/// partition with an identity column of its own: plan says an 18 target refuses them,
/// not a 15 one, and run writes nothing there (pre-data failed).
#[test]
fn a_function_setting_a_parameter_the_target_lacks_is_a_problem() {
    if skip_other_versions("a plan from 13") {
        return;
    }
    let older = testing::shared_version(13);
    let source = older.create_db("plan_guc_src");
    source.psql(
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql SET force_parallel_mode = off \
             SET work_mem = '8MB' SET myapp.tenant = 'x' AS 'SELECT 1';
         CREATE FUNCTION g() RETURNS int LANGUAGE sql SET role = 'none' SET seed = 0.5 \
             AS 'SELECT 2';
         CREATE TABLE p (id int, k int) PARTITION BY LIST (k);
         CREATE TABLE p1 (id int GENERATED ALWAYS AS IDENTITY, k int);
         ALTER TABLE p ATTACH PARTITION p1 FOR VALUES IN (1);",
    );
    let newer = testing::shared_version(18);
    let message = cannot_hold_on_first(
        &source,
        &newer.url("plan_guc_fresh18"),
        &testing::shared().url("plan_guc_fresh15"),
    );
    assert!(
        message.contains("function public.f() sets parameter force_parallel_mode"),
        "{message}"
    );
    // pg_settings hides `role` and `seed` on every version: no problem (the 15 line has
    // none either, checked by cannot_hold_on_first).
    assert!(
        !message.contains("work_mem")
            && !message.contains("myapp")
            && !message.contains("public.g()"),
        "{message}"
    );
    // A partition with an identity of its own: 17 refuses it, 15 takes it.
    assert!(
        message.contains("partition public.p1 has an identity column of its own (id)"),
        "{message}"
    );
    let report = run_copy_to(&source, &newer.url("plan_guc_run18"), &[], 1);
    let error = report["lines"][0]["error"].as_str().unwrap();
    assert!(
        error.contains("nothing was written") && error.contains("force_parallel_mode"),
        "{error}"
    );
}

#[test]
fn help_has_examples_and_exit_codes() {
    let out = pgsplit(&["--help"]);
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout.contains("Exit codes"), "{stdout}");
    let out = pgsplit(&["plan", "--help"]);
    assert!(text(&out).0.contains("Examples:"));
    let out = pgsplit(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn missing_roles_and_superuser_objects_are_found_before_anything_is_written() {
    let source_cluster = testing::shared();
    let source = source_cluster.create_db("plan_roles");
    let suffix = source.name.clone();
    source.psql(&format!(
        "CREATE ROLE \"owner_{suffix}\"; CREATE ROLE \"reader_{suffix}\";
         CREATE TABLE t (id int); ALTER TABLE t OWNER TO \"owner_{suffix}\";
         GRANT SELECT ON t TO \"reader_{suffix}\";
         CREATE FUNCTION note_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN END $$;
         CREATE EVENT TRIGGER note_ddl ON ddl_command_end EXECUTE FUNCTION note_ddl();
         ALTER DATABASE \"{suffix}\" SET work_mem = '6MB';
         ALTER DATABASE \"{suffix}\" SET log_min_duration_statement = 250;
         ALTER ROLE \"owner_{suffix}\" IN DATABASE \"{suffix}\" SET work_mem = '5MB';
         CREATE ROLE \"setter_{suffix}\";
         ALTER ROLE \"setter_{suffix}\" IN DATABASE \"{suffix}\" SET work_mem = '4MB';"
    ));
    // Another server, where those roles do not exist and the role is no superuser.
    let target_cluster = Cluster::start(ClusterOptions::system()).unwrap();
    target_cluster
        .psql("postgres", "CREATE ROLE limited LOGIN CREATEDB")
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let target_url = format!(
        "postgres://limited@127.0.0.1:{}/roles_copy?sslmode=disable",
        target_cluster.port()
    );
    let mapping = write_mapping(&dir, &format!("{}@@{target_url}\n", source.url()));
    let out = pgsplit(&["plan", &mapping, "--json"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let problems = doc["lines"][0]["problems"].as_array().unwrap();
    let of_kind = |k: &str| {
        problems
            .iter()
            .find(|p| p["kind"] == k)
            .map(|p| p["message"].as_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("no {k} problem in {stdout}"))
    };
    let roles = of_kind("roles_missing");
    assert!(
        roles.contains(&format!("owner_{suffix}")) && roles.contains(&format!("reader_{suffix}")),
        "{roles}"
    );
    // A role named only by a database setting counts too.
    assert!(roles.contains(&format!("setter_{suffix}")), "{roles}");
    let superuser = of_kind("needs_superuser");
    assert!(superuser.contains("note_ddl"), "{superuser}");
    // A parameter only a superuser may set, found before anything is written.
    assert!(
        superuser.contains("setting log_min_duration_statement"),
        "{superuser}"
    );
    assert!(!superuser.contains("setting work_mem"), "{superuser}");
    // Nothing was written: the target database was not even created.
    let exists = target_cluster
        .psql(
            "postgres",
            "SELECT count(*) FROM pg_database WHERE datname = 'roles_copy'",
        )
        .unwrap();
    assert_eq!(exists.trim(), "0");
    // With --no-owner --no-acl the roles are not needed.
    let out = pgsplit(&["plan", &mapping, "--json", "--no-owner", "--no-acl"]);
    let doc: serde_json::Value = serde_json::from_str(&text(&out).0).unwrap();
    assert_eq!(problem_kinds(&doc, 0), ["needs_superuser"]);

    // run skips what needs a superuser and lists it; --strict refuses up front.
    let work = dir.path().join("work");
    let out = pgsplit(&[
        "run",
        &mapping,
        "--no-owner",
        "--no-acl",
        "--strict",
        "--no-progress",
        "--work-dir",
        work.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    assert!(
        text(&out).0.contains(
            "--strict: 2 object(s) need a superuser on the target: event trigger note_ddl"
        ),
        "{:?}",
        text(&out)
    );
    let out = pgsplit(&[
        "run",
        &mapping,
        "--no-owner",
        "--no-acl",
        "--no-progress",
        "--clean",
        "--work-dir",
        work.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("skipped (needs superuser): event trigger note_ddl"),
        "{stdout}"
    );
    // Database settings: the one the role may set is set; a superuser's parameter and the
    // setting of a role the target lacks are listed as skipped, with the server's reason.
    assert!(
        stdout.contains(&format!(
            "skipped setting work_mem of role owner_{suffix}: role \"owner_{suffix}\" does not exist"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("skipped setting log_min_duration_statement: permission denied"),
        "{stdout}"
    );
    let settings = target_cluster
        .psql(
            "roles_copy",
            "SELECT s.setrole, s.setconfig FROM pg_db_role_setting s \
             JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = 'roles_copy'",
        )
        .unwrap();
    assert_eq!(settings.trim(), "0|{work_mem=6MB}");
    source.psql(&format!(
        "DROP EVENT TRIGGER note_ddl; DROP OWNED BY \"owner_{suffix}\", \"reader_{suffix}\"; DROP ROLE \"owner_{suffix}\"; DROP ROLE \"reader_{suffix}\"; DROP ROLE \"setter_{suffix}\";"
    ));
}

#[test]
fn roles_a_policy_names_are_needed_even_without_owners_and_privileges() {
    let source = testing::shared().create_db("plan_policy_roles");
    let role = format!("auditor_{}", source.name);
    source.psql(&format!(
        "CREATE ROLE \"{role}\"; CREATE TABLE t (id int); ALTER TABLE t ENABLE ROW LEVEL SECURITY;
         CREATE POLICY audit ON t TO \"{role}\" USING (true);"
    ));
    // Another server, which lacks the role.
    let target_cluster = Cluster::start(ClusterOptions::system()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mapping = write_mapping(
        &dir,
        &format!("{}@@{}\n", source.url(), target_cluster.url("policy_copy")),
    );
    let out = pgsplit(&["plan", &mapping, "--json", "--no-owner", "--no-acl"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let problems = doc["lines"][0]["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{stdout}");
    assert_eq!(problems[0]["kind"], "roles_missing", "{stdout}");
    let message = problems[0]["message"].as_str().unwrap();
    assert!(
        message.contains(&role) && message.contains("policies"),
        "{message}"
    );
    source.psql(&format!("DROP POLICY audit ON t; DROP ROLE \"{role}\""));
}

#[test]
fn aws_iam_tokens_are_used_as_passwords_and_never_printed() {
    let cluster = testing::shared();
    let source = cluster.create_db("plan_iam");
    let role = format!("{}_iam", source.name);
    source.psql(&format!("CREATE ROLE \"{role}\" LOGIN SUPERUSER"));
    let dir = tempfile::tempdir().unwrap();
    let url = |db: &str| role_url(cluster, &role, db);
    let mapping = write_mapping(
        &dir,
        &format!("{}@@{}\n", url(&source.name), url("iam_new")),
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pgsplit"))
        .args([
            "plan",
            &mapping,
            "--aws-iam-auth",
            "--aws-region",
            "eu-west-1",
            "-v",
        ])
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env(
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        )
        .env("PGSPLIT_LOG", "debug")
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    // The local server trusts the role, so the token is accepted as any password would be.
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    for blob in [&stdout, &stderr] {
        assert!(
            !blob.contains("X-Amz-Signature") && !blob.contains("Action=connect"),
            "token printed: {blob}"
        );
        assert!(
            !blob.contains("wJalrXUtnFEMI"),
            "secret key printed: {blob}"
        );
    }
    // With SCRAM required, the token is what the server gets as the password: it is
    // refused as a wrong password, not as a missing one.
    source.psql(&format!(
        "ALTER ROLE \"{role}\" PASSWORD 'not-a-token'; GRANT password_users TO \"{role}\""
    ));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pgsplit"))
        .args([
            "plan",
            &mapping,
            "--aws-iam-auth",
            "--aws-region",
            "eu-west-1",
        ])
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env(
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        )
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("password authentication failed"),
        "{stdout}"
    );
    assert!(!stdout.contains("X-Amz-Signature") && !stderr.contains("X-Amz-Signature"));
    source.psql(&format!("DROP ROLE \"{role}\""));
}

/// A target role that is a member of an owner without inheriting its privileges may give
/// it objects, but not then build their indexes or grant on them: a problem before
/// anything is written (the run failed in pre-data).
#[test]
fn a_member_that_does_not_inherit_an_owner_cannot_make_its_objects() {
    let cluster = testing::shared();
    let source = cluster.create_db("plan_noinherit");
    let owner = format!("{}_app", source.name);
    let loader = format!("{}_loader", source.name);
    cluster
        .psql(
            "postgres",
            &format!(
                "CREATE ROLE \"{owner}\"; CREATE ROLE \"{loader}\" LOGIN CREATEDB NOINHERIT; \
                 GRANT \"{owner}\" TO \"{loader}\""
            ),
        )
        .unwrap();
    source.psql(&format!(
        "CREATE TABLE t (id int PRIMARY KEY); ALTER TABLE t OWNER TO \"{owner}\";
         GRANT SELECT ON t TO PUBLIC;"
    ));
    let target_name = format!("{}_copy", source.name);
    let _target = adopt(cluster, &target_name);
    let target_url = format!(
        "postgres://{loader}@127.0.0.1:{}/{target_name}",
        cluster.port()
    );
    let dir = tempfile::tempdir().unwrap();
    let mapping = write_mapping(&dir, &format!("{}@@{target_url}\n", source.url()));
    let out = pgsplit(&["plan", &mapping, "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&text(&out).0).unwrap();
    assert_eq!(out.status.code(), Some(1), "{doc}");
    assert!(
        problem_kinds(&doc, 0).contains(&"cannot_set_owners"),
        "{doc}"
    );
    let work = dir.path().join("work");
    let out = pgsplit(&[
        "run",
        &mapping,
        "--no-progress",
        "--work-dir",
        work.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    assert!(
        text(&out).0.contains("nothing was written"),
        "{:?}",
        text(&out)
    );
    let made = format!("SELECT count(*) FROM pg_database WHERE datname = '{target_name}'");
    assert_eq!(cluster.psql("postgres", &made).unwrap().trim(), "0");
}

/// A target whose sessions may not write (a standby; `default_transaction_read_only`) is
/// a problem plan names and run refuses before writing (it failed at its first CREATE).
#[test]
fn a_read_only_target_is_a_problem_before_anything_is_written() {
    let cluster = testing::shared();
    let source = cluster.create_db("plan_ro_src");
    source.psql("CREATE TABLE t AS SELECT 1 AS id");
    let target = cluster.create_db("plan_ro_dst");
    target.psql(&format!(
        "ALTER DATABASE {} SET default_transaction_read_only = on",
        target.name
    ));
    let dir = tempfile::tempdir().unwrap();
    let mapping = write_mapping(&dir, &format!("{}@@{}\n", source.url(), target.url()));
    let out = pgsplit(&["plan", &mapping, "--json"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).expect(&stderr);
    assert_eq!(
        doc["lines"][0]["problems"][0]["kind"], "target_read_only",
        "{stdout}"
    );
    let report = run_copy_to(&source, &target.url(), &[], 1);
    let error = report["lines"][0]["error"].to_string();
    assert!(error.contains("takes no writes"), "{error}");
    assert_eq!(
        target
            .psql("SELECT count(*) FROM pg_class WHERE relname = 't'")
            .trim(),
        "0"
    );
}

/// A partition key ordering text by an ICU collation: plan notes it when the target's
/// ICU is of another version than the source's (which partition a row belongs to may
/// differ), and only then; a key in the C collation never.
#[test]
fn a_partition_key_in_a_collation_of_another_library_version_is_noted() {
    if skip_other_versions("a plan for 18") {
        return;
    }
    let cluster = testing::shared();
    let source = cluster.create_db("plan_icu_src");
    let icu = "SELECT coalesce((SELECT pg_collation_actual_version(oid) FROM pg_collation \
               WHERE collname = 'und-x-icu'), 'none')";
    let on_source = source.psql(icu).trim().to_string();
    if on_source == "none" {
        eprintln!("the source's server has no ICU: nothing to note");
        return;
    }
    source.psql(
        "CREATE TABLE r (k text COLLATE \"und-x-icu\", v int) PARTITION BY RANGE (k);
         CREATE TABLE r_low PARTITION OF r FOR VALUES FROM (MINVALUE) TO ('a');
         CREATE TABLE r_high PARTITION OF r FOR VALUES FROM ('a') TO (MAXVALUE);
         CREATE TABLE plain (k text COLLATE \"C\") PARTITION BY RANGE (k);
         CREATE TABLE plain1 PARTITION OF plain FOR VALUES FROM (MINVALUE) TO (MAXVALUE);",
    );
    let target_cluster = testing::shared_version(18);
    let on_target = target_cluster
        .psql("postgres", icu)
        .expect("ICU version of the target")
        .trim()
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    let mapping = write_mapping(
        &dir,
        &format!("{}@@{}\n", source.url(), target_cluster.url("plan_icu_dst")),
    );
    let out = pgsplit(&["plan", &mapping, "--json"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).expect(&stderr);
    let notes = doc["lines"][0]["notes"].as_array().unwrap().clone();
    let about = |table: &str| {
        notes.iter().any(|n| {
            n.as_str()
                .unwrap()
                .contains(&format!("partition key of public.{table} "))
        })
    };
    assert!(!about("plain"), "{notes:?}");
    if on_target == on_source || on_target == "none" {
        assert!(!about("r"), "{notes:?}");
    } else {
        assert!(about("r"), "ICU {on_source} vs {on_target}: {notes:?}");
    }
}
