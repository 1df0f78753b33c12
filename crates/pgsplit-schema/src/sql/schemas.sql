-- Schemas outside the system ones.
SELECT n.oid,
       n.nspname::text AS name,
       pg_catalog.pg_get_userbyid(n.nspowner)::text AS owner,
       n.nspacl::text[] AS acl,
       COALESCE((SELECT i.initprivs::text[] FROM pg_catalog.pg_init_privs i
                 WHERE i.classoid = 'pg_catalog.pg_namespace'::regclass AND i.objoid = n.oid AND i.objsubid = 0),
                pg_catalog.acldefault('n', n.nspowner)::text[]) AS acl_default,
       (n.nspname = 'public' AND {public_default_owner}) AS default_owner,
       n.nspowner = 10 AS bootstrap_owner
FROM pg_catalog.pg_namespace n
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname !~ '^pg_(toast|temp_)'
ORDER BY n.nspname
