-- Partitioned tables whose key orders (range, list) or hashes (a nondeterministic
-- collation) text by a collation other than C: which rows belong to which partition
-- depends on the collation library's version. The provider: 'i' ICU, 'c' libc; the
-- database's default collation as the database's provider ('c' before 15).
SELECT n.nspname::text AS schema, c.relname::text AS name, coll.collname::text AS collation,
       CASE WHEN coll.collprovider = 'd' THEN {default_provider} ELSE coll.collprovider::text END
         AS provider
FROM pg_catalog.pg_partitioned_table p
JOIN pg_catalog.pg_class c ON c.oid = p.partrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN LATERAL pg_catalog.unnest(p.partcollation::pg_catalog.oid[]) AS k(coll)
JOIN pg_catalog.pg_collation coll ON coll.oid = k.coll
WHERE coll.collname NOT IN ('C', 'POSIX', 'ucs_basic', 'pg_c_utf8')
  AND (coll.collprovider <> 'd' OR (SELECT datcollate FROM pg_catalog.pg_database
                                     WHERE datname = pg_catalog.current_database())
                                    NOT IN ('C', 'POSIX'))
  AND (p.partstrat <> 'h' OR NOT coll.collisdeterministic)
ORDER BY 1, 2
