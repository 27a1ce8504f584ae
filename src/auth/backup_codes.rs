//! Backup codes: ten (by default) codes of 10 characters from a 32-letter alphabet
//! (50 bits each, from the CSPRNG), shown once, stored as keyed hashes, each usable once.

use sea_orm::{ConnectionTrait, DbErr};
use uuid::Uuid;

use super::repo;
use crate::crypto::TokenHasher;

/// Letters and digits without the look-alikes 0/o, 1/l/i (Crockford's base32, lowercase).
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
const LEN: usize = 10;

fn hash(hasher: &TokenHasher, user_id: Uuid, code: &str) -> String {
    hasher.hash(&format!("backup-code\0{user_id}\0{code}"))
}

/// The code as typed, normalised ("ABCDE-FGHJK" → "abcdefghjk"; o→0, i/l→1), if it can
/// be a backup code.
pub fn normalise(code: &str) -> Option<String> {
    let c: String = code
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| match c.to_ascii_lowercase() {
            'o' => '0',
            'i' | 'l' => '1',
            c => c,
        })
        .collect();
    (c.len() == LEN && c.bytes().all(|b| ALPHABET.contains(&b))).then_some(c)
}

/// How a code is shown: two groups of five.
pub fn display(code: &str) -> String {
    let (a, b) = code.split_at(code.len().min(5));
    format!("{a}-{b}")
}

fn generate_one() -> String {
    // 10 bytes, 5 bits of each: 50 bits.
    crate::crypto::random_bytes::<LEN>()
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(b & 31)]))
        .collect()
}

/// A new set of `count` codes for `user_id`, replacing the old set; returns the codes
/// (shown once, never stored).
pub async fn regenerate(
    db: &impl ConnectionTrait,
    hasher: &TokenHasher,
    user_id: Uuid,
    count: usize,
) -> Result<Vec<String>, DbErr> {
    let mut codes: Vec<String> = Vec::with_capacity(count);
    while codes.len() < count {
        let c = generate_one();
        if !codes.contains(&c) {
            codes.push(c);
        }
    }
    let hashes = codes.iter().map(|c| hash(hasher, user_id, c)).collect();
    repo::replace_backup_codes(db, user_id, hashes).await?;
    Ok(codes)
}

/// Uses the code if it is one of the user's unused codes.
pub async fn redeem(db: &impl ConnectionTrait, hasher: &TokenHasher, user_id: Uuid, code: &str) -> Result<bool, DbErr> {
    let Some(code) = normalise(code) else {
        return Ok(false);
    };
    repo::use_backup_code(db, user_id, &hash(hasher, user_id, &code)).await
}

/// (unused, total) codes of the user's current set.
pub async fn counts(db: &impl ConnectionTrait, user_id: Uuid) -> Result<(u64, u64), DbErr> {
    repo::backup_code_counts(db, user_id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_have_fifty_bits_and_read_back_as_typed() {
        let c = generate_one();
        assert_eq!(c.len(), 10);
        assert_eq!(normalise(&display(&c)).as_deref(), Some(c.as_str()));
        assert_eq!(normalise(&display(&c).to_uppercase()).as_deref(), Some(c.as_str()));
        assert_eq!(normalise("0O1IL-abcde").as_deref(), Some("00111abcde"));
        assert_eq!(normalise("123456"), None, "a TOTP code is not a backup code");
        assert_ne!(generate_one(), generate_one());
    }
}
