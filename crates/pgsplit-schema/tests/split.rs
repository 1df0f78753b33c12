//! Splits: each target's DDL from `render_selected`, applied to an empty database, must
//! dump (`pg_dump --schema-only`) exactly like an independently built expected target:
//! the same source loaded into another database with everything not selected dropped
//! (`DROP … CASCADE` also removes the foreign keys and views that point into other
//! targets, which a split target must lack). The objects left out are checked against
//! the `CrossTarget` list.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use pgsplit_pg::testing::{self, TestDb};
use pgsplit_schema::{Catalog, CrossKind, CrossTarget, Ddl, ObjectKind, SchemaOptions, Selection};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

async fn client(db: &TestDb<'_>) -> tokio_postgres::Client {
    pgsplit_pg::connect(&db.settings())
        .await
        .expect("connect")
        .client
}

async fn catalog(db: &TestDb<'_>) -> Catalog {
    pgsplit_schema::introspect(&client(db).await)
        .await
        .expect("introspect")
}

/// Applies pre-data then post-data to `target`.
async fn apply(ddl: &Ddl, target: &TestDb<'_>) {
    let dst = client(target).await;
    dst.batch_execute(Ddl::SESSION_SETUP)
        .await
        .expect("session setup");
    for (section, list) in [("pre-data", &ddl.pre_data), ("post-data", &ddl.post_data)] {
        for s in list {
            if let Err(e) = dst.batch_execute(&s.sql).await {
                panic!(
                    "{section} statement for {} failed: {}\n{}",
                    s.identity,
                    pgsplit_pg::cause_chain(&e),
                    s.sql
                );
            }
        }
    }
}

fn tables(names: &[&str]) -> BTreeSet<(String, String)> {
    names
        .iter()
        .map(|n| {
            let (s, t) = n.split_once('.').expect("schema.table");
            (s.to_string(), t.to_string())
        })
        .collect()
}

fn fk(from: &str, name: &str, to: &[&str]) -> CrossTarget {
    let (s, t) = from.split_once('.').expect("schema.table");
    CrossTarget {
        identity: format!("foreign key {from}.{name}"),
        kind: CrossKind::ForeignKey,
        from: (s.into(), t.into()),
        to: tables(to).into_iter().collect(),
    }
}

fn view(kind: &str, name: &str, to: &[&str]) -> CrossTarget {
    let (s, t) = name.split_once('.').expect("schema.view");
    CrossTarget {
        identity: format!("{kind} {name}"),
        kind: CrossKind::View,
        from: (s.into(), t.into()),
        to: tables(to).into_iter().collect(),
    }
}

/// One target: render it from `source`, apply it to an empty database, build the
/// expected target from `files` plus `drops`, and compare the dumps and the report.
async fn check_target(
    source: &Catalog,
    hint: &str,
    files: &[PathBuf],
    selection: &Selection,
    drops: &str,
    expected_cross: &[CrossTarget],
) -> Ddl {
    let cluster = testing::shared();
    let (ddl, cross) = source.render_selected(&SchemaOptions::default(), selection);
    let target = cluster.create_db(&format!("{hint}_target"));
    apply(&ddl, &target).await;
    let expected = cluster.create_db(&format!("{hint}_expected"));
    for f in files {
        expected
            .psql_file(f)
            .unwrap_or_else(|e| panic!("load {}: {e}", f.display()));
    }
    expected.psql(drops);
    let (want, got) = (
        testing::pg_dump(&expected, &["--schema-only"]),
        testing::pg_dump(&target, &["--schema-only"]),
    );
    assert!(
        want == got,
        "{hint}: expected target (left) and split target (right) differ:\n{}",
        testing::diff(&want, &got)
    );
    let mut expected_cross = expected_cross.to_vec();
    expected_cross.sort();
    assert_eq!(cross, expected_cross, "{hint}: cross-target objects");
    // Every foreign key written is created and valid.
    let invalid =
        target.psql("SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND NOT convalidated");
    assert_eq!(invalid.trim(), "0", "{hint}: invalid foreign keys");
    // Post-data waits only for tables this target loads.
    let loaded: BTreeSet<(String, String)> = target
        .psql(
            "SELECT n.nspname || '|' || c.relname FROM pg_class c JOIN pg_namespace n \
             ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname NOT IN \
             ('pg_catalog', 'information_schema')",
        )
        .lines()
        .filter_map(|l| l.split_once('|'))
        .map(|(s, t)| (s.to_string(), t.to_string()))
        .collect();
    for s in &ddl.post_data {
        for t in s.table.iter().chain(&s.waits_for) {
            assert!(loaded.contains(t), "{hint}: {} waits for {t:?}", s.identity);
        }
    }
    ddl
}

/// The project's monolith fixture (kept once, with the binary's end-to-end tests).
fn monolith_fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../pgsplit/tests/fixtures/monolith.sql")
}

/// The monolith's schema without its rows (the rows do not change a schema dump).
fn monolith_schema() -> tempfile::NamedTempFile {
    let text = std::fs::read_to_string(monolith_fixture()).expect("read monolith");
    let schema = &text[..text.find("\nINSERT INTO").expect("data part")];
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), schema).expect("write");
    file
}

fn schemas(names: &[&str]) -> Selection {
    Selection {
        tables: BTreeSet::new(),
        schemas: names.iter().map(|s| s.to_string()).collect(),
        left_out: BTreeSet::new(),
    }
}

#[tokio::test]
async fn monolith_split_three_ways_by_schema() {
    let cluster = testing::shared();
    let source = cluster.create_db("split_mono");
    source
        .psql_file(&monolith_fixture())
        .expect("load monolith");
    let cat = catalog(&source).await;
    let schema_file = monolith_schema();
    let files = [schema_file.path().to_path_buf()];

    let sales = check_target(
        &cat,
        "split_sales",
        &files,
        &schemas(&["sales"]),
        "DROP SCHEMA inventory CASCADE; DROP SCHEMA billing CASCADE",
        &[fk(
            "sales.order_items",
            "order_items_product_id_fkey",
            &["inventory.products"],
        )],
    )
    .await;
    let inventory = check_target(
        &cat,
        "split_inventory",
        &files,
        &schemas(&["inventory"]),
        "DROP SCHEMA sales CASCADE; DROP SCHEMA billing CASCADE",
        &[],
    )
    .await;
    let billing = check_target(
        &cat,
        "split_billing",
        &files,
        &schemas(&["billing"]),
        "DROP SCHEMA sales CASCADE; DROP SCHEMA inventory CASCADE",
        &[fk(
            "billing.invoices",
            "invoices_order_id_fkey",
            &["sales.orders"],
        )],
    )
    .await;

    // Sequence values go with their sequences only.
    let values = |ddl: &Ddl| -> BTreeSet<String> {
        ddl.post_data
            .iter()
            .filter(|s| s.kind == ObjectKind::SequenceSet)
            .map(|s| s.identity.clone())
            .collect()
    };
    assert_eq!(
        values(&sales),
        BTreeSet::from([
            "value of sequence sales.customers_id_seq".to_string(),
            "value of sequence sales.orders_id_seq".to_string(),
        ])
    );
    assert_eq!(
        values(&inventory),
        BTreeSet::from(["value of sequence inventory.products_id_seq".to_string()])
    );
    assert_eq!(
        values(&billing),
        BTreeSet::from(["value of sequence billing.invoice_numbers".to_string()])
    );
}

/// Functions in `public` whose bodies read pagila's tables: `pg_depend` does not record
/// what a PL/pgSQL body uses, so no selected object needs them and a split leaves them
/// out; the expected targets drop them (DROP TABLE … CASCADE cannot know about them).
const PAGILA_UNUSED: &str = "DROP FUNCTION public.film_in_stock(integer, integer); \
    DROP FUNCTION public.film_not_in_stock(integer, integer); \
    DROP FUNCTION public.get_customer_balance(integer, timestamp with time zone); \
    DROP FUNCTION public.inventory_held_by_customer(integer); \
    DROP FUNCTION public.inventory_in_stock(integer); \
    DROP FUNCTION public.last_day(timestamp with time zone); \
    DROP DOMAIN public.\"bıgınt\";";

/// Used only by the film catalogue (`film` columns, `film_list` views).
const PAGILA_FILM_ONLY: &str = "DROP AGGREGATE public.group_concat(text); \
    DROP FUNCTION public._group_concat(text, text); \
    DROP TYPE public.mpaa_rating; DROP DOMAIN public.year;";

/// Sequences whose tables' defaults were dropped with the tables: pagila's sequences
/// are not OWNED BY their tables, so only the default that calls them ties them to a
/// target.
fn pagila_sequences(tables: &[&str]) -> String {
    tables
        .iter()
        .map(|t| {
            let column = match *t {
                "film_actor" | "film_category" => return String::new(),
                "payment" => "payment_id".to_string(),
                t => format!("{t}_id"),
            };
            format!("DROP SEQUENCE public.{t}_{column}_seq;")
        })
        .collect()
}

fn drop_tables(tables: &[&str]) -> String {
    let list: Vec<String> = tables.iter().map(|t| format!("public.{t}")).collect();
    format!(
        "DROP TABLE {} CASCADE; {}",
        list.join(", "),
        pagila_sequences(tables)
    )
}

#[tokio::test]
async fn pagila_split_three_ways_by_table() {
    let cluster = testing::shared();
    let source = cluster.create_db("split_pagila");
    match testing::load_corpus(&source, "pagila") {
        Ok(true) => {}
        Ok(false) => {
            eprintln!("skipping: no shared corpora folder next to the repository");
            return;
        }
        Err(e) => panic!("load pagila: {e}"),
    }
    let cat = catalog(&source).await;
    let files = [testing::corpora_dir()
        .expect("corpora")
        .join("pagila/pagila-schema.sql")];
    let customers = [
        "customer", "address", "city", "country", "store", "staff", "payment",
    ];
    let films = [
        "film",
        "actor",
        "film_actor",
        "film_category",
        "category",
        "language",
        "inventory",
    ];
    let rentals = ["rental"];
    let all = |except: &[&str]| -> Vec<&'static str> {
        customers
            .iter()
            .chain(&films)
            .chain(&rentals)
            .copied()
            .filter(|t| !except.contains(t))
            .collect()
    };
    let select = |names: &[&str]| Selection {
        // The partitions of `payment` come with it without being named.
        tables: names
            .iter()
            .map(|t| ("public".to_string(), t.to_string()))
            .collect(),
        schemas: BTreeSet::new(),
        left_out: BTreeSet::new(),
    };
    let by_store_to = |have: &[&str]| -> Vec<String> {
        [
            "payment",
            "rental",
            "inventory",
            "store",
            "address",
            "city",
            "country",
            "staff",
        ]
        .iter()
        .filter(|t| !have.contains(t))
        .map(|t| format!("public.{t}"))
        .collect()
    };
    let by_category_to = |have: &[&str]| -> Vec<String> {
        [
            "payment",
            "rental",
            "inventory",
            "film",
            "film_category",
            "category",
        ]
        .iter()
        .filter(|t| !have.contains(t))
        .map(|t| format!("public.{t}"))
        .collect()
    };
    let views_for = |have: &[&str]| -> Vec<CrossTarget> {
        let a = by_store_to(have);
        let b = by_category_to(have);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let b: Vec<&str> = b.iter().map(String::as_str).collect();
        vec![
            view("view", "public.sales_by_store", &a),
            view("view", "public.sales_by_film_category", &b),
            view("materialized view", "public.rental_by_category", &b),
        ]
    };

    // Customers, stores, staff and payments: payments point at rentals.
    let mut cross: Vec<CrossTarget> = (1..=6)
        .map(|m| {
            fk(
                &format!("public.payment_p2022_0{m}"),
                &format!("payment_p2022_0{m}_rental_id_fkey"),
                &["public.rental"],
            )
        })
        .collect();
    cross.extend(views_for(&customers));
    check_target(
        &cat,
        "split_pagila_customers",
        &files,
        &select(&customers),
        &format!(
            "{} {PAGILA_UNUSED} {PAGILA_FILM_ONLY}",
            drop_tables(&all(&customers))
        ),
        &cross,
    )
    .await;

    // The film catalogue and the inventory: inventory points at stores.
    let mut cross = vec![fk(
        "public.inventory",
        "inventory_store_id_fkey",
        &["public.store"],
    )];
    cross.extend(views_for(&films));
    check_target(
        &cat,
        "split_pagila_films",
        &files,
        &select(&films),
        &format!("{} {PAGILA_UNUSED}", drop_tables(&all(&films))),
        &cross,
    )
    .await;

    // Rentals alone: every foreign key points elsewhere.
    let mut cross = vec![
        fk(
            "public.rental",
            "rental_customer_id_fkey",
            &["public.customer"],
        ),
        fk(
            "public.rental",
            "rental_inventory_id_fkey",
            &["public.inventory"],
        ),
        fk("public.rental", "rental_staff_id_fkey", &["public.staff"]),
    ];
    cross.extend(views_for(&rentals));
    check_target(
        &cat,
        "split_pagila_rentals",
        &files,
        &select(&rentals),
        &format!(
            "{} {PAGILA_UNUSED} {PAGILA_FILM_ONLY}",
            drop_tables(&all(&rentals))
        ),
        &cross,
    )
    .await;
}

fn named(kind: CrossKind, identity: &str, from: &str, to: &[&str]) -> CrossTarget {
    let (s, t) = from.split_once('.').expect("schema.name");
    CrossTarget {
        identity: identity.to_string(),
        kind,
        from: (s.into(), t.into()),
        to: tables(to).into_iter().collect(),
    }
}

#[tokio::test]
async fn fixture_split_inclusion_rules() {
    let cluster = testing::shared();
    let source = cluster.create_db("split_rules");
    source
        .psql_file(&fixture("split.sql"))
        .expect("load split.sql");
    let cat = catalog(&source).await;
    let selection = Selection {
        tables: tables(&["app.accounts", "app.child"]),
        schemas: BTreeSet::from(["report".to_string()]),
        left_out: BTreeSet::new(),
    };
    let ddl = check_target(
        &cat,
        "split_rules",
        &[fixture("split.sql")],
        &selection,
        // Not selected, and what goes with them: the audit table (its foreign key and
        // the views over it), the inheritance parent (and so the child).
        "DROP TABLE app.audit CASCADE; DROP TABLE app.base CASCADE; \
         -- Event triggers go only when every table is selected.
         DROP EVENT TRIGGER split_log_ddl; DROP FUNCTION app.on_ddl(); \
         -- In a schema that is needed but not taken whole, and used by nothing selected.
         DROP FUNCTION lib.unused(int); DROP CAST (lib.unused_pair AS int); \
         DROP FUNCTION lib.unused_pair_sum(lib.unused_pair); DROP TYPE lib.unused_pair; \
         -- Per-schema default privileges go with schemas the target takes whole or\
         -- some tables of, not with one made only for what those need.
         ALTER DEFAULT PRIVILEGES FOR ROLE pgsplit_owner IN SCHEMA lib \
           REVOKE SELECT ON TABLES FROM pgsplit_reader;",
        &[
            view("view", "app.audited", &["app.audit"]),
            view("view", "report.audit_count", &["app.audit"]),
            named(
                CrossKind::Other,
                "table app.child",
                "app.child",
                &["app.base"],
            ),
        ],
    )
    .await;
    let values: Vec<&str> = ddl
        .post_data
        .iter()
        .filter(|s| s.kind == ObjectKind::SequenceSet)
        .map(|s| s.identity.as_str())
        .collect();
    assert_eq!(values, vec!["value of sequence lib.account_numbers"]);
}
