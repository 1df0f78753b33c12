-- Extended statistics objects.
SELECT s.oid, s.stxrelid, n.nspname::text AS schema, s.stxname::text AS name,
       pg_catalog.pg_get_userbyid(s.stxowner)::text AS owner,
       pg_catalog.pg_get_statisticsobjdef(s.oid) AS definition,
       {stxstattarget} AS stat_target
FROM pg_catalog.pg_statistic_ext s
JOIN pg_catalog.pg_namespace n ON n.oid = s.stxnamespace
ORDER BY n.nspname, s.stxname
