//! The data path: snapshots, the tables to copy, chunks, COPY pass-through with row
//! framing, and the order-independent table digest used to verify every copy.

pub mod chunk;
pub mod digest;
pub mod frame;
pub mod pass;
pub mod snapshot;
pub mod tables;
pub mod toast;

pub use chunk::Chunk;
pub use digest::Digest;
pub use frame::Format;
pub use pass::{CopySpec, Counters, Moved, PassError};
pub use tables::SourceTable;
