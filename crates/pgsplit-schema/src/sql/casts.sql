-- Casts made by CREATE CAST (not built in, not an extension's, not made with a range
-- type). Types and the function are printed for an empty search_path: qualified.
SELECT c.oid, c.castfunc AS function_oid, c.castsource AS source_oid, c.casttarget AS target_oid,
       pg_catalog.format_type(c.castsource, NULL) AS source_type,
       pg_catalog.format_type(c.casttarget, NULL) AS target_type,
       CASE WHEN c.castfunc <> 0 THEN c.castfunc::pg_catalog.regprocedure::text END AS function,
       c.castcontext::text AS context, c.castmethod::text AS method
FROM pg_catalog.pg_cast c
WHERE c.oid >= 16384
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_cast'::regclass
                  AND d.objid = c.oid AND d.deptype IN ('e', 'i'))
ORDER BY c.oid
