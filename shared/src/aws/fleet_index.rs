//! A page of the fleet view from the indexes. Each team's entries are split over `INDEX_SHARDS` key
//! values (`fleet_items::shard_of`), so no index partition takes a whole team's writes; a page
//! reads every share of a team from where the last page stopped, in charger order, and merges
//! them, so pages come in the same order as from one key (team, then charger) and resume the same
//! way (`FleetKey`).

use std::collections::HashMap;

use uuid::Uuid;

use super::batch;
use super::directory::DynamoDirectory;
use super::errors::sdk_error;
use super::fleet_items::{entry_of, model_key, parse_state, state_key, team_key, INDEX_SHARDS};
use super::item::{get_s, string};
use crate::domain::charger_state::{ChargerState, FleetFilter, FleetKey};
use crate::error::{Error, Result};
use crate::ports::{FleetIndex, MAX_SCAN};

/// Index entries read per Query while looking for a page's matches.
const QUERY_PAGE: i32 = 500;

/// What one share of a team gave a page: its matches in charger order, how many entries it read,
/// and, unless it was read to its end, the last entry it read (everything up to it was read).
struct Share {
    matches: Vec<FleetKey>,
    scanned: usize,
    read_to: Option<FleetKey>,
}

impl DynamoDirectory {
    /// `FleetStates::page` on DynamoDB: the narrowest index's entries, filtered on what they hold,
    /// then the page's states read whole.
    pub(super) async fn index_page(
        &self,
        teams: &[String],
        index: FleetIndex<'_>,
        after: Option<&FleetKey>,
        limit: usize,
        filter: &FleetFilter,
    ) -> Result<(Vec<ChargerState>, Option<FleetKey>)> {
        let mut found: Vec<FleetKey> = Vec::new();
        let mut next = None;
        let mut budget = MAX_SCAN;
        for team in teams.iter().filter(|team| after.is_none_or(|a| **team >= a.team)) {
            let from = after.filter(|a| a.team == *team).map(|a| a.charger);
            let wanted = limit + 1 - found.len();
            let per_share = budget.div_ceil(usize::from(INDEX_SHARDS)).max(1);
            let shares = (0..INDEX_SHARDS).map(|shard| self.share(team, shard, index, from, wanted, per_share, filter));
            let shares: Vec<Share> = futures::future::try_join_all(shares).await?;
            // Complete up to the lowest place a share stopped reading at: beyond it, another share
            // may hold a match not read yet.
            let bound = shares.iter().filter_map(|share| share.read_to.clone()).min_by_key(|key| key.charger);
            budget = budget.saturating_sub(shares.iter().map(|share| share.scanned).sum());
            let mut matches: Vec<FleetKey> = shares
                .into_iter()
                .flat_map(|share| share.matches)
                .filter(|key| bound.as_ref().is_none_or(|bound| key.charger <= bound.charger))
                .collect();
            matches.sort_by_key(|key| key.charger);
            found.extend(matches);
            if found.len() > limit {
                break;
            }
            if bound.is_some() {
                // Stopped early (its scan budget spent): the next page starts after `bound`.
                next = bound;
                break;
            }
            if budget == 0 {
                break;
            }
        }
        if found.len() > limit {
            found.truncate(limit);
            next = found.last().cloned();
        }
        let keys = found.iter().map(|key| state_key(&key.identity)).collect();
        let mut states: HashMap<String, ChargerState> = HashMap::new();
        for item in batch::get_all(self.client(), self.table(), keys, false).await? {
            let state = parse_state(&item)?;
            states.insert(state.identity.clone(), state);
        }
        Ok((found.iter().filter_map(|key| states.remove(&key.identity)).collect(), next))
    }

    /// One share of a team's entries after `from`, in charger order, until `wanted` match, `scan`
    /// were read, or it ends.
    #[allow(clippy::too_many_arguments)]
    async fn share(
        &self,
        team: &str,
        shard: u8,
        index: FleetIndex<'_>,
        from: Option<Uuid>,
        wanted: usize,
        scan: usize,
        filter: &FleetFilter,
    ) -> Result<Share> {
        let (index_name, hash, partition) = match index {
            FleetIndex::All => ("by-team", "fleet_team", team_key(team, shard)),
            FleetIndex::Connected => ("online", "fleet_online", team_key(team, shard)),
            FleetIndex::Model(model) => ("by-model", "fleet_model", model_key(team, model, shard)),
        };
        let mut share = Share { matches: Vec::new(), scanned: 0, read_to: None };
        let mut start = None;
        loop {
            // The first read asks no more than a page wants; a filter that rejects reads on.
            let ask = if share.scanned == 0 { wanted } else { QUERY_PAGE as usize };
            let ask = ask.min(scan - share.scanned).clamp(1, QUERY_PAGE as usize) as i32;
            let mut query = self
                .client()
                .query()
                .table_name(self.table())
                .index_name(index_name)
                .expression_attribute_names("#hash", hash)
                .expression_attribute_values(":partition", string(&partition))
                .set_exclusive_start_key(start)
                .limit(ask);
            query = match from {
                Some(from) => query
                    .key_condition_expression("#hash = :partition AND fleet_charger > :from")
                    .expression_attribute_values(":from", string(from.to_string())),
                None => query.key_condition_expression("#hash = :partition"),
            };
            let output = query.send().await.map_err(|e| sdk_error("dynamodb", e))?;
            for item in output.items() {
                let charger =
                    Uuid::try_parse(get_s(item, "fleet_charger")?).map_err(|e| Error::internal("dynamodb", e))?;
                share.scanned += 1;
                let key = FleetKey { team: team.to_owned(), charger, identity: get_s(item, "identity")?.to_owned() };
                if filter.may_match(&entry_of(item)) {
                    share.matches.push(key.clone());
                }
                if share.matches.len() >= wanted || share.scanned >= scan {
                    share.read_to = Some(key);
                    return Ok(share);
                }
            }
            start = output.last_evaluated_key;
            if start.is_none() {
                return Ok(share);
            }
        }
    }
}
