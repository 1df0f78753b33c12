-- What decides whether values of a type can travel in binary COPY: its own
-- send/receive functions and those of the types it is made of.
SELECT t.oid,
       (t.typsend <> 0 AND t.typreceive <> 0) AS has_binary_io,
       t.typelem AS element,
       t.typbasetype AS base,
       t.typrelid AS relation,
       CASE WHEN t.typtype = 'r' THEN (SELECT r.rngsubtype FROM pg_range r WHERE r.rngtypid = t.oid)
            -- A multirange (14+; the column is read through jsonb, which older servers,
            -- without it, answer with NULL).
            WHEN t.typtype = 'm' THEN (SELECT r.rngsubtype FROM pg_range r
                                        WHERE (to_jsonb(r) ->> 'rngmultitypid')::oid = t.oid)
            ELSE 0::oid END AS range_subtype
  FROM pg_type t
