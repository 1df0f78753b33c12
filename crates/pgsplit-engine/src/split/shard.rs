//! Hash sharding that agrees with PostgreSQL's own hash partitioning: a row goes to the
//! shard that `PARTITION BY HASH (key)` with the same modulus would put it in.
//!
//! PostgreSQL hashes the key with the type's extended hash function and the seed
//! `HASH_PARTITION_SEED` (0x7A5B22367996DCFD), combines it into 0 with `hash_combine64`
//! (which, starting from 0, adds 0x49A0F4DD15E5A8E3 modulo 2^64), and takes the unsigned
//! result modulo the modulus. A NULL key leaves the hash at 0: remainder 0. The predicate
//! below does the same arithmetic in SQL on the source, inside the snapshot.

use pgsplit_pg::quote;

const HASH_PARTITION_SEED: i64 = 0x7A5B_2236_7996_DCFD;
const HASH_COMBINE_CONSTANT: u64 = 0x49A0_F4DD_15E5_A8E3;
const TWO_POW_64: &str = "18446744073709551616";

/// The extended hash function PostgreSQL's default hash operator class uses for a type
/// (as `format_type` names it), for the key types pgsplit supports.
pub fn hash_function(type_name: &str) -> Option<&'static str> {
    let base = type_name.split('(').next().unwrap_or(type_name).trim();
    Some(match base {
        "smallint" => "hashint2extended",
        "integer" => "hashint4extended",
        "bigint" => "hashint8extended",
        "text" | "character varying" => "hashtextextended",
        "uuid" => "uuid_hash_extended",
        "numeric" => "hash_numeric_extended",
        "date" => "hashint4extended",
        _ => return None,
    })
}

/// `true` for the rows of shard `remainder` (of `modulus`) by `column`.
pub fn predicate(column: &str, type_name: &str, modulus: u32, remainder: u32) -> Option<String> {
    let function = hash_function(type_name)?;
    let c = quote::ident(column);
    let arg = if type_name.starts_with("date") {
        format!("({c} - DATE '2000-01-01')")
    } else {
        c.clone()
    };
    Some(format!(
        "(CASE WHEN {c} IS NULL THEN 0 ELSE \
         ((pg_catalog.{function}({arg}, {HASH_PARTITION_SEED})::numeric + {HASH_COMBINE_CONSTANT} + {TWO_POW_64}) % {TWO_POW_64}) % {modulus} \
         END) = {remainder}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predicates_for_supported_types() {
        let p = predicate("tenant_id", "bigint", 4, 1).unwrap();
        assert!(
            p.contains("hashint8extended(\"tenant_id\", 8816678312871386365)"),
            "{p}"
        );
        assert!(p.ends_with("% 4 END) = 1"), "{p}");
        assert!(
            predicate("k", "character varying(20)", 3, 0)
                .unwrap()
                .contains("hashtextextended")
        );
        assert_eq!(predicate("k", "jsonb", 2, 0), None);
    }
}
