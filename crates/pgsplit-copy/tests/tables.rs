//! The tables a copy moves, read from a real catalog: leaf tables only, copyable columns
//! only, the split key, and the COPY format each table needs.

use std::path::PathBuf;

use pgsplit_copy::{Format, tables, toast};
use pgsplit_pg::testing;

fn kinds_fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../pgsplit-schema/tests/fixtures/kinds.sql")
}

#[tokio::test]
async fn tables_for_the_data_copy() {
    let db = testing::shared().create_db("copy_tables");
    db.psql_file(&kinds_fixture()).unwrap();
    db.psql(
        "CREATE TABLE app.acl_holder (id int UNIQUE NOT NULL, privs aclitem[]);
         CREATE TABLE app.plain (id bigint PRIMARY KEY, t text, n numeric, ts timestamptz[]);
         CREATE TABLE app.dropped (id int PRIMARY KEY, gone int, kept text);
         ALTER TABLE app.dropped DROP COLUMN gone;",
    );
    let conn = pgsplit_pg::connect(&db.settings()).await.unwrap();
    let tables = tables::read_tables(&conn.client).await.unwrap();
    let find = |name: &str| {
        tables
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("{name} missing"))
    };
    // Partitioned parents and views hold no rows of their own; leaf partitions do.
    assert!(
        tables
            .iter()
            .all(|t| t.name != "events" && t.name != "customer_count")
    );
    assert!(tables.iter().any(|t| t.name == "events_2023"));
    let customer = find("customer");
    let names: Vec<&str> = customer.columns.iter().map(|c| c.name.as_str()).collect();
    assert!(
        !names.contains(&"lower_email") && !names.contains(&"even"),
        "generated columns are computed by the target: {names:?}"
    );
    assert_eq!(names.first(), Some(&"id"));
    assert_eq!(customer.int_key.as_deref(), Some("id"));
    // An array of an enum carries the enum's per-database OID in binary form.
    assert_eq!(customer.format, Format::Text);
    let plain = find("plain");
    assert_eq!(plain.format, Format::Binary);
    assert_eq!(plain.int_key.as_deref(), Some("id"));
    // aclitem has no binary I/O; a unique key is not a primary key.
    let holder = find("acl_holder");
    assert_eq!(holder.format, Format::Text);
    assert_eq!(holder.int_key, None);
    assert!(find("scratch").unlogged);
    let dropped: Vec<&str> = find("dropped")
        .columns
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(dropped, ["id", "kept"]);
    assert_eq!(find("dropped").column_list(), "\"id\", \"kept\"");
}

/// 50 rows of 3,200 random bytes (md5 output never compresses), beside text that does.
const BLOBS: &str = "(id int PRIMARY KEY, raw bytea, doc text, small int)";
const BLOB_ROWS: &str = "SELECT g, (SELECT string_agg(decode(md5(g || '/' || i), 'hex'), ''::bytea) \
     FROM generate_series(1, 200) i), repeat('compressible ', 400), g FROM generate_series(1, 50) g";

#[tokio::test]
async fn the_toast_probe_finds_the_columns_the_source_could_not_compress() {
    let db = testing::shared().create_db("copy_toast_probe");
    db.psql(&format!(
        "CREATE TABLE blobs {BLOBS};
         INSERT INTO blobs {BLOB_ROWS};
         -- Rows up to 4000 bytes stay inline, never tried: nothing can be concluded.
         CREATE TABLE tuned {BLOBS} WITH (toast_tuple_target = 4000);
         INSERT INTO tuned {BLOB_ROWS};
         -- Large values stored while the column was EXTERNAL were never tried either,
         -- but the target should hold them uncompressed all the same.
         CREATE TABLE was_external {BLOBS};
         ALTER TABLE was_external ALTER COLUMN doc SET STORAGE EXTERNAL;
         INSERT INTO was_external {BLOB_ROWS};
         ALTER TABLE was_external ALTER COLUMN doc SET STORAGE EXTENDED;
         CREATE TABLE few {BLOBS};
         INSERT INTO few {BLOB_ROWS} LIMIT 7;"
    ));
    let conn = pgsplit_pg::connect(&db.settings()).await.unwrap();
    let tables = tables::read_tables(&conn.client).await.unwrap();
    let mut found = Vec::new();
    for t in &tables {
        let extended: Vec<&str> = t
            .columns
            .iter()
            .filter(|c| c.extended)
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(extended, ["raw", "doc"], "{}", t.name);
        let sql = toast::probe_sql(t).expect("extended columns");
        let row = conn.client.query_one(&sql, &[]).await.unwrap();
        let answer: Vec<Option<String>> = (0..row.len())
            .map(|i| match i {
                0 => row
                    .get::<_, Option<bool>>(0)
                    .map(|b| if b { "t" } else { "f" }.into()),
                _ => row.get::<_, Option<i64>>(i).map(|n| n.to_string()),
            })
            .collect();
        found.push((t.name.clone(), toast::incompressible(t, &answer)));
    }
    found.sort();
    let expected: Vec<(String, Vec<String>)> = vec![
        ("blobs".into(), vec!["raw".into()]),
        ("few".into(), vec![]),
        ("tuned".into(), vec![]),
        ("was_external".into(), vec!["raw".into(), "doc".into()]),
    ];
    assert_eq!(found, expected);
}
