//! The tables a copy moves, read from the source catalog inside the copy's snapshot:
//! leaf tables with their copyable columns, sizes, a key to split them by, and whether
//! their rows can travel in binary COPY.

use std::collections::HashMap;

use tokio_postgres::Client;
use tokio_postgres::types::Oid;

use pgsplit_pg::quote;

use crate::frame::Format;

/// `sql` with its `{base_type}` made the expression of a column's type under its domains
/// (`a` the `pg_attribute` row, `t` its `pg_type` row): one text for the source's columns
/// and for a `--data-only` target's.
pub fn with_base_type(sql: &str) -> String {
    sql.replace("{base_type}", include_str!("base_type.sql"))
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Column {
    pub name: String,
    pub type_name: String,
    /// `EXTENDED` storage: large values are compressed, then moved out of line.
    #[serde(default)]
    pub extended: bool,
    /// The type under its domains (`type_name` for a column of no domain): what the
    /// values are on the wire. Empty in journals written before it was kept.
    #[serde(default)]
    pub base_type: String,
    /// For a `--data-only` target whose column has another type: this column's own
    /// (built-in) type, which both sides read the column as (`"c"::text::numeric(10,2)`;
    /// on the source the same values), so that the target's values compare with the
    /// source's as values of one type.
    #[serde(default)]
    pub read_as: Option<String>,
    /// A stored generated column, in a table's `columns` only for `verify`
    /// ([`SourceTable::with_generated`]), or one the other side generates: read by a
    /// `SELECT`, as a `COPY` of the table cannot list it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub generated: bool,
}

impl Column {
    /// Fits this (source) column to a `--data-only` target's column of `type_name` over
    /// `base_type`: of another type, or one of the same name over another type (a
    /// domain), it must travel in text, which the target parses as its own type (true
    /// returned). When this column's type is built in, both sides read it as that
    /// ([`Column::read_as`]: the target's values turned back into the source's type), so
    /// that a checksum finds the values the target's type changed (rounded, cut,
    /// normalized), not each type's way of printing the same value.
    pub fn fit_to(&mut self, type_name: &str, base_type: &str) -> bool {
        let other = type_name != self.type_name
            || (!self.base_type.is_empty() && base_type != self.base_type);
        // `format_type` with an empty search_path names only pg_catalog's types without
        // a schema: every server knows them.
        if other && !self.type_name.contains('.') {
            self.read_as = Some(self.type_name.clone());
        }
        other
    }
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct SourceTable {
    pub oid: Oid,
    /// The table's storage as the snapshot sees it: a rewrite or `TRUNCATE` after the
    /// snapshot gives the table a new one, whose rows the snapshot cannot see.
    #[serde(default)]
    pub relfilenode: Oid,
    pub schema: String,
    pub name: String,
    pub unlogged: bool,
    pub bytes: i64,
    pub pages: i64,
    pub estimated_rows: f64,
    /// A single-column integer primary key, usable to split the table by ranges.
    pub int_key: Option<String>,
    pub columns: Vec<Column>,
    /// Binary unless a column's type (or a part of it) has no send/receive function, or
    /// its binary form embeds type OIDs that differ between databases (arrays of
    /// user-defined types, composites with user-defined fields): those rows would load
    /// but could never be compared byte for byte with the target's.
    pub format: Format,
    /// Only rows matching this SQL condition are copied (a split's share of the table).
    #[serde(default)]
    pub row_filter: Option<String>,
    /// The stored generated columns, which a copy leaves out (the target computes them)
    /// and `verify` compares ([`Self::with_generated`]). (PostgreSQL 18's virtual ones
    /// hold no data: neither.)
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub generated: Vec<Column>,
    /// Whether the generated columns' values can travel in binary too.
    #[serde(default)]
    pub generated_binary: bool,
}

impl SourceTable {
    /// The rows of one chunk of this table: the chunk's range and the table's filter.
    pub fn predicate(&self, chunk: &crate::Chunk) -> Option<String> {
        crate::chunk::with_filter(chunk, self.row_filter.as_deref())
    }

    /// `"schema"."name"`
    pub fn qualified(&self) -> String {
        quote::qualified(&self.schema, &self.name)
    }

    /// `schema.name` for people.
    pub fn display_name(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }

    /// `"a", "b"`: the columns both sides of a copy read and write (empty for a table
    /// without columns, which `SELECT` accepts).
    pub fn column_list(&self) -> String {
        self.columns
            .iter()
            .map(|c| quote::ident(&c.name))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// [`Self::column_list`] with each column that has a [`Column::read_as`] type read as it.
    pub fn select_list(&self) -> String {
        self.columns
            .iter()
            .map(|c| match &c.read_as {
                Some(ty) => format!("{}::pg_catalog.text::{ty}", quote::ident(&c.name)),
                None => quote::ident(&c.name),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Every column, the generated ones too: what a row condition or a shard key may name.
    pub fn all_columns(&self) -> impl Iterator<Item = &Column> {
        self.columns.iter().chain(&self.generated)
    }

    /// Whether a column is read by a `SELECT` only: read as another type
    /// ([`Column::read_as`]), or generated.
    pub fn needs_select(&self) -> bool {
        self.columns
            .iter()
            .any(|c| c.read_as.is_some() || c.generated)
    }

    /// The table as `verify` reads it: with its generated columns, whose values the
    /// target computed (by functions that may not compute there what they did on the
    /// source), in text when their values cannot travel in binary.
    pub fn with_generated(mut self) -> SourceTable {
        if !self.generated.is_empty() {
            if !self.generated_binary {
                self.format = Format::Text;
            }
            self.columns.append(&mut self.generated);
        }
        self
    }

    /// ` ("a", "b")`: the column list of a `COPY` of the table; none for a table without
    /// columns (a `COPY` refuses an empty list, and without one copies every column but
    /// the generated ones: none).
    pub fn copy_columns(&self) -> String {
        if self.columns.is_empty() {
            String::new()
        } else {
            format!(" ({})", self.column_list())
        }
    }
}

struct TypeInfo {
    has_binary_io: bool,
    element: Oid,
    base: Oid,
    relation: Oid,
    range_subtype: Oid,
}

/// Empties the session's search_path (so that `format_type` names every type outside
/// pg_catalog with its schema); returns the setting to restore.
pub async fn empty_search_path(client: &Client) -> Result<String, tokio_postgres::Error> {
    Ok(client
        .query_one(
            "SELECT pg_catalog.current_setting('search_path'), pg_catalog.set_config('search_path', '', false)",
            &[],
        )
        .await?
        .get(0))
}

/// Puts back what [`empty_search_path`] returned.
pub async fn restore_search_path(
    client: &Client,
    saved: &str,
) -> Result<(), tokio_postgres::Error> {
    client
        .query_one(
            "SELECT pg_catalog.set_config('search_path', $1, false)",
            &[&saved],
        )
        .await
        .map(|_| ())
}

/// Reads every copyable table. Run it inside the snapshot that the data copy uses. (Its
/// queries, like the catalog's, are sent unprepared: one round trip each, not two.)
pub async fn read_tables(client: &Client) -> Result<Vec<SourceTable>, tokio_postgres::Error> {
    let types: HashMap<Oid, TypeInfo> = client
        .query_typed(include_str!("types.sql"), &[])
        .await?
        .iter()
        .map(|r| {
            (
                r.get("oid"),
                TypeInfo {
                    has_binary_io: r.get("has_binary_io"),
                    element: r.get("element"),
                    base: r.get("base"),
                    relation: r.get("relation"),
                    range_subtype: r.get("range_subtype"),
                },
            )
        })
        .collect();
    // Composite types need their attributes' types: one query for all of them.
    let mut composite_members: HashMap<Oid, Vec<Oid>> = HashMap::new();
    for r in client
        .query_typed(
            "SELECT attrelid, atttypid FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
             WHERE c.relkind = 'c' AND a.attnum > 0 AND NOT a.attisdropped",
            &[],
        )
        .await?
    {
        composite_members
            .entry(r.get(0))
            .or_default()
            .push(r.get(1));
    }
    // Type names are compared across servers: with an empty search_path every type
    // outside pg_catalog is named with its schema, whoever connects (a type in the user's
    // own schema would be `status` on one side, `shop.status` on the other).
    let saved = empty_search_path(client).await?;
    let column_rows = client
        .query_typed(&with_base_type(include_str!("columns.sql")), &[])
        .await;
    restore_search_path(client, &saved).await?;
    let mut columns: HashMap<Oid, Vec<(Column, Oid)>> = HashMap::new();
    for r in column_rows? {
        columns.entry(r.get("table_oid")).or_default().push((
            Column {
                name: r.get("name"),
                type_name: r.get("type_name"),
                extended: r.get("extended"),
                base_type: r.get::<_, Option<String>>("base_type").unwrap_or_default(),
                read_as: None,
                generated: r.get("generated"),
            },
            r.get("type_oid"),
        ));
    }
    let binary_ok = |oid: Oid| binary_capable(oid, &types, &composite_members, 0);
    let portable =
        |oid: Oid| binary_ok(oid) && no_embedded_user_oids(oid, &types, &composite_members, 0);
    let rows = client.query_typed(include_str!("tables.sql"), &[]).await?;
    Ok(rows
        .iter()
        .map(|r| {
            let oid: Oid = r.get("oid");
            let (generated, cols): (Vec<_>, Vec<_>) = columns
                .remove(&oid)
                .unwrap_or_default()
                .into_iter()
                .partition(|(c, _)| c.generated);
            let format = if cols.iter().all(|(_, t)| portable(*t)) {
                Format::Binary
            } else {
                Format::Text
            };
            SourceTable {
                oid,
                relfilenode: r.get("relfilenode"),
                schema: r.get("schema"),
                name: r.get("name"),
                unlogged: r.get::<_, String>("persistence") == "u",
                bytes: r.get("bytes"),
                pages: r.get("pages"),
                estimated_rows: r.get("estimated_rows"),
                int_key: r.get("int_key"),
                columns: cols.into_iter().map(|(c, _)| c).collect(),
                format,
                row_filter: None,
                generated_binary: generated.iter().all(|(_, t)| portable(*t)),
                generated: generated.into_iter().map(|(c, _)| c).collect(),
            }
        })
        .collect())
}

const MAX_TYPE_DEPTH: u32 = 32;

/// Type OIDs from here on are created per database (PostgreSQL's `FirstNormalObjectId`).
const FIRST_NORMAL_OID: Oid = 16384;

/// Whether `ok` holds for a type and every type it is made of (array element, domain
/// base, range subtype, composite fields). `ok` gets the type's OID, the type and its
/// composite fields.
fn all_parts(
    oid: Oid,
    types: &HashMap<Oid, TypeInfo>,
    composites: &HashMap<Oid, Vec<Oid>>,
    depth: u32,
    ok: &dyn Fn(Oid, &TypeInfo, &[Oid]) -> bool,
) -> bool {
    if depth > MAX_TYPE_DEPTH {
        return false;
    }
    let Some(t) = types.get(&oid) else {
        return false;
    };
    let members = match t.relation {
        0 => &[][..],
        relation => composites.get(&relation).map(Vec::as_slice).unwrap_or(&[]),
    };
    let part = |p: Oid| p == 0 || all_parts(p, types, composites, depth + 1, ok);
    ok(oid, t, members)
        && [t.element, t.base, t.range_subtype].into_iter().all(part)
        && members.iter().all(|&m| part(m))
}

/// Values can travel in binary: every part has send and receive functions.
fn binary_capable(
    oid: Oid,
    types: &HashMap<Oid, TypeInfo>,
    composites: &HashMap<Oid, Vec<Oid>>,
    depth: u32,
) -> bool {
    all_parts(oid, types, composites, depth, &|_, t, _| t.has_binary_io)
}

/// The OID alias types (`regclass`, `regtype`, `regproc`, …): their binary form is the
/// object's OID in the source database, their text form its name.
const OID_ALIAS_TYPES: [Oid; 11] = [
    24, 2202, 2203, 2204, 2205, 2206, 3734, 3769, 4089, 4096, 4191,
];

/// True when the binary form of values of this type carries no OID that is assigned per
/// database: array headers carry their element type's OID, composite values each
/// field's type OID, and an OID alias value is one. (Fixed-length "arrays" such as point
/// or name also have an element type; theirs are built in.)
fn no_embedded_user_oids(
    oid: Oid,
    types: &HashMap<Oid, TypeInfo>,
    composites: &HashMap<Oid, Vec<Oid>>,
    depth: u32,
) -> bool {
    all_parts(oid, types, composites, depth, &|oid, t, members| {
        !OID_ALIAS_TYPES.contains(&oid)
            && t.element < FIRST_NORMAL_OID
            && members.iter().all(|&m| m < FIRST_NORMAL_OID)
    })
}
