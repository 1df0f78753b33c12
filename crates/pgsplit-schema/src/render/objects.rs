//! Schemas, extensions, collations, types, functions and aggregates, casts, text search,
//! event triggers and default privileges.

use pgsplit_pg::quote::{ident, literal, qualified};

use super::{Builder, Item, ObjectKind as K, Section, Statement, stmt, superuser, synthetic};
use crate::acl;
use crate::model::*;

pub(super) fn render(b: &mut Builder<'_>) {
    schemas(b);
    extensions(b);
    collations(b);
    types(b);
    functions(b);
    casts(b);
    text_search(b);
    publications(b);
    event_triggers(b);
    default_privileges(b);
}

fn schemas(b: &mut Builder<'_>) {
    // (A catalog without any schema is no database's: a hand-made one.)
    if !b.cat.schemas.is_empty() && !b.cat.schemas.iter().any(|s| s.name == "public") {
        // Dropped on the source: a new database has it (its owner, or a superuser before
        // 15, may drop it).
        let sql = "DROP SCHEMA IF EXISTS public".to_string();
        b.add(Item::new(
            (synthetic::NO_PUBLIC, 0),
            Section::Pre,
            10,
            superuser(stmt(K::Schema, "schema public", sql), true),
        ));
    }
    for s in &b.cat.schemas {
        let as_initdb;
        let s = match s.name == "public" && !s.default_owner && b.opts.no_owner {
            true => match without_owner(s) {
                Some(public) => {
                    as_initdb = public;
                    &as_initdb
                }
                None => s,
            },
            false => s,
        };
        let name = ident(&s.name);
        let identity = format!("schema {}", s.name);
        let key = (class::NAMESPACE, s.oid);
        let mut statements: Vec<Statement> = Vec::new();
        let mut bootstrap_owner = None;
        if s.name == "public" {
            // Every database has it: only its comment, owner and privileges are copied,
            // its comment unless it is the one every new database gives it (which only
            // the schema's owner may write).
            match b.cat.comments.get(&(class::NAMESPACE, s.oid, 0)) {
                Some(text) if text == "standard public schema" => {}
                Some(text) => statements.push(stmt(
                    K::Comment,
                    "comment on schema public",
                    format!("COMMENT ON SCHEMA public IS {}", literal(text)),
                )),
                None => statements.push(stmt(
                    K::Comment,
                    "comment on schema public",
                    "COMMENT ON SCHEMA public IS NULL",
                )),
            }
            // Initdb gave it to the bootstrap superuser before 15, to pg_database_owner
            // since: given to the newer server's bootstrap superuser, whatever its name
            // there (as pg_upgrade keeps it; the source's may be a managed service's
            // own, `rdsadmin`), or the database's owner could drop what it holds there.
            // Only a superuser may give it to one (another role's run skips it, and says
            // so): last, so that what comes after it in the item (its privileges) does
            // not need it.
            let newer_default = s.default_owner
                && b.cat.version < 150000
                && b.opts.target_version.is_none_or(|v| v >= 150000);
            if !s.default_owner {
                statements.extend(b.owner("SCHEMA", &name, &s.owner, &identity));
            } else if newer_default && !b.opts.no_owner {
                // (Verify renders a newer target's `public` of another owner the same way,
                // with that owner, to compare the two.)
                let sql = if s.bootstrap_owner {
                    "DO $$BEGIN EXECUTE pg_catalog.format('ALTER SCHEMA public OWNER TO %I', \
                     (SELECT r.rolname FROM pg_catalog.pg_roles r WHERE r.oid = 10)); END$$"
                        .to_string()
                } else {
                    format!("ALTER SCHEMA public OWNER TO {}", ident(&s.owner))
                };
                let mut owner =
                    superuser(stmt(K::Schema, format!("owner of {identity}"), sql), true);
                owner.best_effort = true;
                bootstrap_owner = Some(owner);
            }
        } else {
            statements.push(stmt(K::Schema, &identity, format!("CREATE SCHEMA {name}")));
            statements.extend(b.comment(key, 0, &format!("SCHEMA {name}"), &identity));
            statements.extend(b.owner("SCHEMA", &name, &s.owner, &identity));
        }
        // A target older than 15 gives a new database's `public` the same owner and
        // privileges (the bootstrap superuser's): only what changed since is written, and
        // only that owner, a superuser, may write it.
        let same_initdb = b.opts.target_version.is_some_and(|v| v < 150000);
        if s.name == "public" && s.default_owner && same_initdb {
            // Against what initdb gives it there (not what this one was made with: a
            // `public` made again has no privileges for PUBLIC, or no ACL at all).
            let owner = &s.owner;
            let mut acl = s.acl.clone();
            acl.default = vec![format!("{owner}=UC/{owner}"), format!("=UC/{owner}")];
            acl.items
                .get_or_insert_with(|| vec![format!("{owner}=UC/{owner}")]);
            let grants = b.acl("SCHEMA", &name, None, owner, &acl, &identity);
            statements.extend(grants.into_iter().map(|g| superuser(g, true)));
        } else if s.name == "public" && s.default_owner && b.cat.version < 150000 {
            // 15 took CREATE on `public` from PUBLIC in a new database: PUBLIC's
            // privileges are written out whatever they are, or a copy of an older
            // database onto a newer server would lose what its roles could do there. A
            // `public` without an ACL (made again) has none for PUBLIC, where 15 gives
            // USAGE.
            let mut acl = s.acl.clone();
            acl.default.retain(|a| !a.starts_with('='));
            let grants = b.acl("SCHEMA", &name, None, &s.owner, &acl, &identity);
            if !b.opts.no_acl {
                statements.push(stmt(
                    K::Acl,
                    format!("privileges on {identity}"),
                    "REVOKE ALL ON SCHEMA public FROM PUBLIC".to_string(),
                ));
            }
            statements.extend(grants);
        } else {
            statements.extend(b.acl("SCHEMA", &name, None, &s.owner, &s.acl, &identity));
        }
        statements.extend(bootstrap_owner);
        let mut statements = statements.into_iter();
        if let Some(first) = statements.next() {
            let mut item = Item::new(key, Section::Pre, 10, first);
            item.extend(statements.collect());
            b.add(item);
        }
    }
}

/// `public` of another owner than initdb gave it, for `--no-owner`: the target keeps the
/// owner it gives `public`, and the source owner's privileges are that owner's, as if
/// initdb had left it (else its privileges would be written against the wrong owner: a
/// REVOKE from the target's owner would take the run's own CREATE there).
fn without_owner(public: &Schema) -> Option<Schema> {
    let initial = acl::initial_owner(&public.acl.default)?;
    let mut s = public.clone();
    if let Some(items) = &mut s.acl.items {
        for item in items.iter_mut() {
            *item = acl::with_role_renamed(item, &public.owner, &initial);
        }
    }
    s.owner = initial;
    s.default_owner = true;
    Some(s)
}

fn extensions(b: &mut Builder<'_>) {
    for e in &b.cat.extensions {
        let key = (class::EXTENSION, e.oid);
        if e.builtin {
            // Every database has it (plpgsql): only what was granted or revoked on its
            // members since (the language's USAGE, say).
            let mut grants = member_grants(b, e.oid).into_iter();
            if let Some(first) = grants.next() {
                let mut item = Item::new(key, Section::Pre, 20, first);
                item.extend(grants.collect());
                b.add(item);
            }
            continue;
        }
        let identity = format!("extension {}", e.name);
        let sql = format!(
            "CREATE EXTENSION IF NOT EXISTS {} WITH SCHEMA {}",
            ident(&e.name),
            ident(&e.schema)
        );
        let mut item = Item::new(
            key,
            Section::Pre,
            20,
            superuser(stmt(K::Extension, &identity, sql), !e.trusted),
        );
        // The comment CREATE EXTENSION gives it is not written again: only the owner of
        // the extension may, which one a superuser installed beforehand is not.
        let own_comment = b.cat.comments.get(&(key.0, key.1, 0)) != e.script_comment.as_ref();
        if let Some(c) = b
            .comment(key, 0, &format!("EXTENSION {}", ident(&e.name)), &identity)
            .filter(|_| own_comment)
        {
            item.push(Some(superuser(c, !e.trusted)));
        }
        item.extend(member_grants(b, e.oid));
        b.add(item);
    }
}

/// The privileges of an extension's members that differ from what its script left.
fn member_grants(b: &Builder<'_>, extension: Oid) -> Vec<Statement> {
    let mut out = Vec::new();
    for m in b
        .cat
        .member_acls
        .iter()
        .filter(|m| m.extension == extension)
    {
        let grants = b.acl(
            &m.kind,
            &m.sql_name(),
            m.column.as_deref(),
            &m.owner,
            &m.acl,
            &m.describe(),
        );
        // Members belong to a superuser: the one who ran an untrusted extension's
        // script, the bootstrap superuser for a trusted one.
        out.extend(grants.into_iter().map(|g| Statement {
            extension_member: true,
            ..superuser(g, true)
        }));
    }
    out
}

fn collations(b: &mut Builder<'_>) {
    for c in &b.cat.collations {
        let name = qualified(&c.schema, &c.name);
        let identity = format!("collation {}.{}", c.schema, c.name);
        let key = (class::COLLATION, c.oid);
        let mut opts = Vec::new();
        match c.provider.as_str() {
            "i" | "b" => {
                opts.push(format!(
                    "provider = {}",
                    if c.provider == "i" { "icu" } else { "builtin" }
                ));
                let locale = c
                    .locale
                    .clone()
                    .or_else(|| c.lc_collate.clone())
                    .unwrap_or_default();
                opts.push(format!("locale = {}", literal(&locale)));
                if let Some(rules) = &c.icu_rules {
                    opts.push(format!("rules = {}", literal(rules)));
                }
            }
            _ => {
                opts.push("provider = libc".to_string());
                opts.push(format!(
                    "lc_collate = {}",
                    literal(c.lc_collate.as_deref().unwrap_or(""))
                ));
                opts.push(format!(
                    "lc_ctype = {}",
                    literal(c.lc_ctype.as_deref().unwrap_or(""))
                ));
            }
        }
        if !c.deterministic {
            opts.push("deterministic = false".to_string());
        }
        let sql = format!("CREATE COLLATION {name} ({})", opts.join(", "));
        let mut item = Item::new(key, Section::Pre, 30, stmt(K::Collation, &identity, sql));
        item.push(b.comment(key, 0, &format!("COLLATION {name}"), &identity));
        item.push(b.owner("COLLATION", &name, &c.owner, &identity));
        b.add(item);
    }
}

fn types(b: &mut Builder<'_>) {
    for t in &b.cat.types {
        let name = qualified(&t.schema, &t.name);
        let key = (class::TYPE, t.oid);
        let (word, identity, sql, priority) = match t.typtype.as_str() {
            "e" => {
                let labels: Vec<String> = t.enum_labels.iter().map(|l| literal(l)).collect();
                (
                    "TYPE",
                    format!("type {}.{}", t.schema, t.name),
                    format!("CREATE TYPE {name} AS ENUM ({})", labels.join(", ")),
                    40,
                )
            }
            "r" => {
                let Some(r) = &t.range else { continue };
                let mut opts = vec![format!("subtype = {}", r.subtype)];
                if let Some(v) = &r.opclass {
                    opts.push(format!("subtype_opclass = {v}"));
                }
                if let Some(v) = &r.collation {
                    opts.push(format!("collation = {v}"));
                }
                if let Some(v) = &r.canonical {
                    opts.push(format!("canonical = {v}"));
                }
                if let Some(v) = &r.subtype_diff {
                    opts.push(format!("subtype_diff = {v}"));
                }
                if let Some(v) = &r.multirange {
                    opts.push(format!("multirange_type_name = {v}"));
                }
                (
                    "TYPE",
                    format!("type {}.{}", t.schema, t.name),
                    format!("CREATE TYPE {name} AS RANGE ({})", opts.join(", ")),
                    40,
                )
            }
            "c" => {
                b.alias.insert((class::CLASS, t.typrelid), key);
                let cols: Vec<String> = b
                    .cat
                    .relation(t.typrelid)
                    .map(|rel| {
                        rel.columns
                            .iter()
                            .map(|c| {
                                let mut s = format!("{} {}", ident(&c.name), c.type_name);
                                if let Some(coll) = &c.collation {
                                    s.push_str(&format!(" COLLATE {coll}"));
                                }
                                s
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                (
                    "TYPE",
                    format!("type {}.{}", t.schema, t.name),
                    format!("CREATE TYPE {name} AS ({})", cols.join(", ")),
                    40,
                )
            }
            "d" => {
                let mut sql = format!(
                    "CREATE DOMAIN {name} AS {}",
                    t.base_type.as_deref().unwrap_or("text")
                );
                if let Some(c) = &t.collation {
                    sql.push_str(&format!(" COLLATE {c}"));
                }
                if let Some(d) = &t.default_expr {
                    sql.push_str(&format!(" DEFAULT {d}"));
                }
                match &t.not_null_constraint {
                    Some((cname, _)) => {
                        sql.push_str(&format!(" CONSTRAINT {} NOT NULL", ident(cname)))
                    }
                    None if t.not_null => sql.push_str(" NOT NULL"),
                    None => {}
                }
                ("DOMAIN", format!("domain {}.{}", t.schema, t.name), sql, 41)
            }
            _ => continue,
        };
        let mut item = Item::new(key, Section::Pre, priority, stmt(K::Type, &identity, sql));
        item.push(b.comment(key, 0, &format!("{word} {name}"), &identity));
        if let Some((cname, oid)) = &t.not_null_constraint {
            item.push(b.comment(
                (class::CONSTRAINT, *oid),
                0,
                &format!("CONSTRAINT {} ON DOMAIN {name}", ident(cname)),
                &format!("constraint {cname} on domain {}.{}", t.schema, t.name),
            ));
        }
        if t.typtype == "c"
            && let Some(rel) = b.cat.relation(t.typrelid)
        {
            for c in &rel.columns {
                let col = format!("{name}.{}", ident(&c.name));
                item.push(b.comment(
                    (class::CLASS, rel.oid),
                    c.attnum,
                    &format!("COLUMN {col}"),
                    &format!("{identity}.{}", c.name),
                ));
            }
        }
        item.push(b.owner("TYPE", &name, &t.owner, &identity));
        item.extend(b.acl("TYPE", &name, None, &t.owner, &t.acl, &identity));
        b.add(item);
        // Domain constraints on their own: they may call functions that take the domain.
        if t.typtype == "d" {
            for c in b
                .cat
                .constraints
                .iter()
                .filter(|c| c.domain == t.oid && c.contype == "c")
            {
                let ckey = (class::CONSTRAINT, c.oid);
                let cid = format!("constraint {} on domain {}.{}", c.name, t.schema, t.name);
                let sql = format!(
                    "ALTER DOMAIN {name} ADD CONSTRAINT {} {}",
                    ident(&c.name),
                    c.definition
                );
                // A NOT VALID one may have values against it in the rows: after them.
                let section = if c.validated {
                    Section::Pre
                } else {
                    Section::Post
                };
                let mut citem =
                    Item::new(ckey, section, 45, stmt(K::DomainConstraint, &cid, sql)).dep(key);
                citem.push(b.comment(
                    ckey,
                    0,
                    &format!("CONSTRAINT {} ON DOMAIN {name}", ident(&c.name)),
                    &cid,
                ));
                b.add(citem);
            }
        }
    }
}

fn functions(b: &mut Builder<'_>) {
    for f in &b.cat.functions {
        let key = (class::PROC, f.oid);
        let sig = f.signature();
        let (word, kind, priority) = match f.kind.as_str() {
            "p" => ("PROCEDURE", K::Function, 50),
            "a" => ("AGGREGATE", K::Aggregate, 55),
            _ => ("FUNCTION", K::Function, 50),
        };
        let identity = format!(
            "{} {}.{}({})",
            word.to_lowercase(),
            f.schema,
            f.name,
            f.identity_args
        );
        let sql = match (&f.aggregate, &f.definition) {
            (Some(agg), _) => aggregate_sql(f, agg),
            (None, Some(def)) => def.trim_end().to_string(),
            (None, None) => continue,
        };
        // An aggregate's language is `internal`, but any role may make one over
        // functions it may run.
        let needs_super = (!f.trusted && f.aggregate.is_none()) || f.leakproof;
        let mut item = Item::new(
            key,
            Section::Pre,
            priority,
            superuser(stmt(kind, &identity, sql), needs_super),
        );
        item.push(b.comment(key, 0, &format!("{word} {sig}"), &identity));
        item.push(b.owner(word, &sig, &f.owner, &identity));
        let grant_word = if f.kind == "p" {
            "PROCEDURE"
        } else {
            "FUNCTION"
        };
        item.extend(b.acl(grant_word, &sig, None, &f.owner, &f.acl, &identity));
        b.add(item);
    }
}

fn aggregate_sql(f: &Function, a: &Aggregate) -> String {
    let mut opts = vec![
        format!("SFUNC = {}", a.sfunc),
        format!("STYPE = {}", a.stype),
    ];
    if a.sspace != 0 {
        opts.push(format!("SSPACE = {}", a.sspace));
    }
    if let Some(v) = &a.finalfunc {
        opts.push(format!("FINALFUNC = {v}"));
        if a.finalfunc_extra {
            opts.push("FINALFUNC_EXTRA".into());
        }
        opts.push(format!(
            "FINALFUNC_MODIFY = {}",
            modify(&a.finalfunc_modify)
        ));
    }
    for (name, v) in [
        ("COMBINEFUNC", &a.combinefunc),
        ("SERIALFUNC", &a.serialfunc),
        ("DESERIALFUNC", &a.deserialfunc),
    ] {
        if let Some(v) = v {
            opts.push(format!("{name} = {v}"));
        }
    }
    if let Some(v) = &a.initcond {
        opts.push(format!("INITCOND = {}", literal(v)));
    }
    if let Some(v) = &a.msfunc {
        opts.push(format!("MSFUNC = {v}"));
        if let Some(v) = &a.minvfunc {
            opts.push(format!("MINVFUNC = {v}"));
        }
        if let Some(v) = &a.mstype {
            opts.push(format!("MSTYPE = {v}"));
        }
        if a.msspace != 0 {
            opts.push(format!("MSSPACE = {}", a.msspace));
        }
        if let Some(v) = &a.mfinalfunc {
            opts.push(format!("MFINALFUNC = {v}"));
            if a.mfinalfunc_extra {
                opts.push("MFINALFUNC_EXTRA".into());
            }
            opts.push(format!(
                "MFINALFUNC_MODIFY = {}",
                modify(&a.mfinalfunc_modify)
            ));
        }
        if let Some(v) = &a.minitcond {
            opts.push(format!("MINITCOND = {}", literal(v)));
        }
    }
    if let Some(op) = &a.sortop {
        if op.contains('.') {
            opts.push(format!("SORTOP = OPERATOR({op})"));
        } else {
            opts.push(format!("SORTOP = {op}"));
        }
    }
    match a.parallel.as_str() {
        "s" => opts.push("PARALLEL = SAFE".into()),
        "r" => opts.push("PARALLEL = RESTRICTED".into()),
        _ => {}
    }
    if a.kind == "h" {
        opts.push("HYPOTHETICAL".into());
    }
    format!(
        "CREATE AGGREGATE {}({}) ({})",
        qualified(&f.schema, &f.name),
        a.arguments,
        opts.join(", ")
    )
}

fn modify(code: &str) -> &'static str {
    match code {
        "s" => "SHAREABLE",
        "w" => "READ_WRITE",
        _ => "READ_ONLY",
    }
}

fn text_search(b: &mut Builder<'_>) {
    for d in &b.cat.ts_dicts {
        let key = (class::TS_DICT, d.oid);
        let name = qualified(&d.schema, &d.name);
        let identity = format!("text search dictionary {}.{}", d.schema, d.name);
        let mut opts = format!("TEMPLATE = {}", d.template);
        if let Some(o) = &d.options {
            opts.push_str(&format!(", {o}"));
        }
        let sql = format!("CREATE TEXT SEARCH DICTIONARY {name} ({opts})");
        let mut item = Item::new(key, Section::Pre, 60, stmt(K::TextSearch, &identity, sql));
        item.push(b.comment(key, 0, &format!("TEXT SEARCH DICTIONARY {name}"), &identity));
        item.push(b.owner("TEXT SEARCH DICTIONARY", &name, &d.owner, &identity));
        b.add(item);
    }
    for c in &b.cat.ts_configs {
        let key = (class::TS_CONFIG, c.oid);
        let name = qualified(&c.schema, &c.name);
        let identity = format!("text search configuration {}.{}", c.schema, c.name);
        let sql = format!(
            "CREATE TEXT SEARCH CONFIGURATION {name} (PARSER = {})",
            c.parser
        );
        let mut item = Item::new(key, Section::Pre, 61, stmt(K::TextSearch, &identity, sql));
        for m in &c.mappings {
            if let Some((token, dicts)) = m.split_once('=') {
                item.push(Some(stmt(
                    K::TextSearch,
                    &identity,
                    format!(
                        "ALTER TEXT SEARCH CONFIGURATION {name} ADD MAPPING FOR {} WITH {dicts}",
                        ident(token)
                    ),
                )));
            }
        }
        item.push(b.comment(
            key,
            0,
            &format!("TEXT SEARCH CONFIGURATION {name}"),
            &identity,
        ));
        item.push(b.owner("TEXT SEARCH CONFIGURATION", &name, &c.owner, &identity));
        b.add(item);
    }
}

/// Publications as pg_dump writes them: created, then each table (with its column list
/// and row filter) and schema added on its own, so that a split's target gets the
/// publication with the tables and schemas it holds.
fn publications(b: &mut Builder<'_>) {
    for p in &b.cat.publications {
        let key = (class::PUBLICATION, p.oid);
        let name = ident(&p.name);
        let identity = format!("publication {}", p.name);
        let mut sql = format!("CREATE PUBLICATION {name}");
        if p.all_tables {
            sql.push_str(" FOR ALL TABLES");
        }
        sql.push_str(&format!(
            " WITH (publish = {}",
            literal(&p.publish.join(", "))
        ));
        if p.via_root {
            sql.push_str(", publish_via_partition_root = true");
        }
        if p.stored_generated {
            sql.push_str(", publish_generated_columns = stored");
        }
        sql.push(')');
        let create = stmt(K::Publication, &identity, sql);
        let mut item = Item::new(key, Section::Post, 180, superuser(create, p.all_tables));
        item.push(b.comment(key, 0, &format!("PUBLICATION {name}"), &identity));
        item.push(b.owner("PUBLICATION", &name, &p.owner, &identity));
        if p.all_tables && identifies_rows(p) {
            item = after_replica_identities(b, item, |_| true);
        }
        b.add(item);
        for t in &p.tables {
            let Some(table) = b.cat.relation(t.table) else {
                continue;
            };
            let mut sql = format!(
                "ALTER PUBLICATION {name} ADD TABLE ONLY {}",
                qualified(&table.schema, &table.name)
            );
            if let Some(columns) = &t.columns {
                let columns: Vec<String> = columns.iter().map(|c| ident(c)).collect();
                sql.push_str(&format!(" ({})", columns.join(", ")));
            }
            if let Some(filter) = &t.row_filter {
                sql.push_str(&format!(" WHERE ({filter})"));
            }
            let identity = format!(
                "publication {} table {}.{}",
                p.name, table.schema, table.name
            );
            let mut item = Item::new(
                (class::PUBLICATION_REL, t.oid),
                Section::Post,
                181,
                stmt(K::Publication, identity, sql),
            )
            .dep(key)
            .dep((class::CLASS, t.table));
            // After the index of its replica identity (its primary key's, by default): a
            // table published without one refuses UPDATE and DELETE, so a target that
            // could not build that index does not get the table published.
            if identifies_rows(p)
                && let Some(index) = replica_identity_index(b, table)
            {
                item = item.dep((class::CLASS, index));
            }
            b.add(item);
        }
        for s in &p.schemas {
            let sql = format!(
                "ALTER PUBLICATION {name} ADD TABLES IN SCHEMA {}",
                ident(&s.schema)
            );
            let identity = format!("publication {} schema {}", p.name, s.schema);
            let item = Item::new(
                (class::PUBLICATION_NAMESPACE, s.oid),
                Section::Post,
                181,
                superuser(stmt(K::Publication, identity, sql), true),
            );
            let item = if identifies_rows(p) {
                after_replica_identities(b, item, |t| t.schema == s.schema)
            } else {
                item
            };
            b.add(item.dep(key).dep((class::NAMESPACE, s.schema_oid)));
        }
    }
}

/// Whether a publication publishes UPDATE or DELETE, for which a table needs its replica
/// identity.
fn identifies_rows(p: &Publication) -> bool {
    p.publish.iter().any(|op| op == "update" || op == "delete")
}

/// A publication of every table (of a schema) after the replica identity index of each
/// of them the target gets, as a publication's own table entry: a table published
/// without one refuses UPDATE and DELETE. Only an order: which tables a target of a split
/// gets does not depend on it (a table whose index the target refused leaves the
/// publication out, listed). Unlogged tables are never published.
fn after_replica_identities(
    b: &Builder<'_>,
    mut item: Item,
    published: impl Fn(&Relation) -> bool,
) -> Item {
    for table in &b.cat.relations {
        if matches!(table.relkind.as_str(), "r" | "p")
            && table.persistence == "p"
            && published(table)
            && let Some(index) = replica_identity_index(b, table)
        {
            item = item.after((class::CLASS, index));
        }
    }
    item
}

/// The index a table's rows are identified by in logical replication: its `REPLICA
/// IDENTITY USING INDEX` one, or by default its primary key's.
fn replica_identity_index(b: &Builder<'_>, table: &Relation) -> Option<Oid> {
    match table.replica_identity.as_str() {
        "i" => b
            .cat
            .indexes
            .iter()
            .find(|i| i.table == table.oid && i.replica_identity)
            .map(|i| i.oid),
        "d" => b
            .cat
            .constraints
            .iter()
            .find(|c| c.table == table.oid && c.contype == "p")
            .map(|c| c.index),
        _ => None,
    }
}

fn casts(b: &mut Builder<'_>) {
    for c in &b.cat.casts {
        let key = (class::CAST, c.oid);
        let types = format!("{} AS {}", c.source_type, c.target_type);
        let identity = format!("cast ({types})");
        let how = match (c.method.as_str(), &c.function) {
            ("f", Some(function)) => format!("WITH FUNCTION {function}"),
            ("i", _) => "WITH INOUT".to_string(),
            _ => "WITHOUT FUNCTION".to_string(),
        };
        let context = match c.context.as_str() {
            "a" => " AS ASSIGNMENT",
            "i" => " AS IMPLICIT",
            _ => "",
        };
        let sql = format!("CREATE CAST ({types}) {how}{context}");
        // A binary-coercible cast only a superuser may make; any other needs to own one
        // of its types: one the copy makes (built-in and extension types are a
        // superuser's).
        let made = |oid: Oid| {
            oid >= FIRST_NORMAL_OID && !b.cat.extension_members.contains_key(&(class::TYPE, oid))
        };
        let needs_super = c.method == "b" || !(made(c.source_oid) || made(c.target_oid));
        let statement = superuser(stmt(K::Cast, &identity, sql), needs_super);
        let mut item = Item::new(key, Section::Pre, 56, statement);
        item.push(b.comment(key, 0, &format!("CAST ({types})"), &identity));
        b.add(item);
    }
}

fn event_triggers(b: &mut Builder<'_>) {
    for e in &b.cat.event_triggers {
        let key = (class::EVENT_TRIGGER, e.oid);
        let name = ident(&e.name);
        let identity = format!("event trigger {}", e.name);
        let mut sql = format!("CREATE EVENT TRIGGER {name} ON {}", ident(&e.event));
        if let Some(tags) = &e.tags {
            let tags: Vec<String> = tags.iter().map(|t| literal(t)).collect();
            sql.push_str(&format!(" WHEN TAG IN ({})", tags.join(", ")));
        }
        sql.push_str(&format!(" EXECUTE FUNCTION {}()", e.function));
        // Last of all, as pg_dump has it: an event trigger fires on the DDL that follows.
        let mut item = Item::new(
            key,
            Section::Post,
            200,
            superuser(stmt(K::EventTrigger, &identity, sql), true),
        );
        let state = match e.enabled.as_str() {
            "D" => Some("DISABLE"),
            "R" => Some("ENABLE REPLICA"),
            "A" => Some("ENABLE ALWAYS"),
            _ => None,
        };
        if let Some(state) = state {
            item.push(Some(superuser(
                stmt(
                    K::EventTrigger,
                    &identity,
                    format!("ALTER EVENT TRIGGER {name} {state}"),
                ),
                true,
            )));
        }
        if let Some(c) = b.comment(key, 0, &format!("EVENT TRIGGER {name}"), &identity) {
            item.push(Some(superuser(c, true)));
        }
        if let Some(o) = b.owner("EVENT TRIGGER", &name, &e.owner, &identity) {
            item.push(Some(superuser(o, true)));
        }
        b.add(item);
    }
}

fn default_privileges(b: &mut Builder<'_>) {
    if b.opts.no_acl {
        return;
    }
    for d in &b.cat.default_acls {
        let objects = match d.objtype.as_str() {
            "r" => "TABLES",
            "S" => "SEQUENCES",
            "f" => "FUNCTIONS",
            "T" => "TYPES",
            "n" => "SCHEMAS",
            "L" => "LARGE OBJECTS",
            _ => continue,
        };
        let identity = format!(
            "default privileges for role {}{} on {}",
            d.role,
            d.schema
                .as_ref()
                .map(|s| format!(" in schema {s}"))
                .unwrap_or_default(),
            objects.to_lowercase()
        );
        let statements: Vec<_> =
            acl::default_privilege_statements(&d.role, d.schema.as_deref(), objects, &d.acl)
                .into_iter()
                .map(|s| stmt(K::DefaultAcl, &identity, s.sql))
                .collect();
        let mut it = statements.into_iter();
        let Some(first) = it.next() else { continue };
        let mut item = Item::new((synthetic::DEFAULT_ACL, d.oid), Section::Post, 170, first);
        item.extend(it.collect());
        b.add(item);
    }
}
