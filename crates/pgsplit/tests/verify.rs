//! `pgsplit verify` end to end: a copy made by `pgsplit run` is verified untouched (exit
//! 0), then corrupted one way at a time (exit 3, naming exactly what was corrupted); the
//! digest is checked against an independent computation over a binary COPY export.

mod common;

use std::path::Path;

use common::*;
use pgsplit_pg::testing::{self, TestDb};
use sha2::{Digest as _, Sha256};

/// Tables with and without keys, NULLs, arrays, a sequence that is not a column default,
/// a secondary index and a view.
const SHOP: &str = "
CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, email text, note text);
INSERT INTO customers (name, email, note)
  SELECT 'c' || g, 'c' || g || '@example.com', CASE WHEN g % 3 = 0 THEN NULL ELSE 'n' || g END
    FROM generate_series(1, 300) g;
CREATE INDEX customers_email_idx ON customers (email);
CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int NOT NULL REFERENCES customers,
                     amount numeric(10,2), placed_at timestamptz, tags text[]);
INSERT INTO orders (customer_id, amount, placed_at, tags)
  SELECT 1 + g % 300, (g * 7 % 10000) / 100.0, '2024-01-01'::timestamptz + g * interval '1 hour',
         ARRAY['t' || g % 5, 'u' || g % 3]
    FROM generate_series(1, 2000) g;
CREATE TABLE events (at timestamptz, kind text, payload jsonb, raw bytea);
INSERT INTO events
  SELECT '2024-01-01'::timestamptz + g * interval '1 minute', 'k' || g % 4,
         jsonb_build_object('n', g), decode(md5(g::text), 'hex')
    FROM generate_series(1, 500) g;
CREATE SEQUENCE invoice_numbers START 1000;
SELECT nextval('invoice_numbers') FROM generate_series(1, 5);
CREATE VIEW big_orders AS SELECT id, amount FROM orders WHERE amount > 50;
";

/// Runs `pgsplit verify` on one source/target pair; returns the JSON report. Panics with
/// pgsplit's output when the exit code is not `expect_code`.
fn verify(
    source: &TestDb<'_>,
    target: &TestDb<'_>,
    extra: &[&str],
    expect_code: i32,
) -> (serde_json::Value, String) {
    verify_urls(&source.url(), &target.url(), extra, expect_code)
}

/// [`verify`] with the mapping line's URLs as given.
fn verify_urls(
    source: &str,
    target: &str,
    extra: &[&str],
    expect_code: i32,
) -> (serde_json::Value, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mapping = write_mapping(&dir, &format!("{source}@@{target}\n"));
    let json = dir.path().join("verify.json");
    let mut args = vec![
        "verify",
        &mapping,
        "--json",
        json.to_str().expect("utf-8"),
        "--no-progress",
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
    (
        serde_json::from_str(&report).expect("valid JSON report"),
        stdout,
    )
}

/// Everything the report says differs: `table s.t`, `sequence s.q`, and schema objects
/// as `identity: problem`.
fn differences(report: &serde_json::Value) -> Vec<String> {
    let line = &report["lines"][0];
    assert!(line["error"].is_null(), "{line}");
    let mut out = Vec::new();
    for t in line["tables"].as_array().unwrap() {
        if t["matches"] != true {
            out.push(format!(
                "table {}.{}",
                t["schema"].as_str().unwrap(),
                t["name"].as_str().unwrap()
            ));
        }
    }
    for s in line["sequences"].as_array().unwrap() {
        if s["matches"] != true {
            out.push(format!(
                "sequence {}.{}",
                s["schema"].as_str().unwrap(),
                s["name"].as_str().unwrap()
            ));
        }
    }
    for d in line["schema_differences"].as_array().unwrap() {
        let problem = d["problem"].as_str().unwrap().replace('_', " ");
        out.push(format!("{}: {problem}", d["identity"].as_str().unwrap()));
    }
    if !line["large_objects"].is_null() && line["large_objects"]["matches"] != true {
        out.push("large objects".into());
    }
    out
}

fn table<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["lines"][0]["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no table {name} in {report}"))
}

/// A source with the shop fixture and its copy by `pgsplit run`.
fn source_and_copy(hint: &str) -> (TestDb<'static>, TestDb<'static>) {
    let cluster = testing::shared();
    let source = cluster.create_db(hint);
    source.psql(SHOP);
    let target_name = format!("{}_copy", source.name);
    let target = adopt(cluster, &target_name);
    run_copy(&source, &target_name, &["--verify", "none"], 0);
    (source, target)
}

/// Copies, corrupts the copy with `sql`, verifies: exit 3 and exactly `expected`.
fn corrupt_and_verify(hint: &str, sql: &str, expected: &[&str]) {
    let (source, target) = source_and_copy(hint);
    target.psql(sql);
    let (report, stdout) = verify(&source, &target, &[], 3);
    assert_eq!(differences(&report), expected, "{stdout}");
    assert!(stdout.starts_with("line 1: "), "{stdout}");
    assert!(stdout.contains("MISMATCH"), "{stdout}");
}

#[test]
fn large_objects_are_compared_by_count_and_contents() {
    let cluster = testing::shared();
    let source = cluster.create_db("v_lo");
    source.psql(SHOP);
    source.psql(
        "SELECT lo_from_bytea(0, 'first'::bytea);
         SELECT lo_from_bytea(0, decode(repeat('ab', 100000), 'hex'));",
    );
    let target_name = format!("{}_copy", source.name);
    let target = adopt(cluster, &target_name);
    run_copy(&source, &target_name, &["--verify", "none"], 0);
    let (report, stdout) = verify(&source, &target, &[], 0);
    let lo = &report["lines"][0]["large_objects"];
    assert_eq!(lo["source"]["rows"], 2, "{lo}");
    assert_eq!(lo["matches"], true, "{lo}");
    assert!(
        stdout.contains("large objects: source 2, target 2\n"),
        "{stdout}"
    );

    // One changed byte: found by the digest, not by the count.
    target.psql("SELECT lo_put(min(oid), 0, 'F'::bytea) FROM pg_largeobject_metadata");
    let (report, stdout) = verify(&source, &target, &[], 3);
    assert_eq!(differences(&report), ["large objects"], "{stdout}");
    assert!(stdout.contains("contents differ"), "{stdout}");
    verify(&source, &target, &["--level", "count"], 0);

    // One missing object: found by the count.
    target.psql("SELECT lo_unlink(max(oid)) FROM pg_largeobject_metadata");
    let (report, stdout) = verify(&source, &target, &["--level", "count"], 3);
    assert_eq!(differences(&report), ["large objects"], "{stdout}");
    assert!(
        stdout.contains("large objects: source 2, target 1: counts differ"),
        "{stdout}"
    );
}

#[test]
fn an_untouched_copy_matches() {
    let (source, target) = source_and_copy("v_clean");
    let (report, stdout) = verify(&source, &target, &["--jobs", "3"], 0);
    assert_eq!(differences(&report), Vec::<String>::new(), "{stdout}");
    let orders = table(&report, "orders");
    assert_eq!(orders["source"]["rows"], 2000);
    assert_eq!(orders["target"]["rows"], 2000);
    assert_eq!(orders["source"]["digest"], orders["target"]["digest"]);
    assert!(orders["source"]["digest"].as_str().unwrap().len() == 64);
    let line = &report["lines"][0];
    assert_eq!(line["tables"].as_array().unwrap().len(), 3);
    assert!(line["schema_statements"].as_u64().unwrap() > 5, "{line}");
    let sequences: Vec<&str> = line["sequences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        sequences,
        ["customers_id_seq", "invoice_numbers", "orders_id_seq"]
    );
    assert!(
        stdout.contains("ok: 1 line(s); tables 3 (0 differ"),
        "{stdout}"
    );
    // Counting only also matches.
    let (report, _) = verify(&source, &target, &["--level", "count"], 0);
    assert!(table(&report, "orders")["source"]["digest"].is_null());
}

#[test]
fn many_small_tables_read_back_to_back_are_each_counted_as_their_own() {
    // A verify session asks for the next small tables before the answers to the ones
    // before have come: every answer must still be credited to its own table.
    let cluster = testing::shared();
    let source = cluster.create_db("v_many");
    source.psql(&small_tables_sql("m", 40, 10));
    let target_name = format!("{}_copy", source.name);
    let target = adopt(cluster, &target_name);
    run_copy(&source, &target_name, &["--verify", "none"], 0);
    target.psql("UPDATE m23 SET note = 'changed' WHERE id = 5; DELETE FROM m31 WHERE id = 7");
    for level in ["count", "checksum"] {
        let (report, stdout) = verify(&source, &target, &["--jobs", "1", "--level", level], 3);
        let expected: &[&str] = match level {
            "count" => &["table public.m31"],
            _ => &["table public.m23", "table public.m31"],
        };
        assert_eq!(differences(&report), expected, "{stdout}");
        for n in 1..=40 {
            let t = table(&report, &format!("m{n:02}"));
            assert_eq!(t["source"]["rows"], 10 + n, "{t}");
            let target_rows = if n == 31 { 9 + n } else { 10 + n };
            assert_eq!(t["target"]["rows"], target_rows, "{t}");
        }
    }
}

#[test]
fn one_changed_value_is_found() {
    corrupt_and_verify(
        "v_value",
        "UPDATE orders SET amount = amount + 0.01 WHERE id = 17",
        &["table public.orders"],
    );
}

#[test]
fn one_deleted_row_is_found() {
    corrupt_and_verify(
        "v_delete",
        "DELETE FROM orders WHERE id = 1999",
        &["table public.orders"],
    );
}

#[test]
fn one_duplicated_row_is_found() {
    corrupt_and_verify(
        "v_dup",
        "INSERT INTO events SELECT * FROM events WHERE kind = 'k1' LIMIT 1",
        &["table public.events"],
    );
}

#[test]
fn one_added_row_is_found() {
    // An explicit id: the sequence stays as it was.
    corrupt_and_verify(
        "v_add",
        "INSERT INTO customers (id, name) VALUES (100000, 'intruder')",
        &["table public.customers"],
    );
}

#[test]
fn two_values_swapped_within_a_column_are_found() {
    // Same multiset of names, same row count, different rows.
    corrupt_and_verify(
        "v_swap",
        "UPDATE customers SET name = CASE id WHEN 1 THEN 'c2' ELSE 'c1' END WHERE id IN (1, 2)",
        &["table public.customers"],
    );
}

#[test]
fn a_null_replaced_by_an_empty_string_is_found() {
    corrupt_and_verify(
        "v_null",
        "UPDATE customers SET note = '' WHERE id = 3 AND note IS NULL",
        &["table public.customers"],
    );
}

#[test]
fn a_changed_sequence_value_is_found() {
    corrupt_and_verify(
        "v_seq",
        "SELECT setval('invoice_numbers', 5000)",
        &["sequence public.invoice_numbers"],
    );
}

#[test]
fn a_dropped_index_is_found() {
    corrupt_and_verify(
        "v_index",
        "DROP INDEX customers_email_idx",
        &["index public.customers_email_idx: missing on target"],
    );
}

/// An index left invalid (a failed CREATE INDEX CONCURRENTLY) is there, not missing.
#[test]
fn an_invalid_index_is_named_invalid_not_missing() {
    corrupt_and_verify(
        "v_invalid_index",
        "UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'customers_email_idx'::regclass",
        &["index public.customers_email_idx: invalid on target"],
    );
}

#[test]
fn a_table_option_set_on_the_target_is_named_as_an_option() {
    let (source, target) = source_and_copy("v_option");
    target.psql("ALTER TABLE events REPLICA IDENTITY FULL");
    let (report, stdout) = verify(&source, &target, &[], 3);
    assert_eq!(
        differences(&report),
        ["table public.events: extra on target"],
        "{stdout}"
    );
    assert_eq!(
        report["lines"][0]["schema_differences"][0]["kind"],
        "table_option"
    );
    assert!(
        stdout.contains("    options of table public.events: extra on target\n"),
        "{stdout}"
    );
}

#[test]
fn a_database_setting_added_on_the_target_is_found() {
    corrupt_and_verify(
        "v_dbset",
        "DO $$BEGIN EXECUTE format('ALTER DATABASE %I SET work_mem = %L', current_database(), '8MB'); END$$",
        &["setting work_mem: extra on target"],
    );
}

#[test]
fn the_target_sessions_own_settings_make_no_difference() {
    // Constants in definitions are printed with the session's settings; a target role,
    // database or server may set them otherwise than the source's.
    let cluster = testing::shared();
    let source = cluster.create_db("v_settings");
    source.psql(
        r"CREATE TABLE t (id int PRIMARY KEY, body text DEFAULT 'a\b',
                          at timestamptz DEFAULT '2024-01-01 00:00:00+00', price money DEFAULT 1.5);
          INSERT INTO t (id) SELECT g FROM generate_series(1, 10) g;
          CREATE VIEW recent AS SELECT id FROM t WHERE at > '2024-06-01 00:00:00+00' AND body <> 'x\y';",
    );
    let target_name = format!("{}_copy", source.name);
    let target = adopt(cluster, &target_name);
    run_copy(&source, &target_name, &["--verify", "none"], 0);
    let options = "-c%20TimeZone%3DAsia/Kolkata%20-c%20quote_all_identifiers%3Don\
                   %20-c%20standard_conforming_strings%3Doff";
    let (report, stdout) = verify_urls(
        &source.url(),
        &format!("{}&options={options}", target.url()),
        &[],
        0,
    );
    assert_eq!(differences(&report), Vec::<String>::new(), "{stdout}");
    assert_eq!(table(&report, "t")["target"]["rows"], 10, "{stdout}");
}

#[test]
fn a_changed_definition_is_reported_with_both_texts() {
    let (source, target) = source_and_copy("v_view");
    target.psql(
        "CREATE OR REPLACE VIEW big_orders AS SELECT id, amount FROM orders WHERE amount > 60",
    );
    let (report, _) = verify(&source, &target, &[], 3);
    assert_eq!(differences(&report), ["view public.big_orders: differs"]);
    let d = &report["lines"][0]["schema_differences"][0];
    assert!(d["source_sql"][0].as_str().unwrap().contains("50"), "{d}");
    assert!(d["target_sql"][0].as_str().unwrap().contains("60"), "{d}");
}

#[test]
fn chunked_tables_are_compared_chunk_by_chunk() {
    let cluster = testing::shared();
    let source = cluster.create_db("v_chunks");
    source.psql(
        "CREATE TABLE narrow (id bigint PRIMARY KEY, a int, c text);
         INSERT INTO narrow SELECT g, g % 1000, 'row ' || g FROM generate_series(1, 300000) g;
         ANALYZE narrow;",
    );
    let target_name = format!("{}_copy", source.name);
    let target = adopt(cluster, &target_name);
    run_copy(&source, &target_name, &["--verify", "none"], 0);
    let split = ["--jobs", "2", "--split-tables-larger-than", "8MB"];
    let (report, stdout) = verify(&source, &target, &split, 0);
    let narrow = table(&report, "narrow");
    assert!(narrow["source"]["chunks"].as_u64().unwrap() > 1, "{stdout}");
    assert!(narrow["target"]["chunks"].as_u64().unwrap() > 1, "{stdout}");
    // Chunk digests add up to the whole table's.
    let (whole, _) = verify(&source, &target, &[], 0);
    assert_eq!(
        table(&whole, "narrow")["source"]["digest"],
        narrow["source"]["digest"]
    );
    // The target's rows move to other pages (an update writes a new row version): the
    // chunks of the two sides no longer hold the same rows, the table still matches.
    target.psql("UPDATE narrow SET a = a WHERE id % 1000 = 0");
    target.psql("VACUUM narrow");
    verify(&source, &target, &split, 0);
    target.psql("UPDATE narrow SET c = 'changed' WHERE id = 299999");
    let (report, _) = verify(&source, &target, &split, 3);
    assert_eq!(differences(&report), ["table public.narrow"]);
}

/// A generated column's values are the target's own: computed there, by a function that
/// may not compute there what it did on the source (here one that says it is immutable
/// but reads a table, empty when the run loads the larger table first). The copy's rows
/// are whole, the run's own verification hashes what it copied; `verify` reads the
/// generated columns on both sides and finds the difference.
#[test]
fn a_generated_column_computed_otherwise_on_the_target_is_found() {
    let cluster = testing::shared();
    let source = cluster.create_db("v_generated");
    source.psql(
        "CREATE TABLE lookup (id int PRIMARY KEY, label text);
         INSERT INTO lookup SELECT g, 'label ' || g FROM generate_series(0, 9) g;
         CREATE FUNCTION label_of(int) RETURNS text IMMUTABLE LANGUAGE plpgsql
             AS $$ BEGIN RETURN (SELECT label FROM public.lookup WHERE id = $1); END $$;
         CREATE TABLE items (id int PRIMARY KEY, code int,
             label text GENERATED ALWAYS AS (public.label_of(code)) STORED);
         INSERT INTO items (id, code) SELECT g, g % 10 FROM generate_series(1, 20000) g;",
    );
    let target_name = format!("{}_copy", source.name);
    let target = adopt(cluster, &target_name);
    let report = run_copy(
        &source,
        &target_name,
        &["--jobs", "1", "--verify", "checksum"],
        0,
    );
    // The run says its checksums do not hold them.
    let note = report["lines"][0]["note"].as_str().unwrap_or_default();
    assert!(
        note.contains("(public.items)") && note.contains("`pgsplit verify` compares them"),
        "{report}"
    );
    // One worker loads the larger table first: the lookup was still empty.
    assert_eq!(
        target
            .psql("SELECT count(*) FROM items WHERE label IS NULL")
            .trim(),
        "20000"
    );
    let (report, stdout) = verify(&source, &target, &[], 3);
    assert_eq!(differences(&report), ["table public.items"], "{stdout}");
    let problem = table(&report, "items")["problem"]
        .as_str()
        .unwrap_or_default();
    assert!(
        problem.contains("generated column(s) label, computed by the target"),
        "{stdout}"
    );
    verify(&source, &target, &["--level", "count"], 0);
    // Computed again on the target, the values are the source's.
    target.psql("UPDATE items SET code = code");
    verify(&source, &target, &[], 0);
}

/// A copy made with `run --data-only` into a schema of the user's own (other types, an
/// extra column and table, no index, a plain column where the source's is generated):
/// `verify` finds its schema different, `verify --data-only` compares the data as the run
/// copied it and finds a changed value.
/// `float8::text` and `bytea::text` are immutable but print by `extra_float_digits` and
/// `bytea_output`: a generated column over them is computed on the target with the source
/// database's settings, as the source's sessions computed it (the loading sessions' own,
/// 3 and hex, gave other text).
#[test]
fn generated_columns_are_computed_with_the_sources_output_settings() {
    let cluster = testing::shared();
    let source = cluster.create_db("v_generated_forms");
    source.psql(&format!(
        "ALTER DATABASE {} SET extra_float_digits = 0;
         ALTER DATABASE {} SET bytea_output = 'escape';",
        source.name, source.name
    ));
    source.psql(
        "CREATE TABLE fl (id int PRIMARY KEY, f float8, b bytea,
             ft text GENERATED ALWAYS AS (f::text) STORED,
             bt text GENERATED ALWAYS AS (b::text) STORED);
         INSERT INTO fl (id, f, b) SELECT g, g / 3.0, decode(lpad(g::text, 4, '0'), 'hex')
             FROM generate_series(1, 100) g;
         CREATE INDEX fl_ft ON fl ((f::text));",
    );
    // pgsplit's own role sets others in this database: the database's are the rows'.
    source.psql(&format!(
        "ALTER ROLE CURRENT_USER IN DATABASE {} SET extra_float_digits = 3;
         ALTER ROLE CURRENT_USER IN DATABASE {} SET bytea_output = 'hex';",
        source.name, source.name
    ));
    let target_name = format!("{}_copy", source.name);
    let target = adopt(cluster, &target_name);
    run_copy(&source, &target_name, &[], 0);
    let texts = "SELECT string_agg(ft || ' ' || bt, ',' ORDER BY id) FROM fl";
    assert!(source.psql(texts).contains("0.333333333333333 \\000\\001"));
    assert_eq!(target.psql(texts), source.psql(texts));
    // The expression index holds the keys the database's sessions compute.
    let by_index = "SET enable_seqscan = off; SET extra_float_digits = 0;
                    SELECT count(*) FROM fl WHERE f::text = '0.333333333333333'";
    assert_eq!(source.psql(by_index).trim(), "1");
    assert_eq!(target.psql(by_index).trim(), "1");
    verify(&source, &target, &[], 0);
}

#[test]
fn a_data_only_copy_is_compared_by_its_data() {
    let cluster = testing::shared();
    let source = cluster.create_db("v_data_only");
    source.psql(
        "CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL,
             balance numeric(10,2), doubled numeric GENERATED ALWAYS AS (balance * 2) STORED);
         INSERT INTO accounts (id, owner, balance)
             SELECT g, 'o' || g, g * 1.25 FROM generate_series(1, 500) g;
         CREATE INDEX accounts_owner ON accounts (owner);
         CREATE SEQUENCE tickets;
         SELECT nextval('tickets') FROM generate_series(1, 7);",
    );
    let target = cluster.create_db("v_data_only_dst");
    target.psql(
        "CREATE TABLE accounts (id bigint, owner varchar(40), balance numeric,
             doubled numeric, note text DEFAULT 'imported');
         CREATE TABLE audit (at timestamptz);
         CREATE SEQUENCE tickets;
         CREATE SEQUENCE local_numbers;",
    );
    run_copy(&source, &target.name, &["--data-only"], 0);
    let (report, stdout) = verify(&source, &target, &[], 3);
    assert!(
        !report["lines"][0]["schema_differences"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{stdout}"
    );
    let (report, stdout) = verify(&source, &target, &["--data-only"], 0);
    assert_eq!(differences(&report), Vec::<String>::new(), "{stdout}");
    assert_eq!(report["lines"][0]["schema_compared"], false, "{stdout}");
    assert!(
        stdout.contains("schema: not compared (--data-only)"),
        "{stdout}"
    );
    assert_eq!(
        table(&report, "accounts")["source"]["rows"],
        500,
        "{stdout}"
    );
    // A column the source generates lands in the target's plain one with its values.
    assert_eq!(
        target
            .psql("SELECT count(*) FROM accounts WHERE doubled = balance * 2")
            .trim(),
        "500"
    );
    target.psql("UPDATE accounts SET doubled = 0 WHERE id = 3");
    let (report, stdout) = verify(&source, &target, &["--data-only"], 3);
    assert_eq!(differences(&report), ["table public.accounts"], "{stdout}");
    target.psql("UPDATE accounts SET doubled = balance * 2 WHERE id = 3");
    // The target's balance column (numeric) is read as the source's numeric(10,2), as the
    // run reads it back.
    target.psql("UPDATE accounts SET balance = 9.75 WHERE id = 7");
    let (report, stdout) = verify(&source, &target, &["--data-only"], 3);
    assert_eq!(differences(&report), ["table public.accounts"], "{stdout}");
    target.psql("UPDATE accounts SET balance = 8.75 WHERE id = 7; SELECT setval('tickets', 8)");
    let (report, stdout) = verify(&source, &target, &["--data-only"], 3);
    assert_eq!(
        differences(&report),
        ["sequence public.tickets"],
        "{stdout}"
    );
}

#[test]
fn a_broken_mapping_is_bad_input_and_an_unreachable_server_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let mapping = write_mapping(&dir, "postgres://a@h/x\n");
    let out = pgsplit(&["verify", &mapping]);
    assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
    let mapping = write_mapping(
        &dir,
        "postgres://u@127.0.0.1:1/a?connect_timeout=2@@postgres://u@127.0.0.1:1/b?connect_timeout=2\n",
    );
    let out = pgsplit(&["verify", &mapping, "--no-progress"]);
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    // Nothing was compared: no summary says "0 compared".
    let (stdout, _) = text(&out);
    assert!(stdout.contains("FAILED: "), "{stdout}");
    assert!(!stdout.contains("compared"), "{stdout}");
}

/// The digest's definition, computed here from a `COPY … (FORMAT binary)` export: per row
/// the bytes from its field count to its last field, SHA-256, summed modulo 2^256.
fn independent_digest(file: &Path) -> (u64, String) {
    let data = std::fs::read(file).expect("read export");
    assert_eq!(&data[..11], b"PGCOPY\n\xff\r\n\0", "binary COPY signature");
    let be32 = |at: usize| i32::from_be_bytes(data[at..at + 4].try_into().unwrap());
    let extension = be32(15) as usize;
    let mut at = 19 + extension;
    let mut sum = [0u8; 32];
    let mut rows = 0;
    loop {
        let fields = i16::from_be_bytes(data[at..at + 2].try_into().unwrap());
        if fields == -1 {
            assert_eq!(at + 2, data.len(), "nothing after the trailer");
            break;
        }
        let start = at;
        at += 2;
        for _ in 0..fields {
            let len = be32(at);
            at += 4 + len.max(0) as usize;
        }
        let hash: [u8; 32] = Sha256::digest(&data[start..at]).into();
        // Big-endian addition with carry; the carry out of the top byte is dropped.
        let mut carry = 0u16;
        for i in (0..32).rev() {
            let s = u16::from(sum[i]) + u16::from(hash[i]) + carry;
            sum[i] = s as u8;
            carry = s >> 8;
        }
        rows += 1;
    }
    (rows, sum.iter().map(|b| format!("{b:02x}")).collect())
}

#[test]
fn the_digest_matches_an_independent_computation() {
    let (source, target) = source_and_copy("v_oracle");
    let (report, _) = verify(&source, &target, &[], 0);
    let dir = tempfile::tempdir().unwrap();
    for name in ["customers", "orders", "events"] {
        let t = table(&report, name);
        assert_eq!(t["format"], "binary", "{t}");
        let file = dir.path().join(format!("{name}.bin"));
        source.psql(&format!(
            "\\copy (SELECT * FROM ONLY public.{name}) TO '{}' WITH (FORMAT binary)",
            file.display()
        ));
        let (rows, digest) = independent_digest(&file);
        assert_eq!(t["source"]["rows"], rows, "{name}");
        assert_eq!(t["source"]["digest"], digest.as_str(), "{name}");
        assert_eq!(t["target"]["digest"], digest.as_str(), "{name}");
    }
}

#[test]
fn the_monolith_copy_matches_in_every_object() {
    // Partitions, foreign keys, a materialized view, comments, grants, identities.
    let (source, target_name, target) = monolith_and_its_copy("v_mono");
    run_copy(&source, &target_name, &["--verify", "none"], 0);
    let (report, stdout) = verify(&source, &target, &[], 0);
    assert_eq!(differences(&report), Vec::<String>::new(), "{stdout}");
}

#[test]
fn every_corpus_copy_matches() {
    let cluster = testing::shared();
    for name in testing::CORPORA {
        let source = cluster.create_db(&format!("v_{name}"));
        if !testing::load_corpus(&source, name).expect("load corpus") {
            eprintln!("skipping corpus {name}: no ../shared/corpora next to the repository");
            return;
        }
        let target_name = format!("{}_copy", source.name);
        let target = adopt(cluster, &target_name);
        run_copy(&source, &target_name, &["--verify", "none"], 0);
        let (report, stdout) = verify(&source, &target, &[], 0);
        assert_eq!(
            differences(&report),
            Vec::<String>::new(),
            "{name}: {stdout}"
        );
    }
}

/// An extension the run makes at the target's default version, older on the source: not
/// a difference (a run makes it so, as pg_restore does), but said.
#[test]
fn an_extension_at_another_version_is_a_note() {
    let cluster = testing::shared();
    let source = cluster.create_db("ext_version");
    source.psql(
        "CREATE EXTENSION hstore VERSION '1.7';
         CREATE TABLE h (id int PRIMARY KEY, v hstore); INSERT INTO h VALUES (1, 'a=>1');",
    );
    let target_name = format!("{}_copy", source.name);
    let target = adopt(cluster, &target_name);
    run_copy(&source, &target_name, &[], 0);
    let version = "SELECT extversion FROM pg_extension WHERE extname = 'hstore'";
    assert_ne!(target.psql(version), source.psql(version));
    let (report, stdout) = verify(&source, &target, &[], 0);
    let notes = report["lines"][0]["notes"].to_string();
    assert!(
        notes.contains("extension hstore is at version") && notes.contains("1.7 on the source"),
        "{notes}"
    );
    assert!(stdout.contains("note: extension hstore"), "{stdout}");
}
