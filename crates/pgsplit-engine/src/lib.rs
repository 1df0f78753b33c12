//! A pgsplit run: mapping → plan → (snapshot, schema, data, post-data) → verify → report.

pub mod mapping;
pub mod plan;
pub mod progress;
pub mod run;
pub mod session;
