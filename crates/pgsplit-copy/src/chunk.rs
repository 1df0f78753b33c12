//! Cutting a large table into chunks that workers copy in parallel: ranges of pages
//! (ctid, fast from PostgreSQL 14's TID range scans) or, on older servers, ranges of a
//! single-column integer primary key.

use crate::tables::SourceTable;
use pgsplit_pg::quote;

/// Below this, a table is never split, whatever the threshold says.
pub const MIN_CHUNK_BYTES: i64 = 8 * 1024 * 1024;

/// First server version with TID range scans (`ctid >= … AND ctid < …` without a seq scan).
const TID_RANGE_SCAN_VERSION: i32 = 140000;

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum Chunk {
    Whole,
    /// Pages `[from, to)`; `to: None` runs to the end of the table.
    Pages {
        from: i64,
        to: Option<i64>,
    },
    /// Key values `[from, to)`; `None` is unbounded on that side.
    Key {
        column: String,
        from: Option<i64>,
        to: Option<i64>,
    },
}

impl Chunk {
    /// The WHERE condition selecting this chunk's rows, `None` for the whole table.
    pub fn predicate(&self) -> Option<String> {
        match self {
            Chunk::Whole => None,
            Chunk::Pages { from, to } => Some(match to {
                Some(to) => format!("ctid >= '({from},0)'::tid AND ctid < '({to},0)'::tid"),
                None => format!("ctid >= '({from},0)'::tid"),
            }),
            Chunk::Key { column, from, to } => {
                let c = quote::ident(column);
                Some(match (from, to) {
                    (Some(f), Some(t)) => format!("{c} >= {f} AND {c} < {t}"),
                    (Some(f), None) => format!("{c} >= {f}"),
                    (None, Some(t)) => format!("{c} < {t}"),
                    (None, None) => "true".to_string(),
                })
            }
        }
    }

    /// A short label for reports and the journal: `whole`, `pages 0-1000`, `id 1-5000`.
    pub fn label(&self) -> String {
        let bound = |b: &Option<i64>| b.map(|v| v.to_string()).unwrap_or_default();
        match self {
            Chunk::Whole => "whole".into(),
            Chunk::Pages { from, to } => format!("pages {from}-{}", bound(to)),
            Chunk::Key { column, from, to } => {
                format!("{column} {}-{}", bound(from), bound(to))
            }
        }
    }
}

/// The WHERE condition of one chunk of a table whose rows are also filtered (a split's
/// share): the chunk's range and the filter, `None` for every row.
pub fn with_filter(chunk: &Chunk, filter: Option<&str>) -> Option<String> {
    match (chunk.predicate(), filter) {
        (None, None) => None,
        (Some(c), None) => Some(c),
        (None, Some(f)) => Some(format!("({f})")),
        (Some(c), Some(f)) => Some(format!("{c} AND ({f})")),
    }
}

/// How a table is split: a pure function of its size and the threshold, so plans are
/// reproducible (and a resumed run finds the same chunks).
pub fn plan_chunks(
    table: &SourceTable,
    split_larger_than: Option<i64>,
    server_version_num: i32,
    key_bounds: Option<(i64, i64)>,
) -> Vec<Chunk> {
    let Some(threshold) = split_larger_than else {
        return vec![Chunk::Whole];
    };
    let threshold = threshold.max(MIN_CHUNK_BYTES);
    if table.bytes <= threshold {
        return vec![Chunk::Whole];
    }
    let parts = (table.bytes + threshold - 1) / threshold;
    if server_version_num >= TID_RANGE_SCAN_VERSION && table.pages > 0 {
        let per = (table.pages + parts - 1) / parts;
        return (0..parts)
            .map(|i| Chunk::Pages {
                from: i * per,
                to: (i + 1 < parts).then_some((i + 1) * per),
            })
            .collect();
    }
    match (&table.int_key, key_bounds) {
        (Some(column), Some((min, max))) if max > min => {
            // Boundaries spread over [min, max] and inside it (never past i64::MAX), at
            // most one part per key value.
            let span = max as i128 - min as i128 + 1;
            let parts = (parts as i128).min(span);
            let bound = |k: i128| (min as i128 + k * span / parts) as i64;
            (0..parts)
                .map(|i| Chunk::Key {
                    column: column.clone(),
                    from: (i > 0).then(|| bound(i)),
                    to: (i + 1 < parts).then(|| bound(i + 1)),
                })
                .collect()
        }
        _ => vec![Chunk::Whole],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Format;

    fn table(bytes: i64, pages: i64, key: Option<&str>) -> SourceTable {
        SourceTable {
            oid: 1,
            relfilenode: 1,
            schema: "s".into(),
            name: "t".into(),
            unlogged: false,
            bytes,
            pages,
            estimated_rows: 0.0,
            int_key: key.map(String::from),
            columns: vec![],
            format: Format::Binary,
            row_filter: None,
            generated: Vec::new(),
            generated_binary: true,
        }
    }

    const MB: i64 = 1024 * 1024;

    #[test]
    fn key_ranges_near_the_ends_of_bigint_neither_wrap_nor_overlap() {
        for (min, max) in [
            (i64::MAX - 10, i64::MAX),
            (i64::MIN, i64::MIN + 3),
            (i64::MIN, i64::MAX),
            (-5, 5),
        ] {
            let chunks = plan_chunks(
                &table(1024 * MB, 131072, Some("id")),
                Some(8 * MB),
                130000,
                Some((min, max)),
            );
            assert!(chunks.len() > 1, "{min}..{max}: {chunks:?}");
            let mut expected_from = None;
            for (i, chunk) in chunks.iter().enumerate() {
                let Chunk::Key { from, to, .. } = chunk else {
                    panic!("{chunk:?}")
                };
                assert_eq!(*from, expected_from, "{min}..{max}: {chunks:?}");
                if let (Some(f), Some(t)) = (from, to) {
                    assert!(f < t, "{min}..{max}: {chunks:?}");
                }
                assert_eq!(to.is_none(), i + 1 == chunks.len());
                if let Some(t) = to {
                    assert!(*t > min && *t <= max, "{min}..{max}: {chunks:?}");
                }
                expected_from = *to;
            }
        }
    }

    #[test]
    fn small_tables_and_no_threshold_stay_whole() {
        assert_eq!(
            plan_chunks(&table(100 * MB, 12800, None), None, 150000, None),
            [Chunk::Whole]
        );
        assert_eq!(
            plan_chunks(&table(100 * MB, 12800, None), Some(200 * MB), 150000, None),
            [Chunk::Whole]
        );
    }

    #[test]
    fn page_ranges_cover_the_table_without_gaps() {
        let chunks = plan_chunks(
            &table(1000 * MB, 128_000, None),
            Some(256 * MB),
            150000,
            None,
        );
        assert_eq!(chunks.len(), 4);
        assert_eq!(
            chunks[0],
            Chunk::Pages {
                from: 0,
                to: Some(32000)
            }
        );
        assert_eq!(
            chunks[3],
            Chunk::Pages {
                from: 96000,
                to: None
            }
        );
        for pair in chunks.windows(2) {
            let (Chunk::Pages { to: Some(end), .. }, Chunk::Pages { from, .. }) =
                (&pair[0], &pair[1])
            else {
                panic!("page chunks expected")
            };
            assert_eq!(end, from);
        }
        assert_eq!(chunks[3].predicate().unwrap(), "ctid >= '(96000,0)'::tid");
    }

    #[test]
    fn old_servers_split_by_integer_key_or_not_at_all() {
        let chunks = plan_chunks(
            &table(1000 * MB, 128_000, Some("id")),
            Some(400 * MB),
            130000,
            Some((1, 3000)),
        );
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks[0].predicate().unwrap(), "\"id\" < 1001");
        assert_eq!(
            chunks[1].predicate().unwrap(),
            "\"id\" >= 1001 AND \"id\" < 2001"
        );
        assert_eq!(chunks[2].predicate().unwrap(), "\"id\" >= 2001");
        assert_eq!(
            plan_chunks(
                &table(1000 * MB, 128_000, None),
                Some(400 * MB),
                130000,
                None
            ),
            [Chunk::Whole]
        );
    }

    #[test]
    fn tiny_thresholds_are_raised() {
        let chunks = plan_chunks(&table(20 * MB, 2560, None), Some(1), 150000, None);
        assert_eq!(chunks.len(), 3);
    }
}
