//! A pgsplit run: mapping → plan → (snapshot, schema, data, post-data) → verify → report.

pub mod cancel;
pub mod database;
pub mod fault;
pub mod journal;
pub mod mapping;
pub mod plan;
pub mod progress;
pub mod retry;
pub mod run;
pub mod session;
pub mod split;
pub mod verify;
