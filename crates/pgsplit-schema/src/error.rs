//! Errors of catalog introspection.

/// Why reading the catalog failed.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// A catalog query failed; `query` names the `.sql` file (or statement) that ran.
    #[error("catalog query {query} failed: {}", pgsplit_pg::cause_chain(.source))]
    Query {
        query: &'static str,
        #[source]
        source: tokio_postgres::Error,
    },
    /// A value the catalog returned does not fit the model.
    #[error("unexpected catalog data for {object}: {message}")]
    Catalog { object: String, message: String },
}

impl SchemaError {
    pub(crate) fn query(query: &'static str) -> impl FnOnce(tokio_postgres::Error) -> SchemaError {
        move |source| SchemaError::Query { query, source }
    }
}
