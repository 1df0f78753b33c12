-- Views' _RETURN rules, whose dependencies are the views'.
SELECT r.oid, r.ev_class
FROM pg_catalog.pg_rewrite r
WHERE r.rulename = '_RETURN' AND r.oid >= 16384
