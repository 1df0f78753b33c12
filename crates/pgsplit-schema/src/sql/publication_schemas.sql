-- Schemas whose tables a publication publishes (`FOR TABLES IN SCHEMA`, 15+).
{publication_schemas}
