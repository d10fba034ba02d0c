//! A page of the fleet view from the indexes. Each team's entries are split over `INDEX_SHARDS` key
//! values (`fleet_items::shard_of`), so no index partition takes a whole team's writes; a page
//! reads every share of a team from where the last page stopped, in charger order, and merges
//! them, so pages come in the same order as from one key (team, then charger; then identity, for
//! the rare stale state that shares its uuid with a renamed one) and resume the same way
//! (`FleetKey`). The key a team had before the split is read as one more share, until every
//! charger has connected, booted or been imported since.

use std::collections::HashMap;

use uuid::Uuid;

use super::batch;
use super::directory::DynamoDirectory;
use super::errors::sdk_error;
use super::fleet_items::{entry_of, model_prefix, parse_state, sharded, state_key, INDEX_SHARDS};
use super::item::{get_s, string};
use crate::domain::charger_state::{ChargerState, FleetFilter, FleetKey};
use crate::error::{Error, Result};
use crate::ports::FleetIndex;

/// Index entries read per Query while looking for a page's matches.
const QUERY_PAGE: i32 = 500;

/// What one share of a team gave a page: its matches in charger order, how many entries it read,
/// and, unless it was read to its end, the last entry it read (everything up to it was read).
struct Share {
    matches: Vec<FleetKey>,
    scanned: usize,
    read_to: Option<FleetKey>,
}

/// What every share of one team's page reads alike.
#[derive(Clone, Copy)]
struct Read<'a> {
    index_name: &'static str,
    hash: &'static str,
    team: &'a str,
    /// Where the last page stopped, in this team.
    from: Option<&'a FleetKey>,
    wanted: usize,
    scan: usize,
    filter: &'a FleetFilter,
}

/// The order of a listing within a team.
fn order(key: &FleetKey) -> (Uuid, &str) {
    (key.charger, key.identity.as_str())
}

/// The index a listing reads, its key attribute, and a team's values of it: one per shard, and the
/// one from before the split.
fn partitions(team: &str, index: FleetIndex<'_>) -> (&'static str, &'static str, Vec<String>) {
    let (index_name, hash, unsplit) = match index {
        FleetIndex::All => ("by-team", "fleet_team", team.to_owned()),
        FleetIndex::Connected => ("online", "fleet_online", team.to_owned()),
        FleetIndex::Model(model) => ("by-model", "fleet_model", model_prefix(team, model)),
    };
    let mut keys: Vec<String> = (0..INDEX_SHARDS).map(|shard| sharded(&unsplit, shard)).collect();
    keys.push(unsplit);
    (index_name, hash, keys)
}

impl DynamoDirectory {
    /// `FleetStates::page` on DynamoDB: the narrowest index's entries, filtered on what they hold,
    /// then the page's states read whole. `scan` is shared among a team's shares.
    pub(super) async fn index_page(
        &self,
        teams: &[String],
        index: FleetIndex<'_>,
        after: Option<&FleetKey>,
        limit: usize,
        scan: usize,
        filter: &FleetFilter,
    ) -> Result<(Vec<ChargerState>, Option<FleetKey>)> {
        let mut found: Vec<FleetKey> = Vec::new();
        let mut next = None;
        let mut budget = scan;
        for team in teams.iter().filter(|team| after.is_none_or(|a| **team >= a.team)) {
            let from = after.filter(|a| a.team == *team);
            let wanted = limit + 1 - found.len();
            let (index_name, hash, partitions) = partitions(team, index);
            let per_share = budget.div_ceil(partitions.len()).max(1);
            let read = Read { index_name, hash, team, from, wanted, scan: per_share, filter };
            let shares = partitions.into_iter().map(|partition| self.share(&read, partition));
            let shares: Vec<Share> = futures::future::try_join_all(shares).await?;
            // Complete up to the lowest place a share stopped reading at: beyond it, another share
            // may hold a match not read yet.
            let bound = shares.iter().filter_map(|share| share.read_to.clone()).min_by(|a, b| order(a).cmp(&order(b)));
            budget = budget.saturating_sub(shares.iter().map(|share| share.scanned).sum());
            let mut matches: Vec<FleetKey> = shares
                .into_iter()
                .flat_map(|share| share.matches)
                .filter(|key| bound.as_ref().is_none_or(|bound| order(key) <= order(bound)))
                .collect();
            matches.sort_by(|a, b| order(a).cmp(&order(b)));
            found.extend(matches);
            if found.len() > limit {
                break;
            }
            if bound.is_some() {
                // Stopped early (its scan budget spent): the next page starts after `bound`.
                next = bound;
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

    /// One share of a team's entries after `read.from`, in charger order, until `read.wanted`
    /// match, `read.scan` were read, or it ends.
    async fn share(&self, read: &Read<'_>, partition: String) -> Result<Share> {
        let Read { index_name, hash, team, from, wanted, scan, filter } = *read;
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
                    .key_condition_expression("#hash = :partition AND fleet_charger >= :from")
                    .expression_attribute_values(":from", string(from.charger.to_string())),
                None => query.key_condition_expression("#hash = :partition"),
            };
            let output = query.send().await.map_err(|e| sdk_error("dynamodb", e))?;
            for item in output.items() {
                let charger =
                    Uuid::try_parse(get_s(item, "fleet_charger")?).map_err(|e| Error::internal("dynamodb", e))?;
                share.scanned += 1;
                let key = FleetKey { team: team.to_owned(), charger, identity: get_s(item, "identity")?.to_owned() };
                if from.is_some_and(|from| order(&key) <= order(from)) {
                    continue; // listed on an earlier page
                }
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
