//! pgsplit-engine
