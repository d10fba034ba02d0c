//! `ocpp-bulk tokens …` and `ocpp-bulk chargers …`: what is imported into a deployment's directory
//! table, listed without secrets; tokens revoked or rotated, chargers removed. Same hashing as
//! `import`: a token exists in clear only in the fleet file, or on the screen once when rotated.

use shared::aws::DynamoDirectory;
use uuid::Uuid;

pub async fn list_tokens(directory: &DynamoDirectory) -> Result<String, String> {
    let tokens = directory.list_tokens().await.map_err(|e| e.to_string())?;
    let mut out = format!("{:<24} {:<10}  {}\n", "USER", "HASH", "TEAMS");
    for token in &tokens {
        out.push_str(&format!("{:<24} {:<10}  {}\n", token.user, token.hash_prefix, token.teams.join(", ")));
    }
    out.push_str(&format!("{} token(s); a token is stored only as its SHA-256\n", tokens.len()));
    Ok(out)
}

pub async fn list_chargers(directory: &DynamoDirectory) -> Result<String, String> {
    let chargers = directory.list_chargers().await.map_err(|e| e.to_string())?;
    let mut out = format!("{:<20} {:<36}  {:<16} {:<8}  {}\n", "IDENTITY", "UUID", "TEAM", "PASSWORD", "REFERENCE");
    for c in &chargers {
        out.push_str(&format!(
            "{:<20} {:<36}  {:<16} {:<8}  {}\n",
            c.identity,
            c.uuid,
            c.team,
            if c.has_password { "yes" } else { "none" },
            c.reference.as_deref().unwrap_or("")
        ));
    }
    out.push_str(&format!("{} charger(s)\n", chargers.len()));
    Ok(out)
}

/// Revokes one token, or every token of a user.
pub async fn revoke(directory: &DynamoDirectory, token: Option<&str>, user: Option<&str>) -> Result<String, String> {
    match (token, user) {
        (Some(token), _) => match directory.revoke_token(token).await.map_err(|e| e.to_string())? {
            true => Ok("token revoked\n".into()),
            false => Err("no such token".into()),
        },
        (None, Some(user)) => {
            let (count, _) = directory.revoke_user(user).await.map_err(|e| e.to_string())?;
            Ok(format!("{count} token(s) of {user} revoked\n"))
        }
        (None, None) => Err("give --token or --user".into()),
    }
}

/// Replaces every token of `user` by a new random one, shown once.
pub async fn rotate(directory: &DynamoDirectory, user: &str) -> Result<String, String> {
    let token = Uuid::new_v4().simple().to_string();
    let teams = directory.rotate(user, &token).await.map_err(|e| e.to_string())?;
    Ok(format!("new token for {user} ({}), shown once: {token}\n", teams.join(", ")))
}

pub async fn remove_charger(directory: &DynamoDirectory, identity: &str) -> Result<String, String> {
    match directory.remove_charger(identity).await.map_err(|e| e.to_string())? {
        true => Ok(format!("charger {identity} removed (its live connection, if any, ends at its next reconnect)\n")),
        false => Err(format!("no charger {identity}")),
    }
}
