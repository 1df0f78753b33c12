-- Event triggers.
SELECT e.oid, e.evtname::text AS name, e.evtevent::text AS event,
       pg_catalog.pg_get_userbyid(e.evtowner)::text AS owner,
       e.evtfoid::regproc::text AS function,
       e.evtenabled::text AS enabled,
       e.evttags AS tags
FROM pg_catalog.pg_event_trigger e
ORDER BY e.evtname
