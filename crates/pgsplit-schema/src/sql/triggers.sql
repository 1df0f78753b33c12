-- User triggers (not the internal ones behind foreign keys).
SELECT t.oid,
       t.tgrelid,
       t.tgname::text AS name,
       t.tgenabled::text AS enabled,
       {tgparentid} AS parent,
       {parent_enabled} AS parent_enabled,
       pg_catalog.pg_get_triggerdef(t.oid) AS definition
FROM pg_catalog.pg_trigger t
-- Clones on partitions are internal before 15 but carry their own enabled state.
WHERE (NOT t.tgisinternal
       OR ({tgparentid} <> 0 AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c
                                             WHERE c.oid = t.tgconstraint AND c.contype = 'f')))
  AND t.oid >= 16384
ORDER BY t.tgrelid, t.tgname
