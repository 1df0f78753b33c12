-- Aggregate definitions.
SELECT a.aggfnoid::oid AS oid,
       a.aggkind::text AS kind,
       pg_catalog.pg_get_function_arguments(a.aggfnoid) AS arguments,
       a.aggtransfn::regproc::text AS sfunc,
       pg_catalog.format_type(a.aggtranstype, NULL) AS stype,
       a.aggtransspace::int4 AS sspace,
       CASE WHEN a.aggfinalfn <> 0 THEN a.aggfinalfn::regproc::text END AS finalfunc,
       a.aggfinalextra AS finalfunc_extra,
       a.aggfinalmodify::text AS finalfunc_modify,
       CASE WHEN a.aggcombinefn <> 0 THEN a.aggcombinefn::regproc::text END AS combinefunc,
       CASE WHEN a.aggserialfn <> 0 THEN a.aggserialfn::regproc::text END AS serialfunc,
       CASE WHEN a.aggdeserialfn <> 0 THEN a.aggdeserialfn::regproc::text END AS deserialfunc,
       a.agginitval AS initcond,
       CASE WHEN a.aggmtransfn <> 0 THEN a.aggmtransfn::regproc::text END AS msfunc,
       CASE WHEN a.aggminvtransfn <> 0 THEN a.aggminvtransfn::regproc::text END AS minvfunc,
       CASE WHEN a.aggmtranstype <> 0 THEN pg_catalog.format_type(a.aggmtranstype, NULL) END AS mstype,
       a.aggmtransspace::int4 AS msspace,
       CASE WHEN a.aggmfinalfn <> 0 THEN a.aggmfinalfn::regproc::text END AS mfinalfunc,
       a.aggmfinalextra AS mfinalfunc_extra,
       a.aggmfinalmodify::text AS mfinalfunc_modify,
       a.aggminitval AS minitcond,
       CASE WHEN a.aggsortop <> 0 THEN a.aggsortop::regoper::text END AS sortop,
       p.proparallel::text AS parallel
FROM pg_catalog.pg_aggregate a
JOIN pg_catalog.pg_proc p ON p.oid = a.aggfnoid
WHERE a.aggfnoid::oid >= 16384
