-- The tables whose rows a copy reads (as pgsplit-copy's tables.sql) that the connected
-- role may not read all of: no SELECT, or row-level security that applies to it (it is
-- no superuser, has no BYPASSRLS, and does not own the table or the table forces it).
SELECT n.nspname::text AS schema, c.relname::text AS name
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_roles r ON r.rolname = current_user
 WHERE c.relkind = 'r'
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname NOT LIKE 'pg\_toast%'
   AND n.nspname NOT LIKE 'pg\_temp%'
   AND NOT EXISTS (SELECT 1 FROM pg_depend d
                    WHERE d.classid = 'pg_class'::regclass
                      AND d.objid = c.oid AND d.deptype = 'e')
   AND NOT r.rolsuper
   AND (NOT has_table_privilege(c.oid, 'SELECT')
        OR (c.relrowsecurity AND NOT r.rolbypassrls
            AND (c.relforcerowsecurity OR NOT pg_has_role(c.relowner, 'USAGE'))))
 ORDER BY 1, 2
