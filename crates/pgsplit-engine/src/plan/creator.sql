-- Run in the maintenance database when the target database does not exist yet.
SELECT current_setting('server_version') AS server_version,
       current_setting('server_version_num')::int AS server_version_num,
       EXISTS (SELECT 1 FROM pg_settings
                WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)) AS lz4,
       r.rolsuper AS superuser,
       (r.rolsuper OR r.rolcreatedb) AS creates_databases,
       true AS owns_database,
       (r.rolsuper OR r.rolcreatedb) AS can_create
  FROM pg_roles r
 WHERE r.rolname = current_user
