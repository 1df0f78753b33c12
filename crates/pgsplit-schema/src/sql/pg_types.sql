-- Every type's binary I/O and the types it is built from, to decide binary COPY.
SELECT t.oid, (t.typsend <> 0 AND t.typreceive <> 0) AS has_binary_io,
       t.typelem, t.typbasetype, t.typrelid, t.typtype::text AS typtype,
       COALESCE((SELECT r.rngsubtype FROM pg_catalog.pg_range r WHERE r.rngtypid = t.oid), 0) AS range_subtype
FROM pg_catalog.pg_type t
