//! The master key: 32 random bytes given by the operator (`secret_key`, `secret_key_file`)
//! or generated on first start. Sub-keys are derived with HKDF-SHA256, one per purpose:
//! sealing secrets at rest (ChaCha20-Poly1305 with a random nonce and the row's identity
//! as associated data), keyed hashes of tokens and client secrets (HMAC-SHA256), and a
//! fingerprint that lets a start detect a lost or changed key.

use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use ring::{aead, hkdf, hmac};
use secrecy::{ExposeSecret, SecretBox};

use super::random::random_bytes;

const SEAL_VERSION: u8 = 1;
const NONCE_LEN: usize = 12;

/// Errors of loading the master key or opening sealed data.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "secret_key: must be 32 random bytes encoded as base64 or hex (generate one with `openssl rand -base64 32`)"
    )]
    Malformed,
    #[error("secret_key_file: cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("cannot write the generated master key to {path}: {source}")]
    Write { path: String, source: std::io::Error },
    #[error("sealed data could not be opened: it was sealed with another master key or altered")]
    Open,
}

/// The master key. Never printed; only derived keys leave it.
pub struct MasterKey {
    bytes: SecretBox<[u8; 32]>,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey(id {})", self.id())
    }
}

impl MasterKey {
    /// Parses a key given as base64 (standard or URL-safe, padded or not) or hex.
    pub fn parse(encoded: &str) -> Result<Self, KeyError> {
        let s = encoded.trim();
        let decoded = [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD]
            .iter()
            .find_map(|e| e.decode(s).ok())
            .filter(|b| b.len() == 32)
            .or_else(|| hex::decode(s).ok().filter(|b| b.len() == 32))
            .ok_or(KeyError::Malformed)?;
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(&decoded);
        Ok(Self {
            bytes: SecretBox::new(Box::new(bytes)),
        })
    }

    /// A fresh random key.
    pub fn generate() -> Self {
        Self {
            bytes: SecretBox::new(Box::new(random_bytes::<32>())),
        }
    }

    /// The key's encoding for a key file (standard base64).
    pub fn encode(&self) -> String {
        STANDARD.encode(self.bytes.expose_secret())
    }

    /// Reads a key file.
    pub fn read_file(path: &Path) -> Result<Self, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text)
    }

    /// Reads the key file at `path`, or creates it with a new key (mode 0600) when absent.
    /// Returns the key and whether it was generated now.
    pub fn load_or_generate(path: &Path) -> Result<(Self, bool), KeyError> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    if std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0) {
                        tracing::warn!(path = %path.display(), "the master key file is readable by other users: chmod 600 it");
                    }
                }
                Ok((Self::parse(&text)?, false))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate();
                let write_err = |source| KeyError::Write {
                    path: path.display().to_string(),
                    source,
                };
                let mut opts = std::fs::OpenOptions::new();
                opts.write(true).create_new(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    opts.mode(0o600);
                }
                match opts.open(path) {
                    Ok(mut f) => {
                        f.write_all(format!("{}\n", key.encode()).as_bytes())
                            .map_err(write_err)?;
                        f.sync_all().map_err(write_err)?;
                        Ok((key, true))
                    }
                    // Another process created it first: use theirs.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok((Self::read_file(path)?, false)),
                    Err(e) => Err(write_err(e)),
                }
            }
            Err(source) => Err(KeyError::Read {
                path: path.display().to_string(),
                source,
            }),
        }
    }

    fn derive(&self, label: &'static [u8], out: &mut [u8]) {
        struct Len(usize);
        impl hkdf::KeyType for Len {
            fn len(&self) -> usize {
                self.0
            }
        }
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"gatehouse").extract(self.bytes.expose_secret());
        let info = [label];
        // Lengths here are fixed and far below HKDF's 255 * 32 byte limit.
        #[allow(clippy::expect_used)]
        prk.expand(&info, Len(out.len()))
            .and_then(|okm| okm.fill(out))
            .expect("HKDF output length is within bounds");
    }

    /// A short public fingerprint of the key, safe to log and store.
    pub fn id(&self) -> String {
        let mut out = [0u8; 6];
        self.derive(b"gatehouse key id v1", &mut out);
        hex::encode(out)
    }

    /// The sealer for secrets at rest.
    pub fn sealer(&self) -> Sealer {
        let mut k = [0u8; 32];
        self.derive(b"gatehouse seal v1", &mut k);
        #[allow(clippy::expect_used)]
        let key = aead::UnboundKey::new(&aead::CHACHA20_POLY1305, &k).expect("32-byte ChaCha20-Poly1305 key");
        Sealer {
            key: std::sync::Arc::new(aead::LessSafeKey::new(key)),
        }
    }

    /// The keyed hasher for tokens and client secrets.
    pub fn token_hasher(&self) -> TokenHasher {
        let mut k = [0u8; 32];
        self.derive(b"gatehouse token hash v1", &mut k);
        TokenHasher {
            key: hmac::Key::new(hmac::HMAC_SHA256, &k),
        }
    }
}

/// Seals and opens secrets at rest with a key derived from the master key.
#[derive(Clone)]
pub struct Sealer {
    key: std::sync::Arc<aead::LessSafeKey>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer")
    }
}

impl Sealer {
    /// Encrypts `plaintext`, bound to `context` (e.g. `"signing_key:<kid>"`): the sealed
    /// value only opens under the same context, so it cannot be moved to another row.
    pub fn seal(&self, plaintext: &[u8], context: &str) -> Vec<u8> {
        let nonce_bytes = random_bytes::<NONCE_LEN>();
        let mut buf = plaintext.to_vec();
        // Sealing only fails for inputs longer than ChaCha20-Poly1305 can take (256 GiB).
        #[allow(clippy::expect_used)]
        self.key
            .seal_in_place_append_tag(
                aead::Nonce::assume_unique_for_key(nonce_bytes),
                aead::Aad::from(context.as_bytes()),
                &mut buf,
            )
            .expect("plaintext within ChaCha20-Poly1305 limits");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + buf.len());
        out.push(SEAL_VERSION);
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&buf);
        out
    }

    /// Decrypts what [`Sealer::seal`] produced under the same context.
    pub fn open(&self, sealed: &[u8], context: &str) -> Result<Vec<u8>, KeyError> {
        let (version, rest) = sealed.split_first().ok_or(KeyError::Open)?;
        if *version != SEAL_VERSION || rest.len() < NONCE_LEN + aead::CHACHA20_POLY1305.tag_len() {
            return Err(KeyError::Open);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce = aead::Nonce::try_assume_unique_for_key(nonce).map_err(|_| KeyError::Open)?;
        let mut buf = ciphertext.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, aead::Aad::from(context.as_bytes()), &mut buf)
            .map_err(|_| KeyError::Open)?;
        Ok(plain.to_vec())
    }
}

/// Keyed hashes (HMAC-SHA256) of high-entropy secrets: refresh tokens, codes, client
/// secrets. Fast enough for the token endpoint; useless to anyone without the master key.
#[derive(Clone)]
pub struct TokenHasher {
    key: hmac::Key,
}

impl std::fmt::Debug for TokenHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenHasher")
    }
}

impl TokenHasher {
    /// The hash of `secret`, URL-safe base64.
    pub fn hash(&self, secret: &str) -> String {
        URL_SAFE_NO_PAD.encode(hmac::sign(&self.key, secret.as_bytes()).as_ref())
    }

    /// A sealer whose key is derived from `secret` (and the master key): what it seals
    /// opens only for someone who presents the same secret again, so the store holding
    /// it learns nothing usable (the reuse grace of refresh tokens keeps a successor so).
    pub fn sealer_for(&self, secret: &str) -> Sealer {
        let tag = hmac::sign(&self.key, format!("sealer-for\0{secret}").as_bytes());
        // HMAC-SHA256 tags are 32 bytes, exactly a ChaCha20-Poly1305 key.
        #[allow(clippy::expect_used)]
        let unbound = aead::UnboundKey::new(&aead::CHACHA20_POLY1305, tag.as_ref()).expect("a 32-byte key");
        Sealer {
            key: std::sync::Arc::new(aead::LessSafeKey::new(unbound)),
        }
    }

    /// Whether `secret` hashes to `expected`, compared in constant time.
    pub fn verify(&self, secret: &str, expected: &str) -> bool {
        match URL_SAFE_NO_PAD.decode(expected) {
            Ok(tag) => hmac::verify(&self.key, secret.as_bytes(), &tag).is_ok(),
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_base64_and_hex_and_rejects_others() {
        let k = MasterKey::generate();
        let encoded = k.encode();
        assert_eq!(MasterKey::parse(&encoded).unwrap().id(), k.id());
        let hex_form = hex::encode(STANDARD.decode(&encoded).unwrap());
        assert_eq!(MasterKey::parse(&hex_form).unwrap().id(), k.id());
        assert!(matches!(MasterKey::parse("too short"), Err(KeyError::Malformed)));
        assert!(matches!(
            MasterKey::parse(&STANDARD.encode([0u8; 16])),
            Err(KeyError::Malformed)
        ));
    }

    #[test]
    fn seal_round_trips_and_is_bound_to_key_and_context() {
        let k = MasterKey::generate();
        let s = k.sealer();
        let sealed = s.seal(b"private key bytes", "signing_key:a");
        assert_eq!(s.open(&sealed, "signing_key:a").unwrap(), b"private key bytes");
        assert!(s.open(&sealed, "signing_key:b").is_err());
        assert!(MasterKey::generate().sealer().open(&sealed, "signing_key:a").is_err());
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(s.open(&tampered, "signing_key:a").is_err());
        assert!(s.open(&[], "x").is_err());
        assert_ne!(s.seal(b"same", "c"), s.seal(b"same", "c"), "nonces must differ");
    }

    #[test]
    fn token_hashes_verify_only_under_the_same_key() {
        let k = MasterKey::generate();
        let h = k.token_hasher();
        let stored = h.hash("secret-token");
        assert!(h.verify("secret-token", &stored));
        assert!(!h.verify("secret-tokem", &stored));
        assert!(!h.verify("secret-token", "not base64 !"));
        assert!(!MasterKey::generate().token_hasher().verify("secret-token", &stored));
    }

    #[test]
    fn key_file_is_generated_once_with_private_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gatehouse.db.key");
        let (k1, generated) = MasterKey::load_or_generate(&path).unwrap();
        assert!(generated);
        let (k2, generated) = MasterKey::load_or_generate(&path).unwrap();
        assert!(!generated);
        assert_eq!(k1.id(), k2.id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
