-- User triggers (not the internal ones behind foreign keys).
SELECT t.oid,
       t.tgrelid,
       t.tgname::text AS name,
       t.tgenabled::text AS enabled,
       {tgparentid} AS parent,
       {parent_enabled} AS parent_enabled,
       pg_catalog.pg_get_triggerdef(t.oid) AS definition
FROM pg_catalog.pg_trigger t
WHERE NOT t.tgisinternal AND t.oid >= 16384
ORDER BY t.tgrelid, t.tgname
