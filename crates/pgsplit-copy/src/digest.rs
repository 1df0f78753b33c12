//! The table digest: SHA-256 of every row's bytes, added together modulo 2^256.
//!
//! Addition makes it independent of row order and of how the table was cut into chunks
//! (chunk digests add up to the table's), yet sensitive to duplicates: a row copied
//! twice adds its hash twice, where XOR would cancel it out.

use std::fmt;

use sha2::{Digest as _, Sha256};

/// A 256-bit sum of row hashes, as four little-endian 64-bit limbs.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Digest([u64; 4]);

impl Digest {
    pub const ZERO: Digest = Digest([0; 4]);

    /// Adds the SHA-256 of one row.
    #[inline]
    pub fn add_row(&mut self, row: &[u8]) {
        let hash = Sha256::digest(row);
        self.add_hash(hash.as_slice().try_into().expect("SHA-256 is 32 bytes"));
    }

    /// Adds a 32-byte big-endian number.
    #[inline]
    pub fn add_hash(&mut self, hash: &[u8; 32]) {
        let mut carry = 0u64;
        for (i, limb) in self.0.iter_mut().enumerate() {
            let start = 32 - 8 * (i + 1);
            let word = u64::from_be_bytes(hash[start..start + 8].try_into().expect("8 bytes"));
            let (sum, c1) = limb.overflowing_add(word);
            let (sum, c2) = sum.overflowing_add(carry);
            *limb = sum;
            carry = u64::from(c1) + u64::from(c2);
        }
    }

    /// Adds another digest (of another chunk of the same table).
    pub fn combine(&mut self, other: &Digest) {
        self.add_hash(&other.to_bytes());
    }

    /// Big-endian bytes.
    pub fn to_bytes(self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (i, limb) in self.0.iter().enumerate() {
            let start = 32 - 8 * (i + 1);
            out[start..start + 8].copy_from_slice(&limb.to_be_bytes());
        }
        out
    }

    pub fn to_hex(self) -> String {
        self.to_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn from_hex(text: &str) -> Option<Digest> {
        if text.len() != 64 || !text.is_ascii() {
            return None;
        }
        let mut bytes = [0u8; 32];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
        }
        let mut d = Digest::ZERO;
        d.add_hash(&bytes);
        Some(d)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.to_hex())
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Digest::from_hex(&text).ok_or_else(|| serde::de::Error::custom("bad digest"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_independent_and_duplicate_sensitive() {
        let mut a = Digest::ZERO;
        a.add_row(b"one");
        a.add_row(b"two");
        let mut b = Digest::ZERO;
        b.add_row(b"two");
        b.add_row(b"one");
        assert_eq!(a, b);
        let mut dup = a;
        dup.add_row(b"two");
        assert_ne!(dup, a);
        let mut twice = Digest::ZERO;
        twice.add_row(b"x");
        twice.add_row(b"x");
        assert_ne!(twice, Digest::ZERO, "XOR would cancel; a sum must not");
    }

    #[test]
    fn chunks_combine_to_the_whole() {
        let mut whole = Digest::ZERO;
        let mut c1 = Digest::ZERO;
        let mut c2 = Digest::ZERO;
        for i in 0..100u32 {
            let row = i.to_be_bytes();
            whole.add_row(&row);
            if i % 3 == 0 {
                c1.add_row(&row)
            } else {
                c2.add_row(&row)
            }
        }
        c1.combine(&c2);
        assert_eq!(c1, whole);
    }

    #[test]
    fn addition_carries_and_wraps_modulo_2_256() {
        let mut d = Digest::ZERO;
        d.add_hash(&[0xff; 32]);
        let mut one = [0u8; 32];
        one[31] = 1;
        d.add_hash(&one);
        assert_eq!(d, Digest::ZERO);
        let mut d = Digest::ZERO;
        let mut low = [0u8; 32];
        low[24..].copy_from_slice(&u64::MAX.to_be_bytes());
        d.add_hash(&low);
        d.add_hash(&one);
        let mut expect = [0u8; 32];
        expect[23] = 1;
        assert_eq!(d.to_bytes(), expect);
    }

    #[test]
    fn hex_round_trip() {
        let mut d = Digest::ZERO;
        d.add_row(b"abc");
        assert_eq!(Digest::from_hex(&d.to_hex()), Some(d));
        // SHA-256("abc") itself.
        assert_eq!(
            d.to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
