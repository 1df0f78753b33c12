-- A table of the target that a --data-only run copies into ($1 qualified): its kind, and
-- one row per column (none for a table without columns; no row at all when it does not
-- exist). base_type is the type under its domains, as columns.sql reads the source's.
SELECT c.relkind::text AS relkind,
       a.attname::text AS name,
       format_type(a.atttypid, a.atttypmod) AS type_name,
       {base_type} AS base_type,
       a.attgenerated <> '' AS generated,
       -- COPY gives a column it is not given its default, else its domains' default, else
       -- NULL, which it does not check against a NOT NULL domain.
       (a.attnotnull OR COALESCE(dom.not_null, false))
           AND NOT a.atthasdef AND NOT COALESCE(dom.has_default, false)
           AND a.attidentity = '' AND a.attgenerated = '' AS needs_value
  FROM pg_class c
  LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_type t ON t.oid = a.atttypid
  LEFT JOIN LATERAL (
      WITH RECURSIVE chain AS (
          SELECT d.oid, d.typnotnull, d.typdefaultbin IS NOT NULL AS has_default, d.typbasetype
            FROM pg_type d WHERE d.oid = a.atttypid AND d.typtype = 'd'
          UNION ALL
          SELECT d.oid, d.typnotnull, d.typdefaultbin IS NOT NULL, d.typbasetype
            FROM pg_type d JOIN chain ON d.oid = chain.typbasetype WHERE d.typtype = 'd'
      )
      SELECT bool_or(chain.typnotnull) AS not_null, bool_or(chain.has_default) AS has_default
        FROM chain
  ) dom ON true
 WHERE c.oid = to_regclass($1)
