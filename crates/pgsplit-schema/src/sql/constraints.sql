-- Table and domain constraints (NOT NULL is read with the columns).
SELECT c.oid,
       c.conname::text AS name,
       c.contype::text AS contype,
       c.conrelid,
       c.contypid,
       c.conindid,
       c.confrelid,
       c.conislocal AS is_local,
       c.coninhcount::int4 AS inh_count,
       c.connoinherit AS no_inherit,
       c.convalidated AS validated,
       c.condeferrable AS deferrable,
       c.conparentid AS parent,
       {conperiod} AS period,
       pg_catalog.pg_get_constraintdef(c.oid) AS definition
FROM pg_catalog.pg_constraint c
WHERE c.oid >= 16384 AND c.contype IN ('c', 'p', 'u', 'x', 'f')
ORDER BY c.conrelid, c.contypid, c.conname
