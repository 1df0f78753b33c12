-- Privileges of extension members (functions, relations and their columns, types,
-- schemas, languages, foreign-data wrappers and servers) that have an ACL. CREATE EXTENSION makes the member with the privileges its
-- script left, kept in pg_init_privs: that, not the built-in default, is what the ACL is
-- compared with (as pg_dump does); without an entry the script left the default.
WITH object AS (
    SELECT 'pg_catalog.pg_proc'::regclass AS classid, p.oid AS objid, 0 AS objsubid,
           CASE WHEN p.prokind = 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END AS kind,
           n.nspname::text AS schema,
           p.proname::text AS name,
           pg_catalog.pg_get_function_identity_arguments(p.oid) AS args,
           NULL::text AS column_name,
           pg_catalog.pg_get_userbyid(p.proowner)::text AS owner,
           p.proacl::text[] AS acl,
           pg_catalog.acldefault('f', p.proowner)::text[] AS builtin
    FROM pg_catalog.pg_proc p
    JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
    WHERE p.proacl IS NOT NULL
    UNION ALL
    SELECT 'pg_catalog.pg_class'::regclass, c.oid, 0,
           CASE WHEN c.relkind = 'S' THEN 'SEQUENCE' ELSE 'TABLE' END,
           n.nspname::text, c.relname::text, NULL, NULL,
           pg_catalog.pg_get_userbyid(c.relowner)::text,
           c.relacl::text[],
           pg_catalog.acldefault(CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::"char", c.relowner)::text[]
    FROM pg_catalog.pg_class c
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relacl IS NOT NULL
    UNION ALL
    -- A column has no privileges by default.
    SELECT 'pg_catalog.pg_class'::regclass, c.oid, a.attnum,
           'TABLE', n.nspname::text, c.relname::text, NULL, a.attname::text,
           pg_catalog.pg_get_userbyid(c.relowner)::text,
           a.attacl::text[],
           '{}'::text[]
    FROM pg_catalog.pg_attribute a
    JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE a.attacl IS NOT NULL AND a.attnum > 0 AND NOT a.attisdropped
    UNION ALL
    SELECT 'pg_catalog.pg_type'::regclass, t.oid, 0,
           'TYPE', n.nspname::text, t.typname::text, NULL, NULL,
           pg_catalog.pg_get_userbyid(t.typowner)::text,
           t.typacl::text[],
           pg_catalog.acldefault('T', t.typowner)::text[]
    FROM pg_catalog.pg_type t
    JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
    WHERE t.typacl IS NOT NULL
    UNION ALL
    SELECT 'pg_catalog.pg_namespace'::regclass, n.oid, 0,
           'SCHEMA', NULL, n.nspname::text, NULL, NULL,
           pg_catalog.pg_get_userbyid(n.nspowner)::text,
           n.nspacl::text[],
           pg_catalog.acldefault('n', n.nspowner)::text[]
    FROM pg_catalog.pg_namespace n
    WHERE n.nspacl IS NOT NULL
    UNION ALL
    SELECT 'pg_catalog.pg_language'::regclass, l.oid, 0,
           'LANGUAGE', NULL, l.lanname::text, NULL, NULL,
           pg_catalog.pg_get_userbyid(l.lanowner)::text,
           l.lanacl::text[],
           pg_catalog.acldefault('l', l.lanowner)::text[]
    FROM pg_catalog.pg_language l
    WHERE l.lanacl IS NOT NULL
    UNION ALL
    SELECT 'pg_catalog.pg_foreign_data_wrapper'::regclass, w.oid, 0,
           'FOREIGN DATA WRAPPER', NULL, w.fdwname::text, NULL, NULL,
           pg_catalog.pg_get_userbyid(w.fdwowner)::text,
           w.fdwacl::text[],
           pg_catalog.acldefault('F', w.fdwowner)::text[]
    FROM pg_catalog.pg_foreign_data_wrapper w
    WHERE w.fdwacl IS NOT NULL
    UNION ALL
    SELECT 'pg_catalog.pg_foreign_server'::regclass, s.oid, 0,
           'FOREIGN SERVER', NULL, s.srvname::text, NULL, NULL,
           pg_catalog.pg_get_userbyid(s.srvowner)::text,
           s.srvacl::text[],
           pg_catalog.acldefault('S', s.srvowner)::text[]
    FROM pg_catalog.pg_foreign_server s
    WHERE s.srvacl IS NOT NULL
)
SELECT d.refobjid AS extension, o.kind, o.schema, o.name, o.args, o.column_name, o.owner, o.acl,
       COALESCE(i.initprivs::text[], o.builtin) AS acl_default, o.builtin AS acl_builtin
FROM object o
JOIN pg_catalog.pg_depend d ON d.classid = o.classid AND d.objid = o.objid AND d.objsubid = 0
                           AND d.deptype = 'e'
LEFT JOIN pg_catalog.pg_init_privs i
       ON i.classoid = o.classid AND i.objoid = o.objid AND i.objsubid = o.objsubid
ORDER BY d.refobjid, o.schema, o.name, o.args, o.column_name
