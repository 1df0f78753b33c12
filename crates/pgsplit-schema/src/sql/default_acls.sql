-- ALTER DEFAULT PRIVILEGES entries.
SELECT d.oid,
       pg_catalog.pg_get_userbyid(d.defaclrole)::text AS role,
       (SELECT n.nspname::text FROM pg_catalog.pg_namespace n WHERE n.oid = d.defaclnamespace) AS schema,
       d.defaclobjtype::text AS objtype,
       d.defaclacl::text[] AS acl,
       CASE WHEN d.defaclnamespace = 0
            THEN pg_catalog.acldefault(CASE d.defaclobjtype WHEN 'S' THEN 's' WHEN 'T' THEN 'T' WHEN 'n' THEN 'n' WHEN 'f' THEN 'f' ELSE 'r' END::"char", d.defaclrole)::text[]
            ELSE '{}'::text[] END AS acl_default
FROM pg_catalog.pg_default_acl d
ORDER BY 2, 3, 4
