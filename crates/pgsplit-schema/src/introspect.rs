//! Reading the catalog: one query per object kind (the `.sql` files in `sql/`), run
//! pipelined on the caller's connection, inside whatever snapshot it has open.

use std::collections::HashMap;
use std::pin::Pin;

use futures::TryStreamExt;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{FromSql, Type};
use tokio_postgres::{Client, Row, RowStream};

use crate::catalog::Catalog;
use crate::error::SchemaError;
use crate::model::*;

/// A catalog query: its file name (for errors) and text, with version placeholders.
struct Query {
    name: &'static str,
    sql: &'static str,
}

macro_rules! query {
    ($name:literal) => {
        Query {
            name: $name,
            sql: include_str!(concat!("sql/", $name)),
        }
    };
}

const QUERIES: &[Query] = &[
    query!("schemas.sql"),
    query!("extensions.sql"),
    query!("extension_members.sql"),
    query!("depend.sql"),
    query!("factorial_users.sql"),
    query!("collations.sql"),
    query!("types.sql"),
    query!("ranges.sql"),
    query!("relations.sql"),
    query!("attributes.sql"),
    query!("defaults.sql"),
    query!("inherits.sql"),
    query!("sequences.sql"),
    query!("constraints.sql"),
    query!("indexes.sql"),
    query!("functions.sql"),
    query!("aggregates.sql"),
    query!("triggers.sql"),
    query!("rules.sql"),
    query!("view_rules.sql"),
    query!("policies.sql"),
    query!("statistics.sql"),
    query!("ts_dicts.sql"),
    query!("ts_configs.sql"),
    query!("comments.sql"),
    query!("default_acls.sql"),
    query!("member_acls.sql"),
    query!("event_triggers.sql"),
    query!("casts.sql"),
    query!("publications.sql"),
    query!("publication_tables.sql"),
    query!("publication_schemas.sql"),
    query!("pg_types.sql"),
    query!("unsupported.sql"),
];

/// The expressions that stand for catalog columns some server versions lack.
fn placeholders(version: i32) -> Vec<(&'static str, &'static str)> {
    let pick =
        |min: i32, new: &'static str, old: &'static str| if version >= min { new } else { old };
    vec![
        (
            "{trusted}",
            pick(
                130000,
                "COALESCE((SELECT bool_and(v.trusted) FROM pg_catalog.pg_available_extension_versions v \
                 WHERE v.name = e.extname AND v.version = e.extversion), false)",
                "false",
            ),
        ),
        (
            "{colllocale}",
            if version >= 170000 {
                "c.colllocale"
            } else {
                pick(150000, "c.colliculocale", "NULL::text")
            },
        ),
        (
            "{collicurules}",
            pick(160000, "c.collicurules", "NULL::text"),
        ),
        (
            "{multirange}",
            pick(
                140000,
                "(SELECT pg_catalog.quote_ident(mn.nspname) || '.' || pg_catalog.quote_ident(mt.typname) \
                 FROM pg_catalog.pg_type mt JOIN pg_catalog.pg_namespace mn ON mn.oid = mt.typnamespace \
                 WHERE mt.oid = r.rngmultitypid)",
                "NULL::text",
            ),
        ),
        (
            "{attcompression}",
            pick(140000, "NULLIF(a.attcompression::text, '')", "NULL::text"),
        ),
        (
            "{attstattarget}",
            pick(
                170000,
                "COALESCE(a.attstattarget::int4, -1)",
                "a.attstattarget::int4",
            ),
        ),
        // 12 and 13 let every role read only some of pg_subscription's columns, not its
        // OID (nothing depends on a subscription: it is only named).
        ("{subscription_oid}", pick(140000, "s.oid", "0::oid")),
        (
            "{public_default_owner}",
            pick(
                150000,
                "pg_catalog.pg_get_userbyid(n.nspowner) = 'pg_database_owner'",
                "n.nspowner = 10",
            ),
        ),
        // A partition's clone of a partitioned table's trigger: 12 has no `tgparentid`,
        // but ties the clone to its parent in pg_depend (`P`, the partition dependency).
        (
            "{tgparentid}",
            pick(
                130000,
                "t.tgparentid",
                "COALESCE((SELECT d.refobjid FROM pg_catalog.pg_depend d \
                 WHERE d.classid = 'pg_catalog.pg_trigger'::regclass AND d.objid = t.oid \
                 AND d.refclassid = 'pg_catalog.pg_trigger'::regclass AND d.deptype = 'P'), 0::oid)",
            ),
        ),
        // 18 keeps a column's NOT NULL as a constraint of its own (named, perhaps
        // NOT VALID or NO INHERIT); before, only `attnotnull`.
        (
            "{not_null_join}",
            pick(
                180000,
                "LEFT JOIN pg_catalog.pg_constraint nn ON nn.conrelid = a.attrelid \
                 AND nn.contype = 'n' AND nn.conkey[1] = a.attnum",
                "",
            ),
        ),
        // 17 keeps a domain's NOT NULL as a named constraint. 17's `CREATE DOMAIN … NOT
        // NULL NOT NULL` makes two, which 18 refuses: the first is taken.
        (
            "{domain_not_null_oid}",
            pick(
                170000,
                "(SELECT nn.oid FROM pg_catalog.pg_constraint nn \
                 WHERE nn.contypid = t.oid AND nn.contype = 'n' ORDER BY nn.oid LIMIT 1)",
                "NULL::oid",
            ),
        ),
        (
            "{domain_not_null_name}",
            pick(
                170000,
                "(SELECT nn.conname::text FROM pg_catalog.pg_constraint nn \
                 WHERE nn.contypid = t.oid AND nn.contype = 'n' ORDER BY nn.oid LIMIT 1)",
                "NULL::text",
            ),
        ),
        // A temporal key (`WITHOUT OVERLAPS`, `PERIOD`), 18+.
        ("{conperiod}", pick(180000, "c.conperiod", "false")),
        ("{not_null_oid}", pick(180000, "nn.oid", "0::oid")),
        (
            "{not_null_name}",
            pick(180000, "nn.conname::text", "NULL::text"),
        ),
        (
            "{not_null_validated}",
            pick(180000, "COALESCE(nn.convalidated, true)", "true"),
        ),
        (
            "{not_null_no_inherit}",
            pick(180000, "COALESCE(nn.connoinherit, false)", "false"),
        ),
        (
            "{not_null_local}",
            pick(180000, "COALESCE(nn.conislocal, true)", "true"),
        ),
        (
            "{parent_enabled}",
            pick(
                130000,
                "(SELECT p.tgenabled::text FROM pg_catalog.pg_trigger p WHERE p.oid = t.tgparentid)",
                "(SELECT p.tgenabled::text FROM pg_catalog.pg_trigger p JOIN pg_catalog.pg_depend d \
                 ON d.refobjid = p.oid AND d.refclassid = 'pg_catalog.pg_trigger'::regclass \
                 WHERE d.classid = 'pg_catalog.pg_trigger'::regclass AND d.objid = t.oid \
                 AND d.deptype = 'P')",
            ),
        ),
        ("{pubviaroot}", pick(130000, "p.pubviaroot", "false")),
        (
            "{pubgencols}",
            pick(180000, "p.pubgencols::text", "NULL::text"),
        ),
        (
            "{prqual}",
            pick(
                150000,
                "pg_catalog.pg_get_expr(pr.prqual, pr.prrelid)",
                "NULL::text",
            ),
        ),
        (
            "{prattrs}",
            pick(
                150000,
                "(SELECT pg_catalog.array_agg(a.attname::text ORDER BY a.attnum) \
                 FROM pg_catalog.pg_attribute a \
                 WHERE a.attrelid = pr.prrelid AND a.attnum = ANY (pr.prattrs))",
                "NULL::text[]",
            ),
        ),
        (
            "{publication_schemas}",
            pick(
                150000,
                "SELECT pn.oid, pn.pnpubid AS publication, pn.pnnspid AS schema_oid, \
                 n.nspname::text AS schema FROM pg_catalog.pg_publication_namespace pn \
                 JOIN pg_catalog.pg_namespace n ON n.oid = pn.pnnspid ORDER BY pn.pnpubid, n.nspname",
                "SELECT 0::oid AS oid, 0::oid AS publication, 0::oid AS schema_oid, \
                 ''::text AS schema WHERE false",
            ),
        ),
        (
            "{stxstattarget}",
            if version >= 170000 {
                "COALESCE(s.stxstattarget::int4, -1)"
            } else {
                pick(130000, "s.stxstattarget::int4", "-1")
            },
        ),
    ]
}

fn versioned(sql: &str, version: i32) -> String {
    let mut out = sql.to_string();
    for (k, v) in placeholders(version) {
        out = out.replace(k, v);
    }
    out
}

/// A row with the name of the query it came from, for errors.
struct R<'a> {
    row: &'a Row,
    query: &'static str,
}

impl<'a> R<'a> {
    fn get<T: FromSql<'a>>(&self, col: &str) -> Result<T, SchemaError> {
        self.row.try_get(col).map_err(|source| SchemaError::Query {
            query: self.query,
            source,
        })
    }

    fn acl(&self) -> Result<Acl, SchemaError> {
        Ok(Acl {
            items: self.get("acl")?,
            default: self
                .get::<Option<Vec<String>>>("acl_default")?
                .unwrap_or_default(),
            builtin: None,
        })
    }

    fn strings(&self, col: &str) -> Result<Vec<String>, SchemaError> {
        Ok(self.get::<Option<Vec<String>>>(col)?.unwrap_or_default())
    }
}

/// Reads the whole catalog of the connected database.
pub async fn introspect(client: &Client) -> Result<Catalog, SchemaError> {
    let version: i32 = client
        .query_one(
            "SELECT pg_catalog.current_setting('server_version_num')::int4",
            &[],
        )
        .await
        .map_err(SchemaError::query("server_version_num"))?
        .get(0);
    // Deparsers qualify every name that the search_path does not make visible: with an
    // empty one, all of them. Constants in definitions are written with the session's
    // DateStyle, IntervalStyle, extra_float_digits, TimeZone, lc_monetary and
    // standard_conforming_strings: fixed here, so that a date in a CHECK reads the same on
    // a server that parses day and month the other way round.
    // The caller's settings are restored afterwards.
    let saved = read_settings(client).await?;
    set_settings(
        client,
        &DEPARSE_SETTINGS.map(|(_, value)| value.to_string()),
    )
    .await?;
    let result = read_all(client, version).await;
    // A failed read may have aborted the caller's transaction: its error is the one to
    // tell, not the restore's that follows.
    let restored = set_settings(client, &saved).await;
    let catalog = result?;
    restored?;
    Ok(catalog)
}

/// Replaces the definitions of `catalog`'s views and materialized views with the text
/// the server of `client` prints for them, so that a catalog from an older server can be
/// compared with a copy on a newer one (16 stopped qualifying column names with a single
/// table, for one). Each is made as a temporary view inside a transaction that is rolled
/// back; one the server refuses keeps its text. Returns how many were refused.
pub async fn print_views_as(client: &Client, catalog: &mut Catalog) -> Result<usize, SchemaError> {
    const TEMP: &str = "pg_temp.pgsplit_view_text";
    let saved = read_settings(client).await?;
    set_settings(
        client,
        &DEPARSE_SETTINGS.map(|(_, value)| value.to_string()),
    )
    .await?;
    client
        .batch_execute("BEGIN")
        .await
        .map_err(SchemaError::query("begin"))?;
    let mut refused = 0;
    for rel in &mut catalog.relations {
        let Some(definition) = &rel.view_def else {
            continue;
        };
        let query = definition.trim_end().trim_end_matches(';');
        let made = client
            .batch_execute(&format!(
                "SAVEPOINT view_text; CREATE TEMPORARY VIEW {TEMP} AS {query}"
            ))
            .await;
        let printed = match made {
            Ok(()) => client
                .query_one(
                    &format!("SELECT pg_catalog.pg_get_viewdef('{TEMP}'::pg_catalog.regclass)"),
                    &[],
                )
                .await
                .map(|row| row.get::<_, String>(0))
                .ok(),
            Err(_) => None,
        };
        client
            .batch_execute("ROLLBACK TO SAVEPOINT view_text")
            .await
            .map_err(SchemaError::query("roll back a view"))?;
        match printed {
            Some(text) => rel.view_def = Some(text),
            None => refused += 1,
        }
    }
    client
        .batch_execute("ROLLBACK")
        .await
        .map_err(SchemaError::query("roll back"))?;
    set_settings(client, &saved).await?;
    Ok(refused)
}

/// The source's ICU collation locales as a newer target stores them: from 16 on, a locale
/// is kept in its canonical language-tag form (`en_US` becomes `en-US`,
/// `de_DE@collation=phonebook` becomes `de-DE-u-co-phonebk`), so a faithful copy
/// differs in spelling only. Each is made as a temporary collation in a transaction
/// rolled back; a locale the target refuses stays as the source has it.
pub async fn print_icu_locales_as(
    client: &Client,
    catalog: &mut Catalog,
) -> Result<(), SchemaError> {
    const TEMP: &str = "pg_temp.pgsplit_icu_locale";
    if !catalog.collations.iter().any(|c| c.provider == "i") {
        return Ok(());
    }
    client
        .batch_execute("BEGIN")
        .await
        .map_err(SchemaError::query("begin"))?;
    for collation in catalog.collations.iter_mut().filter(|c| c.provider == "i") {
        // Before 15 an ICU collation's locale is its lc_collate (as it is rendered).
        let Some(locale) = collation.locale.as_ref().or(collation.lc_collate.as_ref()) else {
            continue;
        };
        let made = client
            .batch_execute(&format!(
                "SAVEPOINT icu_locale; CREATE COLLATION {TEMP} (provider = icu, locale = {})",
                pgsplit_pg::quote::literal(locale)
            ))
            .await;
        let stored = match made {
            // The column is colliculocale in 15 and 16, colllocale from 17 on.
            Ok(()) => client
                .query_one(
                    &format!(
                        "SELECT coalesce(to_jsonb(c) ->> 'colllocale', to_jsonb(c) ->> 'colliculocale') \
                         FROM pg_catalog.pg_collation c WHERE c.oid = '{TEMP}'::pg_catalog.regcollation"
                    ),
                    &[],
                )
                .await
                .ok()
                .and_then(|row| row.get::<_, Option<String>>(0)),
            Err(_) => None,
        };
        client
            .batch_execute("ROLLBACK TO SAVEPOINT icu_locale")
            .await
            .map_err(SchemaError::query("roll back a collation"))?;
        if let Some(stored) = stored {
            collation.locale = Some(stored);
        }
    }
    client
        .batch_execute("ROLLBACK")
        .await
        .map_err(SchemaError::query("roll back"))?;
    Ok(())
}

/// Session settings while the catalog is read, in the order [`set_settings`] takes them:
/// each changes how a constant or a name is printed, and a role, database or server may
/// set it otherwise on one side.
const DEPARSE_SETTINGS: [(&str, &str); 8] = [
    ("search_path", ""),
    ("DateStyle", "ISO, MDY"),
    ("IntervalStyle", "postgres"),
    ("extra_float_digits", "3"),
    ("TimeZone", "UTC"),
    ("lc_monetary", "C"),
    ("standard_conforming_strings", "on"),
    ("quote_all_identifiers", "off"),
];

async fn read_settings(client: &Client) -> Result<Vec<String>, SchemaError> {
    let names: Vec<&str> = DEPARSE_SETTINGS.iter().map(|(name, _)| *name).collect();
    let row = client
        .query_one(
            "SELECT array_agg(pg_catalog.current_setting(name) ORDER BY i) \
               FROM unnest($1::text[]) WITH ORDINALITY AS s(name, i)",
            &[&names],
        )
        .await
        .map_err(SchemaError::query("read the session settings"))?;
    Ok(row.get(0))
}

async fn set_settings(client: &Client, values: &[String]) -> Result<(), SchemaError> {
    let names: Vec<&str> = DEPARSE_SETTINGS.iter().map(|(name, _)| *name).collect();
    client
        .query_one(
            "SELECT count(pg_catalog.set_config(name, value, false)) \
               FROM unnest($1::text[], $2::text[]) AS s(name, value)",
            &[&names, &values],
        )
        .await
        .map_err(SchemaError::query("set the session settings"))?;
    Ok(())
}

async fn read_all(client: &Client, version: i32) -> Result<Catalog, SchemaError> {
    let mut cat = Catalog::new(version);

    let mut stream = rows(client, version, "extension_members.sql").await?;
    while let Some(row) = next(&mut stream, "extension_members.sql").await? {
        let row = &row;
        let r = R {
            row,
            query: "extension_members.sql",
        };
        cat.extension_members
            .insert((r.get("classid")?, r.get("objid")?), r.get("refobjid")?);
    }
    let member =
        |cat: &Catalog, class: Oid, oid: Oid| cat.extension_members.contains_key(&(class, oid));

    let mut stream = rows(client, version, "schemas.sql").await?;
    while let Some(row) = next(&mut stream, "schemas.sql").await? {
        let row = &row;
        let r = R {
            row,
            query: "schemas.sql",
        };
        let oid = r.get("oid")?;
        if member(&cat, class::NAMESPACE, oid) {
            continue;
        }
        cat.schemas.push(Schema {
            oid,
            name: r.get("name")?,
            owner: r.get("owner")?,
            acl: r.acl()?,
            default_owner: r.get("default_owner")?,
            bootstrap_owner: r.get("bootstrap_owner")?,
        });
    }
    let mut stream = rows(client, version, "extensions.sql").await?;
    while let Some(row) = next(&mut stream, "extensions.sql").await? {
        let row = &row;
        let r = R {
            row,
            query: "extensions.sql",
        };
        cat.extensions.push(Extension {
            oid: r.get("oid")?,
            name: r.get("name")?,
            schema: r.get("schema")?,
            version: r.get("version")?,
            builtin: r.get("builtin")?,
            trusted: r.get("trusted")?,
            script_comment: r.get("script_comment")?,
        });
    }
    let mut stream = rows(client, version, "depend.sql").await?;
    while let Some(row) = next(&mut stream, "depend.sql").await? {
        let row = &row;
        let r = R {
            row,
            query: "depend.sql",
        };
        cat.depends.push(Depend {
            object: (r.get("classid")?, r.get("objid")?),
            object_sub: r.get("objsubid")?,
            referenced: (r.get("refclassid")?, r.get("refobjid")?),
            referenced_sub: r.get("refobjsubid")?,
        });
    }
    if version < 140000 {
        let mut stream = rows(client, version, "factorial_users.sql").await?;
        while let Some(row) = next(&mut stream, "factorial_users.sql").await? {
            let r = R {
                row: &row,
                query: "factorial_users.sql",
            };
            cat.factorial_users.push((r.get("what")?, r.get("anchor")?));
        }
    }
    let mut stream = rows(client, version, "collations.sql").await?;
    while let Some(row) = next(&mut stream, "collations.sql").await? {
        let row = &row;
        let r = R {
            row,
            query: "collations.sql",
        };
        let oid = r.get("oid")?;
        if member(&cat, class::COLLATION, oid) {
            continue;
        }
        cat.collations.push(Collation {
            oid,
            schema: r.get("schema")?,
            name: r.get("name")?,
            owner: r.get("owner")?,
            provider: r.get("provider")?,
            deterministic: r.get("deterministic")?,
            lc_collate: r.get("lc_collate")?,
            lc_ctype: r.get("lc_ctype")?,
            locale: r.get("locale")?,
            icu_rules: r.get("icu_rules")?,
        });
    }
    let mut ranges: HashMap<Oid, Range> = HashMap::new();
    let mut stream = rows(client, version, "ranges.sql").await?;
    while let Some(row) = next(&mut stream, "ranges.sql").await? {
        let row = &row;
        let r = R {
            row,
            query: "ranges.sql",
        };
        ranges.insert(
            r.get("oid")?,
            Range {
                subtype: r.get("subtype")?,
                opclass: r.get("opclass")?,
                collation: r.get("collation")?,
                canonical: r.get("canonical")?,
                subtype_diff: r.get("subtype_diff")?,
                multirange: r.get("multirange")?,
            },
        );
    }
    let mut stream = rows(client, version, "types.sql").await?;
    while let Some(row) = next(&mut stream, "types.sql").await? {
        let row = &row;
        let r = R {
            row,
            query: "types.sql",
        };
        let oid = r.get("oid")?;
        if member(&cat, class::TYPE, oid) {
            continue;
        }
        cat.types.push(TypeDef {
            oid,
            schema: r.get("schema")?,
            name: r.get("name")?,
            typtype: r.get("typtype")?,
            owner: r.get("owner")?,
            acl: r.acl()?,
            typrelid: r.get("typrelid")?,
            base_type: r.get("base_type")?,
            not_null: r.get("not_null")?,
            not_null_constraint: match r.get::<Option<String>>("not_null_name")? {
                Some(name) => Some((name, r.get("not_null_oid")?)),
                None => None,
            },
            default_expr: r.get("default_expr")?,
            collation: r.get("collation")?,
            enum_labels: r.strings("enum_labels")?,
            range: ranges.remove(&oid),
        });
    }

    let mut columns: HashMap<Oid, Vec<Attribute>> = HashMap::new();
    let mut stream = rows(client, version, "attributes.sql").await?;
    while let Some(row) = next(&mut stream, "attributes.sql").await? {
        let row = &row;
        let r = R {
            row,
            query: "attributes.sql",
        };
        columns
            .entry(r.get("attrelid")?)
            .or_default()
            .push(Attribute {
                attnum: r.get("attnum")?,
                name: r.get("name")?,
                type_name: r.get("type_name")?,
                type_oid: r.get("atttypid")?,
                not_null: r.get("not_null")?,
                not_null_constraint: r
                    .get::<Option<String>>("not_null_name")?
                    .map(|name| -> Result<NotNull, SchemaError> {
                        Ok(NotNull {
                            oid: r.get("not_null_oid")?,
                            name,
                            validated: r.get("not_null_validated")?,
                            no_inherit: r.get("not_null_no_inherit")?,
                            is_local: r.get("not_null_local")?,
                        })
                    })
                    .transpose()?,
                is_local: r.get("is_local")?,
                inh_count: r.get("inh_count")?,
                identity: r.get("identity")?,
                generated: r.get("generated")?,
                collation: r.get("collation")?,
                storage: r.get("storage")?,
                type_storage: r.get("type_storage")?,
                compression: r.get("compression")?,
                stat_target: r.get("stat_target")?,
                options: r.strings("options")?,
                acl: r.get("acl")?,
                generation_expr: r.get("generation_expr")?,
            });
    }
    let mut parents: HashMap<Oid, Vec<Oid>> = HashMap::new();
    let mut stream = rows(client, version, "inherits.sql").await?;
    while let Some(row) = next(&mut stream, "inherits.sql").await? {
        let row = &row;
        let r = R {
            row,
            query: "inherits.sql",
        };
        parents
            .entry(r.get("inhrelid")?)
            .or_default()
            .push(r.get("inhparent")?);
    }
    let mut stream = rows(client, version, "relations.sql").await?;
    while let Some(row) = next(&mut stream, "relations.sql").await? {
        let row = &row;
        let r = R {
            row,
            query: "relations.sql",
        };
        let oid = r.get("oid")?;
        if member(&cat, class::CLASS, oid) {
            continue;
        }
        cat.relations.push(Relation {
            oid,
            schema: r.get("schema")?,
            name: r.get("name")?,
            relkind: r.get("relkind")?,
            persistence: r.get("persistence")?,
            owner: r.get("owner")?,
            acl: r.acl()?,
            options: r.strings("options")?,
            toast_options: r.strings("toast_options")?,
            partition_key: r.get("partition_key")?,
            hashed_on_enum_expression: r.get("hashed_on_enum_expression")?,
            partition_bound: r.get("partition_bound")?,
            is_partition: r.get("is_partition")?,
            row_security: r.get("row_security")?,
            force_row_security: r.get("force_row_security")?,
            replica_identity: r.get("replica_identity")?,
            access_method: r.get("access_method")?,
            of_type: r.get("of_type")?,
            view_def: r.get("view_def")?,
            populated: r.get("populated")?,
            reltuples: r.get("reltuples")?,
            bytes: r.get("bytes")?,
            reltype: r.get("reltype")?,
            columns: columns.remove(&oid).unwrap_or_default(),
            parents: parents.get(&oid).cloned().unwrap_or_default(),
        });
    }
    let mut stream = rows(client, version, "defaults.sql").await?;
    while let Some(row) = next(&mut stream, "defaults.sql").await? {
        let row = &row;
        let r = R {
            row,
            query: "defaults.sql",
        };
        if r.get::<bool>("generated")? {
            cat.generated_defaults
                .insert(r.get("oid")?, r.get("adrelid")?);
            continue;
        }
        cat.defaults.push(ColumnDefault {
            oid: r.get("oid")?,
            table: r.get("adrelid")?,
            attnum: r.get("adnum")?,
            expr: r.get("expr")?,
        });
    }
    let mut stream = rows(client, version, "sequences.sql").await?;
    while let Some(row) = next(&mut stream, "sequences.sql").await? {
        let row = &row;
        let r = R {
            row,
            query: "sequences.sql",
        };
        let owner_table: Option<Oid> = r.get("owner_table")?;
        let owner_column: Option<i32> = r.get("owner_column")?;
        let deptype: Option<String> = r.get("owner_deptype")?;
        cat.sequences.push(Sequence {
            oid: r.get("oid")?,
            type_name: r.get("type_name")?,
            start: r.get("start")?,
            increment: r.get("increment")?,
            min: r.get("min")?,
            max: r.get("max")?,
            cache: r.get("cache")?,
            cycle: r.get("cycle")?,
            owned_by: owner_table.zip(owner_column),
            identity: deptype.as_deref() == Some("i"),
            state: None,
        });
    }
    let mut stream = rows(client, version, "constraints.sql").await?;
    while let Some(row) = next(&mut stream, "constraints.sql").await? {
        let row = &row;
        let r = R {
            row,
            query: "constraints.sql",
        };
        cat.constraints.push(Constraint {
            oid: r.get("oid")?,
            name: r.get("name")?,
            contype: r.get("contype")?,
            table: r.get("conrelid")?,
            domain: r.get("contypid")?,
            index: r.get("conindid")?,
            ref_table: r.get("confrelid")?,
            is_local: r.get("is_local")?,
            inh_count: r.get("inh_count")?,
            no_inherit: r.get("no_inherit")?,
            validated: r.get("validated")?,
            deferrable: r.get("deferrable")?,
            parent: r.get("parent")?,
            period: r.get("period")?,
            definition: r.get("definition")?,
        });
    }
    let mut stream = rows(client, version, "indexes.sql").await?;
    while let Some(row) = next(&mut stream, "indexes.sql").await? {
        let row = &row;
        let r = R {
            row,
            query: "indexes.sql",
        };
        let oid = r.get("oid")?;
        cat.indexes.push(Index {
            oid,
            table: r.get("indrelid")?,
            name: r.get("name")?,
            relkind: r.get("relkind")?,
            definition: r.get("definition")?,
            valid: r.get("valid")?,
            clustered: r.get("clustered")?,
            replica_identity: r.get("replica_identity")?,
            is_unique: r.get("is_unique")?,
            natts: r.get("natts")?,
            keys: r.strings_i16("keys")?,
            has_exprs: r.get("has_exprs")?,
            has_pred: r.get("has_pred")?,
            stat_targets: r.strings("stat_targets")?,
            parent: parents.get(&oid).and_then(|p| p.first().copied()),
        });
    }
    let mut aggregates: HashMap<Oid, Aggregate> = HashMap::new();
    let mut stream = rows(client, version, "aggregates.sql").await?;
    while let Some(row) = next(&mut stream, "aggregates.sql").await? {
        let row = &row;
        let r = R {
            row,
            query: "aggregates.sql",
        };
        aggregates.insert(
            r.get("oid")?,
            Aggregate {
                kind: r.get("kind")?,
                arguments: r.get("arguments")?,
                sfunc: r.get("sfunc")?,
                stype: r.get("stype")?,
                sspace: r.get("sspace")?,
                finalfunc: r.get("finalfunc")?,
                finalfunc_extra: r.get("finalfunc_extra")?,
                finalfunc_modify: r.get("finalfunc_modify")?,
                combinefunc: r.get("combinefunc")?,
                serialfunc: r.get("serialfunc")?,
                deserialfunc: r.get("deserialfunc")?,
                initcond: r.get("initcond")?,
                msfunc: r.get("msfunc")?,
                minvfunc: r.get("minvfunc")?,
                mstype: r.get("mstype")?,
                msspace: r.get("msspace")?,
                mfinalfunc: r.get("mfinalfunc")?,
                mfinalfunc_extra: r.get("mfinalfunc_extra")?,
                mfinalfunc_modify: r.get("mfinalfunc_modify")?,
                minitcond: r.get("minitcond")?,
                sortop: r.get("sortop")?,
                parallel: r.get("parallel")?,
            },
        );
    }
    let mut stream = rows(client, version, "functions.sql").await?;
    while let Some(row) = next(&mut stream, "functions.sql").await? {
        let row = &row;
        let r = R {
            row,
            query: "functions.sql",
        };
        let oid = r.get("oid")?;
        if member(&cat, class::PROC, oid) {
            continue;
        }
        cat.functions.push(Function {
            oid,
            schema: r.get("schema")?,
            name: r.get("name")?,
            kind: r.get("kind")?,
            identity_args: r.get("identity_args")?,
            owner: r.get("owner")?,
            acl: r.acl()?,
            language: r.get("language")?,
            trusted: r.get("trusted")?,
            leakproof: r.get("leakproof")?,
            definition: r.get("definition")?,
            aggregate: aggregates.remove(&oid),
        });
    }
    let mut stream = rows(client, version, "triggers.sql").await?;
    while let Some(row) = next(&mut stream, "triggers.sql").await? {
        let row = &row;
        let r = R {
            row,
            query: "triggers.sql",
        };
        cat.triggers.push(Trigger {
            oid: r.get("oid")?,
            table: r.get("tgrelid")?,
            name: r.get("name")?,
            enabled: r.get("enabled")?,
            parent: r.get("parent")?,
            parent_enabled: r.get("parent_enabled")?,
            definition: r.get("definition")?,
        });
    }
    let mut stream = rows(client, version, "rules.sql").await?;
    while let Some(row) = next(&mut stream, "rules.sql").await? {
        let row = &row;
        let r = R {
            row,
            query: "rules.sql",
        };
        cat.rules.push(Rule {
            oid: r.get("oid")?,
            table: r.get("ev_class")?,
            name: r.get("name")?,
            enabled: r.get("enabled")?,
            definition: r.get("definition")?,
        });
    }
    let mut stream = rows(client, version, "view_rules.sql").await?;
    while let Some(row) = next(&mut stream, "view_rules.sql").await? {
        let row = &row;
        let r = R {
            row,
            query: "view_rules.sql",
        };
        cat.view_rules.insert(r.get("oid")?, r.get("ev_class")?);
    }
    let mut stream = rows(client, version, "policies.sql").await?;
    while let Some(row) = next(&mut stream, "policies.sql").await? {
        let row = &row;
        let r = R {
            row,
            query: "policies.sql",
        };
        cat.policies.push(Policy {
            oid: r.get("oid")?,
            table: r.get("polrelid")?,
            name: r.get("name")?,
            cmd: r.get("cmd")?,
            permissive: r.get("permissive")?,
            roles: r.strings("roles")?,
            role_names: r.strings("role_names")?,
            using_expr: r.get("using_expr")?,
            check_expr: r.get("check_expr")?,
        });
    }
    let mut stream = rows(client, version, "statistics.sql").await?;
    while let Some(row) = next(&mut stream, "statistics.sql").await? {
        let row = &row;
        let r = R {
            row,
            query: "statistics.sql",
        };
        let oid = r.get("oid")?;
        if member(&cat, class::STATISTIC_EXT, oid) {
            continue;
        }
        cat.statistics.push(StatisticsObj {
            oid,
            table: r.get("stxrelid")?,
            schema: r.get("schema")?,
            name: r.get("name")?,
            owner: r.get("owner")?,
            definition: r.get("definition")?,
            stat_target: r.get("stat_target")?,
        });
    }
    let mut stream = rows(client, version, "ts_dicts.sql").await?;
    while let Some(row) = next(&mut stream, "ts_dicts.sql").await? {
        let row = &row;
        let r = R {
            row,
            query: "ts_dicts.sql",
        };
        let oid = r.get("oid")?;
        if member(&cat, class::TS_DICT, oid) {
            continue;
        }
        cat.ts_dicts.push(TsDict {
            oid,
            schema: r.get("schema")?,
            name: r.get("name")?,
            owner: r.get("owner")?,
            template: r.get("template")?,
            options: r.get("options")?,
        });
    }
    let mut stream = rows(client, version, "ts_configs.sql").await?;
    while let Some(row) = next(&mut stream, "ts_configs.sql").await? {
        let row = &row;
        let r = R {
            row,
            query: "ts_configs.sql",
        };
        let oid = r.get("oid")?;
        if member(&cat, class::TS_CONFIG, oid) {
            continue;
        }
        cat.ts_configs.push(TsConfig {
            oid,
            schema: r.get("schema")?,
            name: r.get("name")?,
            owner: r.get("owner")?,
            parser: r.get("parser")?,
            mappings: r.strings("mappings")?,
        });
    }
    let mut stream = rows(client, version, "comments.sql").await?;
    while let Some(row) = next(&mut stream, "comments.sql").await? {
        let row = &row;
        let r = R {
            row,
            query: "comments.sql",
        };
        cat.comments.insert(
            (r.get("classoid")?, r.get("objoid")?, r.get("objsubid")?),
            r.get("description")?,
        );
    }
    let mut stream = rows(client, version, "default_acls.sql").await?;
    while let Some(row) = next(&mut stream, "default_acls.sql").await? {
        let row = &row;
        let r = R {
            row,
            query: "default_acls.sql",
        };
        cat.default_acls.push(DefaultAcl {
            oid: r.get("oid")?,
            role: r.get("role")?,
            schema: r.get("schema")?,
            objtype: r.get("objtype")?,
            acl: r.acl()?,
        });
    }
    let mut stream = rows(client, version, "member_acls.sql").await?;
    while let Some(row) = next(&mut stream, "member_acls.sql").await? {
        let row = &row;
        let r = R {
            row,
            query: "member_acls.sql",
        };
        cat.member_acls.push(MemberAcl {
            extension: r.get("extension")?,
            kind: r.get("kind")?,
            schema: r.get("schema")?,
            name: r.get("name")?,
            args: r.get("args")?,
            column: r.get("column_name")?,
            owner: r.get("owner")?,
            acl: Acl {
                builtin: Some(r.strings("acl_builtin")?),
                ..r.acl()?
            },
        });
    }
    let mut stream = rows(client, version, "event_triggers.sql").await?;
    while let Some(row) = next(&mut stream, "event_triggers.sql").await? {
        let row = &row;
        let r = R {
            row,
            query: "event_triggers.sql",
        };
        let oid = r.get("oid")?;
        if member(&cat, class::EVENT_TRIGGER, oid) {
            continue;
        }
        cat.event_triggers.push(EventTrigger {
            oid,
            name: r.get("name")?,
            event: r.get("event")?,
            owner: r.get("owner")?,
            function: r.get("function")?,
            enabled: r.get("enabled")?,
            tags: r.get("tags")?,
        });
    }
    let mut stream = rows(client, version, "casts.sql").await?;
    while let Some(row) = next(&mut stream, "casts.sql").await? {
        let row = &row;
        let r = R {
            row,
            query: "casts.sql",
        };
        cat.casts.push(Cast {
            oid: r.get("oid")?,
            source_type: r.get("source_type")?,
            target_type: r.get("target_type")?,
            source_oid: r.get("source_oid")?,
            target_oid: r.get("target_oid")?,
            method: r.get("method")?,
            function: r.get("function")?,
            function_oid: r.get("function_oid")?,
            context: r.get("context")?,
        });
    }
    cat.depend_on_casts();
    let mut stream = rows(client, version, "publications.sql").await?;
    while let Some(row) = next(&mut stream, "publications.sql").await? {
        let row = &row;
        let r = R {
            row,
            query: "publications.sql",
        };
        cat.publications.push(Publication {
            oid: r.get("oid")?,
            name: r.get("name")?,
            owner: r.get("owner")?,
            all_tables: r.get("all_tables")?,
            publish: r.get("publish")?,
            via_root: r.get("via_root")?,
            stored_generated: r.get::<Option<String>>("generated_columns")?.as_deref() == Some("s"),
            tables: Vec::new(),
            schemas: Vec::new(),
        });
    }
    let mut stream = rows(client, version, "publication_tables.sql").await?;
    while let Some(row) = next(&mut stream, "publication_tables.sql").await? {
        let row = &row;
        let r = R {
            row,
            query: "publication_tables.sql",
        };
        let publication: Oid = r.get("publication")?;
        if let Some(p) = cat.publications.iter_mut().find(|p| p.oid == publication) {
            p.tables.push(PublicationTable {
                oid: r.get("oid")?,
                table: r.get("table_oid")?,
                row_filter: r.get("row_filter")?,
                columns: r.get("columns")?,
            });
        }
    }
    let mut stream = rows(client, version, "publication_schemas.sql").await?;
    while let Some(row) = next(&mut stream, "publication_schemas.sql").await? {
        let row = &row;
        let r = R {
            row,
            query: "publication_schemas.sql",
        };
        let publication: Oid = r.get("publication")?;
        if let Some(p) = cat.publications.iter_mut().find(|p| p.oid == publication) {
            p.schemas.push(PublicationSchema {
                oid: r.get("oid")?,
                schema_oid: r.get("schema_oid")?,
                schema: r.get("schema")?,
            });
        }
    }
    let mut stream = rows(client, version, "pg_types.sql").await?;
    while let Some(row) = next(&mut stream, "pg_types.sql").await? {
        let row = &row;
        let r = R {
            row,
            query: "pg_types.sql",
        };
        cat.type_io.insert(
            r.get("oid")?,
            TypeIo {
                has_binary_io: r.get("has_binary_io")?,
                elem: r.get("typelem")?,
                base: r.get("typbasetype")?,
                relid: r.get("typrelid")?,
                range_subtype: r.get("range_subtype")?,
            },
        );
    }
    let mut stream = rows(client, version, "unsupported.sql").await?;
    while let Some(row) = next(&mut stream, "unsupported.sql").await? {
        let row = &row;
        let r = R {
            row,
            query: "unsupported.sql",
        };
        let key: ObjKey = (r.get("classid")?, r.get("objid")?);
        let attached_to: ObjKey = (r.get("on_classid")?, r.get("on_objid")?);
        cat.unsupported.push(Unsupported {
            kind: r.get("kind")?,
            name: r.get("name")?,
            key: (key.1 != 0).then_some(key),
            schema: r.get("nspname")?,
            attached_to: (attached_to.1 != 0).then_some(attached_to),
        });
    }
    read_sequence_states(client, &mut cat).await?;
    cat.index();
    Ok(cat)
}

/// The rows of one catalog query, to be read one at a time with [`next`]. The queries run
/// one after another: all answers at once, as `Row`s (which keep ~24 bytes of bookkeeping
/// per column), took more memory than the model built from them (45 of 70 MB for a
/// database of 3,000 tables), and each row is dropped here as soon as it is converted.
async fn rows(
    client: &Client,
    version: i32,
    name: &'static str,
) -> Result<Pin<Box<RowStream>>, SchemaError> {
    let query = QUERIES
        .iter()
        .find(|q| q.name == name)
        .expect("every query read is listed");
    let stream = client
        .query_typed_raw(versioned(query.sql, version).as_str(), NO_PARAMS)
        .await
        .map_err(SchemaError::query(name))?;
    Ok(Box::pin(stream))
}

async fn next(
    stream: &mut Pin<Box<RowStream>>,
    name: &'static str,
) -> Result<Option<Row>, SchemaError> {
    stream.try_next().await.map_err(SchemaError::query(name))
}

/// The queries are sent unprepared (`query_typed`): one round trip each instead of two,
/// which a distant server makes count. Their result columns must be of built-in types:
/// tokio-postgres 0.7 looks up any other type while the rows are still arriving, and
/// that lookup's answer waits behind them (it can hang on a large result).
const NO_PARAMS: [(i32, Type); 0] = [];

impl R<'_> {
    fn strings_i16(&self, col: &str) -> Result<Vec<i16>, SchemaError> {
        Ok(self.get::<Option<Vec<i16>>>(col)?.unwrap_or_default())
    }
}

/// `last_value` and `is_called` of every sequence, a few hundred sequences per query.
async fn read_sequence_states(client: &Client, cat: &mut Catalog) -> Result<(), SchemaError> {
    const PER_QUERY: usize = 500;
    let template = include_str!("sql/sequence_values.sql")
        .lines()
        .filter(|l| !l.starts_with("--"))
        .collect::<Vec<_>>()
        .join(" ");
    let names: HashMap<Oid, String> = cat
        .relations
        .iter()
        .filter(|r| r.relkind == "S")
        .map(|r| (r.oid, r.qualified()))
        .collect();
    let oids: Vec<Oid> = cat
        .sequences
        .iter()
        .map(|s| s.oid)
        .filter(|o| names.contains_key(o))
        .collect();
    let mut states: HashMap<Oid, (i64, bool)> = HashMap::new();
    // Reading a sequence locks it until the transaction ends, and thousands of locks
    // would fill the server's lock table: inside a transaction (a snapshot), each query
    // runs in a subtransaction that is rolled back, which releases them. Sequence values
    // are not transactional: the snapshot makes no difference to them.
    let in_block = match client.batch_execute("SAVEPOINT pgsplit_sequences").await {
        Ok(()) => true,
        Err(e) if e.code() == Some(&SqlState::NO_ACTIVE_SQL_TRANSACTION) => false,
        Err(e) => return Err(SchemaError::query("sequence_values.sql")(e)),
    };
    for chunk in oids.chunks(PER_QUERY) {
        let sql = chunk
            .iter()
            .map(|oid| {
                template
                    .replace("{oid}", &oid.to_string())
                    .replace("{sequence}", &names[oid])
            })
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        for row in client
            .query_typed(sql.as_str(), &[])
            .await
            .map_err(SchemaError::query("sequence_values.sql"))?
        {
            let r = R {
                row: &row,
                query: "sequence_values.sql",
            };
            states.insert(r.get("oid")?, (r.get("last_value")?, r.get("is_called")?));
        }
        if in_block {
            client
                .batch_execute("ROLLBACK TO SAVEPOINT pgsplit_sequences")
                .await
                .map_err(SchemaError::query("sequence_values.sql"))?;
        }
    }
    if in_block {
        client
            .batch_execute("RELEASE SAVEPOINT pgsplit_sequences")
            .await
            .map_err(SchemaError::query("sequence_values.sql"))?;
    }
    for seq in &mut cat.sequences {
        seq.state = states.get(&seq.oid).copied();
    }
    Ok(())
}
