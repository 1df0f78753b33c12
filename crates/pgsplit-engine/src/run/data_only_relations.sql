-- For each wanted relation ($1, quoted schema.name, in order): its relkind on the target
-- (NULL when missing) and whether the target role may do what a --data-only run does to
-- it: setval on a sequence (UPDATE), REFRESH of a materialized view (its owner's rights,
-- or MAINTAIN on 17+). A superuser has both.
SELECT c.relkind::text AS relkind,
       CASE c.relkind
         WHEN 'S' THEN pg_catalog.has_sequence_privilege(c.oid, 'UPDATE')
         WHEN 'm' THEN pg_catalog.pg_has_role(c.relowner, 'USAGE')
                       OR CASE WHEN pg_catalog.current_setting('server_version_num')::int >= 170000
                               THEN pg_catalog.has_table_privilege(c.oid, 'MAINTAIN')
                               ELSE false END
         ELSE true
       END AS may
  FROM pg_catalog.unnest($1::text[]) WITH ORDINALITY AS n(name, at)
  LEFT JOIN pg_catalog.pg_class c ON c.oid = pg_catalog.to_regclass(n.name)
 ORDER BY n.at
