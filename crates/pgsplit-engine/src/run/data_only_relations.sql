-- For each wanted relation ($1, quoted schema.name, in order): its relkind on the target
-- (NULL when missing) and whether the target role may do what a --data-only run does to
-- it: setval on a sequence (UPDATE), REFRESH of a materialized view (its owner's rights,
-- or MAINTAIN on 17+). A superuser has both. `unreadable`: for a materialized view, what
-- its query reads that its owner may not (the refresh runs as the owner): a relation or
-- column without SELECT, a function without EXECUTE, as the view's dependencies list them.
SELECT c.relkind::text AS relkind,
       pg_catalog.pg_get_userbyid(c.relowner)::text AS owner,
       (SELECT pg_catalog.string_agg(DISTINCT
                   CASE WHEN d.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass
                        THEN 'EXECUTE on function ' || d.refobjid::pg_catalog.regprocedure::text
                        WHEN d.refobjsubid > 0
                        THEN 'SELECT on ' || d.refobjid::pg_catalog.regclass::text
                             || ' (column ' || pg_catalog.quote_ident(a.attname) || ')'
                        ELSE 'SELECT on ' || d.refobjid::pg_catalog.regclass::text END, ', ')
          FROM pg_catalog.pg_rewrite r
          JOIN pg_catalog.pg_depend d
            ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND d.objid = r.oid
          LEFT JOIN pg_catalog.pg_class rc
            ON d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND rc.oid = d.refobjid
          LEFT JOIN pg_catalog.pg_attribute a
            ON a.attrelid = rc.oid AND a.attnum = d.refobjsubid AND d.refobjsubid > 0
         WHERE c.relkind = 'm' AND r.ev_class = c.oid
           AND ((rc.relkind IN ('r', 'p', 'v', 'm', 'f') AND rc.oid <> c.oid
                 AND NOT CASE WHEN d.refobjsubid > 0
                              THEN pg_catalog.has_column_privilege(c.relowner, rc.oid,
                                       d.refobjsubid::int2, 'SELECT')
                              ELSE pg_catalog.has_any_column_privilege(c.relowner, rc.oid,
                                       'SELECT') END)
             OR (d.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass
                 AND NOT pg_catalog.has_function_privilege(c.relowner, d.refobjid, 'EXECUTE')))
       ) AS unreadable,
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
