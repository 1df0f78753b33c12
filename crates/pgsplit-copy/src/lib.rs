//! pgsplit-copy
