-- Dependencies between user objects (normal and automatic).
SELECT d.classid, d.objid, d.objsubid, d.refclassid, d.refobjid, d.refobjsubid
FROM pg_catalog.pg_depend d
WHERE d.deptype IN ('n', 'a')
  AND d.objid >= 16384
  AND d.refobjid >= 16384
