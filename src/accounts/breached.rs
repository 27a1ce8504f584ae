//! Compromised passwords (OWASP ASVS 6.2.12), checked offline against an operator's list
//! of SHA-1 hashes in the Pwned Passwords download format: one `HASH:COUNT` line per
//! password (or a bare `HASH`), sorted by hash, upper- or lower-case hex.
//!
//! The file is never loaded: a lookup is a binary search over its bytes, about 30 small
//! reads for the full 40 GB list, on the blocking pool. An I/O failure is logged and the
//! password let through (a missing list must not stop every signup).

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// A sorted list of SHA-1 password hashes on disk.
#[derive(Debug, Clone)]
pub struct BreachedList {
    path: PathBuf,
}

impl BreachedList {
    /// The list at `path`. It must be readable now, and its first lines must be SHA-1
    /// hashes in ascending order (a list ordered by count, or of NTLM hashes, would open
    /// and then match almost nothing).
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let bad = |why: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_string());
        let mut previous: Option<Vec<u8>> = None;
        for line in BufReader::new(File::open(path)?).split(b'\n').take(16) {
            let line = line?;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let hash: Vec<u8> = line
                .iter()
                .take_while(|b| b.is_ascii_hexdigit())
                .map(u8::to_ascii_uppercase)
                .collect();
            if hash.len() != 40 || !matches!(line.get(40), None | Some(b':' | b'\r')) {
                return Err(bad(
                    "not a list of SHA-1 hashes (40 hex digits, then :COUNT or nothing, a line)",
                ));
            }
            if previous.as_ref().is_some_and(|p| *p >= hash) {
                return Err(bad("not sorted by hash (use the list ordered by hash)"));
            }
            previous = Some(hash);
        }
        Ok(Self {
            path: path.to_path_buf(),
        })
    }

    /// Whether `password` is on the list (blocking I/O).
    pub fn contains_blocking(&self, password: &str) -> std::io::Result<bool> {
        let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, password.as_bytes());
        let target = hex::encode_upper(digest.as_ref());
        let mut r = BufReader::with_capacity(4096, File::open(&self.path)?);
        let len = r.seek(SeekFrom::End(0))?;
        // Invariant: a matching line, if any, starts in [lo, hi); `lo` is a line start.
        let (mut lo, mut hi) = (0u64, len);
        let mut line = Vec::with_capacity(64);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            // The first line starting at or after `mid`.
            let start = if mid == lo {
                r.seek(SeekFrom::Start(lo))?;
                lo
            } else {
                r.seek(SeekFrom::Start(mid - 1))?;
                line.clear();
                let skipped = r.by_ref().take(4096).read_until(b'\n', &mut line)?;
                mid - 1 + u64::try_from(skipped).unwrap_or(u64::MAX)
            };
            if start >= hi {
                hi = mid;
                continue;
            }
            line.clear();
            let n = r.by_ref().take(4096).read_until(b'\n', &mut line)?;
            if n == 0 {
                hi = mid;
                continue;
            }
            let hash: Vec<u8> = line
                .iter()
                .take_while(|b| b.is_ascii_hexdigit())
                .map(u8::to_ascii_uppercase)
                .collect();
            match hash.as_slice().cmp(target.as_bytes()) {
                std::cmp::Ordering::Equal => return Ok(true),
                std::cmp::Ordering::Less => lo = start + u64::try_from(n).unwrap_or(u64::MAX),
                std::cmp::Ordering::Greater => hi = mid,
            }
        }
        Ok(false)
    }

    /// Whether `password` is on the list, off the async workers; false (logged) on I/O
    /// failure.
    pub async fn contains(&self, password: &secrecy::SecretString) -> bool {
        let list = self.clone();
        let pw = password.clone();
        match tokio::task::spawn_blocking(move || list.contains_blocking(secrecy::ExposeSecret::expose_secret(&pw)))
            .await
        {
            Ok(Ok(found)) => found,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "the compromised-password list could not be read");
                false
            }
            Err(e) => {
                tracing::warn!(error = %e, "the compromised-password check failed");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha1(p: &str) -> String {
        hex::encode_upper(ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, p.as_bytes()).as_ref())
    }

    #[test]
    fn finds_every_listed_password_and_no_other() {
        let dir = tempfile::tempdir().unwrap();
        let listed: Vec<String> = (0..500).map(|i| format!("password{i}")).collect();
        let mut lines: Vec<String> = listed
            .iter()
            .enumerate()
            .map(|(i, p)| format!("{}:{}", sha1(p), i + 1))
            .collect();
        lines.sort();
        for (name, eol) in [("crlf.txt", "\r\n"), ("lf.txt", "\n")] {
            let path = dir.path().join(name);
            std::fs::write(&path, lines.join(eol) + eol).unwrap();
            let list = BreachedList::open(&path).unwrap();
            for p in &listed {
                assert!(list.contains_blocking(p).unwrap(), "{p} not found in {name}");
            }
            for p in ["correct horse battery staple", "password500", "", "Password1"] {
                assert!(!list.contains_blocking(p).unwrap(), "{p} found in {name}");
            }
        }
        // Lower-case hashes, no counts, one line, an empty file.
        let path = dir.path().join("one.txt");
        std::fs::write(&path, sha1("hunter2").to_lowercase()).unwrap();
        assert!(BreachedList::open(&path).unwrap().contains_blocking("hunter2").unwrap());
        std::fs::write(&path, "").unwrap();
        assert!(!BreachedList::open(&path).unwrap().contains_blocking("hunter2").unwrap());
        assert!(BreachedList::open(&dir.path().join("missing")).is_err());
        // Lists this search cannot use are refused when they are opened.
        let mut by_count = lines.clone();
        by_count.reverse();
        std::fs::write(&path, by_count.join("\n")).unwrap();
        assert!(BreachedList::open(&path).unwrap_err().to_string().contains("sorted"));
        std::fs::write(&path, "8846F7EAEE8FB117AD06BDD830B7586C:12\n").unwrap();
        assert!(BreachedList::open(&path).unwrap_err().to_string().contains("SHA-1"));
    }
}
