//! Splitting one database into several: by schema, by tenant rows (with children
//! following their parents), and into hash shards that agree with PostgreSQL's own hash
//! partitioning. Every target is checked against the source with SQL oracles.

mod common;

use std::collections::BTreeMap;

use common::*;
use pgsplit_pg::testing::{self, Cluster, TestDb};

fn split(
    source: &TestDb<'_>,
    lines: &[(String, &str)],
    extra: &[&str],
    expect: i32,
) -> (serde_json::Value, (tempfile::TempDir, String)) {
    let dir = tempfile::tempdir().unwrap();
    let body: String = lines
        .iter()
        .map(|(target, selector)| format!("{}@@{target} {selector}\n", source.url()))
        .collect();
    let mapping = write_mapping(&dir, &body);
    let out = run_in(&dir, &mapping, extra);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(expect), "{stdout}\n{stderr}");
    let report = serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null);
    (report, (dir, mapping))
}

/// `pgsplit verify` on a split mapping: the exit code and the JSON report.
fn verify(mapping: &str) -> (i32, serde_json::Value) {
    let out = pgsplit(&["verify", mapping, "--json", "-", "--no-progress"]);
    let (stdout, stderr) = text(&out);
    let report =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"));
    (out.status.code().unwrap_or(-1), report)
}

/// The lines of a verify report with a table that does not match.
fn mismatched_lines(report: &serde_json::Value) -> Vec<usize> {
    report["lines"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .filter(|(_, l)| {
            l["tables"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t["matches"] == false)
        })
        .map(|(i, _)| i)
        .collect()
}

fn tables_of(db: &TestDb<'_>) -> Vec<String> {
    db.psql(
        "SELECT format('%s.%s', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' ORDER BY 1",
    )
    .lines()
    .map(String::from)
    .collect()
}

fn fingerprint(db: &TestDb<'_>, table: &str) -> String {
    db.psql(&format!(
        "SELECT count(*) || ' ' || md5(coalesce(string_agg(r::text, E'\\n' ORDER BY r::text), '')) FROM {table} r"
    ))
}

fn all_verified(line: &serde_json::Value) {
    for t in line["tables"].as_array().unwrap() {
        assert_eq!(t["verification"]["matches"], true, "{t}");
    }
}

/// A line that cuts rows (`shard=`) or leaves tables out (`exclude=`) without naming
/// schemas or tables copies every schema whole: functions, sequences, types and views no
/// table needs go too (they were lost, and plan, run and verify said ok).
#[test]
fn a_line_without_schemas_or_tables_keeps_what_no_table_needs() {
    let cluster = testing::shared();
    let source = cluster.create_db("split_free_objects");
    source.psql(
        "CREATE TABLE t (id int PRIMARY KEY, tenant_id int);
         INSERT INTO t SELECT g, g % 5 FROM generate_series(1, 40) g;
         CREATE TABLE audit (id int); INSERT INTO audit VALUES (1);
         CREATE SEQUENCE free_seq; SELECT setval('free_seq', 77);
         CREATE FUNCTION helper(int) RETURNS int LANGUAGE sql AS 'SELECT $1 + 1';
         CREATE VIEW const_view AS SELECT 1 AS one;
         CREATE TYPE color AS ENUM ('red', 'green');
         CREATE DOMAIN email AS text CHECK (VALUE LIKE '%@%');",
    );
    let names: Vec<String> = ["s0", "s1", "ex"]
        .iter()
        .map(|n| format!("{}_{n}", source.name))
        .collect();
    let dbs: Vec<_> = names.iter().map(|n| adopt(cluster, n)).collect();
    let selectors = [
        "shard=tenant_id:0/2",
        "shard=tenant_id:1/2",
        "exclude=public.audit",
    ];
    let lines: Vec<(String, &str)> = names
        .iter()
        .zip(selectors)
        .map(|(n, s)| (cluster.url(n), s))
        .collect();
    let (report, _) = split(&source, &lines, &[], 0);
    for (db, line) in dbs.iter().zip(report["lines"].as_array().unwrap()) {
        all_verified(line);
        assert_eq!(
            db.psql(
                "SELECT helper(1), (SELECT last_value FROM free_seq), (SELECT one FROM const_view), \
                 'red'::color, 'a@b'::email"
            )
            .trim(),
            "2|77|1|red|a@b",
            "{}",
            db.name
        );
    }
    // The excluded table stays behind.
    assert_eq!(
        dbs[2]
            .psql("SELECT to_regclass('public.audit') IS NULL")
            .trim(),
        "t"
    );
}

#[test]
fn a_bad_selector_on_a_later_line_stops_the_split_before_anything_is_written() {
    let cluster = testing::shared();
    let source = cluster.create_db("split_typo");
    source.psql_file(&fixture("monolith.sql")).unwrap();
    let names = [
        format!("{}_first", source.name),
        format!("{}_second", source.name),
    ];
    let lines = vec![
        (cluster.url(&names[0]), "schemas=billing"),
        (cluster.url(&names[1]), "tables=sales.custmers"),
    ];
    let (report, (_dir, mapping)) = split(&source, &lines, &["--drop-cross-target-fks"], 2);
    let first = report["lines"][0]["error"].as_str().unwrap();
    assert!(
        first.contains("not started") && first.contains("line 2"),
        "{first}"
    );
    let second = report["lines"][1]["error"].as_str().unwrap();
    assert!(second.contains("custmers"), "{second}");
    for name in &names {
        let exists = cluster
            .psql(
                "postgres",
                &format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'"),
            )
            .unwrap();
        assert_eq!(exists.trim(), "0", "{name} was created: {report}");
    }
    // `verify` calls the selector bad input too (once it reaches the target).
    cluster
        .psql("postgres", &format!("CREATE DATABASE \"{}\"", names[1]))
        .unwrap();
    let (code, verified) = verify(&mapping);
    assert_eq!(code, 2, "{verified}");
    assert_eq!(verified["lines"][1]["bad_input"], true, "{verified}");
}

#[test]
fn monolith_split_three_ways_by_schema() {
    let cluster = testing::shared();
    let source = cluster.create_db("split_schema");
    source.psql_file(&fixture("monolith.sql")).unwrap();
    let names: Vec<String> = ["sales", "inventory", "billing"]
        .iter()
        .map(|s| format!("{}_{s}", source.name))
        .collect();
    let targets: Vec<TestDb<'_>> = names.iter().map(|n| adopt(cluster, n)).collect();
    let lines: Vec<(String, &str)> = vec![
        (cluster.url(&names[0]), "schemas=sales"),
        (cluster.url(&names[1]), "schemas=inventory"),
        (cluster.url(&names[2]), "schemas=billing"),
    ];
    // Cross-target foreign keys are refused unless asked to leave them out.
    let (report, _) = split(&source, &lines, &[], 1);
    let error = report["lines"][0]["error"].as_str().unwrap();
    assert!(
        error.contains("order_items") && error.contains("--drop-cross-target-fks"),
        "{error}"
    );

    // Refused before any target of the split was written: the run can be started
    // again as it is, without --clean.
    for line in report["lines"].as_array().unwrap() {
        assert!(line["error"].is_string(), "{line}");
    }
    let existing = cluster
        .psql(
            "postgres",
            &format!(
                "SELECT count(*) FROM pg_database WHERE datname LIKE '{}\\_%'",
                source.name
            ),
        )
        .unwrap();
    assert_eq!(existing.trim(), "0", "{report}");

    let (report, (dir, mapping)) = split(&source, &lines, &["--drop-cross-target-fks"], 0);
    // verify knows the split: each target against its share of the source.
    let (code, verified) = verify(&mapping);
    assert_eq!(code, 0, "{verified}");
    for (i, schema) in ["sales", "inventory", "billing"].iter().enumerate() {
        let line = &report["lines"][i];
        assert!(line["error"].is_null(), "{line}");
        all_verified(line);
        let tables = tables_of(&targets[i]);
        assert!(!tables.is_empty());
        assert!(
            tables.iter().all(|t| t.starts_with(&format!("{schema}."))),
            "{schema}: {tables:?}"
        );
        let expected: Vec<String> = tables_of(&source)
            .into_iter()
            .filter(|t| t.starts_with(&format!("{schema}.")))
            .collect();
        assert_eq!(tables, expected);
        for t in &tables {
            assert_eq!(fingerprint(&targets[i], t), fingerprint(&source, t), "{t}");
        }
        // Kept foreign keys exist and are validated.
        let fks = targets[i].psql("SELECT count(*) FILTER (WHERE NOT convalidated) || '/' || count(*) FROM pg_constraint WHERE contype = 'f'");
        assert!(fks.trim().starts_with("0/"), "{schema}: {fks}");
    }
    let sales_fks = targets[0].psql(
        "SELECT string_agg(conname, ',' ORDER BY conname) FROM pg_constraint WHERE contype = 'f'",
    );
    assert!(sales_fks.contains("orders_customer_id_fkey"), "{sales_fks}");
    assert!(
        !sales_fks.contains("product_id"),
        "cross-target FK kept: {sales_fks}"
    );
    let left_out = report["lines"][0]["cross_target"].to_string();
    assert!(left_out.contains("order_items"), "{left_out}");
    // A resume without the option the run had is refused for that (bad input), not for
    // the keys the option let the run leave out.
    let out = run_in(&dir, &mapping, &["--resume"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let error = report["lines"][0]["error"].to_string();
    assert!(
        error.contains("--drop-cross-target-fks: was true, now false"),
        "{error}"
    );
}

#[test]
fn excluded_tables_and_partitions_stay_behind() {
    let cluster = testing::shared();
    let source = cluster.create_db("split_exclude");
    source.psql_file(&fixture("monolith.sql")).unwrap();
    let names: Vec<String> = ["a", "b", "c"]
        .iter()
        .map(|s| format!("{}_{s}", source.name))
        .collect();
    let targets: Vec<TestDb<'_>> = names.iter().map(|n| adopt(cluster, n)).collect();
    let lines: Vec<(String, &str)> = vec![
        // One partition stays behind; its partitioned table and the others go.
        (
            cluster.url(&names[0]),
            "schemas=billing exclude=billing.events_2024",
        ),
        // A partitioned table stays behind with all of its partitions.
        (
            cluster.url(&names[1]),
            "schemas=billing exclude=billing.events",
        ),
        // A whole schema but one table (its view stays behind too).
        (
            cluster.url(&names[2]),
            "schemas=sales,inventory exclude=sales.order_items",
        ),
    ];
    let (report, (_dir, mapping)) = split(&source, &lines, &["--drop-cross-target-fks"], 0);
    let source_tables = tables_of(&source);
    let expect = |keep: &dyn Fn(&str) -> bool| -> Vec<String> {
        source_tables.iter().filter(|t| keep(t)).cloned().collect()
    };
    assert_eq!(
        tables_of(&targets[0]),
        expect(&|t| t.starts_with("billing.") && t != "billing.events_2024")
    );
    assert_eq!(
        tables_of(&targets[1]),
        expect(&|t| t.starts_with("billing.") && !t.starts_with("billing.events"))
    );
    assert_eq!(
        tables_of(&targets[2]),
        expect(&|t| {
            (t.starts_with("sales.") || t.starts_with("inventory.")) && t != "sales.order_items"
        })
    );
    for (i, target) in targets.iter().enumerate() {
        all_verified(&report["lines"][i]);
        for t in tables_of(target) {
            if i == 0 && t == "billing.events" {
                continue; // without the rows of 2024, counted below
            }
            assert_eq!(fingerprint(target, &t), fingerprint(&source, &t), "{t}");
        }
    }
    assert_eq!(
        targets[0].psql("SELECT count(*) FROM billing.events"),
        source.psql("SELECT count(*) FROM billing.events WHERE happened NOT BETWEEN '2024-01-01' AND '2024-12-31'")
    );
    // verify agrees: nothing extra, nothing missing.
    let (code, verified) = verify(&mapping);
    assert_eq!(code, 0, "{verified}");
}

#[test]
fn an_inheritance_child_without_its_parent_is_refused_before_anything_is_written() {
    let cluster = testing::shared();
    let source = cluster.create_db("split_inherit");
    source.psql(
        "CREATE TABLE base (id int); CREATE TABLE child (extra text) INHERITS (base);
         INSERT INTO child VALUES (1, 'x');",
    );
    let target = format!("{}_x", source.name);
    let lines = [(cluster.url(&target), "tables=public.child")];
    let (report, _) = split(&source, &lines, &[], 2);
    let error = report["lines"][0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("public.child inherits from public.base, which this target does not get"),
        "{report}"
    );
    let exists = cluster
        .psql(
            "postgres",
            &format!("SELECT count(*) FROM pg_database WHERE datname = '{target}'"),
        )
        .unwrap();
    assert_eq!(exists.trim(), "0", "the target was created");
}

#[test]
fn tenant_split_with_children_following_their_parents() {
    let cluster = testing::shared();
    let source = cluster.create_db("split_tenant");
    source.psql_file(&fixture("monolith.sql")).unwrap();
    let t1 = format!("{}_t1", source.name);
    let t23 = format!("{}_t23", source.name);
    let (db1, db23) = (adopt(cluster, &t1), adopt(cluster, &t23));
    let follow = "tables=sales.*,inventory.* \
                  follow:sales.orders=\"customer_id -> sales.customers.id\" \
                  follow:sales.order_items=\"order_id -> sales.orders.id\"";
    let lines = [
        (
            cluster.url(&t1),
            format!("{follow} where:sales.customers=\"tenant_id = 1\""),
        ),
        (
            cluster.url(&t23),
            format!("{follow} where:sales.customers=\"tenant_id IN (2, 3)\""),
        ),
    ];
    let lines: Vec<(String, &str)> = lines.iter().map(|(u, s)| (u.clone(), s.as_str())).collect();
    let (report, _) = split(&source, &lines, &[], 0);
    for (i, (db, tenants)) in [(&db1, "1"), (&db23, "2, 3")].iter().enumerate() {
        all_verified(&report["lines"][i]);
        let expect = |sql: &str| source.psql(&sql.replace("TENANTS", tenants));
        assert_eq!(
            fingerprint(db, "sales.customers"),
            expect(
                "SELECT count(*) || ' ' || md5(coalesce(string_agg(r::text, E'\\n' ORDER BY r::text), '')) FROM sales.customers r WHERE tenant_id IN (TENANTS)"
            )
        );
        assert_eq!(
            db.psql("SELECT count(*) FROM sales.orders"),
            expect(
                "SELECT count(*) FROM sales.orders o JOIN sales.customers c ON c.id = o.customer_id WHERE c.tenant_id IN (TENANTS)"
            )
        );
        assert_eq!(
            db.psql("SELECT count(*) FROM sales.order_items"),
            expect(
                "SELECT count(*) FROM sales.order_items i JOIN sales.orders o ON o.id = i.order_id JOIN sales.customers c ON c.id = o.customer_id WHERE c.tenant_id IN (TENANTS)"
            )
        );
        // Unfiltered tables are whole; foreign keys were created and validated.
        assert_eq!(
            fingerprint(db, "inventory.products"),
            fingerprint(&source, "inventory.products")
        );
        let fks = db.psql(
            "SELECT count(*) FILTER (WHERE convalidated) FROM pg_constraint WHERE contype = 'f'",
        );
        assert_eq!(
            fks.trim(),
            "3",
            "orders->customers, order_items->orders, order_items->products"
        );
    }
}

#[test]
fn where_and_follow_name_tables_whose_names_hold_a_dot() {
    let cluster = testing::shared();
    let source = cluster.create_db("split_dotted");
    source.psql(
        "CREATE SCHEMA \"app.v2\";
         CREATE TABLE \"app.v2\".\"customers.2024\" (id int PRIMARY KEY, tenant int);
         CREATE TABLE \"app.v2\".orders (id int PRIMARY KEY, customer int REFERENCES \"app.v2\".\"customers.2024\");
         INSERT INTO \"app.v2\".\"customers.2024\" SELECT g, g % 3 FROM generate_series(1, 30) g;
         INSERT INTO \"app.v2\".orders SELECT g, 1 + g % 30 FROM generate_series(1, 90) g;",
    );
    let target = format!("{}_t", source.name);
    let db = adopt(cluster, &target);
    let selector = "where:app.v2.customers.2024=\"tenant = 1\" \
                    follow:app.v2.orders=\"customer -> app.v2.customers.2024.id\"";
    let lines = [(cluster.url(&target), selector)];
    let (report, (_dir, mapping)) = split(&source, &lines, &[], 0);
    all_verified(&report["lines"][0]);
    assert_eq!(
        db.psql("SELECT count(*) FROM \"app.v2\".\"customers.2024\"")
            .trim(),
        "10"
    );
    assert_eq!(
        db.psql("SELECT count(*) FROM \"app.v2\".orders"),
        source.psql(
            "SELECT count(*) FROM \"app.v2\".orders o JOIN \"app.v2\".\"customers.2024\" c \
             ON c.id = o.customer WHERE c.tenant = 1"
        )
    );
    let (code, report) = verify(&mapping);
    assert_eq!(code, 0, "{report}");
}

#[test]
fn the_run_checks_target_rows_without_the_source_filter() {
    // The filter names a table this target does not get, and with one job the children
    // are loaded before their parents: the run's check must not apply the filter (or the
    // follow subqueries) to the target, where they would fail or find nothing.
    let cluster = testing::shared();
    let source = cluster.create_db("split_filter_source_side");
    source.psql_file(&fixture("monolith.sql")).unwrap();
    source.psql("CREATE TABLE public.chosen (tenant int); INSERT INTO public.chosen VALUES (2)");
    let target = format!("{}_t", source.name);
    let db = adopt(cluster, &target);
    let selector = "tables=sales.*,inventory.* \
                    where:sales.customers=\"tenant_id IN (SELECT tenant FROM public.chosen)\" \
                    follow:sales.orders=\"customer_id -> sales.customers.id\" \
                    follow:sales.order_items=\"order_id -> sales.orders.id\"";
    let lines = [(cluster.url(&target), selector)];
    let (report, (_dir, mapping)) = split(&source, &lines, &["--jobs", "1"], 0);
    all_verified(&report["lines"][0]);
    assert_eq!(
        db.psql("SELECT count(*) FROM sales.order_items"),
        source.psql(
            "SELECT count(*) FROM sales.order_items i JOIN sales.orders o ON o.id = i.order_id \
             JOIN sales.customers c ON c.id = o.customer_id WHERE c.tenant_id = 2"
        )
    );
    assert!(tables_of(&db).iter().all(|t| !t.contains("chosen")));
    let (code, report) = verify(&mapping);
    assert_eq!(code, 0, "{report}");
}

/// Which remainder PostgreSQL's own `PARTITION BY HASH` gives each tenant id.
fn postgres_hash_partitions(cluster: &Cluster, ids: &str) -> BTreeMap<i64, i64> {
    let db = cluster.create_db("hash_oracle");
    db.psql(&format!(
        "CREATE TABLE h (tenant_id int) PARTITION BY HASH (tenant_id);
         CREATE TABLE h0 PARTITION OF h FOR VALUES WITH (MODULUS 4, REMAINDER 0);
         CREATE TABLE h1 PARTITION OF h FOR VALUES WITH (MODULUS 4, REMAINDER 1);
         CREATE TABLE h2 PARTITION OF h FOR VALUES WITH (MODULUS 4, REMAINDER 2);
         CREATE TABLE h3 PARTITION OF h FOR VALUES WITH (MODULUS 4, REMAINDER 3);
         INSERT INTO h SELECT unnest('{{{ids}}}'::int[]);"
    ));
    db.psql("SELECT tenant_id, right(tableoid::regclass::text, 1) FROM h")
        .lines()
        .map(|l| {
            let (id, r) = l.split_once('|').unwrap();
            (id.parse().unwrap(), r.parse().unwrap())
        })
        .collect()
}

/// Runs a split of `source` into `count` new databases, line `r` with `selector(r)`.
fn split_into_shards<'c>(
    cluster: &'c Cluster,
    source: &TestDb<'_>,
    count: u32,
    selector: impl Fn(u32) -> String,
) -> (
    Vec<TestDb<'c>>,
    serde_json::Value,
    (tempfile::TempDir, String),
) {
    let names: Vec<String> = (0..count)
        .map(|r| format!("{}_s{r}", source.name))
        .collect();
    let dbs: Vec<TestDb<'_>> = names.iter().map(|n| adopt(cluster, n)).collect();
    let selectors: Vec<String> = (0..count).map(selector).collect();
    let lines: Vec<(String, &str)> = names
        .iter()
        .zip(&selectors)
        .map(|(n, s)| (cluster.url(n), s.as_str()))
        .collect();
    let (report, files) = split(source, &lines, &[], 0);
    (dbs, report, files)
}

/// A shard key that is a stored generated column cuts its table like any other (it was
/// taken for a reference table and copied whole to every shard), and the shares of a
/// table read in text format (a `regclass` column: its text depends on the session's
/// search_path) add up to the source's in verify's shard check.
#[test]
fn a_generated_shard_key_cuts_its_table_and_text_tables_add_up() {
    let cluster = testing::shared();
    let source = cluster.create_db("shard_generated");
    source.psql(
        "CREATE TABLE events (id int PRIMARY KEY, code int,
             tenant int GENERATED ALWAYS AS (code % 10) STORED,
             kind regclass DEFAULT 'public.events');
         INSERT INTO events (id, code) SELECT g, g * 7 FROM generate_series(1, 1000) g;",
    );
    let (dbs, report, (_dir, mapping)) =
        split_into_shards(cluster, &source, 2, |r| format!("shard=tenant:{r}/2"));
    let ids = source.psql("SELECT string_agg(DISTINCT tenant::text, ',') FROM events");
    let oracle = postgres_hash_partitions(cluster, ids.trim());
    let mut total = 0;
    for (r, db) in dbs.iter().enumerate() {
        all_verified(&report["lines"][r]);
        for line in db.psql("SELECT tenant FROM events").lines() {
            let id: i64 = line.trim().parse().unwrap();
            // Modulus 2 keeps the remainder of modulus 4 modulo 2.
            assert_eq!(oracle[&id] % 2, r as i64, "tenant {id} landed in shard {r}");
        }
        total += db
            .psql("SELECT count(*) FROM events")
            .trim()
            .parse::<i64>()
            .unwrap();
    }
    assert_eq!(total, 1000, "every row in exactly one shard");
    let (code, verified) = verify(&mapping);
    assert_eq!(code, 0, "{verified}");
    assert_eq!(verified["shards"][0]["name"], "events", "{verified}");
    assert_eq!(verified["shards"][0]["matches"], true, "{verified}");
}

#[test]
fn four_way_hash_shard_agrees_with_postgres_hash_partitioning() {
    let cluster = testing::shared();
    let source = cluster.create_db("shard_src");
    source.psql(
        "CREATE TABLE plans (id int PRIMARY KEY, name text);
         INSERT INTO plans VALUES (1, 'free'), (2, 'pro');
         CREATE TABLE accounts (id bigint PRIMARY KEY, tenant_id int, plan_id int REFERENCES plans, note text);
         INSERT INTO accounts SELECT g, CASE WHEN g % 50 = 0 THEN NULL ELSE g % 37 END, 1 + g % 2, 'a' || g FROM generate_series(1, 5000) g;
         ANALYZE;",
    );
    let (dbs, report, (_dir, mapping)) =
        split_into_shards(cluster, &source, 4, |r| format!("shard=tenant_id:{r}/4"));
    let ids = source.psql("SELECT string_agg(DISTINCT tenant_id::text, ',') FROM accounts");
    let oracle = postgres_hash_partitions(cluster, ids.trim());
    let mut total = 0;
    for (r, db) in dbs.iter().enumerate() {
        all_verified(&report["lines"][r]);
        // Reference tables (no shard key) are copied whole to every shard.
        assert_eq!(fingerprint(db, "plans"), fingerprint(&source, "plans"));
        for line in db
            .psql("SELECT coalesce(tenant_id, -1) FROM accounts")
            .lines()
        {
            let id: i64 = line.trim().parse().unwrap();
            let expected = if id == -1 { 0 } else { oracle[&id] };
            assert_eq!(expected, r as i64, "tenant {id} landed in shard {r}");
        }
        total += db
            .psql("SELECT count(*) FROM accounts")
            .trim()
            .parse::<i64>()
            .unwrap();
    }
    assert_eq!(total, 5000, "every row in exactly one shard");
    let (code, verified) = verify(&mapping);
    assert_eq!(code, 0, "{verified}");
    // Across the shards: the shares of accounts add up to the whole source table.
    let coverage = &verified["shards"][0];
    assert_eq!(coverage["name"], "accounts", "{verified}");
    assert_eq!(coverage["source_rows"], 5000);
    assert_eq!(coverage["shard_rows"], 5000);
    assert_eq!(coverage["matches"], true);
    assert_eq!(
        verified["shards"].as_array().unwrap().len(),
        1,
        "plans is not sharded"
    );
    // A row moved to the wrong shard is found on both shards it touches.
    let id = dbs[1].psql("SELECT id FROM accounts ORDER BY id LIMIT 1");
    let id = id.trim();
    let row = dbs[1].psql(&format!(
        "SELECT format('(%s, %s, %s, %L)', id, coalesce(tenant_id::text, 'NULL'), plan_id, note) FROM accounts WHERE id = {id}"
    ));
    dbs[1].psql(&format!("DELETE FROM accounts WHERE id = {id}"));
    dbs[2].psql(&format!("INSERT INTO accounts VALUES {}", row.trim()));
    let (code, verified) = verify(&mapping);
    assert_eq!(code, 3, "{verified}");
    assert_eq!(mismatched_lines(&verified), [1, 2], "{verified}");
}

/// A `follow:` keeps only the rows that reference a copied parent row, also when the
/// parent is copied whole (it was ignored: orphans and NULL references were copied); with
/// shards, a row that references no parent goes to remainder 0, as NULL keys do, so the
/// shares still add up.
#[test]
fn follow_keeps_only_rows_with_a_copied_parent_row() {
    let cluster = testing::shared();
    let source = cluster.create_db("follow_whole_parent");
    source.psql(
        "CREATE TABLE users (id int PRIMARY KEY, tenant_id int);
         INSERT INTO users VALUES (1, 1), (2, 2), (3, 3);
         CREATE TABLE events (id int, user_id int);
         INSERT INTO events VALUES (1, 1), (2, 2), (3, 999), (4, NULL), (5, 3);",
    );
    let whole = format!("{}_whole", source.name);
    let db = adopt(cluster, &whole);
    let lines = [(
        cluster.url(&whole),
        "follow:public.events=\"user_id -> public.users.id\"",
    )];
    let (report, _) = split(&source, &lines, &[], 0);
    all_verified(&report["lines"][0]);
    assert_eq!(
        db.psql("SELECT string_agg(id::text, ',' ORDER BY id) FROM events")
            .trim(),
        "1,2,5"
    );
    // A child of a reference table (no shard key: whole on every shard) is whole too,
    // its NULL references included.
    source.psql(
        "CREATE TABLE plans (id int PRIMARY KEY); INSERT INTO plans VALUES (1), (2);
         CREATE TABLE subs (id int, plan_id int);
         INSERT INTO subs VALUES (1, 1), (2, NULL), (3, 2);",
    );
    let (dbs, report, (_dir, mapping)) = split_into_shards(cluster, &source, 2, |r| {
        format!(
            "shard=tenant_id:{r}/2 follow:public.events=\"user_id -> public.users.id\" \
             follow:public.subs=\"plan_id -> public.plans.id\""
        )
    });
    for db in &dbs {
        assert_eq!(db.psql("SELECT count(*) FROM subs").trim(), "3");
    }
    let mut ids = Vec::new();
    for (r, db) in dbs.iter().enumerate() {
        all_verified(&report["lines"][r]);
        ids.extend(db.psql("SELECT id FROM events").lines().map(String::from));
        // Every event is on its user's shard.
        assert_eq!(
            db.psql("SELECT count(*) FROM events e WHERE e.user_id IS NOT NULL AND NOT EXISTS (SELECT FROM users u WHERE u.id = e.user_id)").trim(),
            "0"
        );
    }
    assert!(
        dbs[0]
            .psql("SELECT id FROM events WHERE user_id IS NULL")
            .trim()
            == "4"
    );
    ids.sort();
    assert_eq!(
        ids,
        ["1", "2", "4", "5"],
        "the orphan 999 goes nowhere, NULL to shard 0"
    );
    // The shares add up to the rows some shard keeps (the orphan is none's).
    let (code, verified) = verify(&mapping);
    assert_eq!(code, 0, "{verified}");
    let events = &verified["shards"][0];
    assert_eq!(events["name"], "events", "{verified}");
    assert_eq!(
        (
            events["source_rows"].as_u64(),
            events["shard_rows"].as_u64()
        ),
        (Some(4), Some(4))
    );
}

/// A `where:` word naming two tables (`"a.b"."c.d"` and `"a"."b.c.d"` are both
/// a.b.c.d) is refused; one of them was taken silently.
#[test]
fn a_selector_word_naming_two_tables_is_refused() {
    let cluster = testing::shared();
    let source = cluster.create_db("split_ambiguous");
    source.psql(
        "CREATE SCHEMA \"a.b\"; CREATE SCHEMA a;
         CREATE TABLE \"a.b\".\"c.d\" (id int PRIMARY KEY, keep bool);
         CREATE TABLE a.\"b.c.d\" (id int PRIMARY KEY, keep bool);",
    );
    let target = format!("{}_t", source.name);
    let lines = [(cluster.url(&target), "where:a.b.c.d=\"keep\"")];
    let (report, _) = split(&source, &lines, &[], 2);
    let error = report["lines"][0]["error"].as_str().unwrap();
    assert!(
        error.contains("where:a.b.c.d: a.b.c.d names 2 tables (\"a\".\"b.c.d\", \"a.b\".\"c.d\")"),
        "{error}"
    );
    assert!(!database_exists(cluster, &target));
}

/// Shares that overlap through different moduli (`0/2` and `2/4`) are refused before
/// anything is written, as equal ones are: the rows of both were copied to both.
#[test]
fn shards_that_overlap_are_refused_before_anything_is_written() {
    let cluster = testing::shared();
    let source = cluster.create_db("shard_overlap");
    source.psql("CREATE TABLE t (k int); INSERT INTO t SELECT generate_series(1, 50)");
    let names = [format!("{}_a", source.name), format!("{}_b", source.name)];
    let lines = [
        (cluster.url(&names[0]), "shard=k:0/2"),
        (cluster.url(&names[1]), "shard=k:2/4"),
    ];
    let (report, _) = split(&source, &lines, &[], 2);
    let error = report["lines"][1]["error"].as_str().unwrap();
    assert!(
        error.contains("shard=k:2/4 overlaps line 1's shard=k:0/2"),
        "{error}"
    );
    for name in &names {
        assert!(!database_exists(cluster, name), "{name}");
    }
    // Two keys of one table: shares no check can tell apart.
    source.psql("CREATE TABLE u (k int, r int); INSERT INTO u SELECT g, g % 7 FROM generate_series(1, 50) g");
    let names = [format!("{}_ka", source.name), format!("{}_rb", source.name)];
    let lines = [
        (cluster.url(&names[0]), "tables=public.u shard=k:0/2"),
        (cluster.url(&names[1]), "tables=public.u shard=r:1/2"),
    ];
    let (report, _) = split(&source, &lines, &[], 2);
    let error = report["lines"][1]["error"].as_str().unwrap();
    assert!(
        error.contains("shard=r:1/2 and line 1's shard=k:0/2 cut public.u by different keys"),
        "{error}"
    );
    for name in &names {
        assert!(!database_exists(cluster, name), "{name}");
    }
    // Shards of tables no other line cuts do not overlap: one pair of lines per
    // service, each sharded on its own.
    source.psql(
        "CREATE SCHEMA s1; CREATE SCHEMA s2;
         CREATE TABLE s1.a (k int); INSERT INTO s1.a SELECT generate_series(1, 40);
         CREATE TABLE s2.b (k int); INSERT INTO s2.b SELECT generate_series(1, 40);",
    );
    let names: Vec<String> = (0..4).map(|n| format!("{}_svc{n}", source.name)).collect();
    let _dbs: Vec<_> = names.iter().map(|n| adopt(cluster, n)).collect();
    let selectors = [
        "schemas=s1 shard=k:0/2",
        "schemas=s1 shard=k:1/2",
        "schemas=s2 shard=k:0/2",
        "schemas=s2 shard=k:1/2",
    ];
    let lines: Vec<(String, &str)> = names
        .iter()
        .zip(selectors)
        .map(|(n, s)| (cluster.url(n), s))
        .collect();
    let (report, _) = split(&source, &lines, &[], 0);
    for line in report["lines"].as_array().unwrap() {
        all_verified(line);
    }
    // Moduli 2 and 4 that take every row once: accepted, and verify checks that the
    // shares add up (it checked only shards of one modulus).
    let names: Vec<String> = (0..3).map(|n| format!("{}_mix{n}", source.name)).collect();
    let dbs: Vec<_> = names.iter().map(|n| adopt(cluster, n)).collect();
    let selectors = [
        "tables=public.t shard=k:0/2",
        "tables=public.t shard=k:1/4",
        "tables=public.t shard=k:3/4",
    ];
    let lines: Vec<(String, &str)> = names
        .iter()
        .zip(selectors)
        .map(|(n, s)| (cluster.url(n), s))
        .collect();
    let (_, (_dir, mapping)) = split(&source, &lines, &[], 0);
    let (code, verified) = verify(&mapping);
    assert_eq!(code, 0, "{verified}");
    let coverage = &verified["shards"][0];
    assert_eq!(
        (
            coverage["modulus"].as_u64(),
            coverage["shard_rows"].as_u64()
        ),
        (Some(4), Some(50)),
        "{verified}"
    );
    dbs[1].psql("DELETE FROM t WHERE k = (SELECT min(k) FROM t)");
    dbs[2].psql("DELETE FROM t");
    source.psql("DELETE FROM t WHERE k IN (SELECT k FROM t ORDER BY k LIMIT 0)");
    let (code, verified) = verify(&mapping);
    assert_eq!(code, 3, "{verified}");
    // The summary counts the lines that differ, not all of them.
    let out = pgsplit(&["verify", &mapping, "--no-progress"]);
    let (stdout, _) = text(&out);
    assert!(stdout.contains("MISMATCH: 2 of 3 line(s);"), "{stdout}");
}

/// One source written with two addresses (TCP and the server's socket) is one source:
/// its lines' shards are checked together (two lines taking one shard were each copied
/// from a snapshot of their own), and a split through both verifies as one.
#[test]
fn one_source_through_two_addresses_is_one_source() {
    let cluster = testing::shared();
    let source = cluster.create_db("two_addresses");
    source.psql("CREATE TABLE t (k int); INSERT INTO t SELECT generate_series(1, 50)");
    let by_socket = format!(
        "postgres://postgres@/{}?host={}&port={}&sslmode=disable",
        source.name,
        cluster.socket_dir().display(),
        cluster.port()
    );
    let names = [format!("{}_a", source.name), format!("{}_b", source.name)];
    let write = |dir: &tempfile::TempDir, remainders: [u32; 2]| {
        write_mapping(
            dir,
            &format!(
                "{}@@{} shard=k:{}/2\n{by_socket}@@{} shard=k:{}/2\n",
                source.url(),
                cluster.url(&names[0]),
                remainders[0],
                cluster.url(&names[1]),
                remainders[1]
            ),
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    let run = |mapping: &str| {
        pgsplit(&[
            "run",
            mapping,
            "--no-progress",
            "--work-dir",
            work.to_str().unwrap(),
        ])
    };
    let out = run(&write(&dir, [0, 0]));
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(stdout.contains("shard=k:0/2 is line 1's too"), "{stdout}");
    for name in &names {
        assert!(!database_exists(cluster, name), "{name}");
    }
    let _dbs: Vec<_> = names.iter().map(|n| adopt(cluster, n)).collect();
    let mapping = write(&dir, [0, 1]);
    let out = run(&mapping);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    // Verify adds both lines' shares up: every row once.
    let (code, verified) = verify(&mapping);
    assert_eq!(code, 0, "{verified}");
    assert_eq!(
        verified["shards"][0]["shard_rows"].as_u64(),
        Some(50),
        "{verified}"
    );
}

/// A partition left out (`exclude=`) makes its partitioned table a part too: a table
/// copied whole whose foreign key references it is refused before anything is written
/// (the key failed after the copy).
#[test]
fn a_whole_child_of_a_table_missing_a_partition_is_refused() {
    let cluster = testing::shared();
    let source = cluster.create_db("exclude_partition_fk");
    source.psql(
        "CREATE TABLE h (tenant_id int, id int, PRIMARY KEY (tenant_id, id)) PARTITION BY HASH (tenant_id);
         CREATE TABLE h0 PARTITION OF h FOR VALUES WITH (MODULUS 2, REMAINDER 0);
         CREATE TABLE h1 PARTITION OF h FOR VALUES WITH (MODULUS 2, REMAINDER 1);
         INSERT INTO h SELECT g % 7, g FROM generate_series(1, 100) g;
         CREATE TABLE rh (rid int, tenant_id int, id int, FOREIGN KEY (tenant_id, id) REFERENCES h);
         INSERT INTO rh SELECT id, tenant_id, id FROM h;",
    );
    let target = format!("{}_t", source.name);
    let lines = [(cluster.url(&target), "exclude=public.h1")];
    let (report, _) = split(&source, &lines, &[], 2);
    let error = report["lines"][0]["error"].as_str().unwrap();
    assert!(
        error.contains("public.rh would be copied whole and public.h in part"),
        "{error}"
    );
    assert!(!database_exists(cluster, &target));
}

/// A foreign key between two tables a target gets in part (a self-reference under a
/// `where:`, a two-column key a one-column `follow:` cannot keep) failed on the target
/// after every row was copied; the rows each side gets are checked on the source first.
#[test]
fn foreign_keys_between_two_filtered_tables_are_checked_before_anything_is_written() {
    let cluster = testing::shared();
    let source = cluster.create_db("split_fk_parts");
    source.psql(
        "CREATE TABLE customers (id int PRIMARY KEY, region text, tenant_id int,
                                 referrer int REFERENCES customers);
         INSERT INTO customers VALUES (1, 'eu', 1, NULL), (2, 'us', 2, NULL), (3, 'eu', 1, 1);
         CREATE TABLE items (order_id int, line int, tenant_id int, PRIMARY KEY (order_id, line));
         INSERT INTO items SELECT o, l, o % 2 FROM generate_series(1, 4) o, generate_series(1, 2) l;
         CREATE TABLE notes (order_id int, line int, tenant_id int, body text,
                             FOREIGN KEY (order_id, line) REFERENCES items);
         INSERT INTO notes SELECT order_id, line, tenant_id, 'n' FROM items;",
    );
    let t = |suffix: &str| format!("{}_{suffix}", source.name);
    // Every referrer of an eu customer is in the eu: the key holds, the copy goes.
    let eu = t("eu");
    let eu_db = adopt(cluster, &eu);
    let lines = [(
        cluster.url(&eu),
        "tables=public.customers where:public.customers=\"region = 'eu'\"",
    )];
    let (report, _) = split(&source, &lines, &[], 0);
    all_verified(&report["lines"][0]);
    assert_eq!(eu_db.psql("SELECT count(*) FROM customers").trim(), "2");
    // A us customer referred by an eu one: refused, nothing written.
    source.psql("UPDATE customers SET referrer = 2 WHERE id = 3");
    let eu2 = t("eu2");
    let lines = [(
        cluster.url(&eu2),
        "tables=public.customers where:public.customers=\"region = 'eu'\"",
    )];
    let (report, _) = split(&source, &lines, &[], 2);
    let error = report["lines"][0]["error"].as_str().unwrap();
    assert!(
        error.contains("the foreign key customers_referrer_fkey of public.customers would fail on the target: 1 of"),
        "{error}"
    );
    assert!(!database_exists(cluster, &eu2));
    // A two-column key and a one-column follow: only the first line of each order goes.
    let first = t("first");
    let lines = [(
        cluster.url(&first),
        "tables=public.items,public.notes where:public.items=\"line = 1\" \
         follow:public.notes=\"order_id -> public.items.order_id\"",
    )];
    let (report, (_dir, mapping)) = split(&source, &lines, &[], 2);
    let error = report["lines"][0]["error"].as_str().unwrap();
    assert!(error.contains("notes_order_id_line_fkey"), "{error}");
    let out = pgsplit(&["plan", &mapping]);
    assert!(
        text(&out).0.contains("notes_order_id_line_fkey"),
        "{:?}",
        text(&out)
    );
    // Every key a line would break is named at once; a schema-only copy has no rows to
    // break them.
    source.psql("UPDATE customers SET referrer = 2 WHERE id = 3");
    let both = t("both");
    let lines = [(
        cluster.url(&both),
        "where:public.customers=\"region = 'eu'\" where:public.items=\"line = 1\" \
         follow:public.notes=\"order_id -> public.items.order_id\"",
    )];
    let (report, _) = split(&source, &lines, &[], 2);
    let error = report["lines"][0]["error"].as_str().unwrap();
    assert!(
        error.contains("customers_referrer_fkey") && error.contains("notes_order_id_line_fkey"),
        "{error}"
    );
    assert!(
        error.contains("a where: on public.customers that keeps the rows its kept rows reference"),
        "{error}"
    );
    let both_db = adopt(cluster, &both);
    let (report, _) = split(&source, &lines, &["--schema-only"], 0);
    assert!(report["lines"][0]["error"].is_null(), "{report}");
    assert_eq!(both_db.psql("SELECT count(*) FROM notes").trim(), "0");
    // A key does not reach the children of traditional inheritance: an archive child's
    // row that references a customer this target does not get is no refusal.
    source.psql(
        "UPDATE customers SET referrer = 1 WHERE id = 3;
         CREATE TABLE customers_archive () INHERITS (customers);
         INSERT INTO customers_archive VALUES (9, 'eu', 1, 2);",
    );
    // A parent copied whole whose inheritance child stays behind is no part: a whole
    // table whose key references it is copied (it was refused).
    source.psql(
        "CREATE TABLE visits (customer int REFERENCES customers);
         INSERT INTO visits VALUES (1), (2), (3);",
    );
    let visits = t("visits");
    let _visits_db = adopt(cluster, &visits);
    let lines = [(
        cluster.url(&visits),
        "tables=public.customers,public.visits",
    )];
    let (report, _) = split(&source, &lines, &[], 0);
    all_verified(&report["lines"][0]);
    let archive = t("archive");
    let archive_db = adopt(cluster, &archive);
    let lines = [(
        cluster.url(&archive),
        "tables=public.customers* where:public.customers=\"region = 'eu'\"",
    )];
    let (report, _) = split(&source, &lines, &[], 0);
    all_verified(&report["lines"][0]);
    assert_eq!(
        archive_db.psql("SELECT count(*) FROM customers").trim(),
        "3"
    );
    // Cut by the shard key on both sides, with the key holding it: kept by construction.
    let (_dbs, report, _) = split_into_shards(cluster, &source, 2, |r| {
        format!("tables=public.items,public.notes shard=tenant_id:{r}/2")
    });
    for line in report["lines"].as_array().unwrap() {
        all_verified(line);
    }
}

#[test]
fn shard_coverage_counts_what_the_other_filters_let_through() {
    // Filters beside the shard: the reference table's shares (the same rows on each
    // line) are not a cover of it, and the sharded table's add up to its filtered rows.
    let cluster = testing::shared();
    let source = cluster.create_db("shard_filtered");
    source.psql(
        "CREATE TABLE plans (id int PRIMARY KEY, active bool);
         INSERT INTO plans VALUES (1, true), (2, true), (3, false);
         CREATE TABLE accounts (id bigint PRIMARY KEY, tenant_id int, archived bool);
         INSERT INTO accounts SELECT g, g % 23, g % 7 = 0 FROM generate_series(1, 2000) g;",
    );
    let (_dbs, _, (_dir, mapping)) = split_into_shards(cluster, &source, 2, |r| {
        format!(
            "shard=tenant_id:{r}/2 where:public.plans=\"active\" where:public.accounts=\"NOT archived\""
        )
    });
    let (code, verified) = verify(&mapping);
    assert_eq!(code, 0, "{verified}");
    let shards = verified["shards"].as_array().unwrap();
    assert_eq!(shards.len(), 1, "plans is not sharded: {verified}");
    let kept = source.psql("SELECT count(*) FROM accounts WHERE NOT archived");
    assert_eq!(shards[0]["name"], "accounts");
    assert_eq!(shards[0]["source_rows"].to_string(), kept.trim());
    assert_eq!(shards[0]["shard_rows"].to_string(), kept.trim());
    assert_eq!(shards[0]["filter"], "(NOT archived)");
    assert_eq!(shards[0]["matches"], true);
}

#[test]
fn a_typo_in_a_selector_exits_2_naming_the_line_and_word() {
    let cluster = testing::shared();
    let source = cluster.create_db("split_typo");
    source.psql("CREATE TABLE t (id int)");
    let target = format!("{}_x", source.name);
    let dir = tempfile::tempdir().unwrap();
    let mapping = write_mapping(
        &dir,
        &format!(
            "# split\n{}@@{} tabels=public.t\n",
            source.url(),
            cluster.url(&target)
        ),
    );
    let out = pgsplit(&[
        "run",
        &mapping,
        "--work-dir",
        dir.path().join("w").to_str().unwrap(),
    ]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("mapping.txt:2: unknown selector \"tabels\""),
        "{stderr}"
    );
    // A pattern that matches nothing is found before anything is written.
    let mapping = write_mapping(
        &dir,
        &format!(
            "{}@@{} tables=public.tt\n",
            source.url(),
            cluster.url(&target)
        ),
    );
    let out = pgsplit(&[
        "run",
        &mapping,
        "--work-dir",
        dir.path().join("w").to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("tables=public.tt: matches no table"),
        "{stdout}"
    );
    let exists = cluster
        .psql(
            "postgres",
            &format!("SELECT count(*) FROM pg_database WHERE datname = '{target}'"),
        )
        .unwrap();
    assert_eq!(exists.trim(), "0", "the target database was created");
}

/// Row conditions the source cannot run, a followed column that does not exist, and a
/// child copied whole under a parent copied in part are bad input found before anything
/// is written (they failed the copy of their table, or the foreign key, after the other
/// lines were written; a misspelt column of a parent copied whole was ignored).
#[test]
fn row_conditions_the_source_refuses_exit_2_before_anything_is_written() {
    let cluster = testing::shared();
    let source = cluster.create_db("split_bad_condition");
    source.psql(
        "CREATE TABLE tenants (id int PRIMARY KEY, region text);
         CREATE TABLE orders (id int PRIMARY KEY, tenant_id int REFERENCES tenants);
         INSERT INTO tenants VALUES (1, 'eu'), (2, 'us');
         INSERT INTO orders VALUES (1, 1), (2, 2);
         CREATE TABLE snapshots (id int PRIMARY KEY, tenant tenants);
         CREATE FUNCTION public.tenant_count() RETURNS int LANGUAGE sql IMMUTABLE
           AS $$ SELECT count(*)::int FROM public.tenants WHERE false $$;
         CREATE TABLE tallies (id int, n int GENERATED ALWAYS AS (public.tenant_count() + id) STORED);",
    );
    let names = [
        format!("{}_ok", source.name),
        format!("{}_bad", source.name),
    ];
    let cases = [
        (
            "tables=public.* where:public.tenants=\"region = eu\" \
             follow:public.orders=\"tenant_id -> public.tenants.id\"",
            "where:public.tenants: the source refuses the condition: column \"eu\" does not exist",
        ),
        // The orders of the tenants left behind would fail the foreign key at the end.
        (
            "tables=public.* where:public.tenants=\"region = 'eu'\"",
            "public.orders would be copied whole and public.tenants in part: the foreign key \
             orders_tenant_id_fkey",
        ),
        (
            "tables=public.* follow:public.orders=\"tenantid -> public.tenants.id\"",
            "follow:public.orders: public.orders has no column \"tenantid\"",
        ),
        (
            "tables=public.* where:public.tenants=\"id < 2\" \
             follow:public.orders=\"tenant_id -> public.tenants.idd\"",
            "follow:public.orders: public.tenants has no column \"idd\"",
        ),
        // A column of another table's row type: the table cannot be made without it.
        (
            "tables=public.snapshots",
            "cannot be created without tables the line leaves out: table public.snapshots \
             (needs public.tenants)",
        ),
        // A generated column whose SQL function's body reads another table: creating the
        // table inlines the body.
        (
            "tables=public.tallies",
            "cannot be created without tables the line leaves out: table public.tallies \
             (needs public.tenants)",
        ),
    ];
    for (selector, expected) in cases {
        let lines = vec![
            (cluster.url(&names[0]), "tables=public.tenants"),
            (cluster.url(&names[1]), selector),
        ];
        let (report, (_dir, mapping)) = split(&source, &lines, &[], 2);
        let error = report["lines"][1]["error"].as_str().unwrap_or_default();
        assert!(error.contains(expected), "{selector}: {report}");
        let created = cluster
            .psql(
                "postgres",
                &format!(
                    "SELECT count(*) FROM pg_database WHERE datname IN ('{}', '{}')",
                    names[0], names[1]
                ),
            )
            .unwrap();
        assert_eq!(created.trim(), "0", "{selector}: a target was written");
        let out = pgsplit(&["plan", &mapping]);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{selector}: {stdout}\n{stderr}");
        assert!(stdout.contains(expected), "{selector}: {stdout}");
    }
}

/// A sequence another table's default uses goes with that table when its own table stays
/// behind: what is left out is only its OWNED BY (the report named the sequence).
#[test]
fn a_sequence_whose_table_stays_behind_goes_without_its_owned_by() {
    let cluster = testing::shared();
    let source = cluster.create_db("split_seq_owner");
    source.psql(
        "CREATE TABLE orders (id serial PRIMARY KEY);
         CREATE TABLE notes (id int PRIMARY KEY DEFAULT nextval('orders_id_seq'));
         INSERT INTO orders DEFAULT VALUES; INSERT INTO notes DEFAULT VALUES;",
    );
    let name = format!("{}_notes", source.name);
    let target = adopt(cluster, &name);
    let lines = vec![(cluster.url(&name), "tables=public.* exclude=public.orders")];
    let (report, _) = split(&source, &lines, &[], 0);
    assert_eq!(
        report["lines"][0]["cross_target"],
        serde_json::json!([
            "sequence public.orders_id_seq owned by public.orders.id (needs public.orders)"
        ]),
        "{report}"
    );
    let value = "SELECT last_value FROM orders_id_seq";
    assert_eq!(target.psql(value), source.psql(value));
}

#[test]
fn plan_shows_each_target_of_a_split() {
    let cluster = testing::shared();
    let source = cluster.create_db("split_plan");
    source.psql_file(&fixture("monolith.sql")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mapping = write_mapping(
        &dir,
        &format!(
            "{src}@@{a} schemas=sales\n{src}@@{b} schemas=inventory where:inventory.products=\"price > 100\"\n",
            src = source.url(),
            a = cluster.url("plan_split_a"),
            b = cluster.url("plan_split_b"),
        ),
    );
    let out = pgsplit(&["plan", &mapping, "--json"]);
    let (stdout, stderr) = text(&out);
    // order_items -> inventory.products crosses from the sales target.
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let sales = &doc["lines"][0];
    let names: Vec<&str> = sales["split"]["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["customers", "order_items", "orders"]);
    assert!(sales["split"]["objects"].as_u64().unwrap() > 10);
    assert!(
        sales["split"]["estimated_rows"].as_i64().unwrap() >= 80000,
        "{sales}"
    );
    assert_eq!(sales["problems"][0]["kind"], "cross_target");
    assert!(
        sales["problems"][0]["message"]
            .as_str()
            .unwrap()
            .contains("order_items")
    );
    let inventory = &doc["lines"][1]["split"]["tables"];
    let products = inventory
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "products")
        .unwrap();
    assert_eq!(products["filter"], "(price > 100)");
    // A selector that matches nothing is bad input.
    let mapping = write_mapping(
        &dir,
        &format!(
            "{}@@{} schemas=salez\n",
            source.url(),
            cluster.url("plan_split_c")
        ),
    );
    let out = pgsplit(&["plan", &mapping]);
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(stdout.contains("schemas=salez: no such schema"), "{stdout}");
}

/// Each target of a split lists what it would hold that pgsplit does not copy: a foreign
/// table with its server and what reads it go with its schema's target. A publication
/// goes to the targets of its tables, with those only; one of all tables to every target.
#[test]
fn each_target_lists_only_its_own_objects_not_copied() {
    let cluster = testing::shared();
    let source = cluster.create_db("split_not_copied");
    source.psql(
        "CREATE EXTENSION file_fdw;
         CREATE PUBLICATION everything FOR ALL TABLES;
         CREATE SCHEMA a;
         CREATE SCHEMA b;
         CREATE TABLE a.kept (id int PRIMARY KEY);
         CREATE TABLE b.kept (id int PRIMARY KEY);
         INSERT INTO a.kept SELECT generate_series(1, 10);
         INSERT INTO b.kept SELECT generate_series(1, 20);
         CREATE SERVER files_a FOREIGN DATA WRAPPER file_fdw;
         CREATE SERVER files_b FOREIGN DATA WRAPPER file_fdw;
         CREATE FOREIGN TABLE a.remote (line text) SERVER files_a OPTIONS (filename '/dev/null');
         CREATE FOREIGN TABLE b.remote (line text) SERVER files_b OPTIONS (filename '/dev/null');
         CREATE VIEW a.remote_lines AS SELECT line FROM a.remote;
         CREATE PUBLICATION both_kept FOR TABLE a.kept, b.kept;",
    );
    // A grant made by another grantor than the owner needs a superuser to replay: only
    // on the line that holds its table.
    cluster
        .psql(
            "postgres",
            "CREATE ROLE split_nc_granter; CREATE ROLE split_nc_reader",
        )
        .unwrap();
    source.psql(
        "GRANT USAGE ON SCHEMA b TO split_nc_granter;
         GRANT SELECT ON b.kept TO split_nc_granter WITH GRANT OPTION;
         SET ROLE split_nc_granter; GRANT SELECT ON b.kept TO split_nc_reader; RESET ROLE;",
    );
    let own = [
        vec![
            "foreign server files_a",
            "foreign table a.remote",
            "view a.remote_lines (needs foreign table a.remote)",
        ],
        vec!["foreign server files_b", "foreign table b.remote"],
    ];
    let names = [format!("{}_a", source.name), format!("{}_b", source.name)];
    let targets: Vec<TestDb<'_>> = names.iter().map(|n| adopt(cluster, n)).collect();
    let lines = vec![
        (cluster.url(&names[0]), "schemas=a"),
        (cluster.url(&names[1]), "schemas=b"),
    ];
    let (report, (_dir, mapping)) = split(&source, &lines, &[], 0);
    // Publications: one of all tables on every target, one of some tables with those
    // the target holds.
    let published = "SELECT string_agg(pubname || ':' || tablename, ',' ORDER BY pubname) \
                     FROM pg_publication_tables";
    for (target, schema) in targets.iter().zip(["a", "b"]) {
        assert_eq!(
            target.psql(published).trim(),
            "both_kept:kept,everything:kept",
            "{schema}"
        );
        let schemas = "SELECT string_agg(DISTINCT schemaname, ',') FROM pg_publication_tables";
        assert_eq!(target.psql(schemas).trim(), schema);
    }
    let plan = pgsplit(&["plan", &mapping, "--json"]);
    let (stdout, stderr) = text(&plan);
    let plan: serde_json::Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"));
    for (i, own) in own.iter().enumerate() {
        assert_eq!(
            report["lines"][i]["not_copied"],
            serde_json::json!(own),
            "{report}"
        );
        assert_eq!(
            plan["lines"][i]["source"]["unsupported"],
            serde_json::json!(own),
            "{plan}"
        );
    }
    let superuser = |i: usize| plan["lines"][i]["source"]["superuser_objects"].to_string();
    assert!(!superuser(0).contains("b.kept"), "{plan}");
    assert!(superuser(1).contains("b.kept"), "{plan}");
    // So are the roles that grant names: a target of the split needs its own only.
    let roles = |i: usize| plan["lines"][i]["source"]["roles"].to_string();
    assert!(!roles(0).contains("split_nc_"), "{plan}");
    assert!(roles(1).contains("split_nc_granter"), "{plan}");
    assert!(roles(1).contains("split_nc_reader"), "{plan}");
}

#[test]
fn pagila_split_three_ways_by_table() {
    let cluster = testing::shared();
    let source = cluster.create_db("split_pagila");
    if !testing::load_corpus(&source, "pagila").unwrap() {
        eprintln!("skipping: no ../shared/corpora next to the repository");
        return;
    }
    let groups = [
        (
            "people",
            "tables=public.customer,public.address,public.city,public.country,public.store,public.staff,public.payment",
        ),
        (
            "films",
            "tables=public.film,public.actor,public.film_actor,public.film_category,public.category,public.language,public.inventory",
        ),
        ("rentals", "tables=public.rental"),
    ];
    let names: Vec<String> = groups
        .iter()
        .map(|(g, _)| format!("{}_{g}", source.name))
        .collect();
    let dbs: Vec<TestDb<'_>> = names.iter().map(|n| adopt(cluster, n)).collect();
    let lines: Vec<(String, &str)> = names
        .iter()
        .zip(groups.iter())
        .map(|(n, (_, selector))| (cluster.url(n), *selector))
        .collect();
    let (report, (_dir, mapping)) = split(&source, &lines, &["--drop-cross-target-fks"], 0);
    for (i, db) in dbs.iter().enumerate() {
        let line = &report["lines"][i];
        assert!(line["error"].is_null(), "{line}");
        all_verified(line);
        let tables = tables_of(db);
        assert!(!tables.is_empty());
        for t in &tables {
            assert_eq!(fingerprint(db, t), fingerprint(&source, t), "{t}");
        }
        let invalid =
            db.psql("SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND NOT convalidated");
        assert_eq!(invalid.trim(), "0");
    }
    // Each target holds exactly its tables (payment with its partitions).
    assert!(tables_of(&dbs[0]).contains(&"public.payment_p2022_01".to_string()));
    assert!(
        !tables_of(&dbs[0])
            .iter()
            .any(|t| t == "public.film" || t == "public.rental")
    );
    assert_eq!(tables_of(&dbs[2]), ["public.rental"]);
    // rental's foreign keys point into the other targets: left out and listed.
    let left_out = report["lines"][2]["cross_target"].to_string();
    assert!(
        left_out.contains("rental_customer_id_fkey")
            && left_out.contains("rental_inventory_id_fkey"),
        "{left_out}"
    );
    let (code, verified) = verify(&mapping);
    assert_eq!(code, 0, "{verified}");
}

/// `--data-only` loads with foreign keys off: a key the target kept from a loaded table
/// into one the line does not load (here the other half of a split) was held by nothing,
/// and rows referencing what that table lacks were loaded with the run saying ok. The
/// run now checks such keys after the load: it fails on the rows that break one, and
/// passes once the referenced rows are there.
#[test]
fn a_data_only_split_checks_the_keys_the_target_kept_into_tables_it_does_not_load() {
    let cluster = testing::shared();
    let source = cluster.create_db("split_kept_keys");
    let schema = "CREATE SCHEMA a; CREATE SCHEMA b;
         CREATE TABLE b.customers (id int PRIMARY KEY);
         CREATE TABLE a.orders (id int PRIMARY KEY, customer_id int REFERENCES b.customers);
         CREATE TABLE a.notes (id int PRIMARY KEY, order_id int REFERENCES a.orders);
         CREATE TABLE a.events (id int, customer_id int REFERENCES b.customers)
             PARTITION BY RANGE (id);
         CREATE TABLE a.events_1 PARTITION OF a.events FOR VALUES FROM (0) TO (100);";
    source.psql(&format!(
        "{schema}
         INSERT INTO b.customers VALUES (1), (2), (3);
         INSERT INTO a.orders VALUES (1, 1), (2, 2), (3, NULL);
         INSERT INTO a.notes VALUES (1, 1), (2, 3);
         INSERT INTO a.events VALUES (1, 1), (2, 3);"
    ));
    let target = cluster.create_db("split_kept_keys_a");
    target.psql(&format!("{schema} INSERT INTO b.customers VALUES (1);"));
    let lines = vec![(target.url(), "schemas=a")];
    // The target's schema stays as it is: a key into the other half is not refused
    // (nothing that points there is written) nor reported as left out; it is checked.
    let extra = ["--data-only"];
    // Each (key, missing value, referenced table) must be named, and no other key.
    let broken = |keys: &[(&str, &str, &str)]| {
        let (report, _) = split(&source, &lines, &extra, 1);
        let error = report["lines"][0]["error"].as_str().unwrap_or_default();
        for (key, value, into) in keys {
            assert!(
                error.contains(&format!("break the target's foreign key {key} on a."))
                    && error.contains(&format!("key {value} is not present in {into}")),
                "{key}: {report}"
            );
        }
        assert_eq!(
            error.matches("break the target's foreign key").count(),
            keys.len(),
            "{error}"
        );
        if keys.len() > 1 {
            assert!(
                error.contains(&format!("{} foreign keys of the target fail", keys.len())),
                "{error}"
            );
        }
        target.psql("TRUNCATE a.orders, a.notes, a.events");
    };
    // Every key the rows break is named, not only the first one found.
    broken(&[
        (
            "orders_customer_id_fkey",
            "(customer_id)=(2)",
            "b.customers",
        ),
        (
            "events_customer_id_fkey",
            "(customer_id)=(3)",
            "b.customers",
        ),
    ]);
    // The key is still there, untouched by the check.
    assert_eq!(
        target
            .psql("SELECT count(*) FROM pg_constraint WHERE conname = 'orders_customer_id_fkey'")
            .trim(),
        "1"
    );
    // A partitioned table's key is checked through its parent.
    target.psql("INSERT INTO b.customers VALUES (2);");
    broken(&[(
        "events_customer_id_fkey",
        "(customer_id)=(3)",
        "b.customers",
    )]);
    target.psql("INSERT INTO b.customers VALUES (3);");
    // A key the target has and the source does not, between two tables the line loads:
    // the source vouches for nothing there.
    target.psql(
        "ALTER TABLE a.events ADD PRIMARY KEY (id);
         ALTER TABLE a.notes ADD CONSTRAINT notes_target_only
             FOREIGN KEY (order_id) REFERENCES a.events (id);",
    );
    broken(&[("notes_target_only", "(order_id)=(3)", "a.events")]);
    target.psql("ALTER TABLE a.notes DROP CONSTRAINT notes_target_only");
    let (report, (_dir, mapping)) = split(&source, &lines, &extra, 0);
    assert_eq!(
        report["lines"][0]["error"],
        serde_json::Value::Null,
        "{report}"
    );
    assert_eq!(report["lines"][0]["cross_target"], serde_json::json!([]));
    assert_eq!(target.psql("SELECT count(*) FROM a.orders").trim(), "3");
    let out = pgsplit(&["plan", &mapping, "--data-only", "--json"]);
    let (stdout, stderr) = text(&out);
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_default();
    assert!(
        !problem_kinds(&doc, 0).contains(&"cross_target")
            && doc["lines"][0]["split"]["cross_target"] == serde_json::json!([]),
        "{stdout}\n{stderr}"
    );
    assert_eq!(target.psql("SELECT count(*) FROM a.events").trim(), "2");
}

/// A key the target role cannot check after a `--data-only` load (it may not read the
/// referenced table) is listed among the skipped objects, with a warning; `--strict`
/// makes it an error.
#[test]
fn a_key_the_target_role_cannot_check_is_skipped_or_fails_with_strict() {
    let cluster = testing::shared();
    let source = cluster.create_db("split_unchecked_key");
    let schema = "CREATE SCHEMA a; CREATE SCHEMA b;
         CREATE TABLE b.c (id int PRIMARY KEY);
         CREATE TABLE a.o (id int PRIMARY KEY, c_id int REFERENCES b.c);";
    source.psql(&format!(
        "{schema} INSERT INTO b.c VALUES (1); INSERT INTO a.o VALUES (1, 1);"
    ));
    let target = cluster.create_db("split_unchecked_key_a");
    let role = data_only_loader(cluster, &source.name);
    target.psql(&format!(
        "{schema} INSERT INTO b.c VALUES (1);
         GRANT USAGE ON SCHEMA a, b TO \"{role}\";
         GRANT SELECT, INSERT, TRUNCATE ON a.o TO \"{role}\";"
    ));
    let as_role = role_url(cluster, &role, &target.name);
    let lines = vec![(as_role, "schemas=a")];
    let extra = ["--data-only", "--drop-cross-target-fks", "--strict"];
    let (report, _) = split(&source, &lines, &extra, 1);
    let error = report["lines"][0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("--strict: cannot check the target's foreign key o_c_id_fkey on a.o")
            && error.contains("permission denied"),
        "{report}"
    );
    target.psql("TRUNCATE a.o");
    let (report, _) = split(&source, &lines, &extra[..2], 0);
    let skipped = report["lines"][0]["skipped"].to_string();
    assert!(
        skipped.contains("foreign key o_c_id_fkey on a.o") && skipped.contains("permission denied"),
        "{report}"
    );
}

/// A run of a split says, as plan does, what no line takes: a table, the rows of a shard
/// no line cuts a table by, an object no table of any line needs.
#[test]
fn a_run_says_what_no_line_of_a_split_takes() {
    let cluster = testing::shared();
    let source = cluster.create_db("split_untaken_run");
    source.psql(
        "CREATE TABLE accounts (tenant_id int PRIMARY KEY, name text);
         INSERT INTO accounts SELECT i, 'n' || i FROM generate_series(1, 30) i;
         CREATE TABLE orders (tenant_id int, n int);
         INSERT INTO orders SELECT i % 30, i FROM generate_series(1, 90) i;
         CREATE TABLE lonely (id int);
         CREATE PUBLICATION lonely_feed FOR TABLE lonely;
         CREATE FUNCTION tcount() RETURNS int LANGUAGE sql AS 'SELECT 1';",
    );
    let names: Vec<String> = ["a", "b"]
        .iter()
        .map(|s| format!("{}_{s}", source.name))
        .collect();
    let _targets: Vec<TestDb<'_>> = names.iter().map(|n| adopt(cluster, n)).collect();
    let lines: Vec<(String, &str)> = vec![
        (
            cluster.url(&names[0]),
            "shard=tenant_id:0/2 tables=public.accounts",
        ),
        (
            cluster.url(&names[1]),
            "shard=tenant_id:1/2 tables=public.accounts,public.orders",
        ),
    ];
    let (report, _) = split(&source, &lines, &[], 0);
    assert_eq!(
        report["untaken"],
        serde_json::json!([{
            "source_url": report["lines"][0]["source_url"],
            "lines": [1, 2],
            "tables": [{"name": "public.lonely", "bytes": 0}],
            "shards": [{
                "key": "tenant_id", "modulus": 2, "remainders": [0],
                "tables": ["public.orders"]
            }],
            // Not the publication's table apart: it belongs to the table.
            "objects": ["function public.tcount()", "publication lonely_feed"],
        }]),
        "{report}"
    );
}
