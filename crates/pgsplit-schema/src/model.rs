//! The typed object model: one struct per catalog object kind, as read by
//! [`crate::introspect`]. Definitions the server can deparse are kept as the server's
//! text (`pg_get_*def`, `format_type`), read with an empty `search_path` so every name
//! in them is schema-qualified.

use std::collections::HashMap;

pub type Oid = u32;

/// Fixed OIDs of the system catalogs that `pg_depend` and `pg_description` name.
pub mod class {
    use super::Oid;
    pub const TYPE: Oid = 1247;
    pub const PROC: Oid = 1255;
    pub const CLASS: Oid = 1259;
    pub const ATTRDEF: Oid = 2604;
    pub const CAST: Oid = 2605;
    pub const CONSTRAINT: Oid = 2606;
    pub const NAMESPACE: Oid = 2615;
    pub const REWRITE: Oid = 2618;
    pub const TRIGGER: Oid = 2620;
    pub const DEFAULT_ACL: Oid = 826;
    pub const POLICY: Oid = 3256;
    pub const EXTENSION: Oid = 3079;
    pub const STATISTIC_EXT: Oid = 3381;
    pub const COLLATION: Oid = 3456;
    pub const EVENT_TRIGGER: Oid = 3466;
    pub const TS_DICT: Oid = 3600;
    pub const TS_CONFIG: Oid = 3602;
    pub const PUBLICATION: Oid = 6104;
    pub const PUBLICATION_REL: Oid = 6106;
    pub const PUBLICATION_NAMESPACE: Oid = 6237;
}

/// OIDs below this are the system's own (`FirstNormalObjectId`).
pub const FIRST_NORMAL_OID: Oid = 16384;

/// An object as `pg_depend` names it: (catalog, object id).
pub type ObjKey = (Oid, Oid);

/// Privileges: the object's ACL (`None`: the default) and the default it is compared
/// with, both as `aclitem` text.
#[derive(Clone, Debug, Default)]
pub struct Acl {
    pub items: Option<Vec<String>>,
    /// The built-in default, or what an extension's script left on its member.
    pub default: Vec<String>,
    /// The built-in default when `default` is something else: its owner's item has every
    /// privilege there is (what `ALL` grants).
    pub builtin: Option<Vec<String>>,
}

impl Acl {
    /// The roles the ACL names: grantees (not PUBLIC) and grantors.
    /// [`Acl::roles`] that statements name when the object's owner is `owner`: not the
    /// grantor of the owner's own grants (they run as the owner, or as whoever runs the
    /// DDL with `--no-owner`), nor the owner's entry as the object was made with it.
    pub fn roles_named_for(&self, owner: &str) -> Vec<String> {
        let mut roles = Vec::new();
        for text in self.items.iter().flatten() {
            let Some(item) = crate::acl::AclItem::parse(text) else {
                continue;
            };
            if !(item.grantee == owner && self.default.contains(text)) {
                roles.push(item.grantee);
            }
            if item.grantor != owner {
                roles.push(item.grantor);
            }
        }
        roles.retain(|role| !role.is_empty());
        roles
    }

    pub fn roles(&self) -> impl Iterator<Item = String> + '_ {
        self.items
            .iter()
            .flatten()
            .filter_map(|item| crate::acl::AclItem::parse(item))
            .flat_map(|item| [item.grantee, item.grantor])
            .filter(|role| !role.is_empty())
    }
}

#[derive(Clone, Debug)]
pub struct Schema {
    pub oid: Oid,
    pub name: String,
    pub owner: String,
    pub acl: Acl,
    /// `public` owned as initdb left it: no ALTER SCHEMA … OWNER needed.
    pub default_owner: bool,
    /// Owned by the bootstrap superuser (OID 10), whatever its name on this server.
    pub bootstrap_owner: bool,
}

#[derive(Clone, Debug)]
pub struct Extension {
    pub oid: Oid,
    pub name: String,
    pub schema: String,
    pub version: String,
    /// Created by initdb (plpgsql): present in every database already.
    pub builtin: bool,
    /// Installable by a non-superuser with CREATE on the database.
    pub trusted: bool,
    /// The comment its control file gives it (CREATE EXTENSION sets it).
    pub script_comment: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Collation {
    pub oid: Oid,
    pub schema: String,
    pub name: String,
    pub owner: String,
    pub provider: String,
    pub deterministic: bool,
    pub lc_collate: Option<String>,
    pub lc_ctype: Option<String>,
    pub locale: Option<String>,
    pub icu_rules: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Range {
    pub subtype: String,
    pub opclass: Option<String>,
    pub collation: Option<String>,
    pub canonical: Option<String>,
    pub subtype_diff: Option<String>,
    pub multirange: Option<String>,
}

/// Enum (`e`), domain (`d`), range (`r`) or composite (`c`) type.
#[derive(Clone, Debug)]
pub struct TypeDef {
    pub oid: Oid,
    pub schema: String,
    pub name: String,
    pub typtype: String,
    pub owner: String,
    pub acl: Acl,
    pub typrelid: Oid,
    pub base_type: Option<String>,
    pub not_null: bool,
    /// Name and OID of a domain's NOT NULL constraint (PostgreSQL 17+; `None` before).
    pub not_null_constraint: Option<(String, Oid)>,
    pub default_expr: Option<String>,
    pub collation: Option<String>,
    pub enum_labels: Vec<String>,
    pub range: Option<Range>,
}

#[derive(Clone, Debug)]
pub struct Attribute {
    pub attnum: i32,
    pub name: String,
    pub type_name: String,
    pub type_oid: Oid,
    pub not_null: bool,
    /// The constraint behind `not_null` (PostgreSQL 18+; `None` before, and for
    /// columns that may hold nulls).
    pub not_null_constraint: Option<NotNull>,
    pub is_local: bool,
    pub inh_count: i32,
    /// `a` (always), `d` (by default) or empty.
    pub identity: String,
    /// `s` (stored) or empty.
    pub generated: String,
    pub collation: Option<String>,
    pub storage: String,
    pub type_storage: String,
    pub compression: Option<String>,
    pub stat_target: Option<i32>,
    pub options: Vec<String>,
    pub acl: Option<Vec<String>>,
    pub generation_expr: Option<String>,
}

/// A column's NOT NULL constraint, as PostgreSQL 18 keeps it in `pg_constraint`.
#[derive(Clone, Debug)]
pub struct NotNull {
    pub oid: Oid,
    pub name: String,
    /// `false` for `NOT VALID`: the column may hold nulls from before.
    pub validated: bool,
    pub no_inherit: bool,
    /// Declared on this table (not only inherited from a parent).
    pub is_local: bool,
}

/// A table, partitioned table, view, materialized view, sequence, foreign table or the
/// relation behind a composite type.
#[derive(Clone, Debug)]
pub struct Relation {
    pub oid: Oid,
    pub schema: String,
    pub name: String,
    pub relkind: String,
    pub persistence: String,
    pub owner: String,
    pub acl: Acl,
    pub options: Vec<String>,
    pub toast_options: Vec<String>,
    pub partition_key: Option<String>,
    /// A hash partition key expression of an enum type.
    pub hashed_on_enum_expression: bool,
    pub partition_bound: Option<String>,
    pub is_partition: bool,
    pub row_security: bool,
    pub force_row_security: bool,
    pub replica_identity: String,
    pub access_method: Option<String>,
    pub of_type: Option<String>,
    pub view_def: Option<String>,
    pub populated: bool,
    pub reltuples: f64,
    pub bytes: i64,
    pub reltype: Oid,
    pub columns: Vec<Attribute>,
    /// Inheritance or partition parents, in `inhseqno` order.
    pub parents: Vec<Oid>,
}

impl Relation {
    pub fn qualified(&self) -> String {
        pgsplit_pg::quote::qualified(&self.schema, &self.name)
    }

    pub fn column(&self, attnum: i32) -> Option<&Attribute> {
        self.columns.iter().find(|c| c.attnum == attnum)
    }

    /// A foreign table: pgsplit writes neither it nor anything that belongs to it
    /// (defaults, constraints, triggers, statistics, …); the run lists it as not copied.
    pub fn is_foreign(&self) -> bool {
        self.relkind == "f"
    }
}

#[derive(Clone, Debug)]
pub struct ColumnDefault {
    pub oid: Oid,
    pub table: Oid,
    pub attnum: i32,
    pub expr: String,
}

#[derive(Clone, Debug)]
pub struct Sequence {
    pub oid: Oid,
    pub type_name: String,
    pub start: i64,
    pub increment: i64,
    pub min: i64,
    pub max: i64,
    pub cache: i64,
    pub cycle: bool,
    /// (table, attnum) of `OWNED BY` or of the identity column.
    pub owned_by: Option<(Oid, i32)>,
    pub identity: bool,
    /// `last_value`, `is_called`.
    pub state: Option<(i64, bool)>,
}

#[derive(Clone, Debug)]
pub struct Constraint {
    pub oid: Oid,
    pub name: String,
    pub contype: String,
    /// Table (0 for domain constraints).
    pub table: Oid,
    /// Domain (0 for table constraints).
    pub domain: Oid,
    pub index: Oid,
    pub ref_table: Oid,
    pub is_local: bool,
    pub inh_count: i32,
    pub no_inherit: bool,
    pub validated: bool,
    pub deferrable: bool,
    pub parent: Oid,
    /// A temporal key: `WITHOUT OVERLAPS` (a GiST index) or `PERIOD` (18+).
    pub period: bool,
    pub definition: String,
}

#[derive(Clone, Debug)]
pub struct Index {
    pub oid: Oid,
    pub table: Oid,
    pub name: String,
    pub relkind: String,
    pub definition: String,
    pub valid: bool,
    pub clustered: bool,
    pub replica_identity: bool,
    pub is_unique: bool,
    pub natts: i32,
    pub keys: Vec<i16>,
    pub has_exprs: bool,
    pub has_pred: bool,
    /// `attnum=target` of index columns with a statistics target.
    pub stat_targets: Vec<String>,
    /// The partitioned index this one is attached to.
    pub parent: Option<Oid>,
}

#[derive(Clone, Debug)]
pub struct Function {
    pub oid: Oid,
    pub schema: String,
    pub name: String,
    /// `f` function, `p` procedure, `a` aggregate, `w` window function.
    pub kind: String,
    pub identity_args: String,
    pub owner: String,
    pub acl: Acl,
    pub language: String,
    pub trusted: bool,
    pub leakproof: bool,
    pub definition: Option<String>,
    pub aggregate: Option<Aggregate>,
}

impl Function {
    /// `schema.name(args)` as COMMENT, ALTER and GRANT want it.
    pub fn signature(&self) -> String {
        format!(
            "{}({})",
            pgsplit_pg::quote::qualified(&self.schema, &self.name),
            self.identity_args
        )
    }
}

#[derive(Clone, Debug)]
pub struct Aggregate {
    pub kind: String,
    pub arguments: String,
    pub sfunc: String,
    pub stype: String,
    pub sspace: i32,
    pub finalfunc: Option<String>,
    pub finalfunc_extra: bool,
    pub finalfunc_modify: String,
    pub combinefunc: Option<String>,
    pub serialfunc: Option<String>,
    pub deserialfunc: Option<String>,
    pub initcond: Option<String>,
    pub msfunc: Option<String>,
    pub minvfunc: Option<String>,
    pub mstype: Option<String>,
    pub msspace: i32,
    pub mfinalfunc: Option<String>,
    pub mfinalfunc_extra: bool,
    pub mfinalfunc_modify: String,
    pub minitcond: Option<String>,
    pub sortop: Option<String>,
    pub parallel: String,
}

#[derive(Clone, Debug)]
pub struct Trigger {
    pub oid: Oid,
    pub table: Oid,
    pub name: String,
    pub enabled: String,
    pub parent: Oid,
    pub parent_enabled: Option<String>,
    pub definition: String,
}

#[derive(Clone, Debug)]
pub struct Rule {
    pub oid: Oid,
    pub table: Oid,
    pub name: String,
    pub enabled: String,
    pub definition: String,
}

#[derive(Clone, Debug)]
pub struct Policy {
    pub oid: Oid,
    pub table: Oid,
    pub name: String,
    pub cmd: String,
    pub permissive: bool,
    /// Quoted role names, `PUBLIC` for 0.
    pub roles: Vec<String>,
    pub role_names: Vec<String>,
    pub using_expr: Option<String>,
    pub check_expr: Option<String>,
}

#[derive(Clone, Debug)]
pub struct StatisticsObj {
    pub oid: Oid,
    pub table: Oid,
    pub schema: String,
    pub name: String,
    pub owner: String,
    pub definition: String,
    pub stat_target: i32,
}

#[derive(Clone, Debug)]
pub struct TsDict {
    pub oid: Oid,
    pub schema: String,
    pub name: String,
    pub owner: String,
    pub template: String,
    pub options: Option<String>,
}

#[derive(Clone, Debug)]
pub struct TsConfig {
    pub oid: Oid,
    pub schema: String,
    pub name: String,
    pub owner: String,
    pub parser: String,
    /// `token_alias=dict1,dict2`.
    pub mappings: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct DefaultAcl {
    pub oid: Oid,
    pub role: String,
    pub schema: Option<String>,
    pub objtype: String,
    pub acl: Acl,
}

/// Privileges on an extension member, which pgsplit does not write (CREATE EXTENSION
/// makes it): `acl.default` is what the extension's script left (`pg_init_privs`), so
/// only what was granted or revoked since is written, after the extension.
#[derive(Clone, Debug)]
pub struct MemberAcl {
    pub extension: Oid,
    /// `FUNCTION`, `PROCEDURE`, `TABLE`, `SEQUENCE`, `TYPE`, `SCHEMA`, `LANGUAGE`,
    /// `FOREIGN DATA WRAPPER` or `FOREIGN SERVER`, as GRANT names it.
    pub kind: String,
    /// `None` for objects outside schemas.
    pub schema: Option<String>,
    pub name: String,
    /// A function's identity arguments.
    pub args: Option<String>,
    /// A column, for column privileges.
    pub column: Option<String>,
    pub owner: String,
    pub acl: Acl,
}

impl MemberAcl {
    /// The object as GRANT wants it: `schema.name`, with `(args)` for a function.
    pub fn sql_name(&self) -> String {
        let name = match &self.schema {
            Some(schema) => pgsplit_pg::quote::qualified(schema, &self.name),
            None => pgsplit_pg::quote::ident(&self.name),
        };
        match &self.args {
            Some(args) => format!("{name}({args})"),
            None => name,
        }
    }

    /// For people: `function public.hstore_to_json(public.hstore)`, `table ext.t.col`.
    pub fn describe(&self) -> String {
        let mut out = format!("{} ", self.kind.to_lowercase());
        if let Some(schema) = &self.schema {
            out.push_str(&format!("{schema}."));
        }
        out.push_str(&self.name);
        if let Some(args) = &self.args {
            out.push_str(&format!("({args})"));
        }
        if let Some(column) = &self.column {
            out.push_str(&format!(".{column}"));
        }
        out
    }
}

/// A cast made by `CREATE CAST`.
#[derive(Clone, Debug)]
pub struct Cast {
    pub oid: Oid,
    /// Both types, qualified.
    pub source_type: String,
    pub target_type: String,
    pub source_oid: Oid,
    pub target_oid: Oid,
    /// `f` with the function, `i` through text (`WITH INOUT`), `b` binary-coercible.
    pub method: String,
    /// `schema.name(args)` for `f`.
    pub function: Option<String>,
    pub function_oid: Oid,
    /// `e` explicit, `a` assignment, `i` implicit.
    pub context: String,
}

#[derive(Clone, Debug)]
pub struct EventTrigger {
    pub oid: Oid,
    pub name: String,
    pub event: String,
    pub owner: String,
    pub function: String,
    pub enabled: String,
    pub tags: Option<Vec<String>>,
}

/// A publication (logical replication), with the tables and schemas it publishes.
#[derive(Clone, Debug)]
pub struct Publication {
    pub oid: Oid,
    pub name: String,
    pub owner: String,
    pub all_tables: bool,
    /// The operations published: `insert`, `update`, `delete`, `truncate`.
    pub publish: Vec<String>,
    /// `publish_via_partition_root` (13+).
    pub via_root: bool,
    /// `publish_generated_columns = stored` (18+).
    pub stored_generated: bool,
    pub tables: Vec<PublicationTable>,
    pub schemas: Vec<PublicationSchema>,
}

/// A table of a publication (`pg_publication_rel`).
#[derive(Clone, Debug)]
pub struct PublicationTable {
    pub oid: Oid,
    pub table: Oid,
    /// The row filter, as the server prints it (15+).
    pub row_filter: Option<String>,
    /// The column list, in column order (15+).
    pub columns: Option<Vec<String>>,
}

/// A schema whose tables a publication publishes (`pg_publication_namespace`, 15+).
#[derive(Clone, Debug)]
pub struct PublicationSchema {
    pub oid: Oid,
    pub schema_oid: Oid,
    pub schema: String,
}

/// A source object the DDL does not reproduce, e.g. `foreign table` `public.lines`.
#[derive(Clone, Debug)]
pub struct Unsupported {
    pub kind: String,
    pub name: String,
    /// The object itself when it is not written at all: what needs it is left out too.
    /// `None` when the object is written without this property (a table's tablespace
    /// or OF type) or is no object (a security label).
    pub key: Option<ObjKey>,
    /// Its schema, for objects in one: a split target taking the schema reports it.
    pub schema: Option<String>,
    /// With no `key`, the object it belongs to (the table, the labelled object): a split
    /// target holding that object reports it.
    pub attached_to: Option<ObjKey>,
}

impl Unsupported {
    /// `foreign table public.lines`.
    pub fn describe(&self) -> String {
        format!("{} {}", self.kind, self.name)
    }
}

/// A row of `pg_depend`: `object` (with sub-id) needs `referenced`.
#[derive(Clone, Copy, Debug)]
pub struct Depend {
    pub object: ObjKey,
    pub object_sub: i32,
    pub referenced: ObjKey,
    pub referenced_sub: i32,
}

/// How a type is built, to decide whether binary COPY can carry its values.
#[derive(Clone, Copy, Debug)]
pub struct TypeIo {
    pub has_binary_io: bool,
    pub elem: Oid,
    pub base: Oid,
    pub relid: Oid,
    pub range_subtype: Oid,
}

/// Comments by (catalog, object, sub-id).
pub type Comments = HashMap<(Oid, Oid, i32), String>;
