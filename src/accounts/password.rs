//! Passwords: the policy (OWASP ASVS 6.2 — length bounds, a zxcvbn strength estimate,
//! no composition rules, the email itself refused) and argon2id hashing on a bounded pool
//! of its own, so a burst of logins cannot starve other work.

use std::sync::Arc;

use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
use secrecy::{ExposeSecret, SecretString};

use crate::config::{Argon2Config, PasswordPolicy};

/// Why a password was refused. Messages are shown to the user as they are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordPolicyError {
    #[error("the password must be at least {0} characters long")]
    TooShort(usize),
    #[error("the password must be at most {0} characters long")]
    TooLong(usize),
    #[error("the password must not contain your email address")]
    ContainsEmail,
    #[error("the password is too easy to guess{0}")]
    TooWeak(String),
    #[error("this password has appeared in a data breach, so attackers try it first: choose another")]
    Breached,
}

/// Checks `password` against the policy for the account `email`.
pub fn check_policy(policy: &PasswordPolicy, password: &str, email: &str) -> Result<(), PasswordPolicyError> {
    let len = password.chars().count();
    if len < policy.min_length {
        return Err(PasswordPolicyError::TooShort(policy.min_length));
    }
    if len > policy.max_length {
        return Err(PasswordPolicyError::TooLong(policy.max_length));
    }
    let lower = password.to_lowercase();
    let email_lower = email.to_lowercase();
    let local = email_lower.rsplit_once('@').map_or(email_lower.as_str(), |(l, _)| l);
    if lower.contains(&email_lower) || (local.chars().count() >= 4 && lower.contains(local)) {
        return Err(PasswordPolicyError::ContainsEmail);
    }
    let estimate = zxcvbn::zxcvbn(password, &[email, local]);
    if u8::from(estimate.score()) < policy.min_strength {
        let hint = estimate
            .feedback()
            .and_then(|f| f.warning().map(|w| format!(": {w}")))
            .unwrap_or_default();
        return Err(PasswordPolicyError::TooWeak(hint));
    }
    Ok(())
}

/// A hashing failure; never the password itself.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every hashing thread is busy and the queue is full: try again shortly.
    #[error("password hashing is at capacity")]
    Busy,
    /// Bad parameters, a worker gone.
    #[error("{0}")]
    Failed(String),
}

type Job = Box<dyn FnOnce() + Send>;

/// argon2's own threads: `threads` OS threads (not tokio's blocking pool, which file and
/// DNS work share), fed by a queue of at most `max_waiting` jobs. A job that finds the
/// queue full is refused at once ([`HashError::Busy`]) rather than waiting without bound.
/// On Linux the threads run at a lower priority (nice 10), so requests that need no
/// password (token, JWKS, introspection) keep their latency while logins storm; on an
/// idle machine the hashes still get every free cycle.
#[derive(Debug)]
struct Pool {
    tx: std::sync::mpsc::SyncSender<Job>,
}

impl Pool {
    fn start(threads: usize, max_waiting: usize) -> Result<Self, HashError> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Job>(max_waiting);
        let rx = Arc::new(std::sync::Mutex::new(rx));
        for n in 0..threads {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || {
                    lower_priority();
                    loop {
                        // The lock is held only while waiting for the next job.
                        let job = match rx.lock() {
                            Ok(r) => r.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            // Every sender is gone: the hasher was dropped.
                            Err(_) => return,
                        }
                    }
                })
                .map_err(|e| HashError::Failed(format!("argon2 thread: {e}")))?;
        }
        Ok(Self { tx })
    }

    async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T, HashError> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(f());
        });
        self.tx.try_send(job).map_err(|e| match e {
            std::sync::mpsc::TrySendError::Full(_) => HashError::Busy,
            std::sync::mpsc::TrySendError::Disconnected(_) => HashError::Failed("argon2 workers stopped".into()),
        })?;
        result
            .await
            .map_err(|_| HashError::Failed("argon2 worker stopped".into()))
    }
}

/// Lowers the calling thread's scheduling priority (Linux keeps nice per thread).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority has no memory effects; `who` 0 is the calling thread on Linux.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 10);
    }
}

/// argon2id with the configured parameters, on its own bounded pool of threads.
#[derive(Clone, Debug)]
pub struct PasswordHasher {
    params: Params,
    pool: Arc<Pool>,
    breached: Option<super::breached::BreachedList>,
    /// Verifications run at the configured cost (what a sign-in's timing is made of).
    at_current_cost: Arc<std::sync::atomic::AtomicU64>,
}

impl PasswordHasher {
    /// A hasher with the configured parameters (validated with the configuration).
    pub fn new(cfg: &Argon2Config) -> Result<Self, HashError> {
        let params = Params::new(cfg.memory_kib, cfg.iterations, cfg.parallelism, None)
            .map_err(|e| HashError::Failed(format!("argon2 parameters: {e}")))?;
        Ok(Self {
            params,
            pool: Arc::new(Pool::start(cfg.max_concurrent.max(1), cfg.max_waiting.max(1))?),
            breached: None,
            at_current_cost: Arc::default(),
        })
    }

    /// How many verifications so far ran against a hash of the current parameters.
    pub fn verifications_at_current_cost(&self) -> u64 {
        self.at_current_cost.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Refuses new passwords found in the list at `path` (`password.breached_list`).
    pub fn with_breached_list(mut self, path: Option<&std::path::Path>) -> Result<Self, HashError> {
        self.breached = path
            .map(super::breached::BreachedList::open)
            .transpose()
            .map_err(|e| HashError::Failed(format!("password.breached_list: {e}")))?;
        Ok(self)
    }

    /// Checks a new password against the compromised-password list, if one is configured.
    pub async fn check_breached(&self, password: &SecretString) -> Result<(), PasswordPolicyError> {
        match &self.breached {
            Some(list) if list.contains(password).await => Err(PasswordPolicyError::Breached),
            _ => Ok(()),
        }
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// Whether a stored PHC hash was made with the current algorithm and parameters.
    pub fn is_current(&self, hash: &str) -> bool {
        let want = format!(
            "$argon2id$v=19$m={},t={},p={}$",
            self.params.m_cost(),
            self.params.t_cost(),
            self.params.p_cost()
        );
        hash.starts_with(&want)
    }

    /// Hashes a password into a PHC string.
    pub async fn hash(&self, password: SecretString) -> Result<String, HashError> {
        let a = self.argon2();
        self.pool
            .run(move || {
                a.hash_password(password.expose_secret().as_bytes())
                    .map(|h| h.to_string())
                    .map_err(|e| HashError::Failed(e.to_string()))
            })
            .await?
    }

    /// Verifies a password against a PHC string; a malformed hash verifies as false.
    pub async fn verify(&self, password: SecretString, hash: String) -> Result<bool, HashError> {
        let current = self.is_current(&hash);
        let a = self.argon2();
        let ok = self
            .pool
            .run(move || {
                a.verify_password(password.expose_secret().as_bytes(), hash.as_str())
                    .is_ok()
            })
            .await?;
        if current {
            self.at_current_cost.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> PasswordPolicy {
        PasswordPolicy::default()
    }

    #[test]
    fn policy_bounds_strength_and_email() {
        let p = policy();
        assert_eq!(
            check_policy(&p, "short", "a@b.com"),
            Err(PasswordPolicyError::TooShort(8))
        );
        assert_eq!(
            check_policy(&p, &"x".repeat(129), "a@b.com"),
            Err(PasswordPolicyError::TooLong(128))
        );
        assert_eq!(
            check_policy(&p, "alice.smith@example.com1", "alice.smith@example.com"),
            Err(PasswordPolicyError::ContainsEmail)
        );
        assert_eq!(
            check_policy(&p, "xAliceSmith#2024", "alicesmith@example.com"),
            Err(PasswordPolicyError::ContainsEmail)
        );
        assert!(matches!(
            check_policy(&p, "password123", "a@b.com"),
            Err(PasswordPolicyError::TooWeak(_))
        ));
        assert!(check_policy(&p, "correct horse battery staple", "a@b.com").is_ok());
        // Length counts characters, not bytes, and nothing is truncated or case-folded.
        assert!(check_policy(&p, "ünïcödé pässwörd wîth spåces", "a@b.com").is_ok());
    }

    #[tokio::test]
    async fn hash_and_verify() {
        let h = PasswordHasher::new(&Argon2Config {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
            max_concurrent: 2,
            max_waiting: 64,
        })
        .unwrap();
        let hash = h.hash(SecretString::from("correct horse")).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert!(
            h.verify(SecretString::from("correct horse"), hash.clone())
                .await
                .unwrap()
        );
        assert!(!h.verify(SecretString::from("Correct horse"), hash).await.unwrap());
        assert!(!h.verify(SecretString::from("x"), "not a hash".into()).await.unwrap());
    }
}
