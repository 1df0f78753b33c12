-- The versions of the server's collation libraries, as PostgreSQL reads them: ICU's (of
-- its root collation, present when built with ICU) and the C library's (any of its
-- collations but C and POSIX).
SELECT (SELECT pg_catalog.pg_collation_actual_version(oid) FROM pg_catalog.pg_collation
         WHERE collprovider = 'i' AND collname = 'und-x-icu' LIMIT 1) AS icu,
       (SELECT pg_catalog.pg_collation_actual_version(oid) FROM pg_catalog.pg_collation
         WHERE collprovider = 'c' AND collname NOT IN ('C', 'POSIX', 'ucs_basic')
           AND pg_catalog.pg_collation_actual_version(oid) IS NOT NULL
         LIMIT 1) AS libc
