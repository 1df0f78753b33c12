//! Post-data: indexes (and their attachment to partitioned indexes), constraints,
//! triggers, rules, row-level security and extended statistics.

use std::collections::HashMap;

use pgsplit_pg::quote::{ident, qualified};

use super::relations::{
    key_not_nulls, made_after_data, named_not_null, not_valid_ancestors, parents_not_valid,
};
use super::{Builder, Item, ObjectKind as K, Section, stmt, synthetic};
use crate::catalog::Catalog;
use crate::model::*;

pub(super) fn render(b: &mut Builder<'_>) {
    indexes(b);
    constraints(b);
    inherited_copies(b);
    not_valid_not_nulls(b);
    triggers(b);
    rules(b);
    row_security(b);
    statistics(b);
}

fn place(b: &Builder<'_>, mut item: Item, table: Oid, recurses: bool) -> Item {
    let (own, others) = b.placement(table, recurses);
    item.table = own;
    item.waits_for = others;
    item
}

/// Whether a constraint's index is built first and the constraint added `USING INDEX`:
/// primary keys and unique constraints of plain tables, unless temporal (`WITHOUT
/// OVERLAPS`: a GiST index, which `USING INDEX` refuses), or a primary key over columns
/// whose NOT NULL the table only inherits (a partition's, on 18: `USING INDEX` would
/// make those constraints the table's own, and a parent's `DROP NOT NULL` would no
/// longer reach it). Others create their index, as pg_dump has them do.
fn built_first(cat: &Catalog, rel: &Relation, c: &Constraint) -> bool {
    let inherited_not_null_key = || {
        cat.indexes
            .iter()
            .find(|i| i.oid == c.index)
            .is_some_and(|idx| {
                rel.columns.iter().any(|col| {
                    idx.keys.contains(&(col.attnum as i16))
                        && col
                            .not_null_constraint
                            .as_ref()
                            .is_some_and(|nn| !nn.is_local)
                })
            })
    };
    rel.relkind == "r"
        && matches!(c.contype.as_str(), "p" | "u")
        && !c.period
        && !(c.contype == "p" && inherited_not_null_key())
}

/// Exclusion constraints and temporal keys: PostgreSQL cannot match a partition's index
/// of that kind to its parent's (`ALTER INDEX … ATTACH PARTITION` refuses it, `ATTACH
/// PARTITION` makes another), so a partitioned table's reaches its partitions by
/// recursion, and their copies (`conparentid`) are not written.
fn spread_by_recursion(c: &Constraint) -> bool {
    c.contype == "x" || (c.period && matches!(c.contype.as_str(), "p" | "u"))
}

/// The constraint an index belongs to, if any.
fn index_constraint<'c>(b: &Builder<'c>, index: Oid) -> Option<&'c Constraint> {
    b.cat
        .constraints
        .iter()
        .find(|c| c.index == index && matches!(c.contype.as_str(), "p" | "u" | "x") && c.table != 0)
}

fn index_extras(item: &mut Item, idx: &Index, rel: &Relation, identity: &str) {
    let iname = qualified(&rel.schema, &idx.name);
    for t in &idx.stat_targets {
        if let Some((col, target)) = t.split_once('=') {
            item.push(Some(stmt(
                K::Index,
                identity,
                format!("ALTER INDEX {iname} ALTER COLUMN {col} SET STATISTICS {target}"),
            )));
        }
    }
    if idx.clustered {
        item.push(Some(stmt(
            K::TableOption,
            identity,
            format!(
                "ALTER TABLE {} CLUSTER ON {}",
                rel.qualified(),
                ident(&idx.name)
            ),
        )));
    }
    if idx.replica_identity {
        item.push(Some(stmt(
            K::TableOption,
            identity,
            format!(
                "ALTER TABLE ONLY {} REPLICA IDENTITY USING INDEX {}",
                rel.qualified(),
                ident(&idx.name)
            ),
        )));
    }
}

fn indexes(b: &mut Builder<'_>) {
    for idx in &b.cat.indexes {
        let Some(rel) = b.cat.relation(idx.table) else {
            continue;
        };
        if !matches!(rel.relkind.as_str(), "r" | "p" | "m") {
            continue;
        }
        if !idx.valid && idx.relkind != "I" {
            continue;
        }
        let key = (class::CLASS, idx.oid);
        let iname = qualified(&rel.schema, &idx.name);
        let identity = format!("index {}.{}", rel.schema, idx.name);
        let constraint = index_constraint(b, idx.oid);
        let build_here = constraint.is_none_or(|c| built_first(b.cat, rel, c));
        if !build_here {
            if let Some(c) = constraint {
                b.alias.insert(key, (class::CONSTRAINT, c.oid));
            }
        } else {
            let mut item = Item::new(
                key,
                Section::Post,
                110,
                stmt(K::Index, &identity, idx.definition.clone()),
            )
            .phase(1)
            // Its table (an index backing a constraint depends on the constraint alone in
            // pg_depend): one left out leaves its indexes out.
            .dep((class::CLASS, rel.oid));
            // An index that backs a constraint has its comment written with the constraint.
            if constraint.is_none() {
                item.push(b.comment(key, 0, &format!("INDEX {iname}"), &identity));
            }
            index_extras(&mut item, idx, rel, &identity);
            if idx.replica_identity {
                for nn in key_not_nulls(b.cat, rel, idx.oid) {
                    item = item.dep((class::CONSTRAINT, nn));
                }
            }
            let item = place(b, item, rel.oid, false);
            b.add(item);
        }
        if let Some(parent) = idx.parent
            && !constraint.is_some_and(spread_by_recursion)
            && let Some(parent_idx) = b.cat.indexes.iter().find(|i| i.oid == parent)
            && let Some(parent_rel) = b.cat.relation(parent_idx.table)
        {
            let sql = format!(
                "ALTER INDEX {} ATTACH PARTITION {iname}",
                qualified(&parent_rel.schema, &parent_idx.name)
            );
            let item = Item::new(
                (synthetic::INDEX_ATTACH, idx.oid),
                Section::Post,
                125,
                stmt(K::IndexAttach, format!("attach {identity}"), sql),
            )
            .phase(2)
            .dep(key)
            .completes((class::CLASS, parent))
            .dep((class::CONSTRAINT, constraint.map(|c| c.oid).unwrap_or(0)));
            let item = place(b, item, rel.oid, false);
            b.add(item);
        }
    }
}

fn constraints(b: &mut Builder<'_>) {
    for c in &b.cat.constraints {
        if c.table == 0 {
            continue;
        }
        let Some(rel) = b.cat.relation(c.table) else {
            continue;
        };
        // A foreign table's are left out with it.
        if !matches!(rel.relkind.as_str(), "r" | "p") {
            continue;
        }
        let key = (class::CONSTRAINT, c.oid);
        if spread_by_recursion(c) && c.parent != 0 {
            b.alias.insert(key, (class::CONSTRAINT, c.parent));
            continue;
        }
        let tname = rel.qualified();
        let cname = ident(&c.name);
        let identity = format!("constraint {} on {}.{}", c.name, rel.schema, rel.name);
        let recursive = rel.relkind == "p" && (c.contype == "f" || spread_by_recursion(c));
        let only = if recursive { "" } else { "ONLY " };
        let (sql, kind, priority, phase, recurses) = match c.contype.as_str() {
            "p" | "u" => {
                let using_index = built_first(b.cat, rel, c)
                    && b.cat
                        .indexes
                        .iter()
                        .any(|i| i.oid == c.index && !i.has_exprs && !i.has_pred);
                if using_index {
                    let idx_name = b
                        .cat
                        .indexes
                        .iter()
                        .find(|i| i.oid == c.index)
                        .map(|i| i.name.clone())
                        .unwrap_or_default();
                    let mut sql = format!(
                        "ALTER TABLE ONLY {tname} ADD CONSTRAINT {cname} {} USING INDEX {}",
                        if c.contype == "p" {
                            "PRIMARY KEY"
                        } else {
                            "UNIQUE"
                        },
                        ident(&idx_name)
                    );
                    if c.deferrable {
                        sql.push_str(" DEFERRABLE");
                        if c.definition.contains("INITIALLY DEFERRED") {
                            sql.push_str(" INITIALLY DEFERRED");
                        }
                    }
                    (sql, K::Constraint, 120, 2, false)
                } else {
                    (
                        format!(
                            "ALTER TABLE {only}{tname} ADD CONSTRAINT {cname} {}",
                            c.definition
                        ),
                        K::Constraint,
                        120,
                        2,
                        recursive,
                    )
                }
            }
            "x" => (
                format!(
                    "ALTER TABLE {only}{tname} ADD CONSTRAINT {cname} {}",
                    c.definition
                ),
                K::Constraint,
                120,
                2,
                recursive,
            ),
            "c" => {
                if !c.is_local {
                    continue;
                }
                // Without ONLY, so that it reaches inheritance children and partitions
                // that have it by inheritance (NO INHERIT ones stay put).
                (
                    format!(
                        "ALTER TABLE {tname} ADD CONSTRAINT {cname} {}",
                        c.definition
                    ),
                    K::Constraint,
                    130,
                    3,
                    !c.no_inherit,
                )
            }
            "f" => {
                if c.parent != 0 {
                    continue;
                }
                (
                    format!(
                        "ALTER TABLE {only}{tname} ADD CONSTRAINT {cname} {}",
                        c.definition
                    ),
                    K::ForeignKey,
                    135,
                    3,
                    recursive,
                )
            }
            _ => continue,
        };
        let mut item =
            Item::new(key, Section::Post, priority, stmt(kind, &identity, sql)).phase(phase);
        if c.contype == "p" || c.contype == "u" {
            item = item.dep((class::CLASS, c.index));
        }
        if c.contype == "p" {
            for nn in key_not_nulls(b.cat, rel, c.index) {
                item = item.dep((class::CONSTRAINT, nn));
            }
        }
        item.push(b.comment(key, 0, &format!("CONSTRAINT {cname} ON {tname}"), &identity));
        if matches!(c.contype.as_str(), "p" | "u" | "x")
            && let Some(idx) = b.cat.indexes.iter().find(|i| i.oid == c.index)
        {
            // The index's own comment, once the constraint has made it its own.
            item.push(b.comment(
                (class::CLASS, idx.oid),
                0,
                &format!("INDEX {}", qualified(&rel.schema, &idx.name)),
                &format!("index {}.{}", rel.schema, idx.name),
            ));
            if !built_first(b.cat, rel, c) {
                index_extras(&mut item, idx, rel, &identity);
            }
        }
        if c.contype == "c" && !b.cat.children(c.table).is_empty() {
            // A child's own copy of the constraint must exist before the parent's
            // recursion reaches it, or the two would clash instead of merging.
            for other in &b.cat.constraints {
                if other.contype == "c"
                    && other.name == c.name
                    && other.is_local
                    && other.oid != c.oid
                    && b.cat.inheritance_depth(other.table) > b.cat.inheritance_depth(c.table)
                    && b.cat.data_tables(c.table).iter().any(|t| {
                        b.cat
                            .relation(other.table)
                            .is_some_and(|r| r.schema == t.0 && r.name == t.1)
                    })
                {
                    item = item.dep((class::CONSTRAINT, other.oid));
                }
            }
        }
        if recursive && spread_by_recursion(c) {
            // A partition's own one of that kind first: the recursion then adds its copy
            // under another name, as on the source, instead of clashing with it.
            // The table's other ones in the source's creation order: the partitions'
            // copies take generated names (`…_excl`, `…_excl1`) in the order they come.
            let below = b.cat.descendants(c.table);
            for other in &b.cat.constraints {
                let own_partitions = below.contains(&other.table) && other.parent == 0;
                let earlier_here = other.table == c.table && other.oid < c.oid;
                if (own_partitions || earlier_here) && spread_by_recursion(other) {
                    item = item.dep((class::CONSTRAINT, other.oid));
                }
            }
        }
        let mut item = place(b, item, rel.oid, recurses);
        if c.contype == "f" {
            for t in b.cat.data_tables(c.ref_table) {
                if item.table.as_ref() != Some(&t) && !item.waits_for.contains(&t) {
                    item.waits_for.push(t);
                }
            }
        }
        b.add(item);
    }
}

/// The copies of a parent's CHECK (inheritance children, partitions) and foreign key
/// (partitions) are made on the target by the parent's recursion, which makes them NOT
/// VALID if the parent's is. One the source holds as validated (validated on its own,
/// or made after the parent's) is validated again. A partition's foreign key is named
/// after the topmost one's on the target only when no other constraint of the partition
/// has that name: one under another name (its own, kept when the partition was attached
/// with it, or one the source chose to avoid a clash) is left as recursion makes it.
fn inherited_copies(b: &mut Builder<'_>) {
    let by_oid: HashMap<Oid, &Constraint> = b.cat.constraints.iter().map(|c| (c.oid, c)).collect();
    for c in &b.cat.constraints {
        let Some(rel) = b.cat.relation(c.table) else {
            continue;
        };
        if c.table == 0 || !matches!(rel.relkind.as_str(), "r" | "p") || !c.validated {
            continue;
        }
        // Where the copy comes from: the parents' constraints up to the one written.
        let mut sources: Vec<&Constraint> = Vec::new();
        match c.contype.as_str() {
            // Rows of a foreign key to a partitioned table, one per referenced partition,
            // share its table: no copies.
            "f" if c.parent != 0 && by_oid.get(&c.parent).is_some_and(|p| p.table != c.table) => {
                let mut up = by_oid.get(&c.parent);
                while let Some(p) = up {
                    sources.push(p);
                    up = by_oid.get(&p.parent);
                }
            }
            "c" if !c.is_local => {
                // Inherited CHECKs share the name: any of them will do as the root.
                for t in b.cat.ancestors(c.table) {
                    sources.extend(
                        b.cat
                            .constraints
                            .iter()
                            .filter(|p| p.table == t && p.contype == "c" && p.name == c.name),
                    );
                }
            }
            _ => continue,
        }
        if sources.last().is_none_or(|root| root.name != c.name)
            || sources.iter().all(|p| p.validated)
        {
            continue;
        }
        let tname = rel.qualified();
        let identity = format!("constraint {} on {}.{}", c.name, rel.schema, rel.name);
        let sql = format!("ALTER TABLE {tname} VALIDATE CONSTRAINT {}", ident(&c.name));
        let mut item = Item::new(
            (class::CONSTRAINT, c.oid),
            Section::Post,
            136,
            stmt(K::Constraint, &identity, sql),
        )
        .phase(3);
        for p in &sources {
            item = item.dep((class::CONSTRAINT, p.oid));
        }
        let item = place(b, item, rel.oid, true);
        b.add(item);
    }
}

/// PostgreSQL 18's `NOT NULL … NOT VALID`: the column may hold nulls, so the constraint
/// comes after the data (not validated, as on the source), like a NOT VALID CHECK; not
/// ONLY, so that it reaches the children that inherit it. A child's copy the source holds
/// as validated (the child was made after it, or validated on its own) is validated
/// again, from the topmost such copy down (VALIDATE reaches the children). Comments on
/// all these come with them.
fn not_valid_not_nulls(b: &mut Builder<'_>) {
    for rel in &b.cat.relations {
        if !matches!(rel.relkind.as_str(), "r" | "p") {
            continue;
        }
        let tname = rel.qualified();
        for c in &rel.columns {
            let Some(nn) = &c.not_null_constraint else {
                continue;
            };
            let not_valid_above = not_valid_ancestors(b.cat, rel, &c.name);
            if !made_after_data(nn, &not_valid_above) {
                continue;
            }
            let key = (class::CONSTRAINT, nn.oid);
            let cname = ident(&nn.name);
            let identity = format!("constraint {} on {}.{}", nn.name, rel.schema, rel.name);
            let mut statements = Vec::new();
            if nn.is_local {
                let sql = format!(
                    "ALTER TABLE {}{tname} ADD {} NOT VALID",
                    if nn.no_inherit { "ONLY " } else { "" },
                    named_not_null(nn, Some(&c.name))
                );
                statements.push(stmt(K::Constraint, &identity, sql));
            } else if nn.validated && parents_not_valid(b.cat, rel, &c.name) {
                let sql = format!("ALTER TABLE {tname} VALIDATE CONSTRAINT {cname}");
                statements.push(stmt(K::Constraint, &identity, sql));
            }
            statements.extend(b.comment(
                key,
                0,
                &format!("CONSTRAINT {cname} ON {tname}"),
                &identity,
            ));
            let mut statements = statements.into_iter();
            let Some(first) = statements.next() else {
                continue;
            };
            // Before primary keys and replica identities over the column (phase 2 and
            // the index's own statements), which need it valid.
            let mut item = Item::new(key, Section::Post, 105, first).phase(1);
            for s in statements {
                item.push(Some(s));
            }
            for a in not_valid_above {
                item = item.dep((class::CONSTRAINT, a));
            }
            let item = place(b, item, rel.oid, !nn.no_inherit);
            b.add(item);
        }
    }
}

fn triggers(b: &mut Builder<'_>) {
    let by_oid: HashMap<Oid, &Trigger> = b.cat.triggers.iter().map(|t| (t.oid, t)).collect();
    // The partitioned table's trigger a clone (at any depth) comes from: its CREATE and
    // its state (not ONLY) reach every partition below it.
    let root_of = |t: &Trigger| -> (Oid, bool, String) {
        let mut root = t;
        while let Some(parent) = by_oid.get(&root.parent) {
            root = parent;
        }
        (root.oid, root.parent == 0, root.enabled.clone())
    };
    for t in &b.cat.triggers {
        let Some(rel) = b.cat.relation(t.table).filter(|r| !r.is_foreign()) else {
            continue;
        };
        let tname = rel.qualified();
        let identity = format!("trigger {} on {}.{}", t.name, rel.schema, rel.name);
        let state = |enabled: &str| match enabled {
            "D" => Some("DISABLE"),
            "R" => Some("ENABLE REPLICA"),
            "A" => Some("ENABLE ALWAYS"),
            "O" => Some("ENABLE"),
            _ => None,
        };
        if t.parent != 0 {
            // A clone of a partitioned table's trigger: only a state other than the one
            // the root's statements leave it in is ours (each clone's with ONLY, so that
            // one level does not undo another's).
            let (root, found, root_enabled) = root_of(t);
            let inherited = if found {
                Some(root_enabled.as_str())
            } else {
                t.parent_enabled.as_deref()
            };
            if inherited != Some(t.enabled.as_str())
                && let Some(s) = state(&t.enabled)
            {
                let sql = format!("ALTER TABLE ONLY {tname} {s} TRIGGER {}", ident(&t.name));
                // After the root's CREATE and its own state, which reach every partition.
                let item = Item::new(
                    (synthetic::TRIGGER_STATE, t.oid),
                    Section::Post,
                    141,
                    stmt(K::Trigger, &identity, sql),
                )
                .dep((class::TRIGGER, root))
                .dep((synthetic::TRIGGER_STATE, root))
                .dep((class::TRIGGER, t.parent));
                let item = place(b, item, rel.oid, false);
                b.add(item);
            }
            continue;
        }
        let key = (class::TRIGGER, t.oid);
        let mut item = Item::new(
            key,
            Section::Post,
            140,
            stmt(K::Trigger, &identity, t.definition.clone()),
        );
        if t.enabled != "O"
            && let Some(s) = state(&t.enabled)
        {
            // An item of its own: what depends on the trigger waits for its first
            // statement only, and the partitions' own states must come after this one.
            let state_item = Item::new(
                (synthetic::TRIGGER_STATE, t.oid),
                Section::Post,
                141,
                stmt(
                    K::Trigger,
                    &identity,
                    format!("ALTER TABLE {tname} {s} TRIGGER {}", ident(&t.name)),
                ),
            )
            .dep(key);
            let state_item = place(b, state_item, rel.oid, true);
            b.add(state_item);
        }
        item.push(b.comment(
            key,
            0,
            &format!("TRIGGER {} ON {tname}", ident(&t.name)),
            &identity,
        ));
        let item = place(b, item, rel.oid, true);
        b.add(item);
    }
}

fn rules(b: &mut Builder<'_>) {
    for r in &b.cat.rules {
        let Some(rel) = b.cat.relation(r.table) else {
            continue;
        };
        let tname = rel.qualified();
        let key = (class::REWRITE, r.oid);
        let identity = format!("rule {} on {}.{}", r.name, rel.schema, rel.name);
        let sql = r.definition.trim().trim_end_matches(';').to_string();
        let mut item = Item::new(key, Section::Post, 142, stmt(K::Rule, &identity, sql));
        let state = match r.enabled.as_str() {
            "D" => Some("DISABLE"),
            "R" => Some("ENABLE REPLICA"),
            "A" => Some("ENABLE ALWAYS"),
            _ => None,
        };
        if let Some(s) = state {
            item.push(Some(stmt(
                K::Rule,
                &identity,
                format!("ALTER TABLE {tname} {s} RULE {}", ident(&r.name)),
            )));
        }
        item.push(b.comment(
            key,
            0,
            &format!("RULE {} ON {tname}", ident(&r.name)),
            &identity,
        ));
        let item = place(b, item, rel.oid, false);
        b.add(item);
    }
}

fn row_security(b: &mut Builder<'_>) {
    for rel in &b.cat.relations {
        if !(rel.row_security || rel.force_row_security) {
            continue;
        }
        let tname = rel.qualified();
        let identity = format!("row security on {}.{}", rel.schema, rel.name);
        let mut stmts = Vec::new();
        if rel.row_security {
            stmts.push(stmt(
                K::RowSecurity,
                &identity,
                format!("ALTER TABLE {tname} ENABLE ROW LEVEL SECURITY"),
            ));
        }
        if rel.force_row_security {
            stmts.push(stmt(
                K::RowSecurity,
                &identity,
                format!("ALTER TABLE {tname} FORCE ROW LEVEL SECURITY"),
            ));
        }
        let mut it = stmts.into_iter();
        let Some(first) = it.next() else { continue };
        let mut item = Item::new(
            (synthetic::ROW_SECURITY, rel.oid),
            Section::Post,
            143,
            first,
        );
        item.extend(it.collect());
        let item = place(b, item, rel.oid, false);
        b.add(item);
    }
    for p in &b.cat.policies {
        let Some(rel) = b.cat.relation(p.table) else {
            continue;
        };
        let tname = rel.qualified();
        let key = (class::POLICY, p.oid);
        let identity = format!("policy {} on {}.{}", p.name, rel.schema, rel.name);
        let cmd = match p.cmd.as_str() {
            "r" => "SELECT",
            "a" => "INSERT",
            "w" => "UPDATE",
            "d" => "DELETE",
            _ => "ALL",
        };
        let mut sql = format!(
            "CREATE POLICY {} ON {tname} AS {} FOR {cmd} TO {}",
            ident(&p.name),
            if p.permissive {
                "PERMISSIVE"
            } else {
                "RESTRICTIVE"
            },
            if p.roles.is_empty() {
                "PUBLIC".to_string()
            } else {
                p.roles.join(", ")
            }
        );
        if let Some(e) = &p.using_expr {
            sql.push_str(&format!(" USING ({e})"));
        }
        if let Some(e) = &p.check_expr {
            sql.push_str(&format!(" WITH CHECK ({e})"));
        }
        let mut item = Item::new(key, Section::Post, 144, stmt(K::Policy, &identity, sql));
        item.push(b.comment(
            key,
            0,
            &format!("POLICY {} ON {tname}", ident(&p.name)),
            &identity,
        ));
        let item = place(b, item, rel.oid, false);
        b.add(item);
    }
}

fn statistics(b: &mut Builder<'_>) {
    for s in &b.cat.statistics {
        if b.cat.relation(s.table).is_some_and(|r| r.is_foreign()) {
            continue;
        }
        let key = (class::STATISTIC_EXT, s.oid);
        let name = qualified(&s.schema, &s.name);
        let identity = format!("statistics {}.{}", s.schema, s.name);
        let mut item = Item::new(
            key,
            Section::Post,
            145,
            stmt(K::Statistics, &identity, s.definition.clone()),
        );
        if s.stat_target >= 0 {
            item.push(Some(stmt(
                K::Statistics,
                &identity,
                format!("ALTER STATISTICS {name} SET STATISTICS {}", s.stat_target),
            )));
        }
        item.push(b.comment(key, 0, &format!("STATISTICS {name}"), &identity));
        item.push(b.owner("STATISTICS", &name, &s.owner, &identity));
        let item = place(b, item, s.table, false);
        b.add(item);
    }
}
