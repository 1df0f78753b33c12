-- One row: what the plan checks about a target database.
SELECT current_setting('server_version') AS server_version,
       current_setting('server_version_num')::int AS server_version_num,
       r.rolsuper AS superuser,
       has_database_privilege(current_database(), 'CREATE') AS can_create,
       (SELECT count(*)
          FROM pg_class c
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
           AND n.nspname NOT LIKE 'pg\_toast%'
           AND n.nspname NOT LIKE 'pg\_temp%'
           AND NOT EXISTS (SELECT 1 FROM pg_depend d
                            WHERE d.classid = 'pg_class'::regclass
                              AND d.objid = c.oid AND d.deptype = 'e'))
     + (SELECT count(*)
          FROM pg_proc p
          JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
           AND NOT EXISTS (SELECT 1 FROM pg_depend d
                            WHERE d.classid = 'pg_proc'::regclass
                              AND d.objid = p.oid AND d.deptype = 'e'))
     + (SELECT count(*)
          FROM pg_namespace n
         WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'public')
           AND n.nspname NOT LIKE 'pg\_toast%'
           AND n.nspname NOT LIKE 'pg\_temp%'
           AND NOT EXISTS (SELECT 1 FROM pg_depend d
                            WHERE d.classid = 'pg_namespace'::regclass
                              AND d.objid = n.oid AND d.deptype = 'e')) AS user_objects
  FROM pg_roles r
 WHERE r.rolname = current_user
