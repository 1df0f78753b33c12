-- The columns of the tables: not dropped, not virtual (PostgreSQL 18: computed at each
-- read, no data). A COPY lists those not generated (the target computes those); verify
-- reads the stored generated ones too.
SELECT a.attrelid AS table_oid,
       a.attname AS name,
       a.atttypid AS type_oid,
       format_type(a.atttypid, a.atttypmod) AS type_name,
       -- Under its domains: what the values are on the wire (a domain of the same name
       -- may be over another type on a target the user made).
       {base_type} AS base_type,
       a.attstorage = 'x' AS extended,
       a.attgenerated = 's' AS generated
  FROM pg_attribute a
  JOIN pg_class c ON c.oid = a.attrelid
  JOIN pg_type t ON t.oid = a.atttypid
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'r'
   AND a.attnum > 0
   AND NOT a.attisdropped
   AND a.attgenerated IN ('', 's')
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname NOT LIKE 'pg\_toast%'
 ORDER BY a.attrelid, a.attnum
