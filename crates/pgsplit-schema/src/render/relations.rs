//! Tables (columns, identity, generated columns, partitioning, inheritance), sequences,
//! column defaults, views and materialized views.

use std::collections::{HashMap, HashSet};

use pgsplit_pg::quote::{ident, literal};

use super::{Builder, Item, ObjectKind as K, Section, Statement, stmt, synthetic};
use crate::catalog::Catalog;
use crate::model::*;

pub(super) fn render(b: &mut Builder<'_>) {
    let reads = relations_read(b.cat);
    for rel in &b.cat.relations {
        match rel.relkind.as_str() {
            "r" | "p" => table(b, rel),
            "S" => sequence(b, rel),
            "v" => view(b, rel),
            "m" => matview(b, rel, &reads),
            _ => {}
        }
    }
    defaults(b);
}

fn with_options(options: &[String], toast: &[String]) -> Vec<String> {
    let mut out: Vec<String> = options.to_vec();
    out.extend(toast.iter().map(|o| format!("toast.{o}")));
    out
}

fn identity_clause(b: &Builder<'_>, rel: &Relation, col: &Attribute) -> Option<(String, Oid)> {
    let seq = b
        .cat
        .sequences
        .iter()
        .find(|s| s.identity && s.owned_by == Some((rel.oid, col.attnum)))?;
    let seq_rel = b.cat.relation(seq.oid)?;
    let kind = if col.identity == "a" {
        "ALWAYS"
    } else {
        "BY DEFAULT"
    };
    // From 15 on, an identity's sequence is as logged as its table unless set apart
    // (ALTER SEQUENCE … SET [UN]LOGGED). Before, every sequence is logged, and the
    // options do not take these words.
    let persistence = if b.cat.version < 150000 || seq_rel.persistence == rel.persistence {
        ""
    } else if seq_rel.persistence == "u" {
        " UNLOGGED"
    } else {
        " LOGGED"
    };
    Some((
        format!(
            " GENERATED {kind} AS IDENTITY (SEQUENCE NAME {}{persistence} START WITH {} INCREMENT BY {} MINVALUE {} MAXVALUE {} CACHE {}{})",
            seq_rel.qualified(),
            seq.start,
            seq.increment,
            seq.min,
            seq.max,
            seq.cache,
            if seq.cycle { " CYCLE" } else { " NO CYCLE" }
        ),
        seq.oid,
    ))
}

fn table(b: &mut Builder<'_>, rel: &Relation) {
    let name = rel.qualified();
    let key = (class::CLASS, rel.oid);
    let identity = format!("table {}.{}", rel.schema, rel.name);
    let inherits = !rel.is_partition && !rel.parents.is_empty();
    let mut cols = Vec::new();
    let mut after = Vec::new();
    let mut identity_seqs = Vec::new();
    let mut comments = Vec::new();
    for c in &rel.columns {
        let qcol = ident(&c.name);
        // Inherited columns come from the parents; partitions list them all, as they
        // are created on their own and attached afterwards.
        if !inherits || c.is_local {
            // `v`: VIRTUAL (PostgreSQL 18+), computed when read; written out, or the
            // target would get a plain column that the COPY (which leaves generated
            // columns to the target) never fills.
            let kind = match c.generated.as_str() {
                "s" => Some("STORED"),
                "v" => Some("VIRTUAL"),
                _ => None,
            };
            let mut options = String::new();
            if let (Some(kind), Some(expr)) = (kind, &c.generation_expr) {
                options.push_str(&format!(" GENERATED ALWAYS AS ({expr}) {kind}"));
            }
            if !c.identity.is_empty()
                && let Some((clause, seq)) = identity_clause(b, rel, c)
            {
                options.push_str(&clause);
                identity_seqs.push(seq);
            }
            options.push_str(&not_null_clause(b.cat, rel, c, inherits));
            if rel.of_type.is_some() {
                // A typed table's columns are its type's: only their options are its own.
                if !options.is_empty() {
                    cols.push(format!("{qcol} WITH OPTIONS{options}"));
                }
            } else {
                let collate = c
                    .collation
                    .as_ref()
                    .map(|coll| format!(" COLLATE {coll}"))
                    .unwrap_or_default();
                cols.push(format!("{qcol} {}{collate}{options}", c.type_name));
            }
        } else {
            match &c.not_null_constraint {
                Some(nn) if nn.is_local && nn.validated => after.push(format!(
                    "ALTER TABLE ONLY {name} ADD {}",
                    named_not_null(nn, Some(&c.name))
                )),
                // Only inherited: the parent's brings it.
                Some(_) => {}
                None if c.not_null => after.push(format!(
                    "ALTER TABLE ONLY {name} ALTER COLUMN {qcol} SET NOT NULL"
                )),
                None => {}
            }
        }
        // Before 18 a child could drop a NOT NULL its parent has: a child created with
        // the column takes the parent's (18 refuses both, and the DROP on an 18 target).
        if inherits && b.cat.dropped_parents_not_null(rel, c) {
            after.push(format!(
                "ALTER TABLE ONLY {name} ALTER COLUMN {qcol} DROP NOT NULL"
            ));
        }
        // One made after the data has its comment written with it (`post.rs`).
        if let Some(nn) = &c.not_null_constraint
            && !made_after_data(nn, &not_valid_ancestors(b.cat, rel, &c.name))
        {
            comments.push((nn.oid, nn.name.clone()));
        }
        after.extend(column_settings(&format!("TABLE ONLY {name}"), c));
    }
    for seq in identity_seqs {
        b.alias.insert((class::CLASS, seq), key);
    }
    // A partitioned table's own persistence had no effect before 18, which refuses it.
    let unlogged_parent_refused =
        rel.relkind == "p" && b.opts.target_version.is_none_or(|v| v >= 180000);
    let unlogged = if rel.persistence == "u" && !unlogged_parent_refused {
        "UNLOGGED "
    } else {
        ""
    };
    let columns = format!("(\n    {}\n)", cols.join(",\n    "));
    let mut sql = match &rel.of_type {
        Some(of_type) if cols.is_empty() => format!("CREATE {unlogged}TABLE {name} OF {of_type}"),
        Some(of_type) => format!("CREATE {unlogged}TABLE {name} OF {of_type} {columns}"),
        None => format!("CREATE {unlogged}TABLE {name} {columns}"),
    };
    if inherits {
        let parents: Vec<String> = rel
            .parents
            .iter()
            .filter_map(|p| b.cat.relation(*p).map(|r| r.qualified()))
            .collect();
        sql.push_str(&format!("\nINHERITS ({})", parents.join(", ")));
    }
    if let Some(key) = &rel.partition_key {
        sql.push_str(&format!("\nPARTITION BY {key}"));
    }
    // A partitioned table has an access method only when one was given (17+), for its
    // future partitions to take: written even when it is heap.
    let am = match rel.relkind.as_str() {
        "p" => rel.access_method.as_deref(),
        _ => rel.access_method.as_deref().filter(|am| *am != "heap"),
    };
    if let Some(am) = am {
        sql.push_str(&format!("\nUSING {}", ident(am)));
    }
    let opts = with_options(&rel.options, &rel.toast_options);
    if !opts.is_empty() {
        sql.push_str(&format!("\nWITH ({})", opts.join(", ")));
    }
    let mut item = Item::new(key, Section::Pre, 70, stmt(K::Table, &identity, sql));
    for p in &rel.parents {
        if !rel.is_partition {
            item = item.dep((class::CLASS, *p));
        }
    }
    for a in after {
        item.push(Some(stmt(K::TableOption, &identity, a)));
    }
    match rel.replica_identity.as_str() {
        "f" => item.push(Some(stmt(
            K::TableOption,
            &identity,
            format!("ALTER TABLE ONLY {name} REPLICA IDENTITY FULL"),
        ))),
        "n" => item.push(Some(stmt(
            K::TableOption,
            &identity,
            format!("ALTER TABLE ONLY {name} REPLICA IDENTITY NOTHING"),
        ))),
        _ => {}
    }
    item.push(b.comment(key, 0, &format!("TABLE {name}"), &identity));
    for (oid, cname) in comments {
        item.push(b.comment(
            (class::CONSTRAINT, oid),
            0,
            &format!("CONSTRAINT {} ON {name}", ident(&cname)),
            &format!("constraint {cname} on {}.{}", rel.schema, rel.name),
        ));
    }
    for c in &rel.columns {
        let col = format!("{name}.{}", ident(&c.name));
        item.push(b.comment(
            key,
            c.attnum,
            &format!("COLUMN {col}"),
            &format!("column {}.{}.{}", rel.schema, rel.name, c.name),
        ));
    }
    item.push(b.owner("TABLE", &name, &rel.owner, &identity));
    item.extend(b.acl("TABLE", &name, None, &rel.owner, &rel.acl, &identity));
    column_acls(b, rel, &mut item, &identity);
    b.add(item);

    if rel.is_partition
        && let (Some(parent), Some(bound)) = (rel.parents.first(), &rel.partition_bound)
        && let Some(parent_rel) = b.cat.relation(*parent)
    {
        let sql = format!(
            "ALTER TABLE ONLY {} ATTACH PARTITION {name} {bound}",
            parent_rel.qualified()
        );
        let attach = Item::new(
            (synthetic::PARTITION_ATTACH, rel.oid),
            Section::Pre,
            71,
            stmt(
                K::PartitionAttach,
                format!("partition {}.{}", rel.schema, rel.name),
                sql,
            ),
        )
        .dep(key)
        .dep((class::CLASS, *parent));
        b.add(attach);
    }
}

/// The NOT NULL of a column its table's CREATE lists. PostgreSQL 18's constraint keeps
/// its name and NO INHERIT; one made after the data (NOT VALID, or a copy of an
/// ancestor's NOT VALID one) is not listed. In a child of `INHERITS`, a NOT NULL it only
/// inherits comes from the parent; a partition, created alone and attached afterwards,
/// needs its own.
fn not_null_clause(cat: &Catalog, rel: &Relation, c: &Attribute, inherits: bool) -> String {
    match &c.not_null_constraint {
        Some(nn)
            if (nn.is_local || !inherits)
                && !made_after_data(nn, &not_valid_ancestors(cat, rel, &c.name)) =>
        {
            format!(" {}", named_not_null(nn, None))
        }
        Some(_) => String::new(),
        None if c.not_null => " NOT NULL".into(),
        None => String::new(),
    }
}

/// `CONSTRAINT name NOT NULL [col] [NO INHERIT]`: in a column's definition (no `col`) or
/// a table's (`ADD …`).
pub(super) fn named_not_null(nn: &NotNull, col: Option<&str>) -> String {
    format!(
        "CONSTRAINT {} NOT NULL{}{}",
        ident(&nn.name),
        col.map(|c| format!(" {}", ident(c))).unwrap_or_default(),
        if nn.no_inherit { " NO INHERIT" } else { "" }
    )
}

/// The NOT NULL constraints on column `col` of the relations `tables` (18+).
fn not_nulls_of<'c>(cat: &'c Catalog, tables: &[Oid], col: &str) -> Vec<&'c NotNull> {
    tables
        .iter()
        .filter_map(|t| cat.relation(*t))
        .filter_map(|r| r.columns.iter().find(|c| c.name == col))
        .filter_map(|c| c.not_null_constraint.as_ref())
        .collect()
}

/// The NOT VALID NOT NULL constraints on column `col` of `rel`'s ancestors (18+): the
/// copies of one on `rel` are made after the data, by its recursion.
pub(super) fn not_valid_ancestors(cat: &Catalog, rel: &Relation, col: &str) -> Vec<Oid> {
    not_nulls_of(cat, &cat.ancestors(rel.oid), col)
        .into_iter()
        .filter(|nn| !nn.validated)
        .map(|nn| nn.oid)
        .collect()
}

/// The NOT NULL constraints on the key columns of `rel`'s index `index` and on the same
/// columns of its ancestors (18+): a primary key or replica identity over them needs the
/// ones made after the data (`post.rs`) to be there and valid first.
pub(super) fn key_not_nulls(cat: &Catalog, rel: &Relation, index: Oid) -> Vec<Oid> {
    let Some(idx) = cat.indexes.iter().find(|i| i.oid == index) else {
        return Vec::new();
    };
    rel.columns
        .iter()
        .filter(|c| idx.keys.contains(&(c.attnum as i16)))
        .flat_map(|c| {
            let lineage: Vec<Oid> = std::iter::once(rel.oid)
                .chain(cat.ancestors(rel.oid))
                .collect();
            not_nulls_of(cat, &lineage, &c.name)
        })
        .map(|nn| nn.oid)
        .collect()
}

/// Whether `rel`'s parents that hold a NOT NULL on `col` all hold it NOT VALID.
pub(super) fn parents_not_valid(cat: &Catalog, rel: &Relation, col: &str) -> bool {
    not_nulls_of(cat, &rel.parents, col)
        .iter()
        .all(|nn| !nn.validated)
}

/// Whether a NOT NULL constraint exists on the target only after the data: a NOT VALID
/// one, and a copy of an ancestor's NOT VALID one (made by its recursion) unless the
/// table declares it too (then its CREATE or `after` statements make it).
pub(super) fn made_after_data(nn: &NotNull, not_valid_ancestors: &[Oid]) -> bool {
    !nn.validated || (!nn.is_local && !not_valid_ancestors.is_empty())
}

/// A column's own storage, compression, statistics target and options, as statements
/// on `target` (`TABLE ONLY "s"."t"`, `MATERIALIZED VIEW "s"."m"`).
fn column_settings(target: &str, c: &crate::model::Attribute) -> Vec<String> {
    let qcol = ident(&c.name);
    let mut out = Vec::new();
    if c.storage != c.type_storage {
        let storage = match c.storage.as_str() {
            "p" => "PLAIN",
            "e" => "EXTERNAL",
            "m" => "MAIN",
            _ => "EXTENDED",
        };
        out.push(format!(
            "ALTER {target} ALTER COLUMN {qcol} SET STORAGE {storage}"
        ));
    }
    if let Some(comp) = &c.compression {
        let method = match comp.as_str() {
            "p" => " SET COMPRESSION pglz",
            "l" => super::LZ4,
            other => &format!(" SET COMPRESSION {other}"),
        };
        out.push(format!("ALTER {target} ALTER COLUMN {qcol}{method}"));
    }
    if let Some(t) = c.stat_target
        && t >= 0
    {
        out.push(format!(
            "ALTER {target} ALTER COLUMN {qcol} SET STATISTICS {t}"
        ));
    }
    if !c.options.is_empty() {
        out.push(format!(
            "ALTER {target} ALTER COLUMN {qcol} SET ({})",
            c.options.join(", ")
        ));
    }
    out
}

fn column_acls(b: &Builder<'_>, rel: &Relation, item: &mut Item, identity: &str) {
    let name = rel.qualified();
    for c in &rel.columns {
        if let Some(items) = &c.acl {
            let acl = Acl {
                items: Some(items.clone()),
                ..Acl::default()
            };
            item.extend(b.acl(
                "TABLE",
                &name,
                Some(&c.name),
                &rel.owner,
                &acl,
                &format!("{identity}.{}", c.name),
            ));
        }
    }
}

fn sequence(b: &mut Builder<'_>, rel: &Relation) {
    let Some(seq) = b.cat.sequences.iter().find(|s| s.oid == rel.oid) else {
        return;
    };
    let name = rel.qualified();
    let identity = format!("sequence {}.{}", rel.schema, rel.name);
    if let Some((last, called)) = seq.state {
        let sql = format!(
            "SELECT pg_catalog.setval({}, {last}, {called})",
            literal(&name)
        );
        let key = (synthetic::SETVAL, rel.oid);
        let item = Item::new(
            key,
            Section::Post,
            100,
            Statement {
                relation: Some((rel.schema.clone(), rel.name.clone())),
                ..stmt(K::SequenceSet, format!("value of {identity}"), sql)
            },
        )
        .dep((class::CLASS, rel.oid));
        b.add(item);
    }
    if seq.identity {
        // Created with its column; comments and grants still apply to it.
        let key = (synthetic::OWNED_BY, rel.oid);
        let Some((table, _)) = seq.owned_by else {
            return;
        };
        let mut stmts = Vec::new();
        stmts.extend(b.comment(
            (class::CLASS, rel.oid),
            0,
            &format!("SEQUENCE {name}"),
            &identity,
        ));
        stmts.extend(b.acl("SEQUENCE", &name, None, &rel.owner, &rel.acl, &identity));
        let mut it = stmts.into_iter();
        if let Some(first) = it.next() {
            let mut item = Item::new(key, Section::Pre, 81, first).dep((class::CLASS, table));
            item.extend(it.collect());
            b.add(item);
        }
        return;
    }
    let key = (class::CLASS, rel.oid);
    let sql = format!(
        "CREATE {}SEQUENCE {name} AS {} START WITH {} INCREMENT BY {} MINVALUE {} MAXVALUE {} CACHE {}{}",
        if rel.persistence == "u" {
            "UNLOGGED "
        } else {
            ""
        },
        seq.type_name,
        seq.start,
        seq.increment,
        seq.min,
        seq.max,
        seq.cache,
        if seq.cycle { " CYCLE" } else { "" }
    );
    let mut item = Item::new(key, Section::Pre, 72, stmt(K::Sequence, &identity, sql));
    item.push(b.comment(key, 0, &format!("SEQUENCE {name}"), &identity));
    item.push(b.owner("SEQUENCE", &name, &rel.owner, &identity));
    item.extend(b.acl("SEQUENCE", &name, None, &rel.owner, &rel.acl, &identity));
    b.add(item);
    if let Some((table, attnum)) = seq.owned_by
        && let Some(t) = b.cat.relation(table)
        && !t.is_foreign()
        && let Some(col) = t.column(attnum)
    {
        let sql = format!(
            "ALTER SEQUENCE {name} OWNED BY {}.{}",
            t.qualified(),
            ident(&col.name)
        );
        // Named apart from the sequence: a split target that holds the sequence but not
        // its table lists this as left out, not the sequence.
        let owned_by = format!("{identity} owned by {}.{}.{}", t.schema, t.name, col.name);
        let owned = Item::new(
            (synthetic::OWNED_BY, rel.oid),
            Section::Pre,
            81,
            stmt(K::SequenceOwnedBy, owned_by, sql),
        )
        .dep(key)
        .dep((class::CLASS, table));
        b.add(owned);
    }
}

fn defaults(b: &mut Builder<'_>) {
    // What a generation expression needs, its table needs.
    for (attrdef, table) in &b.cat.generated_defaults {
        b.alias
            .insert((class::ATTRDEF, *attrdef), (class::CLASS, *table));
    }
    for d in &b.cat.defaults {
        let Some(rel) = b.cat.relation(d.table) else {
            continue;
        };
        let Some(col) = rel.column(d.attnum) else {
            continue;
        };
        let word = match rel.relkind.as_str() {
            "r" | "p" => "TABLE ONLY",
            "v" => "VIEW",
            // A foreign table's are left out with it.
            _ => continue,
        };
        let identity = format!("default of {}.{}.{}", rel.schema, rel.name, col.name);
        let sql = format!(
            "ALTER {word} {} ALTER COLUMN {} SET DEFAULT {}",
            rel.qualified(),
            ident(&col.name),
            d.expr
        );
        let item = Item::new(
            (class::ATTRDEF, d.oid),
            Section::Pre,
            80,
            stmt(K::Default, identity, sql),
        )
        .dep((class::CLASS, rel.oid));
        b.add(item);
    }
}

fn view_options(rel: &Relation) -> (Vec<String>, Option<String>) {
    let mut opts = Vec::new();
    let mut check = None;
    for o in &rel.options {
        match o.split_once('=') {
            Some(("check_option", v)) => check = Some(v.to_uppercase()),
            _ => opts.push(o.clone()),
        }
    }
    (opts, check)
}

fn view_body(rel: &Relation) -> String {
    rel.view_def
        .as_deref()
        .unwrap_or("")
        .trim()
        .trim_end_matches(';')
        .to_string()
}

fn view(b: &mut Builder<'_>, rel: &Relation) {
    let name = rel.qualified();
    let key = (class::CLASS, rel.oid);
    let identity = format!("view {}.{}", rel.schema, rel.name);
    let (opts, check) = view_options(rel);
    let mut sql = format!("CREATE VIEW {name}");
    if !opts.is_empty() {
        sql.push_str(&format!(" WITH ({})", opts.join(", ")));
    }
    sql.push_str(&format!(" AS\n{}", view_body(rel)));
    if let Some(check) = check {
        sql.push_str(&format!("\n  WITH {check} CHECK OPTION"));
    }
    let mut item = Item::new(key, Section::Pre, 90, stmt(K::View, &identity, sql));
    item.push(b.comment(key, 0, &format!("VIEW {name}"), &identity));
    for c in &rel.columns {
        let col = format!("{name}.{}", ident(&c.name));
        item.push(b.comment(
            key,
            c.attnum,
            &format!("COLUMN {col}"),
            &format!("column {}.{}.{}", rel.schema, rel.name, c.name),
        ));
    }
    item.push(b.owner("VIEW", &name, &rel.owner, &identity));
    item.extend(b.acl("TABLE", &name, None, &rel.owner, &rel.acl, &identity));
    column_acls(b, rel, &mut item, &identity);
    b.add(item);
}

fn matview(b: &mut Builder<'_>, rel: &Relation, reads: &HashMap<Oid, Vec<Oid>>) {
    let name = rel.qualified();
    let key = (class::CLASS, rel.oid);
    let identity = format!("materialized view {}.{}", rel.schema, rel.name);
    let mut sql = format!("CREATE MATERIALIZED VIEW {name}");
    if let Some(am) = &rel.access_method
        && am != "heap"
    {
        sql.push_str(&format!(" USING {}", ident(am)));
    }
    let opts = with_options(&rel.options, &rel.toast_options);
    if !opts.is_empty() {
        sql.push_str(&format!(" WITH ({})", opts.join(", ")));
    }
    sql.push_str(&format!(" AS\n{}\n  WITH NO DATA", view_body(rel)));
    let mut item = Item::new(key, Section::Pre, 91, stmt(K::MatView, &identity, sql));
    for c in &rel.columns {
        for setting in column_settings(&format!("MATERIALIZED VIEW {name}"), c) {
            item.push(Some(stmt(K::TableOption, &identity, setting)));
        }
    }
    item.push(b.comment(key, 0, &format!("MATERIALIZED VIEW {name}"), &identity));
    for c in &rel.columns {
        let col = format!("{name}.{}", ident(&c.name));
        item.push(b.comment(
            key,
            c.attnum,
            &format!("COLUMN {col}"),
            &format!("column {}.{}.{}", rel.schema, rel.name, c.name),
        ));
    }
    item.push(b.owner("MATERIALIZED VIEW", &name, &rel.owner, &identity));
    item.extend(b.acl("TABLE", &name, None, &rel.owner, &rel.acl, &identity));
    column_acls(b, rel, &mut item, &identity);
    b.add(item);
    if rel.populated {
        let sql = format!("REFRESH MATERIALIZED VIEW {name}");
        let mut refresh = Item::new(
            (synthetic::REFRESH, rel.oid),
            Section::Post,
            150,
            Statement {
                relation: Some((rel.schema.clone(), rel.name.clone())),
                ..stmt(K::MatViewRefresh, format!("refresh of {identity}"), sql)
            },
        )
        .dep(key);
        // After its own indexes and after the materialized views it reads.
        for idx in b.cat.indexes.iter().filter(|i| i.table == rel.oid) {
            refresh = refresh.dep((class::CLASS, idx.oid));
        }
        for m in matviews_read(b.cat, reads, rel.oid) {
            refresh = refresh.dep((synthetic::REFRESH, m));
        }
        refresh.waits_for = b
            .cat
            .relations
            .iter()
            .filter(|r| r.relkind == "r")
            .map(|r| (r.schema.clone(), r.name.clone()))
            .collect();
        b.add(refresh);
    }
}

/// The relations each view or materialized view reads, from the dependencies of its
/// `_RETURN` rule.
fn relations_read(cat: &Catalog) -> HashMap<Oid, Vec<Oid>> {
    let mut reads: HashMap<Oid, Vec<Oid>> = HashMap::new();
    for d in &cat.depends {
        if d.object.0 == class::REWRITE
            && d.referenced.0 == class::CLASS
            && let Some(view) = cat.view_rules.get(&d.object.1)
            && *view != d.referenced.1
        {
            let read = reads.entry(*view).or_default();
            if !read.contains(&d.referenced.1) {
                read.push(d.referenced.1);
            }
        }
    }
    reads
}

/// The materialized views that `matview` reads, directly or through any chain of plain
/// views (as pg_dump finds them): each must be refreshed before it.
fn matviews_read(cat: &Catalog, reads: &HashMap<Oid, Vec<Oid>>, matview: Oid) -> Vec<Oid> {
    let mut found = Vec::new();
    let mut seen = HashSet::from([matview]);
    let mut stack = vec![matview];
    while let Some(oid) = stack.pop() {
        for &read in reads.get(&oid).map(Vec::as_slice).unwrap_or(&[]) {
            if !seen.insert(read) {
                continue;
            }
            match cat.relation(read).map(|r| r.relkind.as_str()) {
                Some("m") => found.push(read),
                Some("v") => stack.push(read),
                _ => {}
            }
        }
    }
    found
}
