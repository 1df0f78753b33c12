-- Comments on user objects (objsubid > 0: columns).
SELECT d.classoid, d.objoid, d.objsubid::int4 AS objsubid, d.description
FROM pg_catalog.pg_description d
WHERE d.objoid >= 16384 OR d.classoid = 'pg_catalog.pg_namespace'::regclass
