-- The tables of publications, with their row filters and column lists (15+).
SELECT pr.oid, pr.prpubid AS publication, pr.prrelid AS table_oid,
       {prqual} AS row_filter, {prattrs} AS columns
FROM pg_catalog.pg_publication_rel pr
ORDER BY pr.prpubid, pr.prrelid
