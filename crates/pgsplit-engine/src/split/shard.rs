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
        // A date is hashed as its day number from 2000-01-01; ±infinity are the int4
        // extremes there, but subtracting them is an error.
        format!(
            "(CASE WHEN {c} = 'infinity'::date THEN 2147483647 \
             WHEN {c} = '-infinity'::date THEN '-2147483648'::integer \
             ELSE {c} - DATE '2000-01-01' END)"
        )
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

    #[test]
    fn every_key_type_lands_where_postgres_hash_partitioning_puts_it() {
        let db = pgsplit_pg::testing::shared().create_db("shard_types");
        let values = [
            (
                "smallint",
                "SELECT g::smallint FROM generate_series(-300, 300) g UNION ALL VALUES (-32768), (32767), (NULL)",
            ),
            (
                "integer",
                "SELECT g FROM generate_series(-500, 500) g UNION ALL VALUES (-2147483648), (2147483647), (NULL)",
            ),
            (
                "bigint",
                "SELECT g * 1000003 FROM generate_series(-500, 500) g UNION ALL VALUES (-9223372036854775808), (9223372036854775807)",
            ),
            (
                "text",
                "SELECT md5(g::text) FROM generate_series(1, 400) g UNION ALL VALUES (''), ('é ü 日本'), (NULL)",
            ),
            (
                "character varying(40)",
                "SELECT md5(g::text) FROM generate_series(1, 400) g UNION ALL VALUES ('')",
            ),
            (
                "uuid",
                "SELECT md5(g::text)::uuid FROM generate_series(1, 400) g",
            ),
            (
                "numeric",
                "SELECT g / 7.0 FROM generate_series(-300, 300) g UNION ALL VALUES (1.50), (1.5), ('NaN'), (1e30), (0.000001)",
            ),
            (
                "date",
                "SELECT DATE '2000-01-01' + g * 37 FROM generate_series(-300, 300) g UNION ALL VALUES ('infinity'::date), ('-infinity'), (NULL)",
            ),
        ];
        for (i, (type_name, rows)) in values.iter().enumerate() {
            let mut sql = format!("CREATE TABLE h{i} (k {type_name}) PARTITION BY HASH (k);");
            for r in 0..4 {
                sql.push_str(&format!(
                    "CREATE TABLE h{i}_{r} PARTITION OF h{i} FOR VALUES WITH (MODULUS 4, REMAINDER {r});"
                ));
            }
            sql.push_str(&format!("INSERT INTO h{i} {rows};"));
            db.psql(&sql);
            for r in 0..4 {
                let p = predicate("k", type_name, 4, r).unwrap();
                let found = db.psql(&format!(
                    "SELECT (SELECT count(*) FROM h{i} WHERE {p}) || ' ' || (SELECT count(*) FROM h{i}_{r})"
                ));
                let (ours, theirs) = found.trim().split_once(' ').unwrap();
                assert_eq!(ours, theirs, "{type_name}, remainder {r}");
                let strays = db.psql(&format!("SELECT count(*) FROM h{i}_{r} WHERE NOT ({p})"));
                assert_eq!(strays.trim(), "0", "{type_name}, remainder {r}");
            }
        }
    }
}
