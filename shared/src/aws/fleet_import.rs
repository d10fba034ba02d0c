//! `import`'s fleet states: a fleet of 150,000 new chargers was 300,000 single writes (a state's
//! update, then its index keys), over 12 minutes on moto. A new charger's state is now put with up to
//! 99 others in one TransactWriteItems, each on condition that no state exists yet, so a fresh import
//! costs one request per 100 chargers. A transaction that is cancelled — a state exists already (a
//! re-import, or a charger that connected meanwhile), or a conflict — leaves its chargers to
//! `import_state`, the per-charger update that keeps what chargers reported.

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use futures::{StreamExt, TryStreamExt};

use super::batch;
use super::directory::DynamoDirectory;
use super::errors::sdk_error;
use super::fleet_items::{shard_of, sharded, state_key};
use super::item::{string, Item};
use crate::domain::Charger;
use crate::error::{Error, Result};

/// Items one TransactWriteItems takes.
const PER_TRANSACTION: usize = 100;

/// A new charger's state, as `import_state` would leave an absent one: nothing observed yet.
fn new_state(charger: &Charger) -> Item {
    let mut item = state_key(&charger.identity);
    let uuid = charger.uuid.to_string();
    item.insert("identity".into(), string(&charger.identity));
    item.insert("charger".into(), string(&uuid));
    item.insert("fleet_charger".into(), string(&uuid));
    item.insert("team".into(), string(&charger.team));
    item.insert("fleet_team".into(), string(sharded(&charger.team, shard_of(charger.uuid))));
    item.insert("connectors".into(), AttributeValue::M(Default::default()));
    item.insert("connected".into(), AttributeValue::Bool(false));
    if let Some(reference) = &charger.reference {
        item.insert("reference".into(), string(reference));
    }
    item
}

impl DynamoDirectory {
    /// One state item per imported charger (see the module's documentation).
    pub(super) async fn import_states(&self, chargers: &[Charger]) -> Result<()> {
        futures::stream::iter(chargers.chunks(PER_TRANSACTION).map(|group| self.import_group(group)))
            .buffer_unordered(batch::CONCURRENCY)
            .try_collect()
            .await
    }

    async fn import_group(&self, group: &[Charger]) -> Result<()> {
        let puts = group
            .iter()
            .map(|charger| {
                let put = Put::builder()
                    .table_name(self.table())
                    .set_item(Some(new_state(charger)))
                    .condition_expression("attribute_not_exists(pk)")
                    .build()
                    .map_err(|e| Error::internal("dynamodb", e))?;
                Ok(TransactWriteItem::builder().put(put).build())
            })
            .collect::<Result<Vec<_>>>()?;
        match self.client().transact_write_items().set_transact_items(Some(puts)).send().await {
            Ok(_) => Ok(()),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_transaction_canceled_exception()) => {
                for charger in group {
                    self.import_state(charger).await?;
                }
                Ok(())
            }
            Err(err) => Err(sdk_error("dynamodb", err)),
        }
    }
}
