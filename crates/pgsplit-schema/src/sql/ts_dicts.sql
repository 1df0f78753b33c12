-- Text search dictionaries.
SELECT d.oid, n.nspname::text AS schema, d.dictname::text AS name,
       pg_catalog.pg_get_userbyid(d.dictowner)::text AS owner,
       pg_catalog.quote_ident(tn.nspname) || '.' || pg_catalog.quote_ident(t.tmplname) AS template,
       d.dictinitoption AS options
FROM pg_catalog.pg_ts_dict d
JOIN pg_catalog.pg_namespace n ON n.oid = d.dictnamespace
JOIN pg_catalog.pg_ts_template t ON t.oid = d.dicttemplate
JOIN pg_catalog.pg_namespace tn ON tn.oid = t.tmplnamespace
WHERE d.oid >= 16384
ORDER BY n.nspname, d.dictname
