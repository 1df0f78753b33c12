-- Objects that belong to an extension: created by CREATE EXTENSION, never written alone.
SELECT d.classid, d.objid, d.refobjid
FROM pg_catalog.pg_depend d
WHERE d.deptype = 'e'
