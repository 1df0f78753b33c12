-- Inheritance and partition parents of tables and indexes.
SELECT i.inhrelid, i.inhparent, i.inhseqno::int4 AS seqno
FROM pg_catalog.pg_inherits i
ORDER BY i.inhrelid, i.inhseqno
