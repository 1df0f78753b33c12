//! pgsplit-schema
