-- User objects whose expressions use the factorial operators (postfix ! and prefix !!
-- on bigint; tsquery's !! stays) or their function numeric_fac(), which 14 removed:
-- their SQL no longer parses there. pg_depend records no use of a built-in operator or
-- function, so the stored expression trees are searched for their OIDs. (None on 14 and later.) `anchor`: the statement
-- identity (as pgsplit renders it) of the table, view, domain or routine that holds the
-- expression, which a split line's share must hold for the problem to be its own.
WITH factorial AS (
    SELECT pg_catalog.string_agg(o.oid::text, '|') AS oids
    FROM pg_catalog.pg_operator o
    WHERE o.oprnamespace = 'pg_catalog'::pg_catalog.regnamespace
      AND o.oprname IN ('!', '!!')
      AND 'pg_catalog.int8'::pg_catalog.regtype IN (o.oprleft, o.oprright)
), fac_function AS (
    SELECT pg_catalog.string_agg(p.oid::text, '|') AS oids
    FROM pg_catalog.pg_proc p
    WHERE p.pronamespace = 'pg_catalog'::pg_catalog.regnamespace
      AND p.proname = 'numeric_fac'
), trees AS (
    SELECT 'pg_catalog.pg_class'::pg_catalog.regclass AS classid, i.indexrelid AS objid,
           i.indrelid AS rel, 0::pg_catalog.oid AS typ, 0::pg_catalog.oid AS proc,
           pg_catalog.concat(i.indexprs::text, i.indpred::text) AS tree
    FROM pg_catalog.pg_index i
    UNION ALL
    SELECT 'pg_catalog.pg_class'::pg_catalog.regclass, p.partrelid, p.partrelid, 0, 0,
           p.partexprs::text
    FROM pg_catalog.pg_partitioned_table p
    UNION ALL
    SELECT 'pg_catalog.pg_constraint'::pg_catalog.regclass, c.oid, c.conrelid, c.contypid,
           0, c.conbin::text
    FROM pg_catalog.pg_constraint c
    UNION ALL
    SELECT 'pg_catalog.pg_attrdef'::pg_catalog.regclass, d.oid, d.adrelid, 0, 0,
           d.adbin::text
    FROM pg_catalog.pg_attrdef d
    UNION ALL
    SELECT 'pg_catalog.pg_rewrite'::pg_catalog.regclass, r.oid, r.ev_class, 0, 0,
           pg_catalog.concat(r.ev_action::text, r.ev_qual::text)
    FROM pg_catalog.pg_rewrite r
    UNION ALL
    SELECT 'pg_catalog.pg_policy'::pg_catalog.regclass, p.oid, p.polrelid, 0, 0,
           pg_catalog.concat(p.polqual::text, p.polwithcheck::text)
    FROM pg_catalog.pg_policy p
    UNION ALL
    SELECT 'pg_catalog.pg_trigger'::pg_catalog.regclass, t.oid, t.tgrelid, 0, 0,
           t.tgqual::text
    FROM pg_catalog.pg_trigger t
    UNION ALL
    SELECT 'pg_catalog.pg_type'::pg_catalog.regclass, y.oid, 0, y.oid, 0,
           y.typdefaultbin::text
    FROM pg_catalog.pg_type y
    UNION ALL
    SELECT 'pg_catalog.pg_proc'::pg_catalog.regclass, f.oid, 0, 0, f.oid,
           f.proargdefaults::text
    FROM pg_catalog.pg_proc f
)
SELECT pg_catalog.pg_describe_object(t.classid, t.objid, 0) AS what,
       COALESCE(
           (SELECT CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view'
                   ELSE 'table' END || ' ' || n.nspname || '.' || c.relname
            FROM pg_catalog.pg_class c
            JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
            WHERE c.oid = t.rel),
           (SELECT CASE y.typtype WHEN 'd' THEN 'domain' ELSE 'type' END
                   || ' ' || n.nspname || '.' || y.typname
            FROM pg_catalog.pg_type y
            JOIN pg_catalog.pg_namespace n ON n.oid = y.typnamespace
            WHERE y.oid = t.typ),
           (SELECT CASE f.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate'
                   ELSE 'function' END
                   || ' ' || n.nspname || '.' || f.proname
                   || '(' || pg_catalog.pg_get_function_identity_arguments(f.oid) || ')'
            FROM pg_catalog.pg_proc f
            JOIN pg_catalog.pg_namespace n ON n.oid = f.pronamespace
            WHERE f.oid = t.proc)
       ) AS anchor
FROM trees t, factorial f, fac_function ff
WHERE t.objid >= 16384
  AND (t.tree ~ (':opno (' || f.oids || ')\M') OR t.tree ~ (':funcid (' || ff.oids || ')\M'))
ORDER BY 1
