-- User-defined collations.
SELECT c.oid,
       n.nspname::text AS schema,
       c.collname::text AS name,
       pg_catalog.pg_get_userbyid(c.collowner)::text AS owner,
       c.collprovider::text AS provider,
       c.collisdeterministic AS deterministic,
       c.collcollate::text AS lc_collate,
       c.collctype::text AS lc_ctype,
       {colllocale} AS locale,
       {collicurules} AS icu_rules
FROM pg_catalog.pg_collation c
JOIN pg_catalog.pg_namespace n ON n.oid = c.collnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
ORDER BY n.nspname, c.collname
