-- Indexes with their server-side definitions.
SELECT i.indexrelid AS oid,
       i.indrelid,
       ic.relname::text AS name,
       ic.relkind::text AS relkind,
       pg_catalog.pg_get_indexdef(i.indexrelid) AS definition,
       i.indisvalid AS valid,
       i.indisclustered AS clustered,
       i.indisreplident AS replica_identity,
       i.indisunique AS is_unique,
       i.indnatts::int4 AS natts,
       i.indkey::int2[] AS keys,
       (i.indexprs IS NOT NULL) AS has_exprs,
       (i.indpred IS NOT NULL) AS has_pred,
       -- 0 is a setting (no statistics); the default is -1 before 17 and NULL from 17 on,
       -- which `>= 0` leaves out on both.
       ARRAY(SELECT a.attnum::text || '=' || a.attstattarget::text FROM pg_catalog.pg_attribute a
             WHERE a.attrelid = i.indexrelid AND a.attstattarget >= 0 ORDER BY a.attnum) AS stat_targets
FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
WHERE i.indexrelid >= 16384
