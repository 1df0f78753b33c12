//! Native schema copy: reads the source catalog inside the copy's snapshot into a typed
//! model ([`introspect`] → [`Catalog`]) and renders it as DDL in two sections, pre-data
//! and post-data, ordered by real dependencies ([`Catalog::render`] → [`Ddl`]).
//! (What the data copy moves is read by `pgsplit-copy`.) For one target of a split,
//! [`Catalog::render_selected`] keeps the selected relations and what they need, and
//! reports the objects that would point into another target ([`CrossTarget`]). Objects
//! that need one pgsplit does not write (a view over a foreign table) are left out of
//! both and listed ([`NotWritten`]).
//!
//! - `introspect.rs` + `sql/*.sql`: one catalog query per object kind, pipelined, with
//!   placeholders for columns that differ between PostgreSQL 12 and 18; deparsed with an
//!   empty `search_path`, so every name in the output is schema-qualified.
//! - `model.rs`, `catalog.rs`: the typed objects and lookups.
//! - `render/`: objects → items (create + comment + owner + grants) with `pg_depend`
//!   dependencies; `order.rs` sorts them (cycles broken, pre-data objects that need a
//!   post-data one move to post-data); `acl.rs` turns ACLs into GRANT/REVOKE like pg_dump;
//!   `render/selection.rs` picks the items of one split target.
//!
//! Every target connection must run [`Ddl::SESSION_SETUP`] before the statements.

pub mod acl;
mod catalog;
mod error;
mod introspect;
pub mod model;
mod order;
mod render;
mod search_path;
mod sql_text;

pub use catalog::{Catalog, Refusal};
pub use error::SchemaError;
pub use introspect::{introspect, print_icu_locales_as, print_views_as};
pub use render::{
    CrossKind, CrossTarget, Ddl, NotWritten, ObjectKind, SchemaOptions, Selection, Statement, stmt,
};
pub use search_path::SearchPathUse;
