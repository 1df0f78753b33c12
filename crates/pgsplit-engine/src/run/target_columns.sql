-- A table of the target that a --data-only run copies into ($1 qualified): its kind, and
-- one row per column (none for a table without columns; no row at all when it does not
-- exist). base_type is the type under its domains, as columns.sql reads the source's.
SELECT c.relkind::text AS relkind,
       a.attname::text AS name,
       format_type(a.atttypid, a.atttypmod) AS type_name,
       {base_type} AS base_type,
       a.attgenerated <> '' AS generated,
       a.attnotnull AND NOT a.atthasdef AND a.attidentity = '' AND a.attgenerated = '' AS needs_value
  FROM pg_class c
  LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_type t ON t.oid = a.atttypid
 WHERE c.oid = to_regclass($1)
