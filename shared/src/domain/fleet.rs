//! The fleet file (README, "The local stack by hand"): tokens and chargers, with secrets in clear only in this input.

use std::collections::HashSet;
use std::path::Path;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::access::{password_hash, token_hash, Charger, Identity};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fleet {
    #[serde(default)]
    pub tokens: Vec<FleetToken>,
    #[serde(default)]
    pub chargers: Vec<FleetCharger>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetToken {
    pub token: String,
    pub user: String,
    #[serde(default)]
    pub teams: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetCharger {
    pub uuid: Uuid,
    pub identity: String,
    #[serde(default)]
    pub reference: Option<String>,
    pub team: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// What the stores hold, secrets hashed.
pub struct Provisioned {
    /// (token hash, identity)
    pub tokens: Vec<(String, Identity)>,
    pub chargers: Vec<Charger>,
}

#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("cannot read fleet file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("fleet file {path} is not valid: {source}")]
    Parse { path: String, source: serde_json::Error },
    #[error("fleet file is not valid: {0}")]
    Invalid(String),
}

/// A charger identity: 1-48 printable ASCII characters without `/` or `?` (it is the last segment
/// of the charger's URL).
pub fn is_valid_identity(id: &str) -> bool {
    !id.is_empty() && id.len() <= 48 && id.chars().all(|c| c.is_ascii_graphic() && c != '/' && c != '?')
}

impl Fleet {
    pub fn load(path: &Path) -> Result<Fleet, FleetError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| FleetError::Read { path: shown.clone(), source })?;
        serde_json::from_str(&text).map_err(|source| FleetError::Parse { path: shown, source })
    }

    /// Checks the fleet and hashes its secrets.
    pub fn provision(&self) -> Result<Provisioned, FleetError> {
        let mut identities = HashSet::new();
        let mut uuids = HashSet::new();
        for charger in &self.chargers {
            let id = &charger.identity;
            if !is_valid_identity(id) {
                return Err(FleetError::Invalid(format!(
                    "charger identity {id:?} must be 1-48 printable ASCII characters without / or ?"
                )));
            }
            // A team keys the fleet view's index partitions (`{team}#{model}`): never empty, no `#`.
            let team = &charger.team;
            if team.is_empty() || team.len() > 128 || team.contains('#') {
                return Err(FleetError::Invalid(format!(
                    "charger {id}'s team {team:?} must be 1-128 characters without #"
                )));
            }
            if !identities.insert(id.as_str()) {
                return Err(FleetError::Invalid(format!("charger identity {id} appears twice")));
            }
            if !uuids.insert(charger.uuid) {
                return Err(FleetError::Invalid(format!("charger uuid {} appears twice", charger.uuid)));
            }
        }
        let mut tokens = HashSet::new();
        for token in &self.tokens {
            // `#` starts the rate limiter's keys that are not users (a source address).
            if token.user.is_empty() || token.user.starts_with('#') {
                return Err(FleetError::Invalid(format!(
                    "user {:?} must be non-empty and not start with #",
                    token.user
                )));
            }
            if token.token.len() < 8 {
                return Err(FleetError::Invalid(format!(
                    "the token of user {} is shorter than 8 characters",
                    token.user
                )));
            }
            if !tokens.insert(token.token.as_str()) {
                return Err(FleetError::Invalid(format!("a token of user {} appears twice", token.user)));
            }
        }
        Ok(Provisioned {
            tokens: self
                .tokens
                .iter()
                .map(|t| (token_hash(&t.token), Identity { user: t.user.clone(), teams: t.teams.clone() }))
                .collect(),
            chargers: self
                .chargers
                .iter()
                .map(|c| Charger {
                    uuid: c.uuid,
                    identity: c.identity.clone(),
                    reference: c.reference.clone(),
                    team: c.team.clone(),
                    password_hash: c.password.as_deref().map(password_hash),
                })
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fleet(json: &str) -> Fleet {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn provisions_hashed_secrets() {
        let f = fleet(
            r#"{"tokens":[{"token":"dev-token-alice","user":"alice","teams":["acme"]}],
            "chargers":[{"uuid":"6f1c1f9e-3a53-4c55-9b1e-2d1f2c3b4a5d","identity":"CP001","reference":"Garage 1","team":"acme","password":"s3cret"}]}"#,
        );
        let p = f.provision().unwrap();
        assert_eq!(p.tokens[0].0, token_hash("dev-token-alice"));
        let hash = p.chargers[0].password_hash.as_deref().unwrap();
        assert!(crate::domain::access::password_matches(hash, "s3cret"));
    }

    #[test]
    fn refuses_duplicates_and_odd_identities() {
        let dup = fleet(
            r#"{"chargers":[{"uuid":"6f1c1f9e-3a53-4c55-9b1e-2d1f2c3b4a5d","identity":"A","team":"t"},
            {"uuid":"7f1c1f9e-3a53-4c55-9b1e-2d1f2c3b4a5d","identity":"A","team":"t"}]}"#,
        );
        assert!(dup.provision().is_err());
        let slash =
            fleet(r#"{"chargers":[{"uuid":"6f1c1f9e-3a53-4c55-9b1e-2d1f2c3b4a5d","identity":"a/b","team":"t"}]}"#);
        assert!(slash.provision().is_err());
        assert!(serde_json::from_str::<Fleet>(r#"{"chargerz":[]}"#).is_err());
    }
}
