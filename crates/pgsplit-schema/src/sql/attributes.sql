-- Columns of user relations, in attnum order, dropped ones left out.
SELECT a.attrelid,
       a.attnum::int4 AS attnum,
       a.attname::text AS name,
       pg_catalog.format_type(a.atttypid, a.atttypmod) AS type_name,
       a.atttypid,
       a.attnotnull AS not_null,
       {not_null_oid} AS not_null_oid,
       {not_null_name} AS not_null_name,
       {not_null_validated} AS not_null_validated,
       {not_null_no_inherit} AS not_null_no_inherit,
       {not_null_local} AS not_null_local,
       a.attislocal AS is_local,
       a.attinhcount::int4 AS inh_count,
       a.attidentity::text AS identity,
       a.attgenerated::text AS generated,
       CASE WHEN a.attcollation <> t.typcollation AND a.attcollation <> 0
            THEN (SELECT pg_catalog.quote_ident(cn.nspname) || '.' || pg_catalog.quote_ident(co.collname)
                  FROM pg_catalog.pg_collation co JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace
                  WHERE co.oid = a.attcollation) END AS collation,
       a.attstorage::text AS storage,
       t.typstorage::text AS type_storage,
       {attcompression} AS compression,
       {attstattarget} AS stat_target,
       a.attoptions::text[] AS options,
       a.attacl::text[] AS acl,
       CASE WHEN a.attgenerated <> '' THEN
            (SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid) FROM pg_catalog.pg_attrdef d
             WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum) END AS generation_expr
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
{not_null_join}
WHERE a.attnum > 0
  AND NOT a.attisdropped
  AND c.relkind IN ('r', 'p', 'v', 'm', 'c', 'f')
  AND c.relpersistence <> 't'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname !~ '^pg_(toast|temp_)'
ORDER BY a.attrelid, a.attnum
