-- Text search configurations with their token mappings.
SELECT c.oid, n.nspname::text AS schema, c.cfgname::text AS name,
       pg_catalog.pg_get_userbyid(c.cfgowner)::text AS owner,
       pg_catalog.quote_ident(pn.nspname) || '.' || pg_catalog.quote_ident(p.prsname) AS parser,
       ARRAY(SELECT t.alias || '=' || pg_catalog.string_agg(m.mapdict::regdictionary::text, ',' ORDER BY m.mapseqno)
             FROM pg_catalog.pg_ts_config_map m
             JOIN pg_catalog.ts_token_type(c.cfgparser) t ON t.tokid = m.maptokentype
             WHERE m.mapcfg = c.oid
             GROUP BY t.alias, m.maptokentype ORDER BY m.maptokentype) AS mappings
FROM pg_catalog.pg_ts_config c
JOIN pg_catalog.pg_namespace n ON n.oid = c.cfgnamespace
JOIN pg_catalog.pg_ts_parser p ON p.oid = c.cfgparser
JOIN pg_catalog.pg_namespace pn ON pn.oid = p.prsnamespace
WHERE c.oid >= 16384
ORDER BY n.nspname, c.cfgname
