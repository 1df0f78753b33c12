-- Sequence options and what owns them (OWNED BY or identity column).
SELECT s.seqrelid AS oid,
       pg_catalog.format_type(s.seqtypid, NULL) AS type_name,
       s.seqstart AS start, s.seqincrement AS increment,
       s.seqmin AS min, s.seqmax AS max, s.seqcache AS cache, s.seqcycle AS cycle,
       d.refobjid AS owner_table,
       d.refobjsubid::int4 AS owner_column,
       d.deptype::text AS owner_deptype
FROM pg_catalog.pg_sequence s
LEFT JOIN pg_catalog.pg_depend d
       ON d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = s.seqrelid
      AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjsubid > 0
      AND d.deptype IN ('a', 'i')
WHERE s.seqrelid >= 16384
