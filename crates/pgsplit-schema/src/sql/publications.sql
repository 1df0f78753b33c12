-- Publications: what each publishes (operations, through the partition root from 13,
-- stored generated columns from 18).
SELECT p.oid, p.pubname::text AS name,
       pg_catalog.pg_get_userbyid(p.pubowner)::text AS owner,
       p.puballtables AS all_tables,
       pg_catalog.array_remove(ARRAY[
           CASE WHEN p.pubinsert THEN 'insert' END, CASE WHEN p.pubupdate THEN 'update' END,
           CASE WHEN p.pubdelete THEN 'delete' END, CASE WHEN p.pubtruncate THEN 'truncate' END
       ]::text[], NULL) AS publish,
       {pubviaroot} AS via_root, {pubgencols} AS generated_columns
FROM pg_catalog.pg_publication p
ORDER BY p.pubname
