//! What the data copy needs to know about each table that holds rows.

use std::collections::HashSet;

use crate::catalog::Catalog;
use crate::model::Oid;

/// A table whose rows are copied: a plain table or a leaf partition.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    pub schema: String,
    pub name: String,
    pub oid: Oid,
    /// `p` permanent, `u` unlogged.
    pub persistence: char,
    /// `pg_relation_size` on the source.
    pub estimated_bytes: i64,
    /// `reltuples` on the source (-1: never analyzed).
    pub estimated_rows: f64,
    /// Copied columns in `attnum` order (no dropped or generated columns).
    pub columns: Vec<Column>,
    /// Primary key columns, if it has one.
    pub primary_key: Vec<String>,
    /// An integer column that is the primary key or unique and NOT NULL, to split the
    /// table into ranges.
    pub chunk_column: Option<String>,
}

impl Table {
    pub fn qualified(&self) -> String {
        pgsplit_pg::quote::qualified(&self.schema, &self.name)
    }

    /// Whether every column can travel in binary COPY format.
    pub fn binary_ok(&self) -> bool {
        self.columns.iter().all(|c| c.binary_io)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    pub name: String,
    /// `format_type` of the column type, schema-qualified.
    pub type_name: String,
    pub type_oid: Oid,
    /// The type (and every type it is built from) has binary send/receive.
    pub binary_io: bool,
}

impl Catalog {
    /// Tables whose rows the data copy moves, largest first.
    pub fn tables(&self) -> Vec<Table> {
        let mut out: Vec<Table> = self
            .relations
            .iter()
            .filter(|r| r.relkind == "r")
            .map(|r| {
                let columns: Vec<Column> = r
                    .columns
                    .iter()
                    .filter(|c| c.generated.is_empty())
                    .map(|c| Column {
                        name: c.name.clone(),
                        type_name: c.type_name.clone(),
                        type_oid: c.type_oid,
                        binary_io: self.binary_io(c.type_oid),
                    })
                    .collect();
                let name_of = |attnum: i16| r.column(attnum as i32).map(|c| c.name.clone());
                let pk_index = self
                    .constraints
                    .iter()
                    .find(|c| c.table == r.oid && c.contype == "p")
                    .map(|c| c.index);
                let primary_key: Vec<String> = pk_index
                    .and_then(|oid| self.indexes.iter().find(|i| i.oid == oid))
                    .map(|i| {
                        i.keys
                            .iter()
                            .take(key_count(i))
                            .filter_map(|k| name_of(*k))
                            .collect()
                    })
                    .unwrap_or_default();
                let is_int = |attnum: i16| {
                    r.column(attnum as i32).is_some_and(|c| {
                        matches!(c.type_oid, 20 | 21 | 23) && c.not_null && c.generated.is_empty()
                    })
                };
                let single_key = |i: &crate::model::Index| {
                    (i.is_unique && i.valid && !i.has_exprs && !i.has_pred && key_count(i) == 1)
                        .then(|| i.keys.first().copied())
                        .flatten()
                };
                let pk_col = pk_index
                    .and_then(|oid| self.indexes.iter().find(|i| i.oid == oid))
                    .and_then(single_key)
                    .filter(|k| is_int(*k));
                let chunk = pk_col.or_else(|| {
                    let mut candidates: Vec<i16> = self
                        .indexes
                        .iter()
                        .filter(|i| i.table == r.oid)
                        .filter_map(single_key)
                        .filter(|k| is_int(*k))
                        .collect();
                    candidates.sort_unstable();
                    candidates.first().copied()
                });
                Table {
                    schema: r.schema.clone(),
                    name: r.name.clone(),
                    oid: r.oid,
                    persistence: r.persistence.chars().next().unwrap_or('p'),
                    estimated_bytes: r.bytes,
                    estimated_rows: r.reltuples,
                    columns,
                    primary_key,
                    chunk_column: chunk.and_then(name_of),
                }
            })
            .collect();
        out.sort_by(|a, b| {
            b.estimated_bytes
                .cmp(&a.estimated_bytes)
                .then(a.oid.cmp(&b.oid))
        });
        out
    }

    /// Whether values of type `oid` (and all the types inside it) have binary I/O.
    pub fn binary_io(&self, oid: Oid) -> bool {
        let mut seen = HashSet::new();
        self.binary_io_inner(oid, &mut seen)
    }

    fn binary_io_inner(&self, oid: Oid, seen: &mut HashSet<Oid>) -> bool {
        if !seen.insert(oid) {
            return true;
        }
        let Some(io) = self.type_io.get(&oid) else {
            return false;
        };
        if !io.has_binary_io {
            return false;
        }
        if io.elem != 0 && !self.binary_io_inner(io.elem, seen) {
            return false;
        }
        if io.base != 0 && !self.binary_io_inner(io.base, seen) {
            return false;
        }
        if io.range_subtype != 0 && !self.binary_io_inner(io.range_subtype, seen) {
            return false;
        }
        if io.relid != 0
            && let Some(rel) = self.relation(io.relid)
        {
            return rel
                .columns
                .iter()
                .all(|c| self.binary_io_inner(c.type_oid, seen));
        }
        true
    }
}

/// Key columns of an index, without INCLUDE columns.
fn key_count(i: &crate::model::Index) -> usize {
    // indnkeyatts is not read; INCLUDE columns follow the key columns, and the
    // definition names them after INCLUDE.
    let total = i.keys.len();
    match i.definition.find(" INCLUDE (") {
        Some(pos) => {
            let included = i.definition[pos..].split(',').count();
            total.saturating_sub(included)
        }
        None => total,
    }
}
