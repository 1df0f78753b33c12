//! Native schema copy: reads the source catalog inside the copy's snapshot into a typed
//! model ([`introspect`] → [`Catalog`]) and renders it as DDL in two sections, pre-data
//! and post-data, ordered by real dependencies ([`Catalog::render`] → [`Ddl`]).
//! [`Catalog::tables`] tells the data copy what to move.

mod acl;
mod catalog;
mod error;
mod introspect;
pub mod model;
mod order;
mod render;
mod tables;

pub use catalog::Catalog;
pub use error::SchemaError;
pub use introspect::introspect;
pub use render::{Ddl, ObjectKind, SchemaOptions, Statement};
pub use tables::{Column, Table};
