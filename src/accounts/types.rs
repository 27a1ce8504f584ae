//! Input types parsed at the edge: after parsing, nothing checks them again.

/// Why an email address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("enter an email address")]
    Empty,
    #[error("the email address is too long (at most 254 characters)")]
    TooLong,
    #[error("{0:?} is not a valid email address")]
    Invalid(String),
}

/// A syntactically valid email address. Accounts are unique by [`Email::canonical`]
/// (lower-cased), while the address is kept as the user typed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Parses a bare address (no display name), trimming surrounding whitespace.
    pub fn parse(input: &str) -> Result<Self, EmailError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(EmailError::Empty);
        }
        if s.chars().count() > 254 {
            return Err(EmailError::TooLong);
        }
        let opts = email_address::Options::default().without_display_text();
        let parsed =
            email_address::EmailAddress::parse_with_options(s, opts).map_err(|_| EmailError::Invalid(s.to_string()))?;
        // Also require what a mail transport can address.
        if s.parse::<lettre::Address>().is_err() || s.chars().any(char::is_control) {
            return Err(EmailError::Invalid(s.to_string()));
        }
        Ok(Self(parsed.as_str().to_string()))
    }

    /// The address as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form uniqueness is decided on.
    pub fn canonical(&self) -> String {
        self.0.to_lowercase()
    }

    /// The part before `@`.
    pub fn local_part(&self) -> &str {
        self.0.rsplit_once('@').map_or(self.0.as_str(), |(l, _)| l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_addresses_and_canonicalises_case() {
        let e = Email::parse("  Alice.Smith@Example.COM ").unwrap();
        assert_eq!(e.as_str(), "Alice.Smith@Example.COM");
        assert_eq!(e.canonical(), "alice.smith@example.com");
        assert_eq!(e.local_part(), "Alice.Smith");
    }

    #[test]
    fn rejects_malformed_and_hostile_input() {
        for bad in [
            "",
            "   ",
            "plain",
            "a@",
            "@b.com",
            "a b@c.com",
            "Alice <a@b.com>",
            "a@b.com\r\nBcc: x@y.com",
            "a@@b.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(Email::parse(&long), Err(EmailError::TooLong));
    }
}
