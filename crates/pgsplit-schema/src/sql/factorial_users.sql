-- User objects whose expressions use the factorial operators (postfix ! and prefix !!
-- on bigint; tsquery's !! stays), which 14 removed: their SQL no longer parses there. pg_depend records no use of a
-- built-in operator, so the stored expression trees are searched for the operators'
-- OIDs. (None on 14 and later.)
WITH factorial AS (
    SELECT pg_catalog.string_agg(o.oid::text, '|') AS oids
    FROM pg_catalog.pg_operator o
    WHERE o.oprnamespace = 'pg_catalog'::pg_catalog.regnamespace
      AND o.oprname IN ('!', '!!')
      AND 'pg_catalog.int8'::pg_catalog.regtype IN (o.oprleft, o.oprright)
), trees AS (
    SELECT 'pg_catalog.pg_class'::pg_catalog.regclass AS classid, i.indexrelid AS objid,
           pg_catalog.concat(i.indexprs::text, i.indpred::text) AS tree
    FROM pg_catalog.pg_index i
    UNION ALL
    SELECT 'pg_catalog.pg_class'::pg_catalog.regclass, p.partrelid, p.partexprs::text
    FROM pg_catalog.pg_partitioned_table p
    UNION ALL
    SELECT 'pg_catalog.pg_constraint'::pg_catalog.regclass, c.oid, c.conbin::text
    FROM pg_catalog.pg_constraint c
    UNION ALL
    SELECT 'pg_catalog.pg_attrdef'::pg_catalog.regclass, d.oid, d.adbin::text
    FROM pg_catalog.pg_attrdef d
    UNION ALL
    SELECT 'pg_catalog.pg_rewrite'::pg_catalog.regclass, r.oid,
           pg_catalog.concat(r.ev_action::text, r.ev_qual::text)
    FROM pg_catalog.pg_rewrite r
    UNION ALL
    SELECT 'pg_catalog.pg_policy'::pg_catalog.regclass, p.oid,
           pg_catalog.concat(p.polqual::text, p.polwithcheck::text)
    FROM pg_catalog.pg_policy p
    UNION ALL
    SELECT 'pg_catalog.pg_trigger'::pg_catalog.regclass, t.oid, t.tgqual::text
    FROM pg_catalog.pg_trigger t
    UNION ALL
    SELECT 'pg_catalog.pg_type'::pg_catalog.regclass, y.oid, y.typdefaultbin::text
    FROM pg_catalog.pg_type y
    UNION ALL
    SELECT 'pg_catalog.pg_proc'::pg_catalog.regclass, f.oid, f.proargdefaults::text
    FROM pg_catalog.pg_proc f
)
SELECT pg_catalog.pg_describe_object(t.classid, t.objid, 0) AS what
FROM trees t, factorial f
WHERE t.objid >= 16384
  AND f.oids IS NOT NULL
  AND t.tree ~ (':opno (' || f.oids || ')\M')
ORDER BY 1
