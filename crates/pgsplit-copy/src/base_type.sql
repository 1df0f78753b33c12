-- The type of column a (of type t) under its domains, as format_type prints it: what the
-- values are on the wire. Put into columns.sql and the data-only target check.
CASE WHEN t.typtype = 'd' THEN
  (WITH RECURSIVE base(oid, typmod) AS (
       SELECT t.typbasetype, t.typtypmod
       UNION ALL
       SELECT b.typbasetype, b.typtypmod FROM base JOIN pg_type b ON b.oid = base.oid
        WHERE b.typtype = 'd')
   SELECT format_type(base.oid, base.typmod) FROM base JOIN pg_type b ON b.oid = base.oid
    WHERE b.typtype <> 'd')
ELSE format_type(a.atttypid, a.atttypmod) END
