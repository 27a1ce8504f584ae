//! Cryptographic building blocks: the master key and what is derived from it (sealing of
//! secrets at rest, keyed token hashes), and random tokens.

mod master_key;
mod random;

pub use master_key::{KeyError, MasterKey, TokenHasher};
pub use random::{random_bytes, random_token};
