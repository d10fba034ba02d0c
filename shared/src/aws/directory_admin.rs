//! Managing the directory table of a deployment (`ocpp-bulk tokens …`, `ocpp-bulk chargers …`):
//! list what is imported without its secrets, revoke and rotate tokens, remove chargers. Listing
//! scans the table: an operator's tool, never on a request path.

use aws_sdk_dynamodb::types::AttributeValue;

use super::directory::DynamoDirectory;
use super::errors::sdk_error;
use super::item::{get_item, get_list_s, get_s, opt_s, string, Item};
use crate::domain::access::token_hash;
use crate::error::{Error, Result};

/// A token as listed: never the token, only a short prefix of its hash to tell them apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenEntry {
    pub hash_prefix: String,
    pub user: String,
    pub teams: Vec<String>,
}

/// A charger as listed: whether it has a password, never its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargerEntry {
    pub uuid: String,
    pub identity: String,
    pub team: String,
    pub reference: Option<String>,
    pub has_password: bool,
}

fn key(pk: String) -> Item {
    Item::from([("pk".to_owned(), string(pk))])
}

impl DynamoDirectory {
    /// Every item whose key starts with `prefix`, all pages.
    async fn scan(&self, prefix: &str) -> Result<Vec<Item>> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client()
                .scan()
                .table_name(self.table())
                .filter_expression("begins_with(pk, :prefix)")
                .expression_attribute_values(":prefix", string(prefix))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| sdk_error("dynamodb", e))?;
            items.extend(page.items.unwrap_or_default());
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    pub async fn list_tokens(&self) -> Result<Vec<TokenEntry>> {
        let mut tokens = self
            .scan("TOKEN#")
            .await?
            .iter()
            .map(|item| {
                let hash = get_s(item, "pk")?.trim_start_matches("TOKEN#");
                Ok(TokenEntry {
                    hash_prefix: hash.chars().take(8).collect(),
                    user: get_s(item, "user")?.to_owned(),
                    teams: get_list_s(item, "teams"),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        tokens.sort_by(|a, b| (&a.user, &a.hash_prefix).cmp(&(&b.user, &b.hash_prefix)));
        Ok(tokens)
    }

    pub async fn list_chargers(&self) -> Result<Vec<ChargerEntry>> {
        let mut chargers = self
            .scan("CHARGER#")
            .await?
            .iter()
            .map(|item| {
                Ok(ChargerEntry {
                    uuid: get_s(item, "uuid")?.to_owned(),
                    identity: get_s(item, "identity")?.to_owned(),
                    team: get_s(item, "team")?.to_owned(),
                    reference: opt_s(item, "reference").map(str::to_owned),
                    has_password: opt_s(item, "password_hash").is_some(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        chargers.sort_by(|a, b| a.identity.cmp(&b.identity));
        Ok(chargers)
    }

    /// Deletes an item, whether or not it is there. What was there is read first, not taken from
    /// the delete's `ALL_OLD`: a delete applied but answered 500 is retried by the SDK, and the
    /// retry, finding nothing, would answer "no such item" for an item this very call removed.
    async fn delete(&self, pk: String) -> Result<()> {
        self.client()
            .delete_item()
            .table_name(self.table())
            .set_key(Some(key(pk)))
            .send()
            .await
            .map_err(|e| sdk_error("dynamodb", e))?;
        Ok(())
    }

    async fn read(&self, pk: String) -> Result<Option<Item>> {
        get_item(self.client(), self.table(), key(pk), true).await
    }

    /// Revokes one token (given in clear, looked up by its hash). `false`: no such token.
    pub async fn revoke_token(&self, token: &str) -> Result<bool> {
        let pk = format!("TOKEN#{}", token_hash(token));
        if self.read(pk.clone()).await?.is_none() {
            return Ok(false);
        }
        self.delete(pk).await?;
        Ok(true)
    }

    /// Revokes every token of `user`; returns how many there were and the teams they carried.
    pub async fn revoke_user(&self, user: &str) -> Result<(usize, Vec<String>)> {
        let mut teams = Vec::new();
        let mut count = 0;
        for item in self.scan("TOKEN#").await? {
            if get_s(&item, "user")? != user {
                continue;
            }
            for team in get_list_s(&item, "teams") {
                if !teams.contains(&team) {
                    teams.push(team);
                }
            }
            self.delete(get_s(&item, "pk")?.to_owned()).await?;
            count += 1;
        }
        Ok((count, teams))
    }

    /// Replaces every token of `user` by `new_token` with the same teams (hashed, as `import`
    /// stores it). An error when the user has no token: there is nothing to rotate.
    pub async fn rotate(&self, user: &str, new_token: &str) -> Result<Vec<String>> {
        let (count, teams) = self.revoke_user(user).await?;
        if count == 0 {
            return Err(Error::invalid("user", format!("{user} has no token to rotate")));
        }
        let mut item = key(format!("TOKEN#{}", token_hash(new_token)));
        item.insert("user".into(), string(user));
        item.insert("teams".into(), AttributeValue::L(teams.iter().map(string).collect()));
        self.client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| sdk_error("dynamodb", e))?;
        Ok(teams)
    }

    /// Removes a charger (its items and its state). `false`: no charger has that identity.
    pub async fn remove_charger(&self, identity: &str) -> Result<bool> {
        let Some(item) = self.read(format!("IDENTITY#{identity}")).await? else {
            return Ok(false);
        };
        // The identity goes last: a removal cut short is finished by running it again.
        self.delete(format!("CHARGER#{}", get_s(&item, "uuid")?)).await?;
        self.delete(format!("STATE#{identity}")).await?;
        self.delete(format!("IDENTITY#{identity}")).await?;
        Ok(true)
    }
}
