-- Run in the maintenance database when the target database does not exist yet.
SELECT current_setting('server_version') AS server_version,
       current_setting('server_version_num')::int AS server_version_num,
       EXISTS (SELECT 1 FROM pg_settings
                WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)) AS lz4,
       r.rolsuper AS superuser,
       (r.rolsuper OR r.rolcreatedb) AS creates_databases,
       true AS owns_database,
       -- Its sessions may not write: a standby's, or default_transaction_read_only.
       (pg_catalog.current_setting('transaction_read_only') = 'on'
        OR pg_catalog.pg_is_in_recovery()) AS read_only,
       (r.rolsuper OR r.rolcreatedb) AS can_create
  FROM pg_roles r
 WHERE r.rolname = current_user
