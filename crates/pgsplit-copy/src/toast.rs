//! Columns whose large values the source holds uncompressed.
//!
//! PostgreSQL tries to compress a value of a column with `EXTENDED` storage (the default
//! for variable-length types) as soon as its row grows beyond ~2 kB, and moves it out of
//! line uncompressed when compression does not shrink it by a quarter. Images, archives,
//! encrypted or random data never compress, so the target of a copy would spend a large
//! part of its COPY work repeating every attempt that already failed on the source.
//!
//! When a sample of a column's large values is all uncompressed, a whole-table load
//! switches the column to `EXTERNAL` storage (out of line, never compressed) inside its
//! transaction and back to `EXTENDED` before it commits: the target then holds those
//! values the way the source does, and its catalog ends up as the source's. Needs
//! `pg_column_compression` on the source (PostgreSQL 14).

use pgsplit_pg::quote;

use crate::SourceTable;

/// Smaller tables are not sampled: what failed compression attempts cost them is less
/// than the sampling query's round trip to a distant source.
pub const SAMPLE_FROM_BYTES: i64 = 4 * 1024 * 1024;

/// Rows read from the start of the table. Only the values' headers are looked at (no
/// value is fetched or decompressed), so this costs a few page reads.
pub const SAMPLE_ROWS: u32 = 1000;

/// A value at least this large made its row exceed PostgreSQL's threshold for
/// compressing (`TOAST_TUPLE_THRESHOLD`, ~2 kB with 8 kB pages), so it was tried.
const TRIED_FROM_BYTES: u32 = 2048;

/// Large uncompressed values (and not a single compressed one) that make a column
/// count as incompressible.
const MIN_EVIDENCE: i64 = 8;

/// The query that samples `table`'s `EXTENDED` columns on the source, or `None` when it
/// has none. Answers one row: whether the table sets its own `toast_tuple_target` (then
/// the threshold above does not hold and nothing is concluded), then per column the
/// number of compressed values and of large uncompressed ones.
pub fn probe_sql(table: &SourceTable) -> Option<String> {
    let columns: Vec<&str> = table
        .columns
        .iter()
        .filter(|c| c.extended)
        .map(|c| c.name.as_str())
        .collect();
    if columns.is_empty() {
        return None;
    }
    let mut counts = Vec::new();
    let mut select = Vec::new();
    for (i, name) in columns.iter().enumerate() {
        counts.push(format!(
            "count(*) FILTER (WHERE pg_column_compression(s.c{i}) IS NOT NULL), \
             count(*) FILTER (WHERE pg_column_compression(s.c{i}) IS NULL \
             AND pg_column_size(s.c{i}) >= {TRIED_FROM_BYTES})"
        ));
        select.push(format!("{} AS c{i}", quote::ident(name)));
    }
    Some(format!(
        "SELECT (SELECT coalesce(array_to_string(reloptions, ',') LIKE '%toast_tuple_target=%', \
         false) FROM pg_class WHERE oid = {oid}), {counts} \
         FROM (SELECT {select} FROM ONLY {table} LIMIT {SAMPLE_ROWS}) s",
        oid = table.oid,
        counts = counts.join(", "),
        select = select.join(", "),
        table = table.qualified(),
    ))
}

/// The columns of `table` the answer to [`probe_sql`] shows as incompressible.
pub fn incompressible(table: &SourceTable, answer: &[Option<String>]) -> Vec<String> {
    if answer.first().and_then(Option::as_deref) != Some("f") {
        return Vec::new();
    }
    let count = |i: usize| {
        answer
            .get(i)
            .and_then(Option::as_deref)
            .and_then(|v| v.parse::<i64>().ok())
    };
    table
        .columns
        .iter()
        .filter(|c| c.extended)
        .enumerate()
        .filter(|(i, _)| {
            matches!((count(1 + 2 * i), count(2 + 2 * i)),
                (Some(0), Some(failed)) if failed >= MIN_EVIDENCE)
        })
        .map(|(_, c)| c.name.clone())
        .collect()
}

/// `ALTER TABLE ONLY table ALTER COLUMN … SET STORAGE storage` for `columns`.
pub fn set_storage_sql(table: &SourceTable, columns: &[String], storage: &str) -> String {
    let alters: Vec<String> = columns
        .iter()
        .map(|c| format!("ALTER COLUMN {} SET STORAGE {storage}", quote::ident(c)))
        .collect();
    format!(
        "ALTER TABLE ONLY {} {}",
        table.qualified(),
        alters.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Format;
    use crate::tables::Column;

    fn table() -> SourceTable {
        let column = |name: &str, extended| Column {
            name: name.into(),
            type_name: "text".into(),
            extended,
            base_type: "text".into(),
            read_as: None,
            generated: false,
        };
        SourceTable {
            oid: 42,
            relfilenode: 42,
            schema: "s".into(),
            name: "t".into(),
            unlogged: false,
            bytes: 0,
            pages: 0,
            estimated_rows: 0.0,
            int_key: None,
            columns: vec![column("id", false), column("a", true), column("B", true)],
            format: Format::Binary,
            row_filter: None,
            generated: Vec::new(),
            generated_binary: true,
        }
    }

    #[test]
    fn only_extended_columns_are_sampled() {
        let sql = probe_sql(&table()).expect("two extended columns");
        assert!(sql.contains(r#"SELECT "a" AS c0, "B" AS c1 FROM ONLY "s"."t" LIMIT 1000"#));
        assert!(sql.contains("oid = 42"));
        let mut plain = table();
        plain.columns.retain(|c| !c.extended);
        assert_eq!(probe_sql(&plain), None);
    }

    #[test]
    fn a_column_needs_enough_failures_and_no_success() {
        let answer = |v: &[&str]| v.iter().map(|s| Some(s.to_string())).collect::<Vec<_>>();
        let t = table();
        assert_eq!(
            incompressible(&t, &answer(&["f", "0", "8", "0", "7"])),
            ["a"]
        );
        assert_eq!(
            incompressible(&t, &answer(&["f", "1", "900", "0", "9"])),
            ["B"]
        );
        assert!(incompressible(&t, &answer(&["t", "0", "900", "0", "900"])).is_empty());
        assert!(incompressible(&t, &[]).is_empty());
    }

    #[test]
    fn storage_statement_names_every_column() {
        assert_eq!(
            set_storage_sql(&table(), &["a".into(), "B".into()], "EXTERNAL"),
            r#"ALTER TABLE ONLY "s"."t" ALTER COLUMN "a" SET STORAGE EXTERNAL, ALTER COLUMN "B" SET STORAGE EXTERNAL"#
        );
    }
}
