//! Cryptographic building blocks: the master key and what is derived from it (sealing of
//! secrets at rest, keyed token hashes), and random tokens.

pub mod master_key;
mod random;
pub mod signing;

pub use master_key::{KeyError, MasterKey, Sealer, TokenHasher};
pub use random::{random_bytes, random_token};

/// Constant-time equality of two byte strings (the length is not hidden).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
