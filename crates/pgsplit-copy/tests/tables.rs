//! The tables a copy moves, read from a real catalog: leaf tables only, copyable columns
//! only, the split key, and the COPY format each table needs.

use std::path::PathBuf;

use pgsplit_copy::{Format, tables};
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
