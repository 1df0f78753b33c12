-- Row-level security policies.
SELECT p.oid, p.polrelid, p.polname::text AS name, p.polcmd::text AS cmd,
       p.polpermissive AS permissive,
       ARRAY(SELECT CASE WHEN r = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(r)) END
             FROM pg_catalog.unnest(p.polroles) AS r) AS roles,
       ARRAY(SELECT pg_catalog.pg_get_userbyid(r)::text FROM pg_catalog.unnest(p.polroles) AS r WHERE r <> 0) AS role_names,
       pg_catalog.pg_get_expr(p.polqual, p.polrelid) AS using_expr,
       pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid) AS check_expr
FROM pg_catalog.pg_policy p
ORDER BY p.polrelid, p.polname
