-- The largest tables with their estimated row counts (reltuples is -1 before the
-- first ANALYZE on PostgreSQL 14+, 0 before it on older versions).
SELECT n.nspname AS schema,
       c.relname AS name,
       pg_total_relation_size(c.oid) AS bytes,
       greatest(c.reltuples, 0)::bigint AS estimated_rows
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'r'
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname NOT LIKE 'pg\_toast%'
 ORDER BY bytes DESC, schema, name
 LIMIT $1
