-- The target's foreign keys a --data-only load could break: from a table the line loads
-- ($1: the loaded tables' quoted names; a partitioned table's key counts when one of its
-- partitions is loaded) into a table it does not load (a partitioned one: not all of its
-- partitions). The load runs with triggers and foreign keys off, so nothing checks such
-- a key; rows of two tables the line both loads come from one snapshot of the source.
-- Run with an empty search_path: the definition names its referenced table qualified.
WITH loaded AS (
    SELECT pg_catalog.to_regclass(n) AS oid, n AS name
      FROM pg_catalog.unnest($1::text[]) AS n
),
-- A table and its partitions, with their leaves (pg_partition_tree gives nothing for a
-- table outside any partition tree).
tree AS (
    SELECT c.oid AS top, c.oid AS relid, c.relkind <> 'p' AS isleaf
      FROM pg_catalog.pg_class c
     WHERE c.relkind IN ('r', 'p')
    UNION
    SELECT c.oid, t.relid, t.isleaf
      FROM pg_catalog.pg_class c, pg_catalog.pg_partition_tree(c.oid) t
     WHERE c.relkind = 'p'
)
SELECT con.conname::text AS name,
       con.conrelid::pg_catalog.regclass::text AS fk_table,
       con.confrelid::pg_catalog.regclass::text AS pk_table,
       pg_catalog.pg_get_constraintdef(con.oid) AS definition,
       ARRAY(SELECT l.name
               FROM tree t JOIN loaded l ON l.oid = t.relid
              WHERE t.top = con.conrelid) AS loaded_tables
  FROM pg_catalog.pg_constraint con
 WHERE con.contype = 'f'
   AND con.conparentid = 0   -- a partition's clone is checked with its parent's key
   AND con.convalidated      -- NOT VALID: the server does not hold rows to it either
   AND EXISTS (SELECT 1 FROM tree t JOIN loaded l ON l.oid = t.relid
                WHERE t.top = con.conrelid)
   AND EXISTS (SELECT 1 FROM tree t
                WHERE t.top = con.confrelid AND t.isleaf
                  AND NOT EXISTS (SELECT 1 FROM loaded l WHERE l.oid = t.relid))
 ORDER BY 2, 1
