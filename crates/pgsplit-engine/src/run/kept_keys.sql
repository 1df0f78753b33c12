-- The target's foreign keys that hold rows a --data-only line loads ($1: the loaded
-- tables' quoted names; a partitioned table's key counts when one of its partitions is
-- loaded), with a query that finds a row breaking the key: what the server's own check
-- (RI_Initial_Check) asks, with the key's own equality operators, its MATCH rule, and
-- ONLY for a referenced table that is not partitioned. `into_unloaded`: the referenced
-- table (a partitioned one: one of its partitions) is not loaded by the line;
-- `into_partly`: some of it is.
-- Run with an empty search_path: names come out qualified.
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
),
keys AS (
    SELECT con.*
      FROM pg_catalog.pg_constraint con
     WHERE con.contype = 'f'
       AND con.conparentid = 0   -- a partition's clone is checked with its parent's key
       AND con.convalidated      -- NOT VALID: the server does not hold rows to it either
       AND EXISTS (SELECT 1 FROM tree t JOIN loaded l ON l.oid = t.relid
                    WHERE t.top = con.conrelid)
),
-- Per key column: the referencing and referenced column, each cast to the operator's
-- input type where it differs (not to a pseudo-type such as anyarray).
cols AS (
    SELECT k.oid AS key, c.i,
           pg_catalog.format('f.%I', fa.attname) AS f,
           pg_catalog.format('p.%I%s OPERATOR(%I.%s) f.%I%s',
               pa.attname,
               CASE WHEN pa.atttypid = op.oprleft OR lt.typtype = 'p' THEN ''
                    ELSE '::' || pg_catalog.format_type(op.oprleft, NULL) END,
               opn.nspname, op.oprname,
               fa.attname,
               CASE WHEN fa.atttypid = op.oprright OR rt.typtype = 'p' THEN ''
                    ELSE '::' || pg_catalog.format_type(op.oprright, NULL) END) AS equal,
           fa.attname AS fname
      FROM keys k
      CROSS JOIN LATERAL ROWS FROM (pg_catalog.unnest(k.conkey), pg_catalog.unnest(k.confkey),
                     pg_catalog.unnest(k.conpfeqop)) WITH ORDINALITY AS c(fk, pk, op, i)
      JOIN pg_catalog.pg_attribute fa ON fa.attrelid = k.conrelid AND fa.attnum = c.fk
      JOIN pg_catalog.pg_attribute pa ON pa.attrelid = k.confrelid AND pa.attnum = c.pk
      JOIN pg_catalog.pg_operator op ON op.oid = c.op
      JOIN pg_catalog.pg_namespace opn ON opn.oid = op.oprnamespace
      JOIN pg_catalog.pg_type lt ON lt.oid = op.oprleft
      JOIN pg_catalog.pg_type rt ON rt.oid = op.oprright
)
SELECT k.conname::text AS name,
       pg_catalog.quote_ident(k.conname) AS shown,
       fn.nspname::text AS fk_schema,
       fc.relname::text AS fk_name,
       k.conrelid::pg_catalog.regclass::text AS fk_table,
       k.confrelid::pg_catalog.regclass::text AS pk_table,
       pg_catalog.pg_get_constraintdef(k.oid) AS definition,
       -- The loaded tables the check reads, referencing and referenced: it must wait
       -- for them all.
       ARRAY(SELECT l.name FROM tree t JOIN loaded l ON l.oid = t.relid
              WHERE t.top = k.conrelid
             UNION
             SELECT l.name FROM tree t JOIN loaded l ON l.oid = t.relid
              WHERE t.top = k.confrelid) AS loaded_tables,
       EXISTS (SELECT 1 FROM tree t
                WHERE t.top = k.confrelid AND t.isleaf
                  AND NOT EXISTS (SELECT 1 FROM loaded l WHERE l.oid = t.relid)) AS into_unloaded,
       EXISTS (SELECT 1 FROM tree t JOIN loaded l ON l.oid = t.relid
                WHERE t.top = k.confrelid) AS into_partly,
       pg_catalog.format(
           'SELECT %s FROM %s%s f WHERE %s LIMIT 1',
           -- The offending values, as the server's own message shows them.
           pg_catalog.format('%L || %s || %L', '(' || a.names || ')=(', a.vals, ')'),
           CASE WHEN fc.relkind = 'p' THEN '' ELSE 'ONLY ' END,
           k.conrelid::pg_catalog.regclass,
           CASE k.confmatchtype
               -- MATCH FULL: all columns null passes, some null fails.
               WHEN 'f' THEN pg_catalog.format('(%s) AND ((%s) OR NOT EXISTS (%s))',
                                               a.any_not_null, a.any_null, r.referenced)
               -- MATCH SIMPLE: any column null passes.
               ELSE pg_catalog.format('%s AND NOT EXISTS (%s)', a.all_not_null, r.referenced)
           END) AS query
  FROM keys k
  JOIN pg_catalog.pg_class fc ON fc.oid = k.conrelid
  JOIN pg_catalog.pg_namespace fn ON fn.oid = fc.relnamespace
  JOIN pg_catalog.pg_class pc ON pc.oid = k.confrelid
  CROSS JOIN LATERAL (
      SELECT pg_catalog.string_agg(pg_catalog.quote_ident(c.fname), ', ' ORDER BY c.i) AS names,
             pg_catalog.string_agg(pg_catalog.format('COALESCE(%s::text, %L)', c.f, 'null'),
                                   ' || '', '' || ' ORDER BY c.i) AS vals,
             pg_catalog.string_agg(c.f || ' IS NOT NULL', ' AND ' ORDER BY c.i) AS all_not_null,
             pg_catalog.string_agg(c.f || ' IS NOT NULL', ' OR ' ORDER BY c.i) AS any_not_null,
             pg_catalog.string_agg(c.f || ' IS NULL', ' OR ' ORDER BY c.i) AS any_null,
             pg_catalog.string_agg(c.equal, ' AND ' ORDER BY c.i) AS equal
        FROM cols c WHERE c.key = k.oid
  ) a
  CROSS JOIN LATERAL (
      SELECT pg_catalog.format('SELECT 1 FROM %s%s p WHERE %s',
                               CASE WHEN pc.relkind = 'p' THEN '' ELSE 'ONLY ' END,
                               k.confrelid::pg_catalog.regclass, a.equal) AS referenced
  ) r
 ORDER BY 4, 1
