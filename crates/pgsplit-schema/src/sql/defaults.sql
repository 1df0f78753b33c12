-- Column defaults; generation expressions are read with the columns, their pg_attrdef
-- rows only to know what they depend on.
SELECT d.oid, d.adrelid, d.adnum::int4 AS adnum,
       pg_catalog.pg_get_expr(d.adbin, d.adrelid) AS expr,
       a.attgenerated <> '' AS generated
FROM pg_catalog.pg_attrdef d
JOIN pg_catalog.pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
WHERE d.adrelid >= 16384 AND NOT a.attisdropped
