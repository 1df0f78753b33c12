-- Rewrite rules other than views' _RETURN rules.
SELECT r.oid, r.ev_class, r.rulename::text AS name, r.ev_enabled::text AS enabled,
       pg_catalog.pg_get_ruledef(r.oid) AS definition
FROM pg_catalog.pg_rewrite r
WHERE r.rulename <> '_RETURN' AND r.oid >= 16384
ORDER BY r.ev_class, r.rulename
