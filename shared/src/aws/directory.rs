//! Chargers and tokens on DynamoDB (the directory table): `CHARGER#{uuid}` and a copy under
//! `IDENTITY#{identity}` (so `$connect` is one read), `TOKEN#{sha256}`, and the fleet view's
//! `STATE#{identity}` (`fleet_states.rs`). Secrets only as hashes.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use uuid::Uuid;

use super::batch;
use super::item::{get_item, get_list_s, get_s, opt_s, string, Item};
use crate::domain::fleet::Provisioned;
use crate::domain::{Charger, Identity};
use crate::error::{Error, Result};
use crate::ports::{ChargerDirectory, TokenStore};

fn key(pk: String) -> Item {
    Item::from([("pk".to_owned(), string(pk))])
}

fn charger_item(pk: String, charger: &Charger) -> Item {
    let mut item = key(pk);
    item.insert("uuid".into(), string(charger.uuid.to_string()));
    item.insert("identity".into(), string(&charger.identity));
    item.insert("team".into(), string(&charger.team));
    if let Some(reference) = &charger.reference {
        item.insert("reference".into(), string(reference));
    }
    if let Some(hash) = &charger.password_hash {
        item.insert("password_hash".into(), string(hash));
    }
    item
}

fn parse_charger(item: &Item) -> Result<Charger> {
    Ok(Charger {
        uuid: Uuid::try_parse(get_s(item, "uuid")?).map_err(|e| Error::internal("dynamodb", e))?,
        identity: get_s(item, "identity")?.to_owned(),
        reference: opt_s(item, "reference").map(str::to_owned),
        team: get_s(item, "team")?.to_owned(),
        password_hash: opt_s(item, "password_hash").map(str::to_owned),
    })
}

pub struct DynamoDirectory {
    client: Client,
    table: String,
}

impl DynamoDirectory {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoDirectory { client, table: table.into() }
    }

    /// Writes a provisioned fleet (`ocpp-bulk import`), replacing items with the same keys.
    pub async fn import(&self, fleet: &Provisioned) -> Result<()> {
        let mut items = Vec::with_capacity(fleet.chargers.len() * 2 + fleet.tokens.len());
        for charger in &fleet.chargers {
            items.push(charger_item(format!("CHARGER#{}", charger.uuid), charger));
            items.push(charger_item(format!("IDENTITY#{}", charger.identity), charger));
        }
        for (hash, identity) in &fleet.tokens {
            let mut item = key(format!("TOKEN#{hash}"));
            item.insert("user".into(), string(&identity.user));
            item.insert("teams".into(), AttributeValue::L(identity.teams.iter().map(string).collect()));
            items.push(item);
        }
        batch::put_all(&self.client, &self.table, items).await?;
        self.import_states(&fleet.chargers).await
    }

    pub(super) fn client(&self) -> &Client {
        &self.client
    }

    pub(super) fn table(&self) -> &str {
        &self.table
    }

    async fn get(&self, pk: String) -> Result<Option<Item>> {
        get_item(&self.client, &self.table, key(pk), false).await
    }
}

#[async_trait]
impl TokenStore for DynamoDirectory {
    async fn identity_for_token_hash(&self, hash: &str) -> Result<Option<Identity>> {
        let Some(item) = self.get(format!("TOKEN#{hash}")).await? else {
            return Ok(None);
        };
        Ok(Some(Identity { user: get_s(&item, "user")?.to_owned(), teams: get_list_s(&item, "teams") }))
    }
}

#[async_trait]
impl ChargerDirectory for DynamoDirectory {
    async fn chargers_by_uuid(&self, ids: &[Uuid]) -> Result<Vec<Charger>> {
        let keys = ids.iter().map(|id| key(format!("CHARGER#{id}"))).collect();
        batch::get_all(&self.client, &self.table, keys, false).await?.iter().map(parse_charger).collect()
    }

    async fn charger_by_identity(&self, identity: &str) -> Result<Option<Charger>> {
        self.get(format!("IDENTITY#{identity}")).await?.as_ref().map(parse_charger).transpose()
    }
}
