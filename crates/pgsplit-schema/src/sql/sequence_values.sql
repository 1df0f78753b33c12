-- Template: one `SELECT oid, last_value, is_called FROM seq` per sequence, UNION ALL.
SELECT {oid}::oid AS oid, last_value, is_called FROM {sequence}
