-- Tables, partitioned tables, views, materialized views, composite types' relations,
-- sequences and foreign tables in user schemas.
SELECT c.oid,
       n.nspname::text AS schema,
       c.relname::text AS name,
       c.relkind::text AS relkind,
       c.relpersistence::text AS persistence,
       pg_catalog.pg_get_userbyid(c.relowner)::text AS owner,
       c.relacl::text[] AS acl,
       pg_catalog.acldefault(CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::"char", c.relowner)::text[] AS acl_default,
       c.reloptions::text[] AS options,
       (SELECT t.reloptions::text[] FROM pg_catalog.pg_class t WHERE t.oid = c.reltoastrelid) AS toast_options,
       CASE WHEN c.relkind = 'p' THEN pg_catalog.pg_get_partkeydef(c.oid) END AS partition_key,
       CASE WHEN c.relispartition THEN pg_catalog.pg_get_expr(c.relpartbound, c.oid) END AS partition_bound,
       -- A hash key expression whose value is an enum (hashed by its OID): its operator
       -- class takes anyenum.
       (c.relkind = 'p' AND EXISTS (
           SELECT 1
           FROM pg_catalog.pg_partitioned_table pt,
                unnest(pt.partattrs::int2[], pt.partclass::oid[]) AS k (attnum, opclass)
           JOIN pg_catalog.pg_opclass o ON o.oid = k.opclass
           WHERE pt.partrelid = c.oid AND pt.partstrat = 'h' AND k.attnum = 0
             AND o.opcintype = 'pg_catalog.anyenum'::pg_catalog.regtype)) AS hashed_on_enum_expression,
       c.relispartition AS is_partition,
       c.relrowsecurity AS row_security,
       c.relforcerowsecurity AS force_row_security,
       c.relreplident::text AS replica_identity,
       (SELECT a.amname::text FROM pg_catalog.pg_am a WHERE a.oid = c.relam) AS access_method,
       CASE WHEN c.reloftype <> 0 THEN pg_catalog.format_type(c.reloftype, NULL) END AS of_type,
       CASE WHEN c.relkind IN ('v', 'm') THEN pg_catalog.pg_get_viewdef(c.oid) END AS view_def,
       c.relispopulated AS populated,
       c.reltuples::float8 AS reltuples,
       CASE WHEN c.relkind = 'r' THEN pg_catalog.pg_relation_size(c.oid) ELSE 0 END AS bytes,
       c.reltype
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'c', 'S', 'f')
  AND c.relpersistence <> 't'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname !~ '^pg_(toast|temp_)'
ORDER BY n.nspname, c.relname
