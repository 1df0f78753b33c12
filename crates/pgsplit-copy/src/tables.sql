-- Every table whose rows a copy moves: ordinary tables and leaf partitions (partitioned
-- parents hold no rows), in user schemas, not owned by an extension.
SELECT c.oid,
       c.relfilenode,
       n.nspname AS schema,
       c.relname AS name,
       c.relpersistence::text AS persistence,
       pg_table_size(c.oid) AS bytes,
       pg_relation_size(c.oid) / current_setting('block_size')::int8 AS pages,
       greatest(c.reltuples, 0)::float8 AS estimated_rows,
       (SELECT a.attname
          FROM pg_index i
          JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
         WHERE i.indrelid = c.oid
           AND i.indisprimary
           AND i.indnkeyatts = 1
           AND a.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype)) AS int_key
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'r'
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname NOT LIKE 'pg\_toast%'
   AND n.nspname NOT LIKE 'pg\_temp%'
   AND NOT EXISTS (SELECT 1 FROM pg_depend d
                    WHERE d.classid = 'pg_class'::regclass
                      AND d.objid = c.oid AND d.deptype = 'e')
 ORDER BY n.nspname, c.relname
