-- User objects pgsplit does not write (yet): the caller reports them. classid and objid
-- name the object, so that what depends on it can be left out too; 0 where the object
-- itself is written (without its tablespace or OF type) or is no object (a label): then
-- on_classid and on_objid name the object it belongs to. nspname is the object's schema
-- (NULL for objects outside schemas). A split target reports what belongs to it.
WITH ext AS (SELECT classid, objid FROM pg_catalog.pg_depend WHERE deptype = 'e'),
userns AS (SELECT oid, nspname::text AS nspname FROM pg_catalog.pg_namespace
           WHERE nspname NOT IN ('pg_catalog', 'information_schema') AND nspname !~ '^pg_(toast|temp_)')
SELECT 'foreign data wrapper' AS kind, w.fdwname::text AS name,
       'pg_catalog.pg_foreign_data_wrapper'::regclass::oid AS classid, w.oid AS objid,
       NULL::text AS nspname, 0::oid AS on_classid, 0::oid AS on_objid FROM pg_catalog.pg_foreign_data_wrapper w
WHERE NOT EXISTS (SELECT 1 FROM ext WHERE ext.classid = 'pg_catalog.pg_foreign_data_wrapper'::regclass AND ext.objid = w.oid)
UNION ALL
SELECT 'foreign server', s.srvname::text, 'pg_catalog.pg_foreign_server'::regclass::oid, s.oid, NULL, 0::oid, 0::oid FROM pg_catalog.pg_foreign_server s
WHERE NOT EXISTS (SELECT 1 FROM ext WHERE ext.classid = 'pg_catalog.pg_foreign_server'::regclass AND ext.objid = s.oid)
UNION ALL
SELECT 'foreign table', c.oid::regclass::text, 'pg_catalog.pg_class'::regclass::oid, c.oid, n.nspname, 0::oid, 0::oid
FROM pg_catalog.pg_class c JOIN userns n ON n.oid = c.relnamespace
WHERE c.relkind = 'f'
  AND NOT EXISTS (SELECT 1 FROM ext WHERE ext.classid = 'pg_catalog.pg_class'::regclass AND ext.objid = c.oid)
UNION ALL
-- Made again on a new server, a subscription would start replicating: pgsplit leaves
-- them to the user (pg_dump writes them with connect = false).
SELECT 'subscription', s.subname::text, 'pg_catalog.pg_subscription'::regclass::oid, {subscription_oid}, NULL, 0::oid, 0::oid
FROM pg_catalog.pg_subscription s
WHERE s.subdbid = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database())
UNION ALL
SELECT 'transform', t.trftype::regtype::text || ' for language ' || l.lanname,
       'pg_catalog.pg_transform'::regclass::oid, t.oid, NULL, 0::oid, 0::oid
FROM pg_catalog.pg_transform t JOIN pg_catalog.pg_language l ON l.oid = t.trflang
WHERE NOT EXISTS (SELECT 1 FROM ext WHERE ext.classid = 'pg_catalog.pg_transform'::regclass AND ext.objid = t.oid)
UNION ALL
SELECT 'operator', o.oid::regoperator::text, 'pg_catalog.pg_operator'::regclass::oid, o.oid, n.nspname, 0::oid, 0::oid
FROM pg_catalog.pg_operator o JOIN userns n ON n.oid = o.oprnamespace
WHERE NOT EXISTS (SELECT 1 FROM ext WHERE ext.classid = 'pg_catalog.pg_operator'::regclass AND ext.objid = o.oid)
UNION ALL
SELECT 'operator family', f.opfname::text, 'pg_catalog.pg_opfamily'::regclass::oid, f.oid, n.nspname, 0::oid, 0::oid
FROM pg_catalog.pg_opfamily f JOIN userns n ON n.oid = f.opfnamespace
WHERE NOT EXISTS (SELECT 1 FROM ext WHERE ext.classid = 'pg_catalog.pg_opfamily'::regclass AND ext.objid = f.oid)
UNION ALL
-- What uses one (an index, an exclusion constraint, a range type) depends on the class,
-- not on its family.
SELECT 'operator class', c.opcname::text || ' using ' || a.amname, 'pg_catalog.pg_opclass'::regclass::oid, c.oid, n.nspname, 0::oid, 0::oid
FROM pg_catalog.pg_opclass c JOIN userns n ON n.oid = c.opcnamespace
JOIN pg_catalog.pg_am a ON a.oid = c.opcmethod
WHERE NOT EXISTS (SELECT 1 FROM ext WHERE ext.classid = 'pg_catalog.pg_opclass'::regclass AND ext.objid = c.oid)
UNION ALL
SELECT 'language', l.lanname::text, 'pg_catalog.pg_language'::regclass::oid, l.oid, NULL, 0::oid, 0::oid FROM pg_catalog.pg_language l
WHERE l.oid >= 16384
  AND NOT EXISTS (SELECT 1 FROM ext WHERE ext.classid = 'pg_catalog.pg_language'::regclass AND ext.objid = l.oid)
UNION ALL
SELECT 'base type', t.oid::regtype::text, 'pg_catalog.pg_type'::regclass::oid, t.oid, n.nspname, 0::oid, 0::oid
FROM pg_catalog.pg_type t JOIN userns n ON n.oid = t.typnamespace
WHERE t.typtype IN ('b', 'p')
  AND NOT (t.typelem <> 0 AND t.typlen = -1)
  AND NOT EXISTS (SELECT 1 FROM ext WHERE ext.classid = 'pg_catalog.pg_type'::regclass AND ext.objid = t.oid)
UNION ALL
SELECT 'conversion', c.conname::text, 'pg_catalog.pg_conversion'::regclass::oid, c.oid, n.nspname, 0::oid, 0::oid
FROM pg_catalog.pg_conversion c JOIN userns n ON n.oid = c.connamespace
WHERE NOT EXISTS (SELECT 1 FROM ext WHERE ext.classid = 'pg_catalog.pg_conversion'::regclass AND ext.objid = c.oid)
UNION ALL
SELECT 'text search parser or template', p.prsname::text, 'pg_catalog.pg_ts_parser'::regclass::oid, p.oid, n.nspname, 0::oid, 0::oid
FROM pg_catalog.pg_ts_parser p JOIN userns n ON n.oid = p.prsnamespace
WHERE NOT EXISTS (SELECT 1 FROM ext WHERE ext.classid = 'pg_catalog.pg_ts_parser'::regclass AND ext.objid = p.oid)
UNION ALL
SELECT 'text search parser or template', t.tmplname::text, 'pg_catalog.pg_ts_template'::regclass::oid, t.oid, n.nspname, 0::oid, 0::oid
FROM pg_catalog.pg_ts_template t JOIN userns n ON n.oid = t.tmplnamespace
WHERE NOT EXISTS (SELECT 1 FROM ext WHERE ext.classid = 'pg_catalog.pg_ts_template'::regclass AND ext.objid = t.oid)
UNION ALL
-- Made by CREATE ACCESS METHOD outside an extension: what uses one is left out with it.
SELECT 'access method', a.amname::text, 'pg_catalog.pg_am'::regclass::oid, a.oid, NULL, 0::oid, 0::oid FROM pg_catalog.pg_am a
WHERE a.oid >= 16384
  AND NOT EXISTS (SELECT 1 FROM ext WHERE ext.classid = 'pg_catalog.pg_am'::regclass AND ext.objid = a.oid)
UNION ALL
SELECT 'security label', l.provider || ' on ' || l.classoid::regclass::text || ' ' || l.objoid, 0::oid, 0::oid, NULL,
       l.classoid, l.objoid FROM pg_catalog.pg_seclabel l
UNION ALL
SELECT 'table access method or tablespace', c.oid::regclass::text, 0::oid, 0::oid, NULL, 'pg_catalog.pg_class'::regclass::oid, c.oid
FROM pg_catalog.pg_class c
WHERE c.relnamespace IN (SELECT oid FROM userns) AND c.reltablespace <> 0
ORDER BY 1, 2
