//! Who may do what: API tokens, teams, charger passwords. Secrets are kept only as hashes.
//!
//! Tokens and charger passwords are machine-generated keys, so a fast hash is right:
//! tokens as SHA-256, passwords as salted SHA-256. Comparisons run in constant time.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The caller behind a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub user: String,
    pub teams: Vec<String>,
}

impl Identity {
    pub fn can_access(&self, charger: &Charger) -> bool {
        self.teams.contains(&charger.team)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Charger {
    pub uuid: Uuid,
    /// The OCPP identity the charger connects with.
    pub identity: String,
    pub reference: Option<String>,
    pub team: String,
    /// `salt$sha256hex(salt || password)`, when the charger uses a password.
    pub password_hash: Option<String>,
}

impl Charger {
    pub fn as_ref(&self) -> crate::domain::ChargerRef {
        crate::domain::ChargerRef {
            uuid: self.uuid,
            identity: self.identity.clone(),
            reference: self.reference.clone(),
        }
    }
}

/// SHA-256 as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The stored form of an API token.
pub fn token_hash(token: &str) -> String {
    sha256_hex(token.as_bytes())
}

/// The stored form of a charger password, with a fresh random salt.
pub fn password_hash(password: &str) -> String {
    let salt = Uuid::new_v4().simple().to_string();
    salted(&salt, password)
}

fn salted(salt: &str, password: &str) -> String {
    let mut digest = Sha256::new();
    digest.update(salt.as_bytes());
    digest.update(password.as_bytes());
    format!("{salt}${}", hex::encode(digest.finalize()))
}

pub fn password_matches(stored: &str, password: &str) -> bool {
    let Some((salt, _)) = stored.split_once('$') else {
        return false;
    };
    constant_time_eq(salted(salt, password).as_bytes(), stored.as_bytes())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_hash_is_sha256_hex() {
        assert_eq!(token_hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn passwords_are_salted_and_checked() {
        let a = password_hash("s3cret");
        let b = password_hash("s3cret");
        assert_ne!(a, b, "salts differ");
        assert!(!a.contains("s3cret"));
        assert!(password_matches(&a, "s3cret"));
        assert!(!password_matches(&a, "s3cret "));
        assert!(!password_matches("garbage", "s3cret"));
    }

    #[test]
    fn access_is_by_team() {
        let charger = Charger {
            uuid: Uuid::new_v4(),
            identity: "CP1".into(),
            reference: None,
            team: "acme".into(),
            password_hash: None,
        };
        let alice = Identity { user: "alice".into(), teams: vec!["acme".into()] };
        let bob = Identity { user: "bob".into(), teams: vec!["other".into()] };
        assert!(alice.can_access(&charger));
        assert!(!bob.can_access(&charger));
    }
}
