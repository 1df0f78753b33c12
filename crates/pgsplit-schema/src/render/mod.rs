//! DDL rendering: the catalog becomes items (one object's statements: create, comment,
//! owner, grants), each in a section, with dependencies taken from `pg_depend` plus the
//! ones the rendering itself introduces; items are then sorted within each section.
//! Items that need an object pgsplit does not write are left out (`not_written.rs`).

mod not_written;
mod objects;
mod post;
mod relations;
mod selection;

use std::collections::{BTreeSet, HashMap, HashSet};

pub use not_written::NotWritten;
pub use selection::{CrossKind, CrossTarget, Selection};

use pgsplit_pg::quote::{ident, literal};

use crate::acl::{self, AclTarget};
use crate::catalog::Catalog;
use crate::model::{Acl, Depend, Function, ObjKey, Oid, Unsupported, class};
use crate::order;

/// `(schema, table)`.
pub type TableName = (String, String);

/// What the caller wants left out.
#[derive(Clone, Debug, Default)]
pub struct SchemaOptions {
    /// No `ALTER … OWNER TO`: objects belong to whoever runs the DDL.
    pub no_owner: bool,
    /// No GRANT/REVOKE and no default privileges.
    pub no_acl: bool,
    /// The `server_version_num` of the server the statements are for, when known; what
    /// differs by version is then written for that one only (a 14-or-older `public`
    /// owned by the bootstrap superuser has its owner written for an unknown or a 15+
    /// server, where a new database's `public` belongs to `pg_database_owner`).
    pub target_version: Option<i32>,
}

/// What a statement creates or changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    Schema,
    Extension,
    Collation,
    Type,
    DomainConstraint,
    Function,
    Aggregate,
    Cast,
    TextSearch,
    Table,
    PartitionAttach,
    TableOption,
    Sequence,
    SequenceOwnedBy,
    Default,
    View,
    MatView,
    Index,
    IndexAttach,
    Constraint,
    ForeignKey,
    Trigger,
    Rule,
    Policy,
    RowSecurity,
    Statistics,
    Publication,
    EventTrigger,
    Comment,
    Acl,
    DefaultAcl,
    Owner,
    SequenceSet,
    MatViewRefresh,
    /// The database's own owner, comment, settings and privileges (`pgsplit schema
    /// --database`; a run writes them apart from the DDL).
    Database,
}

/// One complete SQL statement (function bodies may contain `;`), to run with
/// `batch_execute`, in list order or as the scheduling fields allow.
#[derive(Clone, Debug)]
pub struct Statement {
    pub kind: ObjectKind,
    /// Human readable, e.g. `index public.film_fulltext_idx`.
    pub identity: String,
    pub sql: String,
    /// The table whose data this post-data statement waits for.
    pub table: Option<(String, String)>,
    /// Other tables that must be loaded first.
    pub waits_for: Vec<(String, String)>,
    /// Partitioned (or inheritance) ancestors of `table` and `waits_for`: the statement
    /// may lock them too (attaching a partition's index locks its parent), so statements
    /// run side by side in open transactions must not share them.
    pub locks_also: Vec<(String, String)>,
    /// Post-data ordering per table: 1 indexes, 2 primary key/unique/exclusion and index
    /// attachment, 3 foreign keys and checks, 4 everything else.
    pub phase: u8,
    /// Fails on a target where the running role is not a superuser.
    pub requires_superuser: bool,
    /// Statements of the same section (indices into its list) that must have run first.
    pub depends_on: Vec<usize>,
    /// An index attach: the statement (of the same section) that made the partitioned
    /// index it attaches to, which stays invalid without it.
    pub completes: Option<usize>,
    /// A post-data statement that needs a pre-data one only a superuser may run (itself or
    /// through what it needs: an index over a function in C): that one's identity. A
    /// role that skips it must skip this too ([`Ddl::superuser_needs`]).
    pub superuser_before: Option<String>,
    /// The relation whose data it sets (a sequence's value) or refreshes (a materialized
    /// view): what a `--data-only` target must already have.
    pub relation: Option<(String, String)>,
    /// Privileges on a member of an extension: the target's version of the extension
    /// (its default, perhaps newer) may lack that member, and the grant is then skipped.
    pub extension_member: bool,
    /// Needs a superuser, and what it would change is a newer server's own default that
    /// a role that is none cannot change (the owner of `public`): skipped and listed, but
    /// no problem for plan, nor an error with `--strict`.
    pub best_effort: bool,
}

/// The DDL of a schema copy, by section: pre-data runs before the table data is loaded,
/// post-data after. Post-data ends with the event triggers, which fire on any DDL after
/// them.
#[derive(Clone, Debug, Default)]
pub struct Ddl {
    pub pre_data: Vec<Statement>,
    pub post_data: Vec<Statement>,
    /// The objects of [`Catalog::unsupported`] this DDL would hold: all of them for a
    /// whole copy, a split target's own for a selection. Reported as not copied.
    pub unsupported: Vec<Unsupported>,
    /// Objects left out because they need one pgsplit does not write (a view over a
    /// foreign table): reported after [`Ddl::unsupported`].
    pub not_written: Vec<NotWritten>,
    /// The roles the statements name ([`Catalog::referenced_roles`]; a split target's
    /// share of them): the target must have them.
    pub roles: Vec<String>,
    /// Those of [`Ddl::roles`] that row-level security policies name: needed even with
    /// `--no-owner` and `--no-acl`.
    pub policy_roles: Vec<String>,
    /// Those of [`Ddl::roles`] that privileges name (grantees, `FOR ROLE` of default
    /// privileges): needed unless `--no-acl`. The owners come from the statements
    /// ([`Statement::owner_role`]).
    pub grantees: Vec<String>,
}

/// The roles that the objects `kept` selects name, sorted: all of them, those that
/// policies name, and those that privileges name.
fn roles_named(uses: Vec<(ObjKey, String, bool)>, kept: impl Fn(ObjKey) -> bool) -> RolesNamed {
    let mut roles = BTreeSet::new();
    let mut policy_roles = BTreeSet::new();
    let mut grantees = BTreeSet::new();
    for (key, role, owns) in uses.into_iter().filter(|(key, _, _)| kept(*key)) {
        if key.0 == class::POLICY {
            policy_roles.insert(role.clone());
        } else if !owns {
            grantees.insert(role.clone());
        }
        roles.insert(role);
    }
    RolesNamed {
        roles: roles.into_iter().collect(),
        policy_roles: policy_roles.into_iter().collect(),
        grantees: grantees.into_iter().collect(),
    }
}

/// [`Ddl::roles`], [`Ddl::policy_roles`] and [`Ddl::grantees`].
struct RolesNamed {
    roles: Vec<String>,
    policy_roles: Vec<String>,
    grantees: Vec<String>,
}

impl Ddl {
    /// Session settings every target connection needs before it runs these statements
    /// (the statements are schema-qualified for an empty `search_path`; bodies of
    /// functions are not checked at creation, as objects they use may come later; a
    /// heap table is written without `USING`, whatever the target's default; a money
    /// constant is read as it was printed, in the C locale).
    pub const SESSION_SETUP: &'static str = "SET statement_timeout = 0; SET lock_timeout = 0; \
        SET idle_in_transaction_session_timeout = 0; SET client_encoding = 'UTF8'; \
        SET standard_conforming_strings = on; SET lc_monetary = 'C'; SELECT pg_catalog.set_config('search_path', '', false); \
        SET check_function_bodies = false; SET xmloption = content; \
        SET client_min_messages = warning; SET row_security = off; \
        SET default_table_access_method = heap";

    /// Whether the table is left out because it needs an object pgsplit does not write
    /// (it inherits from a foreign table): its rows have nowhere to go.
    /// Whether a statement of either section has this identity (`index public.t_idx`).
    pub fn has_statement(&self, identity: &str) -> bool {
        self.pre_data
            .iter()
            .chain(&self.post_data)
            .any(|s| s.identity == identity)
    }

    pub fn leaves_out_table(&self, schema: &str, name: &str) -> bool {
        self.not_written
            .iter()
            .filter_map(|n| n.table.as_ref())
            .any(|(s, t)| s == schema && t == name)
    }

    /// How many tables [`Ddl::leaves_out_table`] leaves out.
    pub fn left_out_tables(&self) -> usize {
        self.not_written
            .iter()
            .filter(|n| n.table.is_some())
            .count()
    }

    /// [`Ddl::not_written`] for people: `view public.v (needs foreign table public.lines)`.
    pub fn describe_not_written(&self) -> Vec<String> {
        self.not_written.iter().map(NotWritten::describe).collect()
    }

    /// What the copy leaves out, for people: [`Ddl::unsupported`] (`publication
    /// orders_pub`, `cast text AS money`), then [`Ddl::describe_not_written`].
    pub fn describe_not_copied(&self) -> Vec<String> {
        self.unsupported
            .iter()
            .map(Unsupported::describe)
            .chain(self.describe_not_written())
            .collect()
    }

    /// For each statement of a section (`pre_data` or `post_data`): the first statement
    /// it needs that only a superuser may run, itself included, over
    /// [`Statement::depends_on`]. A role that must skip one (a function in C) must skip
    /// what needs it too: a view over it, its owner and comment. Not through an
    /// extension: one a superuser installed on the target beforehand (as on managed
    /// services) serves what needs it.
    pub fn superuser_needs(section: &[Statement]) -> Vec<Option<usize>> {
        let mut needs: Vec<Option<usize>> = Vec::with_capacity(section.len());
        for (i, s) in section.iter().enumerate() {
            let need = if s.requires_superuser || s.superuser_before.is_some() {
                Some(i)
            } else {
                s.depends_on.iter().find_map(|&d| {
                    needs
                        .get(d)
                        .copied()
                        .flatten()
                        .filter(|&n| section[n].kind != ObjectKind::Extension)
                })
            };
            needs.push(need);
        }
        needs
    }

    /// What a role that is no superuser skips of a section, as `identity` or `identity
    /// (needs identity)` ([`Ddl::superuser_needs`]).
    pub fn describe_superuser_needs(section: &[Statement]) -> Vec<String> {
        Ddl::superuser_needs(section)
            .iter()
            .enumerate()
            .filter(|(_, need)| need.is_none_or(|n| !section[n].best_effort))
            .filter_map(|(i, need)| need.and_then(|n| Ddl::describe_need(section, i, n)))
            .collect()
    }

    /// `identity` of statement `i`, with that of `need` when it is another's; none for
    /// the owner, comment or privileges of an object that is said itself.
    pub fn describe_need(section: &[Statement], i: usize, need: usize) -> Option<String> {
        let this = &section[i];
        if need == i {
            Some(match &this.superuser_before {
                Some(before) => format!("{} (needs {before})", this.identity),
                None => this.identity.clone(),
            })
        } else if this
            .depends_on
            .iter()
            .any(|&d| this.identity.ends_with(section[d].identity.as_str()))
        {
            None
        } else {
            Some(format!(
                "{} (needs {})",
                this.identity, section[need].identity
            ))
        }
    }

    /// The tables and materialized views with a column compressed with lz4, which a server
    /// built without lz4 refuses (`SET COMPRESSION lz4`).
    pub fn lz4_users(&self) -> Vec<String> {
        let mut users: Vec<String> = self
            .pre_data
            .iter()
            .filter(|s| s.kind == ObjectKind::TableOption && s.sql.ends_with(LZ4))
            .map(|s| s.identity.clone())
            .collect();
        users.dedup();
        users
    }
}

impl Statement {
    /// The role an `ALTER … OWNER TO` statement gives its object to.
    pub fn owner_role(&self) -> Option<String> {
        if self.kind != ObjectKind::Owner {
            return None;
        }
        let (_, role) = self.sql.rsplit_once(" OWNER TO ")?;
        Some(
            match role.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
                Some(quoted) => quoted.replace("\"\"", "\""),
                None => role.to_string(),
            },
        )
    }
}

/// How a column compressed with lz4 is written ([`Ddl::lz4_users`]).
const LZ4: &str = " SET COMPRESSION lz4";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Section {
    Pre,
    Post,
}

/// Keys for items that are no catalog object of their own.
pub(crate) mod synthetic {
    use crate::model::Oid;
    pub const PARTITION_ATTACH: Oid = 0xF000_0001;
    pub const OWNED_BY: Oid = 0xF000_0002;
    pub const SETVAL: Oid = 0xF000_0003;
    pub const REFRESH: Oid = 0xF000_0004;
    pub const INDEX_ATTACH: Oid = 0xF000_0005;
    pub const ROW_SECURITY: Oid = 0xF000_0006;
    pub const TRIGGER_STATE: Oid = 0xF000_0007;
    pub const DEFAULT_ACL: Oid = 0xF000_0008;
    /// A source without the `public` schema every new database has.
    pub const NO_PUBLIC: Oid = 0xF000_0009;

    /// A key of one of these: part of another object, not an object of its own.
    pub fn is_synthetic(class: Oid) -> bool {
        class >= PARTITION_ATTACH
    }
}

/// The statements of one object, kept together.
pub(crate) struct Item {
    pub key: ObjKey,
    pub section: Section,
    pub priority: u32,
    pub phase: u8,
    pub table: Option<(String, String)>,
    pub waits_for: Vec<(String, String)>,
    pub deps: Vec<ObjKey>,
    /// Objects this one comes after without needing them: what a target of a split gets
    /// does not follow these.
    pub after: Vec<ObjKey>,
    /// The object this one completes ([`Statement::completes`]).
    pub completes: Option<ObjKey>,
    pub statements: Vec<Statement>,
}

impl Item {
    pub fn new(key: ObjKey, section: Section, priority: u32, first: Statement) -> Item {
        Item {
            key,
            section,
            priority,
            phase: 4,
            table: None,
            waits_for: Vec::new(),
            deps: Vec::new(),
            after: Vec::new(),
            completes: None,
            statements: vec![first],
        }
    }

    pub fn phase(mut self, phase: u8) -> Item {
        self.phase = phase;
        self
    }

    pub fn dep(mut self, key: ObjKey) -> Item {
        self.deps.push(key);
        self
    }

    /// Comes after `key` when both are written, without needing it.
    pub fn after(mut self, key: ObjKey) -> Item {
        self.after.push(key);
        self
    }

    /// Needs `key` and completes it ([`Statement::completes`]).
    pub fn completes(mut self, key: ObjKey) -> Item {
        self.deps.push(key);
        self.completes = Some(key);
        self
    }

    pub fn push(&mut self, statement: Option<Statement>) {
        self.statements.extend(statement);
    }

    pub fn extend(&mut self, statements: Vec<Statement>) {
        self.statements.extend(statements);
    }
}

pub fn stmt(kind: ObjectKind, identity: impl Into<String>, sql: impl Into<String>) -> Statement {
    Statement {
        kind,
        identity: identity.into(),
        sql: sql.into(),
        table: None,
        waits_for: Vec::new(),
        locks_also: Vec::new(),
        phase: 0,
        requires_superuser: false,
        depends_on: Vec::new(),
        completes: None,
        superuser_before: None,
        relation: None,
        extension_member: false,
        best_effort: false,
    }
}

pub(crate) fn superuser(mut s: Statement, needed: bool) -> Statement {
    s.requires_superuser = needed;
    s
}

pub(crate) struct Builder<'a> {
    pub cat: &'a Catalog,
    pub opts: &'a SchemaOptions,
    pub items: Vec<Item>,
    /// Keys that stand for another item's key (an index created by its constraint, a
    /// composite type's relation, a generated column's default, …).
    pub alias: HashMap<ObjKey, ObjKey>,
}

impl<'a> Builder<'a> {
    pub fn add(&mut self, item: Item) {
        self.items.push(item);
    }

    /// `COMMENT ON <what> IS …` when the object has a comment.
    pub fn comment(&self, key: ObjKey, sub: i32, what: &str, identity: &str) -> Option<Statement> {
        let text = self.cat.comments.get(&(key.0, key.1, sub))?;
        Some(stmt(
            ObjectKind::Comment,
            format!("comment on {identity}"),
            format!("COMMENT ON {what} IS {}", literal(text)),
        ))
    }

    /// `ALTER <kind> <name> OWNER TO <role>` unless owners are left out.
    pub fn owner(&self, kind: &str, name: &str, owner: &str, identity: &str) -> Option<Statement> {
        if self.opts.no_owner || owner.is_empty() {
            return None;
        }
        Some(stmt(
            ObjectKind::Owner,
            format!("owner of {identity}"),
            format!("ALTER {kind} {name} OWNER TO {}", ident(owner)),
        ))
    }

    /// GRANT/REVOKE statements reproducing `acl`, unless privileges are left out.
    pub fn acl(
        &self,
        kind: &str,
        name: &str,
        column: Option<&str>,
        owner: &str,
        acl: &Acl,
        identity: &str,
    ) -> Vec<Statement> {
        if self.opts.no_acl {
            return Vec::new();
        }
        let target = AclTarget {
            kind,
            name,
            column,
            owner,
        };
        acl::statements(&target, acl)
            .into_iter()
            .map(|s| {
                superuser(
                    stmt(ObjectKind::Acl, format!("privileges on {identity}"), s.sql),
                    s.requires_superuser,
                )
            })
            .collect()
    }

    /// Where a post-data statement about relation `oid` belongs for scheduling: its own
    /// table when it holds rows, and the tables under it when the statement recurses.
    pub fn placement(&self, oid: Oid, recurses: bool) -> (Option<TableName>, Vec<TableName>) {
        let Some(rel) = self.cat.relation(oid) else {
            return (None, Vec::new());
        };
        let own = (rel.relkind == "r").then(|| (rel.schema.clone(), rel.name.clone()));
        let mut others = Vec::new();
        if recurses || rel.relkind == "p" {
            others = self.cat.data_tables(oid);
            if let Some(own) = &own {
                others.retain(|t| t != own);
            }
        }
        (own, others)
    }

    fn normalize(&self, key: ObjKey, items: &HashMap<ObjKey, usize>) -> ObjKey {
        let mut k = key;
        for _ in 0..8 {
            if let Some(ext) = self.cat.extension_members.get(&k) {
                return (class::EXTENSION, *ext);
            }
            if items.contains_key(&k) {
                return k;
            }
            if let Some(a) = self.alias.get(&k) {
                k = *a;
                continue;
            }
            if k.0 == class::TYPE
                && let Some(io) = self.cat.type_io.get(&k.1)
            {
                if io.relid != 0 {
                    k = (class::CLASS, io.relid);
                    continue;
                }
                if io.elem != 0 {
                    k = (class::TYPE, io.elem);
                    continue;
                }
            }
            if k.0 == class::REWRITE
                && let Some(view) = self.cat.view_rules.get(&k.1)
            {
                k = (class::CLASS, *view);
                continue;
            }
            break;
        }
        k
    }

    /// Every item with its dependencies on other items (indices), from the items' own
    /// `deps` and from `pg_depend`, keys normalized to the items that create them. Items
    /// that need an object pgsplit does not write are still there
    /// ([`Builder::unwritten_needs`]).
    fn graph(&mut self) -> Graph {
        let mut items = std::mem::take(&mut self.items);
        let index: HashMap<ObjKey, usize> = items
            .iter()
            .enumerate()
            .map(|(i, it)| (it.key, i))
            .collect();
        let mut deps: Vec<HashSet<usize>> = vec![HashSet::new(); items.len()];
        let mut after: Vec<HashSet<usize>> = vec![HashSet::new(); items.len()];
        for (i, item) in items.iter().enumerate() {
            for (keys, into) in [(&item.deps, &mut deps[i]), (&item.after, &mut after[i])] {
                for d in keys {
                    if let Some(&j) = index.get(&self.normalize(*d, &index))
                        && j != i
                    {
                        into.insert(j);
                    }
                }
            }
        }
        for d in &self.cat.depends {
            if self.owned_by_link(d) {
                continue;
            }
            let from = self.normalize(d.object, &index);
            let to = self.normalize(d.referenced, &index);
            if let (Some(&i), Some(&j)) = (index.get(&from), index.get(&to))
                && i != j
            {
                deps[i].insert(j);
            }
        }
        // As the item that makes it (an index backing a constraint is the constraint's).
        for item in &mut items {
            item.completes = item.completes.map(|k| self.normalize(k, &index));
        }
        let mut graph = Graph {
            items,
            deps,
            after,
            index,
        };
        graph.tables_read_by_generation_first(self.cat);
        graph
    }

    /// A sequence's dependency on the column that owns it: OWNED BY is its own item,
    /// after both the sequence and the table, so the sequence itself does not need the
    /// table.
    fn owned_by_link(&self, d: &Depend) -> bool {
        d.object.0 == class::CLASS
            && d.referenced.0 == class::CLASS
            && d.referenced_sub > 0
            && self
                .cat
                .relation(d.object.1)
                .is_some_and(|r| r.relkind == "S")
    }

    fn finish(mut self) -> Ddl {
        let graph = self.graph();
        let needs = self.unwritten_needs(&graph);
        let written: Vec<bool> = needs.iter().map(BTreeSet::is_empty).collect();
        let not_written = self.not_written(&graph, &needs, &vec![true; needs.len()]);
        let named = roles_named(self.cat.role_uses(), |_| true);
        Ddl {
            unsupported: self.cat.unsupported.clone(),
            not_written,
            roles: named.roles,
            policy_roles: named.policy_roles,
            grantees: named.grantees,
            ..emit(graph.keep(self.cat, &written), &Ancestors::new(self.cat))
        }
    }
}

/// Per table with parents (partitions, inheritance children): its ancestors.
pub(crate) struct Ancestors(HashMap<TableName, Vec<TableName>>);

impl Ancestors {
    pub fn new(cat: &Catalog) -> Ancestors {
        let mut map = HashMap::new();
        for rel in cat.relations.iter().filter(|r| !r.parents.is_empty()) {
            let mut found: Vec<TableName> = Vec::new();
            let mut stack = rel.parents.clone();
            while let Some(oid) = stack.pop() {
                if let Some(parent) = cat.relation(oid) {
                    let name = (parent.schema.clone(), parent.name.clone());
                    if !found.contains(&name) {
                        found.push(name);
                        stack.extend(parent.parents.iter().copied());
                    }
                }
            }
            map.insert((rel.schema.clone(), rel.name.clone()), found);
        }
        Ancestors(map)
    }

    /// The ancestors of `tables` that are not among them, each once.
    fn of<'t>(&self, tables: impl Iterator<Item = &'t TableName> + Clone) -> Vec<TableName> {
        let mut out: Vec<TableName> = Vec::new();
        for t in tables.clone() {
            for a in self.0.get(t).map(Vec::as_slice).unwrap_or(&[]) {
                if !out.contains(a) && !tables.clone().any(|t| t == a) {
                    out.push(a.clone());
                }
            }
        }
        out
    }
}

/// Items and, for each, the items it needs.
pub(crate) struct Graph {
    pub items: Vec<Item>,
    pub deps: Vec<HashSet<usize>>,
    /// Per item, the items it only comes after ([`Item::after`]); [`Graph::keep`] adds
    /// them to `deps` for the order of what is written.
    pub after: Vec<HashSet<usize>>,
    pub index: HashMap<ObjKey, usize>,
}

impl Graph {
    /// The items `keep` marks, with their dependencies among them (and what they only come
    /// after); post-data statements wait only for tables still there.
    fn keep(self, cat: &Catalog, keep: &[bool]) -> Graph {
        let mut new_index = vec![usize::MAX; keep.len()];
        let mut next = 0;
        for (i, k) in keep.iter().enumerate() {
            if *k {
                new_index[i] = next;
                next += 1;
            }
        }
        let mut tables: HashSet<TableName> = HashSet::new();
        for (i, it) in self.items.iter().enumerate() {
            if keep[i]
                && it.key.0 == class::CLASS
                && let Some(r) = cat.relation(it.key.1)
                && r.relkind == "r"
            {
                tables.insert((r.schema.clone(), r.name.clone()));
            }
        }
        let mut items = Vec::with_capacity(next);
        let mut deps = Vec::with_capacity(next);
        for (((i, mut it), d), a) in self
            .items
            .into_iter()
            .enumerate()
            .zip(self.deps)
            .zip(self.after)
        {
            if !keep[i] {
                continue;
            }
            it.waits_for.retain(|t| tables.contains(t));
            if it.table.as_ref().is_some_and(|t| !tables.contains(t)) {
                it.table = None;
            }
            items.push(it);
            deps.push(
                d.into_iter()
                    .chain(a)
                    .filter(|j| keep[*j])
                    .map(|j| new_index[j])
                    .collect(),
            );
        }
        let index = items
            .iter()
            .enumerate()
            .map(|(i, it)| (it.key, i))
            .collect();
        let after = vec![HashSet::new(); items.len()];
        Graph {
            items,
            deps,
            after,
            index,
        }
    }

    /// A generated column or partition key computed by a `LANGUAGE sql` function:
    /// creating its table inlines the function's body, whose relations must exist by then
    /// ("relation … does not exist … during inlining"), yet a body kept as text records no
    /// dependency on them. Such a table comes after every relation the body (or the body
    /// of an SQL function it calls) names by schema and name — pre-data runs with an empty
    /// search_path, where only such names are found —, unless that relation needs the
    /// table first or belongs to post-data. The table needs them: a target of a split
    /// that gets the table without them is refused (`split::unmakeable_tables`), and a
    /// relation pgsplit does not write (a foreign table) leaves the table out.
    fn tables_read_by_generation_first(&mut self, cat: &Catalog) {
        let sql_functions: HashMap<Oid, &Function> = cat
            .functions
            .iter()
            .filter(|f| f.language == "sql")
            .map(|f| (f.oid, f))
            .collect();
        // Each table item with an SQL function its creation runs.
        let starts: Vec<(usize, Oid)> = cat
            .depends
            .iter()
            .filter(|d| {
                d.referenced.0 == class::PROC && sql_functions.contains_key(&d.referenced.1)
            })
            .filter_map(|d| {
                let table = match d.object {
                    (class::ATTRDEF, attrdef) => cat.generated_defaults.get(&attrdef).copied(),
                    // A partition key's expression.
                    (class::CLASS, oid) => cat
                        .relation(oid)
                        .filter(|r| r.relkind == "p")
                        .map(|r| r.oid),
                    _ => None,
                }?;
                Some((*self.index.get(&(class::CLASS, table))?, d.referenced.1))
            })
            .collect();
        if starts.is_empty() {
            return;
        }
        let mut functions: HashMap<(&str, &str), Vec<Oid>> = HashMap::new();
        for f in sql_functions.values() {
            functions
                .entry((f.schema.as_str(), f.name.as_str()))
                .or_default()
                .push(f.oid);
        }
        // Per SQL function, the names its body writes `schema.name`, read once; the SQL
        // functions among them are those it calls.
        let names: HashMap<Oid, HashSet<(String, String)>> = sql_functions
            .values()
            .map(|f| {
                let body = f.definition.as_deref().unwrap_or_default();
                (f.oid, crate::sql_text::qualified_names(body))
            })
            .collect();
        let calls = |f: Oid| {
            names
                .get(&f)
                .into_iter()
                .flatten()
                .flat_map(|(schema, name)| {
                    functions
                        .get(&(schema.as_str(), name.as_str()))
                        .into_iter()
                        .flatten()
                })
        };
        let relations: HashMap<(&str, &str), Oid> = cat
            .relations
            .iter()
            .map(|r| ((r.schema.as_str(), r.name.as_str()), r.oid))
            .collect();
        for (i, function) in starts {
            for f in crate::catalog::functions_reached(function, calls) {
                for (schema, name) in names.get(&f).into_iter().flatten() {
                    let Some(&oid) = relations.get(&(schema.as_str(), name.as_str())) else {
                        continue;
                    };
                    let Some(&j) = self.index.get(&(class::CLASS, oid)) else {
                        // Not written (a foreign table): the table is left out with it.
                        self.items[i].deps.push((class::CLASS, oid));
                        continue;
                    };
                    if j != i
                        && !self.deps[i].contains(&j)
                        && !self.reaches(j, |x| x == i || self.items[x].section == Section::Post)
                    {
                        self.deps[i].insert(j);
                    }
                }
            }
        }
    }

    /// Whether item `from`, or an item it needs directly or through others, is one `hit`
    /// finds.
    fn reaches(&self, from: usize, hit: impl Fn(usize) -> bool) -> bool {
        let mut seen = vec![false; self.items.len()];
        let mut stack = vec![from];
        while let Some(x) = stack.pop() {
            if hit(x) {
                return true;
            }
            if !std::mem::replace(&mut seen[x], true) {
                stack.extend(self.deps[x].iter().copied());
            }
        }
        false
    }
}

/// Sections and order: the statements of the graph's items, sorted by its dependencies.
fn emit(graph: Graph, ancestors: &Ancestors) -> Ddl {
    let Graph {
        mut items, deps, ..
    } = graph;
    // A pre-data object that needs a post-data one (a view grouping by a primary
    // key) moves to post-data, and so does everything that needs it.
    let mut sections: Vec<Section> = items.iter().map(|i| i.section).collect();
    loop {
        let mut changed = false;
        for i in 0..items.len() {
            if sections[i] == Section::Pre && deps[i].iter().any(|j| sections[*j] == Section::Post)
            {
                sections[i] = Section::Post;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let mut ddl = Ddl::default();
    // Per item, its first pre-data statement; per post-data statement, the pre-data
    // statements it needs.
    let mut first_pre: HashMap<usize, usize> = HashMap::new();
    let mut post_needs_pre: Vec<Vec<usize>> = Vec::new();
    for section in [Section::Pre, Section::Post] {
        let members: Vec<usize> = (0..items.len())
            .filter(|i| sections[*i] == section)
            .collect();
        let local: HashMap<usize, usize> =
            members.iter().enumerate().map(|(l, g)| (*g, l)).collect();
        let priorities: Vec<u32> = members.iter().map(|g| items[*g].priority).collect();
        let local_deps: Vec<Vec<usize>> = members
            .iter()
            .map(|g| {
                deps[*g]
                    .iter()
                    .filter_map(|d| local.get(d).copied())
                    .collect()
            })
            .collect();
        let (order, forced) = order::sort(&priorities, &local_deps);
        for f in forced {
            tracing::warn!(
                "dependency cycle broken at {}",
                items[members[f]]
                    .statements
                    .first()
                    .map(|s| s.identity.as_str())
                    .unwrap_or("?")
            );
        }
        let out = match section {
            Section::Pre => &mut ddl.pre_data,
            Section::Post => &mut ddl.post_data,
        };
        let mut first_statement: HashMap<usize, usize> = HashMap::new();
        let by_key: HashMap<ObjKey, usize> = members.iter().map(|&g| (items[g].key, g)).collect();
        for l in order {
            let g = members[l];
            let item = &mut items[g];
            let locks_also = match section {
                Section::Post => ancestors.of(item.table.iter().chain(&item.waits_for)),
                Section::Pre => Vec::new(),
            };
            let mut item_deps: Vec<usize> = local_deps[l]
                .iter()
                .filter_map(|d| first_statement.get(&members[*d]).copied())
                .collect();
            item_deps.sort_unstable();
            let needs_pre: Vec<usize> = match section {
                Section::Post => deps[g]
                    .iter()
                    .filter_map(|d| first_pre.get(d).copied())
                    .collect(),
                Section::Pre => Vec::new(),
            };
            let completes = item
                .completes
                .and_then(|k| by_key.get(&k))
                .and_then(|made| first_statement.get(made))
                .copied();
            let first = out.len();
            first_statement.insert(g, first);
            // Moved, not copied: for thousands of tables the statements are most of
            // what a run holds.
            for (n, mut s) in std::mem::take(&mut item.statements).into_iter().enumerate() {
                if section == Section::Post {
                    s.table = item.table.clone();
                    s.waits_for = item.waits_for.clone();
                    s.locks_also = locks_also.clone();
                    s.phase = item.phase;
                }
                s.depends_on = if n == 0 {
                    item_deps.clone()
                } else {
                    vec![first]
                };
                s.completes = completes;
                if section == Section::Post {
                    post_needs_pre.push(if n == 0 {
                        needs_pre.clone()
                    } else {
                        Vec::new()
                    });
                }
                out.push(s);
            }
        }
        if section == Section::Pre {
            first_pre = first_statement;
        }
    }
    // Not through an extension, as within a section.
    let pre_needs = Ddl::superuser_needs(&ddl.pre_data);
    for (s, needs) in ddl.post_data.iter_mut().zip(post_needs_pre) {
        s.superuser_before = needs.iter().find_map(|&p| {
            let n = pre_needs[p]?;
            let root = &ddl.pre_data[n];
            (root.kind != ObjectKind::Extension).then(|| root.identity.clone())
        });
    }
    ddl
}

impl Catalog {
    fn builder<'a>(&'a self, options: &'a SchemaOptions) -> Builder<'a> {
        let mut b = Builder {
            cat: self,
            opts: options,
            items: Vec::new(),
            alias: HashMap::new(),
        };
        objects::render(&mut b);
        relations::render(&mut b);
        post::render(&mut b);
        b
    }

    /// The DDL that recreates this schema in an empty database.
    pub fn render(&self, options: &SchemaOptions) -> Ddl {
        self.builder(options).finish()
    }

    /// DDL for one target of a split: the selected relations and whole schemas, what
    /// they need (schemas, extensions, types, collations, functions, sequences, text
    /// search objects, found over `pg_depend`), and what belongs to them (indexes,
    /// constraints, triggers, rules, policies, statistics, comments, grants, owned
    /// sequences, partitions). Views, functions and types outside whole schemas go when
    /// they depend on an included relation and everything they need is included.
    ///
    /// Objects that need a relation this target does not hold (foreign keys to other
    /// targets, views over them) are not written: they are returned as [`CrossTarget`].
    /// Global default privileges go to every target, per-schema ones with whole schemas;
    /// event triggers only when every table is selected.
    pub fn render_selected(
        &self,
        options: &SchemaOptions,
        selection: &Selection,
    ) -> (Ddl, Vec<CrossTarget>) {
        let mut b = self.builder(options);
        let graph = b.graph();
        let needs = b.unwritten_needs(&graph);
        let written: Vec<bool> = needs.iter().map(BTreeSet::is_empty).collect();
        let chosen = b.select(&graph, selection, &written);
        let kept = |key: ObjKey| {
            let key = b.normalize(key, &graph.index);
            graph.index.get(&key).is_some_and(|i| chosen.keep[*i])
        };
        let named = roles_named(self.role_uses(), kept);
        let ddl = Ddl {
            unsupported: b.unsupported_held(&graph, selection, &needs, &chosen.held),
            not_written: b.not_written(&graph, &needs, &chosen.held),
            roles: named.roles,
            policy_roles: named.policy_roles,
            grantees: named.grantees,
            ..b.emit_selected(graph, &chosen.keep)
        };
        (ddl, chosen.cross)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;

    /// What needs a statement only a superuser may run is skipped with it, and said once
    /// per object; what needs an extension is not (one may be installed beforehand).
    #[test]
    fn what_needs_a_superuser_statement_goes_with_it() {
        let with_deps = |s: Statement, deps: Vec<usize>| Statement {
            depends_on: deps,
            ..s
        };
        let section = vec![
            superuser(
                stmt(ObjectKind::Function, "function public.f()", "CREATE"),
                true,
            ),
            with_deps(
                stmt(ObjectKind::Owner, "owner of function public.f()", "ALTER"),
                vec![0],
            ),
            with_deps(stmt(ObjectKind::View, "view public.v", "CREATE"), vec![0]),
            with_deps(
                stmt(ObjectKind::Comment, "comment on view public.v", "C"),
                vec![2],
            ),
            superuser(stmt(ObjectKind::Extension, "extension x", "CREATE"), true),
            with_deps(stmt(ObjectKind::Table, "table public.t", "CREATE"), vec![4]),
        ];
        assert_eq!(
            Ddl::superuser_needs(&section),
            [Some(0), Some(0), Some(0), Some(0), Some(4), None]
        );
        assert_eq!(
            Ddl::describe_superuser_needs(&section),
            [
                "function public.f()",
                "view public.v (needs function public.f())",
                "extension x"
            ]
        );
    }

    fn column(attnum: i32, name: &str, type_name: &str, not_null: bool) -> Attribute {
        Attribute {
            attnum,
            name: name.into(),
            type_name: type_name.into(),
            type_oid: 23,
            not_null,
            not_null_constraint: None,
            is_local: true,
            inh_count: 0,
            identity: String::new(),
            generated: String::new(),
            collation: None,
            storage: "p".into(),
            type_storage: "p".into(),
            compression: None,
            stat_target: Some(-1),
            options: Vec::new(),
            acl: None,
            generation_expr: None,
        }
    }

    fn relation(oid: Oid, name: &str, relkind: &str, columns: Vec<Attribute>) -> Relation {
        Relation {
            oid,
            schema: "public".into(),
            name: name.into(),
            relkind: relkind.into(),
            persistence: "p".into(),
            owner: "alice".into(),
            acl: Acl::default(),
            options: Vec::new(),
            toast_options: Vec::new(),
            partition_key: None,
            hashed_on_enum_expression: false,
            partition_bound: None,
            is_partition: false,
            row_security: false,
            force_row_security: false,
            replica_identity: "d".into(),
            access_method: Some("heap".into()),
            of_type: None,
            view_def: None,
            populated: true,
            reltuples: 0.0,
            bytes: 0,
            reltype: 0,
            columns,
            parents: Vec::new(),
        }
    }

    /// `t (id serial primary key)`: table 20000, sequence 20001, default 20002,
    /// index 20003, constraint 20004.
    fn serial_table() -> Catalog {
        let mut cat = Catalog::new(150000);
        cat.relations.push(relation(
            20000,
            "t",
            "r",
            vec![column(1, "id", "integer", true)],
        ));
        cat.relations
            .push(relation(20001, "t_id_seq", "S", Vec::new()));
        cat.sequences.push(Sequence {
            oid: 20001,
            type_name: "integer".into(),
            start: 1,
            increment: 1,
            min: 1,
            max: 2147483647,
            cache: 1,
            cycle: false,
            owned_by: Some((20000, 1)),
            identity: false,
            state: Some((7, true)),
        });
        cat.defaults.push(ColumnDefault {
            oid: 20002,
            table: 20000,
            attnum: 1,
            expr: "nextval('public.t_id_seq'::regclass)".into(),
        });
        cat.indexes.push(Index {
            oid: 20003,
            table: 20000,
            name: "t_pkey".into(),
            relkind: "i".into(),
            definition: "CREATE UNIQUE INDEX t_pkey ON public.t USING btree (id)".into(),
            valid: true,
            clustered: false,
            replica_identity: false,
            is_unique: true,
            natts: 1,
            keys: vec![1],
            has_exprs: false,
            has_pred: false,
            stat_targets: Vec::new(),
            parent: None,
        });
        cat.constraints.push(Constraint {
            oid: 20004,
            name: "t_pkey".into(),
            contype: "p".into(),
            table: 20000,
            domain: 0,
            index: 20003,
            ref_table: 0,
            is_local: true,
            inh_count: 0,
            no_inherit: true,
            validated: true,
            deferrable: false,
            parent: 0,
            period: false,
            definition: "PRIMARY KEY (id)".into(),
        });
        cat.depends.push(Depend {
            object: (class::ATTRDEF, 20002),
            object_sub: 0,
            referenced: (class::CLASS, 20001),
            referenced_sub: 0,
        });
        cat.index();
        cat
    }

    fn position(list: &[Statement], prefix: &str) -> usize {
        list.iter()
            .position(|s| s.sql.starts_with(prefix))
            .unwrap_or_else(|| panic!("no statement starting with {prefix}"))
    }

    #[test]
    fn serial_table_sections_and_order() {
        let ddl = serial_table().render(&SchemaOptions::default());
        let pre = &ddl.pre_data;
        assert!(
            position(pre, "CREATE SEQUENCE")
                < position(pre, "ALTER TABLE ONLY \"public\".\"t\" ALTER COLUMN")
        );
        assert!(
            position(pre, "CREATE TABLE")
                < position(pre, "ALTER SEQUENCE \"public\".\"t_id_seq\" OWNED BY")
        );
        assert_eq!(
            pre[position(pre, "CREATE TABLE")].sql,
            "CREATE TABLE \"public\".\"t\" (\n    \"id\" integer NOT NULL\n)"
        );
        let post = &ddl.post_data;
        let index = position(post, "CREATE UNIQUE INDEX t_pkey");
        let pk = position(
            post,
            "ALTER TABLE ONLY \"public\".\"t\" ADD CONSTRAINT \"t_pkey\" PRIMARY KEY USING INDEX \"t_pkey\"",
        );
        assert!(index < pk);
        assert_eq!(post[index].phase, 1);
        assert_eq!(post[pk].phase, 2);
        assert_eq!(post[pk].depends_on, vec![index]);
        assert_eq!(post[pk].table, Some(("public".into(), "t".into())));
        let setval = position(post, "SELECT pg_catalog.setval");
        assert_eq!(
            post[setval].sql,
            "SELECT pg_catalog.setval('\"public\".\"t_id_seq\"', 7, true)"
        );
        assert_eq!(post[setval].kind, ObjectKind::SequenceSet);
    }

    /// A partitioned table made UNLOGGED (it meant nothing before 18) is made plain for
    /// an 18 or newer server, which refuses the word.
    #[test]
    fn an_unlogged_partitioned_table_is_plain_from_18() {
        let mut cat = serial_table();
        cat.relations[0].persistence = "u".into();
        cat.relations[0].relkind = "p".into();
        cat.relations[0].partition_key = Some("RANGE (id)".into());
        let create = |target_version: Option<i32>| {
            let ddl = cat.render(&SchemaOptions {
                target_version,
                ..SchemaOptions::default()
            });
            let made = ddl
                .pre_data
                .iter()
                .find(|s| s.sql.starts_with("CREATE") && s.sql.contains("TABLE \"public\".\"t\" "));
            made.expect("the table is made").sql.clone()
        };
        assert!(create(Some(170000)).starts_with("CREATE UNLOGGED TABLE"));
        for version in [Some(180000), None] {
            let sql = create(version);
            assert!(
                sql.starts_with("CREATE TABLE") && sql.contains("PARTITION BY RANGE (id)"),
                "{sql}"
            );
        }
    }

    /// An unlogged table whose identity's sequence is logged: said so from 15 on; before,
    /// every sequence is logged and the identity options refuse the word.
    #[test]
    fn identity_sequence_persistence_is_written_from_15() {
        let create_table = |version: i32| {
            let mut cat = serial_table();
            cat.version = version;
            cat.relations[0].persistence = "u".into();
            cat.relations[0].columns[0].identity = "d".into();
            cat.sequences[0].identity = true;
            cat.defaults.clear();
            cat.depends.clear();
            let ddl = cat.render(&SchemaOptions::default());
            ddl.pre_data[position(&ddl.pre_data, "CREATE UNLOGGED TABLE")]
                .sql
                .clone()
        };
        let sql = create_table(150000);
        assert!(
            sql.contains("(SEQUENCE NAME \"public\".\"t_id_seq\" LOGGED START WITH 1 "),
            "{sql}"
        );
        let sql = create_table(140000);
        assert!(!sql.contains("LOGGED START"), "{sql}");
    }

    #[test]
    fn selection_takes_a_table_with_its_sequence() {
        let cat = serial_table();
        let all = cat.render(&SchemaOptions::default());
        let pick = |tables: &[&str]| Selection {
            tables: tables
                .iter()
                .map(|t| ("public".to_string(), t.to_string()))
                .collect(),
            ..Default::default()
        };
        let (ddl, cross) = cat.render_selected(&SchemaOptions::default(), &pick(&["t"]));
        assert!(cross.is_empty());
        let sql = |list: &[Statement]| list.iter().map(|s| s.sql.clone()).collect::<Vec<_>>();
        assert_eq!(sql(&ddl.pre_data), sql(&all.pre_data));
        assert_eq!(sql(&ddl.post_data), sql(&all.post_data));
        // Another target: nothing of `t`, not even its sequence or the sequence's value.
        let (ddl, cross) = cat.render_selected(&SchemaOptions::default(), &pick(&["u"]));
        assert!(cross.is_empty());
        assert!(
            ddl.pre_data.is_empty() && ddl.post_data.is_empty(),
            "{ddl:?}"
        );
    }

    #[test]
    fn owners_are_optional() {
        let with = serial_table().render(&SchemaOptions::default());
        assert!(
            with.pre_data
                .iter()
                .any(|s| s.sql == "ALTER TABLE \"public\".\"t\" OWNER TO \"alice\"")
        );
        let without = serial_table().render(&SchemaOptions {
            no_owner: true,
            no_acl: true,
            ..SchemaOptions::default()
        });
        assert!(without.pre_data.iter().all(|s| s.kind != ObjectKind::Owner));
    }

    /// A partitioned table with an exclusion constraint and a temporal unique key: both
    /// reach the partitions by recursion, whose copies are named `…_excl`, `…_excl1` in the
    /// order the two are added, so the later one (by oid) waits for the earlier.
    #[test]
    fn recursive_constraints_of_a_table_keep_the_sources_order() {
        let mut cat = Catalog::new(180000);
        let mut parted = relation(40000, "s", "p", vec![column(1, "k", "integer", false)]);
        parted.partition_key = Some("LIST (k)".into());
        cat.relations.push(parted);
        // The later one first in the list: the order must come from the oids.
        for (oid, name, contype, period, definition) in [
            (
                40020,
                "s_key",
                "u",
                true,
                "UNIQUE (k, during WITHOUT OVERLAPS)",
            ),
            (40010, "s_excl", "x", false, "EXCLUDE USING gist (k WITH =)"),
        ] {
            cat.constraints.push(Constraint {
                oid,
                name: name.into(),
                contype: contype.into(),
                table: 40000,
                domain: 0,
                index: oid + 1,
                ref_table: 0,
                is_local: true,
                inh_count: 0,
                no_inherit: false,
                validated: true,
                deferrable: false,
                parent: 0,
                period,
                definition: definition.into(),
            });
        }
        cat.index();
        let post = cat.render(&SchemaOptions::default()).post_data;
        let excl = position(
            &post,
            "ALTER TABLE \"public\".\"s\" ADD CONSTRAINT \"s_excl\"",
        );
        let key = position(
            &post,
            "ALTER TABLE \"public\".\"s\" ADD CONSTRAINT \"s_key\"",
        );
        assert!(post[key].depends_on.contains(&excl), "{post:?}");
        assert!(!post[excl].depends_on.contains(&key), "{post:?}");
    }

    /// A member's changed privileges come with its extension, after CREATE EXTENSION,
    /// from what the extension's script left; granting on a member needs a superuser.
    #[test]
    fn member_privileges_follow_their_extension() {
        let mut cat = Catalog::new(150000);
        cat.extensions.push(Extension {
            oid: 16500,
            name: "hstore".into(),
            schema: "public".into(),
            version: "1.8".into(),
            builtin: false,
            trusted: true,
            script_comment: None,
        });
        cat.member_acls.push(MemberAcl {
            extension: 16500,
            kind: "FUNCTION".into(),
            schema: Some("public".into()),
            name: "hstore_to_json".into(),
            args: Some("public.hstore".into()),
            column: None,
            owner: "postgres".into(),
            acl: Acl {
                items: Some(vec!["postgres=X/postgres".into(), "bob=X/postgres".into()]),
                default: vec!["=X/postgres".into(), "postgres=X/postgres".into()],
                builtin: None,
            },
        });
        cat.index();
        let pre = cat.render(&SchemaOptions::default()).pre_data;
        let sql: Vec<&str> = pre.iter().map(|s| s.sql.as_str()).collect();
        let function = "FUNCTION \"public\".\"hstore_to_json\"(public.hstore)";
        assert_eq!(
            sql,
            [
                "CREATE EXTENSION IF NOT EXISTS \"hstore\" WITH SCHEMA \"public\"".to_string(),
                format!("REVOKE ALL ON {function} FROM PUBLIC"),
                format!("GRANT ALL ON {function} TO \"bob\""),
            ]
        );
        assert_eq!(
            pre[1].identity,
            "privileges on function public.hstore_to_json(public.hstore)"
        );
        assert!(!pre[0].requires_superuser && pre[1].requires_superuser);
        let without = cat.render(&SchemaOptions {
            no_owner: false,
            no_acl: true,
            ..SchemaOptions::default()
        });
        assert_eq!(without.pre_data.len(), 1);
    }

    /// A cast is written as made; one only a superuser may make (binary-coercible, or
    /// between two built-in types) says so.
    #[test]
    fn casts_are_written_as_made_and_say_who_may_make_them() {
        let mut cat = Catalog::new(150000);
        let cast = |oid,
                    types: (&str, Oid, &str, Oid),
                    method: &str,
                    function: Option<&str>,
                    context: &str| Cast {
            oid,
            source_type: types.0.into(),
            source_oid: types.1,
            target_type: types.2.into(),
            target_oid: types.3,
            method: method.into(),
            function: function.map(str::to_owned),
            function_oid: if function.is_some() { 16600 } else { 0 },
            context: context.into(),
        };
        cat.casts = vec![
            cast(
                16601,
                ("public.price", 16500, "integer", 23),
                "f",
                Some("public.cents(public.price)"),
                "a",
            ),
            cast(
                16602,
                ("integer", 23, "macaddr", 829),
                "f",
                Some("public.mac(integer)"),
                "e",
            ),
            cast(16603, ("public.price", 16500, "text", 25), "i", None, "i"),
            cast(16604, ("public.code", 16501, "text", 25), "b", None, "e"),
            cast(
                16605,
                ("public.hstore", 16502, "json", 114),
                "f",
                Some("public.h2j(public.hstore)"),
                "e",
            ),
        ];
        // hstore's type is its extension's: a superuser's.
        cat.extension_members.insert((class::TYPE, 16502), 16400);
        cat.index();
        let made: Vec<(String, bool)> = cat
            .render(&SchemaOptions::default())
            .pre_data
            .into_iter()
            .map(|s| (s.sql, s.requires_superuser))
            .collect();
        assert_eq!(
            made,
            [
                ("CREATE CAST (public.price AS integer) WITH FUNCTION public.cents(public.price) AS ASSIGNMENT", false),
                ("CREATE CAST (integer AS macaddr) WITH FUNCTION public.mac(integer)", true),
                ("CREATE CAST (public.price AS text) WITH INOUT AS IMPLICIT", false),
                ("CREATE CAST (public.code AS text) WITHOUT FUNCTION", true),
                ("CREATE CAST (public.hstore AS json) WITH FUNCTION public.h2j(public.hstore)", true),
            ]
            .map(|(sql, su)| (sql.to_string(), su))
        );
    }

    /// `serial_table` plus a foreign table `lines` (30000), a view `v` over it (30001,
    /// rule 30011) and a view `w` over `v` (30002, rule 30012).
    fn with_views_over_a_foreign_table() -> Catalog {
        let mut cat = serial_table();
        cat.relations.push(relation(
            30000,
            "lines",
            "f",
            vec![column(1, "id", "integer", false)],
        ));
        for (oid, name, reads, body) in [
            (30001, "v", 30000, "SELECT lines.id FROM public.lines"),
            (30002, "w", 30001, "SELECT v.id FROM public.v"),
        ] {
            let mut view = relation(oid, name, "v", vec![column(1, "id", "integer", false)]);
            view.view_def = Some(body.into());
            cat.relations.push(view);
            cat.view_rules.insert(oid + 10, oid);
            cat.depends.push(Depend {
                object: (class::REWRITE, oid + 10),
                object_sub: 0,
                referenced: (class::CLASS, reads),
                referenced_sub: 1,
            });
        }
        cat.unsupported.push(Unsupported {
            kind: "foreign table".into(),
            name: "public.lines".into(),
            key: Some((class::CLASS, 30000)),
            schema: Some("public".into()),
            attached_to: None,
        });
        cat.index();
        cat
    }

    #[test]
    fn views_over_a_foreign_table_are_left_out_and_listed() {
        let cat = with_views_over_a_foreign_table();
        let ddl = cat.render(&SchemaOptions::default());
        let statements = || ddl.pre_data.iter().chain(&ddl.post_data);
        assert!(
            statements().all(|s| !s.sql.contains("VIEW")),
            "{:?}",
            ddl.pre_data
        );
        assert!(statements().any(|s| s.sql.starts_with("CREATE TABLE \"public\".\"t\"")));
        assert_eq!(
            ddl.describe_not_written(),
            [
                "view public.v (needs foreign table public.lines)",
                "view public.w (needs foreign table public.lines)",
            ]
        );
        // A target of a split leaves them out the same way, as not written, not as
        // pointing into another target.
        let selection = Selection {
            schemas: ["public".to_string()].into(),
            ..Default::default()
        };
        let (ddl, cross) = cat.render_selected(&SchemaOptions::default(), &selection);
        assert!(cross.is_empty(), "{cross:?}");
        assert!(ddl.pre_data.iter().all(|s| !s.sql.contains("VIEW")));
        assert_eq!(ddl.not_written.len(), 2);
        assert_eq!(ddl.describe_not_copied()[0], "foreign table public.lines");
        // A target with `t` alone would hold neither the foreign table nor its views.
        let selection = Selection {
            tables: [("public".to_string(), "t".to_string())].into(),
            ..Default::default()
        };
        let (ddl, _) = cat.render_selected(&SchemaOptions::default(), &selection);
        assert!(ddl.describe_not_copied().is_empty(), "{ddl:?}");
    }
}
