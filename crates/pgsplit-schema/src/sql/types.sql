-- User-defined enum, domain, range and composite types (not table row types, not arrays).
SELECT t.oid,
       n.nspname::text AS schema,
       t.typname::text AS name,
       t.typtype::text AS typtype,
       pg_catalog.pg_get_userbyid(t.typowner)::text AS owner,
       t.typacl::text[] AS acl,
       pg_catalog.acldefault('T', t.typowner)::text[] AS acl_default,
       t.typrelid,
       CASE WHEN t.typtype = 'd' THEN pg_catalog.format_type(t.typbasetype, t.typtypmod) END AS base_type,
       t.typnotnull AS not_null,
       {domain_not_null_oid} AS not_null_oid,
       {domain_not_null_name} AS not_null_name,
       -- Deparsed from the tree: names qualified for the empty search_path of the target.
       COALESCE(pg_catalog.pg_get_expr(t.typdefaultbin, 0), t.typdefault) AS default_expr,
       CASE WHEN t.typtype = 'd' AND t.typcollation <> 0
                 AND t.typcollation IS DISTINCT FROM (SELECT b.typcollation FROM pg_catalog.pg_type b WHERE b.oid = t.typbasetype)
            THEN (SELECT pg_catalog.quote_ident(cn.nspname) || '.' || pg_catalog.quote_ident(co.collname)
                  FROM pg_catalog.pg_collation co JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace
                  WHERE co.oid = t.typcollation) END AS collation,
       CASE WHEN t.typtype = 'e' THEN ARRAY(SELECT e.enumlabel::text FROM pg_catalog.pg_enum e
                                            WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder) END AS enum_labels
FROM pg_catalog.pg_type t
JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname !~ '^pg_(toast|temp_)'
  AND (t.typtype IN ('e', 'd', 'r')
       OR (t.typtype = 'c' AND (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid) = 'c'))
ORDER BY n.nspname, t.typname
