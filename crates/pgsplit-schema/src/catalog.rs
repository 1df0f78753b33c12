//! The catalog as read: every object kind of the model, with lookups by OID.

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::model::*;

/// Everything [`crate::introspect`] read from one database.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    pub(crate) version: i32,
    pub schemas: Vec<Schema>,
    pub extensions: Vec<Extension>,
    pub collations: Vec<Collation>,
    pub types: Vec<TypeDef>,
    pub relations: Vec<Relation>,
    pub defaults: Vec<ColumnDefault>,
    pub sequences: Vec<Sequence>,
    pub constraints: Vec<Constraint>,
    pub indexes: Vec<Index>,
    pub functions: Vec<Function>,
    pub triggers: Vec<Trigger>,
    pub rules: Vec<Rule>,
    pub policies: Vec<Policy>,
    pub statistics: Vec<StatisticsObj>,
    pub ts_dicts: Vec<TsDict>,
    pub ts_configs: Vec<TsConfig>,
    pub default_acls: Vec<DefaultAcl>,
    /// Extension members' privileges, the only thing written of a member.
    pub member_acls: Vec<MemberAcl>,
    pub event_triggers: Vec<EventTrigger>,
    pub casts: Vec<Cast>,
    pub publications: Vec<Publication>,
    pub comments: Comments,
    /// Objects the source has that the DDL does not reproduce: foreign data wrappers,
    /// servers and tables, transforms, operators, operator families, languages,
    /// base types, conversions, text search parsers and templates, security labels,
    /// typed tables, tablespaces. Report them to the user. What needs one of them is
    /// left out of the DDL too ([`crate::Ddl::not_written`]).
    pub unsupported: Vec<Unsupported>,
    pub depends: Vec<Depend>,
    /// Objects that use the factorial operators 14 removed (sources before 14), each with
    /// the statement identity of what holds it (its table, view, domain or routine).
    pub factorial_users: Vec<(String, Option<String>)>,
    /// Extension member → its extension.
    pub(crate) extension_members: HashMap<ObjKey, Oid>,
    /// Generation expression (`pg_attrdef`) → its table: created with the table.
    pub(crate) generated_defaults: HashMap<Oid, Oid>,
    /// `_RETURN` rule → its view.
    pub(crate) view_rules: HashMap<Oid, Oid>,
    pub(crate) type_io: HashMap<Oid, TypeIo>,
    rel_index: HashMap<Oid, usize>,
    children: HashMap<Oid, Vec<Oid>>,
}

/// Built-in functions over anyarray/anyelement that 14 replaced with anycompatible
/// versions: a user aggregate built on them cannot be created on 14+.
const REPLACED_BY_ANYCOMPATIBLE: &[&str] = &[
    "array_append",
    "array_prepend",
    "array_cat",
    "array_position",
    "array_positions",
    "array_remove",
    "array_replace",
    "width_bucket",
];

/// The first of `funcs` that is in [`REPLACED_BY_ANYCOMPATIBLE`].
/// `start` and every function it calls, through the calls of those (`calls`: the
/// functions one calls), each once.
pub(crate) fn functions_reached<'c, I>(start: Oid, calls: impl Fn(Oid) -> I) -> HashSet<Oid>
where
    I: IntoIterator<Item = &'c Oid>,
{
    let mut seen: HashSet<Oid> = HashSet::new();
    let mut todo = vec![start];
    while let Some(f) = todo.pop() {
        if seen.insert(f) {
            todo.extend(calls(f));
        }
    }
    seen
}

fn replaced_by_anycompatible<'f>(funcs: &[Option<&'f str>]) -> Option<&'f str> {
    funcs
        .iter()
        .flatten()
        .copied()
        .find(|f| REPLACED_BY_ANYCOMPATIBLE.contains(&f.trim_start_matches("pg_catalog.")))
}

/// What a newer major version refuses ([`Catalog::refused_by_newer_versions`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Refusal {
    /// The first version (`server_version_num`) that refuses it.
    pub since: i32,
    pub what: String,
    /// The identity of the statement that brings it (its table, type or routine): a split
    /// line whose share lacks that statement does not meet it. `None`: every line does.
    pub held_by: Option<String>,
    /// And one of these statements too, when not empty (a multirange name is taken only
    /// if the type that takes it comes along).
    pub with_one_of: Vec<String>,
}

impl Refusal {
    fn new(since: i32, what: String, held_by: Option<String>) -> Refusal {
        Refusal {
            since,
            what,
            held_by,
            with_one_of: Vec::new(),
        }
    }

    /// Whether a line whose DDL is `share` meets it.
    pub fn met_by(&self, share: &crate::Ddl) -> bool {
        let holds = |id: &String| share.has_statement(id);
        self.held_by.as_ref().is_none_or(holds)
            && (self.with_one_of.is_empty() || self.with_one_of.iter().any(holds))
    }
}

impl Catalog {
    /// What uses a cast depends on its function, or (a cast without one) on its types,
    /// not on the cast (`pg_depend` records no use of a cast): everything that depends on
    /// a cast's function, or on a user type of a cast without one, is made to depend on
    /// the cast too, so that a view, default or check written with the cast comes after
    /// it, and a split target holding one gets the cast.
    pub(crate) fn depend_on_casts(&mut self) {
        let mut by_used: HashMap<ObjKey, Vec<Oid>> = HashMap::new();
        for c in &self.casts {
            let used: Vec<ObjKey> = if c.function_oid != 0 {
                vec![(class::PROC, c.function_oid)]
            } else {
                [c.source_oid, c.target_oid]
                    .into_iter()
                    .filter(|oid| *oid >= FIRST_NORMAL_OID)
                    .map(|oid| (class::TYPE, oid))
                    .collect()
            };
            for key in used {
                by_used.entry(key).or_default().push(c.oid);
            }
        }
        let added: Vec<Depend> = self
            .depends
            .iter()
            .filter(|d| d.object.0 != class::CAST)
            .flat_map(|d| {
                by_used
                    .get(&d.referenced)
                    .into_iter()
                    .flatten()
                    .map(|cast| Depend {
                        object: d.object,
                        object_sub: d.object_sub,
                        referenced: (class::CAST, *cast),
                        referenced_sub: 0,
                    })
            })
            .collect();
        self.depends.extend(added);
    }

    /// Whether column `c` of inheritance child `rel` is nullable where a parent's is NOT
    /// NULL: before 18 a child could drop it (18 refuses, on the source and on a target).
    pub(crate) fn dropped_parents_not_null(&self, rel: &Relation, c: &Attribute) -> bool {
        self.version < 180000
            && !rel.is_partition
            && !c.not_null
            && rel
                .parents
                .iter()
                .filter_map(|p| self.relation(*p))
                .any(|p| p.columns.iter().any(|pc| pc.name == c.name && pc.not_null))
    }

    /// What newer major versions than the source's refuse, each with the first version
    /// that does (as pg_upgrade checks): a run to such a target fails on it.
    pub fn refused_by_newer_versions(&self) -> Vec<Refusal> {
        let table = |schema: &str, name: &str| Some(format!("table {schema}.{name}"));
        let mut out: Vec<Refusal> = self
            .children_without_parents_not_null()
            .into_iter()
            .map(|(r, what)| Refusal::new(180000, what, table(&r.schema, &r.name)))
            .collect();
        if self.version < 170000 {
            // Before 17 a partition could have an identity column of its own; 17 gives
            // partitions their parent's and refuses to attach one with its own.
            for r in self.relations.iter().filter(|r| r.is_partition) {
                for c in r.columns.iter().filter(|c| !c.identity.is_empty()) {
                    let what = format!(
                        "partition {}.{} has an identity column of its own ({}), which 17 \
                         refuses (a partition takes its parent's)",
                        r.schema, r.name, c.name
                    );
                    out.push(Refusal::new(170000, what, table(&r.schema, &r.name)));
                }
            }
        }
        if self.version < 140000 {
            out.extend(self.aggregates_on_replaced_functions());
            out.extend(self.taken_multirange_names());
            out.extend(self.factorial_users.iter().map(|(what, anchor)| {
                // A domain's constraint is described without its domain.
                let named = anchor.as_deref().is_none_or(|a| {
                    let kinds = ["materialized view ", "table ", "view ", "domain ", "type "];
                    let name = kinds.iter().find_map(|k| a.strip_prefix(k)).unwrap_or(a);
                    what.contains(name)
                });
                let what = match anchor {
                    Some(a) if !named => format!("{what} on {a}"),
                    _ => what.clone(),
                };
                let what = format!(
                    "{what} uses the factorial operator (! or !!) or numeric_fac(), which 14 \
                     removed: write factorial() instead"
                );
                Refusal::new(140000, what, anchor.clone())
            }));
        }
        out
    }

    /// Tables hash-partitioned on an enum column, which no copy can load as it is: an
    /// enum value hashes by its OID, which differs in every database, so on the target
    /// rows belong in other partitions than on the source. Of expressions in the key, only
    /// those whose value is an enum are found. Each as (schema, name, why).
    pub fn hashed_on_enums(&self) -> Vec<(String, String, String)> {
        const WHY: &str = "an enum value hashes by its OID, which differs in every database, \
                           so its rows would not fit their partitions on the target";
        let mut out = Vec::new();
        for r in &self.relations {
            if r.hashed_on_enum_expression {
                let why = format!(
                    "table {}.{} is hash-partitioned on an expression of an enum type: {WHY}",
                    r.schema, r.name
                );
                out.push((r.schema.clone(), r.name.clone(), why));
            }
            let Some(inner) = r
                .partition_key
                .as_deref()
                .and_then(|k| k.strip_prefix("HASH ("))
                .and_then(|k| k.strip_suffix(')'))
            else {
                continue;
            };
            for part in inner.split(", ").filter(|p| !p.contains('(')) {
                let name = match part.strip_prefix('"') {
                    Some(quoted) => quoted
                        .split_once('"')
                        .map_or(quoted, |(name, _)| name)
                        .to_string(),
                    None => part.split_whitespace().next().unwrap_or(part).to_string(),
                };
                let enum_typed = r
                    .columns
                    .iter()
                    .any(|c| c.name == name && self.holds_enum(c.type_oid, &c.type_name, 0));
                if enum_typed {
                    let why = format!(
                        "table {}.{} is hash-partitioned on enum column {name} (an enum, or a \
                         domain, range, composite or array holding one): {WHY}",
                        r.schema, r.name
                    );
                    out.push((r.schema.clone(), r.name.clone(), why));
                }
            }
        }
        out
    }

    /// Whether values of a type (its OID, or 0 and its `format_type` name) hash by an
    /// enum's OIDs: an enum, or a domain, range, composite or array holding one.
    fn holds_enum(&self, type_oid: Oid, type_name: &str, depth: u8) -> bool {
        if depth > 8 {
            return false;
        }
        // format_type names a type outside pg_catalog schema-qualified, quoted if needed.
        let bare = |name: &str| name.replace('"', "");
        let element = bare(type_name.trim_end_matches("[]"));
        let found = self.types.iter().find(|t| t.oid == type_oid).or_else(|| {
            self.types
                .iter()
                .find(|t| format!("{}.{}", t.schema, t.name) == element)
        });
        match found {
            Some(t) if t.typtype == "e" => true,
            Some(t) if t.typtype == "d" => t
                .base_type
                .as_deref()
                .is_some_and(|base| self.holds_enum(0, base, depth + 1)),
            Some(t) if t.typtype == "r" => t
                .range
                .as_ref()
                .is_some_and(|r| self.holds_enum(0, &r.subtype, depth + 1)),
            Some(t) if t.typtype == "c" => self.relation(t.typrelid).is_some_and(|r| {
                r.columns
                    .iter()
                    .any(|c| self.holds_enum(c.type_oid, &c.type_name, depth + 1))
            }),
            _ => false,
        }
    }

    /// Columns of [`Catalog::dropped_parents_not_null`], each with its table.
    fn children_without_parents_not_null(&self) -> Vec<(&Relation, String)> {
        let mut out = Vec::new();
        for r in &self.relations {
            for c in &r.columns {
                if self.dropped_parents_not_null(r, c) {
                    let what = format!(
                        "column {}.{}.{} has no NOT NULL where its parent has one",
                        r.schema, r.name, c.name
                    );
                    out.push((r, what));
                }
            }
        }
        out
    }

    /// Aggregates over anyarray/anyelement whose functions 14 replaced.
    fn aggregates_on_replaced_functions(&self) -> Vec<Refusal> {
        let polymorphic = |t: &str| matches!(t, "anyarray" | "anyelement");
        let mut out = Vec::new();
        for f in &self.functions {
            let Some(a) = &f.aggregate else { continue };
            let plain = [Some(a.sfunc.as_str()), a.finalfunc.as_deref()];
            let moving = [
                a.msfunc.as_deref(),
                a.minvfunc.as_deref(),
                a.mfinalfunc.as_deref(),
            ];
            let mut used = None;
            if polymorphic(&a.stype) {
                used = replaced_by_anycompatible(&plain);
            }
            if used.is_none() && a.mstype.as_deref().is_some_and(polymorphic) {
                used = replaced_by_anycompatible(&moving);
            }
            if let Some(used) = used {
                let aggregate = format!("aggregate {}.{}({})", f.schema, f.name, f.identity_args);
                let what = format!(
                    "{aggregate} uses {used} over anyarray/anyelement, which 14 replaced \
                     with an anycompatible version"
                );
                out.push(Refusal::new(140000, what, Some(aggregate)));
            }
        }
        out
    }

    /// Range types whose multirange, which 14 makes with them, would take a name already
    /// taken in their schema (by a type, a relation's row type or an array type).
    fn taken_multirange_names(&self) -> Vec<Refusal> {
        let mut out = Vec::new();
        for t in self.types.iter().filter(|t| t.range.is_some()) {
            let multirange = match t.name.find("range") {
                Some(at) => format!("{}multirange{}", &t.name[..at], &t.name[at + 5..]),
                None => format!("{}_multirange", t.name),
            };
            let taken = |name: &str| name == multirange || format!("_{name}") == multirange;
            let types = self.types.iter().filter(|o| o.schema == t.schema);
            let row_types = self
                .relations
                .iter()
                .filter(|r| r.schema == t.schema && !matches!(r.relkind.as_str(), "i" | "I"));
            // The statements that would bring the taker: its type (of any kind), or the
            // relation whose row type it is.
            let takers: Vec<String> = types
                .map(|o| &o.name)
                .chain(row_types.map(|r| &r.name))
                .filter(|n| taken(n))
                .flat_map(|n| {
                    [
                        "type",
                        "domain",
                        "table",
                        "view",
                        "materialized view",
                        "sequence",
                    ]
                    .map(|kind| format!("{kind} {}.{n}", t.schema))
                })
                .collect();
            if !takers.is_empty() {
                let what = format!(
                    "range type {}.{}: 14 names its multirange {}.{multirange}, which is taken",
                    t.schema, t.name, t.schema
                );
                let anchor = format!("type {}.{}", t.schema, t.name);
                let mut refusal = Refusal::new(140000, what, Some(anchor));
                refusal.with_one_of = takers;
                out.push(refusal);
            }
        }
        out
    }

    /// Forgets what an older server's catalog (`server_version_num` `version`) cannot
    /// hold, to compare the two: NOT NULL constraints' names and states (kept from 18 on;
    /// domains' from 17) become plain NOT NULL, as a copy from that server has them; a
    /// range type's multirange and a procedure's IN markers (14) go.
    pub fn as_of_version(&mut self, version: i32) {
        // What the renderer decides by version (an identity sequence's persistence, the
        // privileges of `public`) is decided as for that server.
        self.version = self.version.min(version);
        if version < 180000 {
            for column in self.relations.iter_mut().flat_map(|r| r.columns.iter_mut()) {
                column.not_null_constraint = None;
            }
        }
        if version < 170000 {
            for t in &mut self.types {
                t.not_null_constraint = None;
            }
        }
        if version < 140000 {
            // Multiranges came with 14; a range type's is made with it.
            for r in self.types.iter_mut().filter_map(|t| t.range.as_mut()) {
                r.multirange = None;
            }
            // 14 marks a procedure's input arguments IN (it may have OUT ones since).
            for f in self.functions.iter_mut().filter(|f| f.kind == "p") {
                f.identity_args = f
                    .identity_args
                    .split(", ")
                    .map(|a| a.strip_prefix("IN ").unwrap_or(a))
                    .collect::<Vec<_>>()
                    .join(", ");
                // Its CREATE's first line lists them the same way.
                if let Some(def) = &mut f.definition
                    && let Some((head, body)) = def.split_once('\n')
                {
                    let head = head.replace("(IN ", "(").replace(", IN ", ", ");
                    *def = format!("{head}\n{body}");
                }
            }
        }
    }

    pub(crate) fn new(version: i32) -> Catalog {
        Catalog {
            version,
            ..Catalog::default()
        }
    }

    /// Builds the lookups once every list is read.
    pub(crate) fn index(&mut self) {
        self.rel_index = self
            .relations
            .iter()
            .enumerate()
            .map(|(i, r)| (r.oid, i))
            .collect();
        self.children.clear();
        for rel in &self.relations {
            for parent in &rel.parents {
                self.children.entry(*parent).or_default().push(rel.oid);
            }
        }
    }

    /// `server_version_num` of the source.
    pub fn server_version_num(&self) -> i32 {
        self.version
    }

    pub fn relation(&self, oid: Oid) -> Option<&Relation> {
        self.rel_index.get(&oid).map(|i| &self.relations[*i])
    }

    /// Direct inheritance children or partitions.
    pub fn children(&self, oid: Oid) -> &[Oid] {
        self.children.get(&oid).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Every parent of `oid`, theirs, and so on (inheritance or partitioning).
    pub(crate) fn ancestors(&self, oid: Oid) -> Vec<Oid> {
        self.walk(oid, |rel| rel.parents.clone())
    }

    /// Every child of `oid`, theirs, and so on.
    pub(crate) fn descendants(&self, oid: Oid) -> Vec<Oid> {
        self.walk(oid, |rel| self.children(rel.oid).to_vec())
    }

    /// The relations `next` leads to from `oid`, transitively, each once, `oid` left out.
    fn walk(&self, oid: Oid, next: impl Fn(&Relation) -> Vec<Oid>) -> Vec<Oid> {
        let mut out = Vec::new();
        let mut stack: Vec<Oid> = self.relation(oid).map(&next).unwrap_or_default();
        let mut seen = HashSet::from([oid]);
        while let Some(o) = stack.pop() {
            if !seen.insert(o) {
                continue;
            }
            out.push(o);
            if let Some(rel) = self.relation(o) {
                stack.extend(next(rel));
            }
        }
        out
    }

    /// The tables whose rows live in `oid`: itself when it holds rows, else its leaf
    /// partitions; plus, for inheritance parents, all descendants.
    pub fn data_tables(&self, oid: Oid) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut stack = vec![oid];
        let mut seen = HashSet::new();
        while let Some(o) = stack.pop() {
            if !seen.insert(o) {
                continue;
            }
            if let Some(rel) = self.relation(o) {
                if rel.relkind == "r" {
                    out.push((rel.schema.clone(), rel.name.clone()));
                }
                stack.extend(self.children(o).iter().copied());
            }
        }
        out.sort();
        out
    }

    /// Depth in the inheritance tree (0 for a table without parents).
    pub(crate) fn inheritance_depth(&self, oid: Oid) -> usize {
        let mut depth = 0;
        let mut current = oid;
        while let Some(parent) = self.relation(current).and_then(|r| r.parents.first()) {
            depth += 1;
            current = *parent;
            if depth > 100 {
                break;
            }
        }
        depth
    }

    /// Roles the schema names (owners, grantees, grantors, policy roles, default
    /// privileges): the target must have them before the DDL runs.
    pub fn referenced_roles(&self) -> Vec<String> {
        let roles: BTreeSet<String> = self.role_uses().into_iter().map(|(_, r, _)| r).collect();
        roles.into_iter().collect()
    }

    /// [`Catalog::referenced_roles`] with the object (as the renderer keys its item) that
    /// names each.
    pub(crate) fn role_uses(&self) -> Vec<(ObjKey, String, bool)> {
        let mut uses = Vec::new();
        for s in &self.schemas {
            let key = (class::NAMESPACE, s.oid);
            // `public`'s owner is named by its owner statement, when one is written.
            if s.name != "public" {
                uses.push((key, s.owner.clone(), true));
            }
            let mut named = s.acl.roles_named_for(&s.owner);
            if s.name == "public" {
                // Its owner's entries are the owner's own (with --no-owner, the target's
                // owner's): not grants that name it.
                named.retain(|r| r != &s.owner);
            }
            uses.extend(named.into_iter().map(|r| (key, r, false)));
        }
        let mut add = |key: ObjKey, owner: Option<&String>, acl: Option<&Acl>| {
            uses.extend(owner.cloned().map(|o| (key, o, true)));
            uses.extend(
                acl.into_iter()
                    .flat_map(Acl::roles)
                    .map(|r| (key, r, false)),
            );
        };

        for t in &self.types {
            add((class::TYPE, t.oid), Some(&t.owner), Some(&t.acl));
        }
        for r in self.relations.iter().filter(|r| r.relkind != "c") {
            let key = (class::CLASS, r.oid);
            add(key, Some(&r.owner), Some(&r.acl));
            for items in r.columns.iter().filter_map(|c| c.acl.as_ref()) {
                let acl = Acl {
                    items: Some(items.clone()),
                    ..Acl::default()
                };
                add(key, None, Some(&acl));
            }
        }
        for f in &self.functions {
            add((class::PROC, f.oid), Some(&f.owner), Some(&f.acl));
        }
        for c in &self.collations {
            add((class::COLLATION, c.oid), Some(&c.owner), None);
        }
        for s in &self.statistics {
            add((class::STATISTIC_EXT, s.oid), Some(&s.owner), None);
        }
        for d in &self.ts_dicts {
            add((class::TS_DICT, d.oid), Some(&d.owner), None);
        }
        for c in &self.ts_configs {
            add((class::TS_CONFIG, c.oid), Some(&c.owner), None);
        }
        for p in &self.publications {
            add((class::PUBLICATION, p.oid), Some(&p.owner), None);
        }
        for e in &self.event_triggers {
            add((class::EVENT_TRIGGER, e.oid), Some(&e.owner), None);
        }
        // `FOR ROLE` of default privileges: named by a privilege statement, owning nothing.
        let mut for_roles = Vec::new();
        for d in &self.default_acls {
            let key = (crate::render::synthetic::DEFAULT_ACL, d.oid);
            for_roles.push((key, d.role.clone(), false));
            add(key, None, Some(&d.acl));
        }
        for m in &self.member_acls {
            add((class::EXTENSION, m.extension), None, Some(&m.acl));
        }
        for p in &self.policies {
            uses.extend(
                p.role_names
                    .iter()
                    .map(|r| ((class::POLICY, p.oid), r.clone(), false)),
            );
        }
        uses.extend(for_roles);
        uses.retain(|(_, role, _)| !role.is_empty());
        uses
    }
}
