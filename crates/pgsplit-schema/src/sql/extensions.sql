-- Installed extensions; `builtin` ones (plpgsql) exist in every database.
SELECT e.oid,
       e.extname::text AS name,
       n.nspname::text AS schema,
       e.extversion AS version,
       e.oid < 16384 AS builtin,
       {trusted} AS trusted,
       (SELECT a.comment FROM pg_catalog.pg_available_extensions a
         WHERE a.name = e.extname) AS script_comment
FROM pg_catalog.pg_extension e
JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
ORDER BY e.extname
