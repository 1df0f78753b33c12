-- One row: what the plan checks about a target database. Its user objects are those a
-- copy could collide with or that would be extra on the target: everything made outside
-- the system schemas and not by an extension, and what lives in no schema (publications,
-- large objects, event triggers, foreign data wrappers and servers, casts). Extensions
-- themselves are not counted: one installed beforehand serves the copy (CREATE
-- EXTENSION IF NOT EXISTS).
WITH user_ns AS (
    SELECT oid
      FROM pg_namespace
     WHERE nspname NOT IN ('pg_catalog', 'information_schema')
       AND nspname NOT LIKE 'pg\_toast%'
       AND nspname NOT LIKE 'pg\_temp%'
), members AS (
    SELECT classid, objid FROM pg_depend WHERE deptype = 'e'
), objects (catalog, oid) AS (
    -- A composite type's row counts as its type (an extension owns the type, not it).
    SELECT 'pg_class'::regclass, c.oid FROM pg_class c
     WHERE c.relnamespace IN (SELECT oid FROM user_ns) AND c.relkind <> 'c'
    UNION ALL
    SELECT 'pg_proc'::regclass, p.oid FROM pg_proc p
     WHERE p.pronamespace IN (SELECT oid FROM user_ns)
    UNION ALL
    -- Not a relation's row type (the relation counts), an array or a multirange that
    -- came with another type.
    SELECT 'pg_type'::regclass, t.oid FROM pg_type t
     WHERE t.typnamespace IN (SELECT oid FROM user_ns)
       AND (t.typrelid = 0
            OR EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = t.typrelid AND c.relkind = 'c'))
       AND t.typtype <> 'm'
       AND NOT EXISTS (SELECT 1 FROM pg_type e WHERE e.typarray = t.oid)
    UNION ALL
    SELECT 'pg_collation'::regclass, oid FROM pg_collation
     WHERE collnamespace IN (SELECT oid FROM user_ns)
    UNION ALL
    SELECT 'pg_operator'::regclass, oid FROM pg_operator
     WHERE oprnamespace IN (SELECT oid FROM user_ns)
    UNION ALL
    SELECT 'pg_opfamily'::regclass, oid FROM pg_opfamily
     WHERE opfnamespace IN (SELECT oid FROM user_ns)
    UNION ALL
    SELECT 'pg_conversion'::regclass, oid FROM pg_conversion
     WHERE connamespace IN (SELECT oid FROM user_ns)
    UNION ALL
    SELECT 'pg_ts_config'::regclass, oid FROM pg_ts_config
     WHERE cfgnamespace IN (SELECT oid FROM user_ns)
    UNION ALL
    SELECT 'pg_ts_dict'::regclass, oid FROM pg_ts_dict
     WHERE dictnamespace IN (SELECT oid FROM user_ns)
    UNION ALL
    SELECT 'pg_event_trigger'::regclass, oid FROM pg_event_trigger
    UNION ALL
    SELECT 'pg_foreign_data_wrapper'::regclass, oid FROM pg_foreign_data_wrapper
    UNION ALL
    SELECT 'pg_foreign_server'::regclass, oid FROM pg_foreign_server
    UNION ALL
    SELECT 'pg_cast'::regclass, oid FROM pg_cast WHERE oid >= 16384
    UNION ALL
    SELECT 'pg_publication'::regclass, oid FROM pg_publication
    UNION ALL
    SELECT 'pg_largeobject_metadata'::regclass, oid FROM pg_largeobject_metadata
    UNION ALL
    SELECT 'pg_namespace'::regclass, oid FROM pg_namespace
     WHERE oid IN (SELECT oid FROM user_ns) AND nspname <> 'public'
)
SELECT current_setting('server_version') AS server_version,
       current_setting('server_version_num')::int AS server_version_num,
       EXISTS (SELECT 1 FROM pg_settings
                WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)) AS lz4,
       r.rolsuper AS superuser,
       (r.rolsuper OR r.rolcreatedb) AS creates_databases,
       (r.rolsuper OR pg_has_role((SELECT datdba FROM pg_database
                                    WHERE datname = current_database()), 'USAGE'))
           AS owns_database,
       has_database_privilege(current_database(), 'CREATE') AS can_create,
       -- Its sessions may not write: a standby's, or default_transaction_read_only.
       (pg_catalog.current_setting('transaction_read_only') = 'on'
        OR pg_catalog.pg_is_in_recovery()) AS read_only,
       (SELECT count(*)
          FROM objects o
         WHERE NOT EXISTS (SELECT 1 FROM members m
                            WHERE m.classid = o.catalog AND m.objid = o.oid)) AS user_objects
  FROM pg_roles r
 WHERE r.rolname = current_user
