//! Splitting one database into several: selectors per target (schemas, tables, row
//! filters, followed parents, hash shards), resolved against the source catalog.

pub mod resolve;
pub mod selector;
pub mod shard;

pub use resolve::{Resolved, check_conditions, resolve};
pub use selector::{Follow, Reference, Selector, Shard};
