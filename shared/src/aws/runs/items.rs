//! A run's items and back: its results, counter shards and META, as DynamoDB attributes. A
//! counter is named as the status it counts (`ResultStatus::ENDINGS`).

use uuid::Uuid;

use super::layout::{meta_key, owner_sort_key, result_key, Layout};
use crate::aws::item::{get_n, get_s, number, opt_n, opt_s, parse_json, parse_time, string, Item};
use crate::clock::rfc3339;
use crate::domain::{ChargerRef, Counters, FollowState, ResultRecord, ResultStatus, Run};
use crate::error::{Error, Result};

/// Every item a new run writes: its results, then its META. No counter is written ahead: a run is
/// complete when its counters' endings add up to `total_count`, and a counter no answer has written
/// yet counts zero (the first answer's `ADD` creates it).
pub fn run_items(run: &Run, results: &[ResultRecord]) -> (Vec<Item>, Item) {
    let layout = Layout::for_run(results.len() as u64);
    let items = results.iter().map(|result| result_item(run.id, layout, result)).collect();
    (items, meta_item(run, layout))
}

/// The META of a run created in chunks, before its results (`create_run_shell`), and nothing else.
pub fn shell_item(run: &Run) -> Item {
    meta_item(run, Layout::for_run(run.total_count))
}

fn meta_item(run: &Run, layout: Layout) -> Item {
    let mut meta = meta_key(run.id);
    meta.insert("owner".into(), string(&run.owner));
    meta.insert("created".into(), string(owner_sort_key(run.created_at, run.id)));
    meta.insert("created_at".into(), string(rfc3339(run.created_at)));
    meta.insert("command".into(), string(&run.command));
    meta.insert("data".into(), string(run.data.to_string()));
    if !run.versions.is_empty() {
        meta.insert("versions".into(), string(serde_json::to_string(&run.versions).unwrap_or_default()));
    }
    meta.insert("total".into(), number(run.total_count));
    meta.insert("skipped".into(), number(run.counters.skipped));
    meta.insert("shards".into(), number(layout.results));
    meta.insert("counters".into(), number(layout.counters));
    meta.insert("timeout".into(), number(run.timeout_seconds));
    if let Some(rate) = run.max_per_second {
        meta.insert("max_per_second".into(), number(rate));
    }
    if let Some(retried) = run.retry_of {
        meta.insert("retry_of".into(), string(retried.to_string()));
    }
    if let Some(webhook) = &run.webhook {
        super::webhooks::webhook_attributes(webhook, &mut meta);
    } else if run.rollout.is_some() {
        // A rollout is driven by the run's watch, whose steps are claimed on META.
        super::webhooks::watch_attributes(&mut meta);
    }
    if let Some(target) = &run.target {
        meta.insert("target".into(), string(serde_json::to_string(target).unwrap_or_default()));
    }
    if let Some(outcome) = &run.outcome {
        meta.insert("outcome".into(), string(serde_json::to_string(outcome).unwrap_or_default()));
    }
    if let Some(rollout) = &run.rollout {
        meta.insert("rollout".into(), string(serde_json::to_string(rollout).unwrap_or_default()));
    }
    // Every run has a rollout state from its creation: a pause's conditional write compares its
    // revision (`ro_rev`).
    meta.insert("rollout_state".into(), string(serde_json::to_string(&run.rollout_state).unwrap_or_default()));
    meta.insert("ro_rev".into(), number(run.rollout_state.rev));
    if let Some(at) = run.completed_at {
        meta.insert("completed_at".into(), string(rfc3339(at)));
        for status in ResultStatus::ENDINGS {
            meta.insert(status.as_str().into(), number(run.counters.of(status)));
        }
        for state in FollowState::FINAL {
            meta.insert(state.as_str().into(), number(run.counters.outcome(state)));
        }
        meta.insert(TIMEOUT.into(), number(run.counters.timeout));
    }
    meta
}

pub fn result_item(run: Uuid, layout: Layout, result: &ResultRecord) -> Item {
    let mut item = result_key(run, layout, result.seq);
    item.insert("seq".into(), number(result.seq));
    item.insert("charger_uuid".into(), string(&result.charger_uuid));
    item.insert("status".into(), string(result.status.as_str()));
    if let Some(charger) = &result.charger {
        item.insert("charger_id".into(), string(charger.uuid.to_string()));
        item.insert("identity".into(), string(&charger.identity));
        if let Some(reference) = &charger.reference {
            item.insert("reference".into(), string(reference));
        }
    }
    item
}

pub fn parse_result(item: &Item) -> Result<ResultRecord> {
    let status = ResultStatus::parse(get_s(item, "status")?)
        .ok_or_else(|| Error::internal("dynamodb", "result has an unknown status"))?;
    let charger = match opt_s(item, "charger_id") {
        Some(id) => Some(ChargerRef {
            uuid: Uuid::try_parse(id).map_err(|e| Error::internal("dynamodb", e))?,
            identity: get_s(item, "identity")?.to_owned(),
            reference: opt_s(item, "reference").map(str::to_owned),
        }),
        None => None,
    };
    Ok(ResultRecord {
        seq: get_n(item, "seq")?,
        charger_uuid: get_s(item, "charger_uuid")?.to_owned(),
        status,
        message: opt_s(item, "message").map(str::to_owned),
        executed_at: parse_time(item, "executed_at")?,
        response: parse_json(item, "response")?,
        charger,
        call_id: opt_s(item, "call_id").map(str::to_owned),
        call_expires_at: opt_n::<i64>(item, "call_expires_ms").and_then(chrono::DateTime::from_timestamp_millis),
        report: super::reports::parse_summary(item),
        follow_up: match opt_s(item, "follow") {
            Some(json) => Some(serde_json::from_str(json).map_err(|e| Error::internal("dynamodb", e))?),
            None => None,
        },
    })
}

pub fn parse_layout(item: &Item) -> Result<Layout> {
    let results = get_n(item, "shards")?;
    Ok(Layout { results, counters: opt_n(item, "counters").unwrap_or(results), total: get_n(item, "total")? })
}

pub fn parse_meta(item: &Item) -> Result<(Run, Layout)> {
    let id = get_s(item, "pk")?.trim_start_matches("RUN#");
    let run = Run {
        id: Uuid::try_parse(id).map_err(|e| Error::internal("dynamodb", e))?,
        owner: get_s(item, "owner")?.to_owned(),
        command: get_s(item, "command")?.to_owned(),
        data: parse_json(item, "data")?.unwrap_or_default(),
        total_count: get_n(item, "total")?,
        counters: counters_of(item, Counters { skipped: get_n(item, "skipped")?, ..Counters::default() }),
        created_at: parse_time(item, "created_at")?
            .ok_or_else(|| Error::internal("dynamodb", "run without created_at"))?,
        completed_at: parse_time(item, "completed_at")?,
        timeout_seconds: get_n(item, "timeout")?,
        max_per_second: opt_n(item, "max_per_second"),
        retry_of: opt_s(item, "retry_of").and_then(|id| Uuid::try_parse(id).ok()),
        retries: retries_of(item),
        cancelled_at: parse_time(item, "cancelled_at")?,
        target: parse_json(item, "target")?.and_then(|target| serde_json::from_value(target).ok()),
        webhook: super::webhooks::parse_webhook(item)?,
        versions: match parse_json(item, "versions")? {
            Some(versions) => serde_json::from_value(versions).map_err(|e| Error::internal("dynamodb", e))?,
            None => Default::default(),
        },
        outcome: match parse_json(item, "outcome")? {
            Some(outcome) => Some(serde_json::from_value(outcome).map_err(|e| Error::internal("dynamodb", e))?),
            None => None,
        },
        rollout: match parse_json(item, "rollout")? {
            Some(rollout) => Some(serde_json::from_value(rollout).map_err(|e| Error::internal("dynamodb", e))?),
            None => None,
        },
        rollout_state: match parse_json(item, "rollout_state")? {
            Some(state) => serde_json::from_value(state).map_err(|e| Error::internal("dynamodb", e))?,
            None => Default::default(),
        },
    };
    Ok((run, parse_layout(item)?))
}

/// The runs retrying this one (a string set on META, added to once per retry).
fn retries_of(item: &Item) -> Vec<Uuid> {
    let mut ids: Vec<Uuid> = item
        .get("retries")
        .and_then(|v| v.as_ss().ok())
        .map(|ids| ids.iter().filter_map(|id| Uuid::try_parse(id).ok()).collect())
        .unwrap_or_default();
    ids.sort();
    ids
}

/// `base` plus the counts an item holds under each ending's name and each final outcome's (a
/// counter shard, a completed META),
/// and the results a shard counted `skipped_forbidden` (in a run created in chunks, ids are resolved,
/// and skipped, after the run exists; a completed META holds every skip in `skipped`).
/// The counter of `error`s that were timeouts (`Counters::timeout`).
pub const TIMEOUT: &str = "timeouts";

pub fn counters_of(item: &Item, mut base: Counters) -> Counters {
    for status in ResultStatus::ENDINGS {
        base.add(status, opt_n(item, status.as_str()).unwrap_or(0));
    }
    for state in FollowState::FINAL {
        base.add_outcome(state, opt_n(item, state.as_str()).unwrap_or(0));
    }
    base.timeout += opt_n::<u64>(item, TIMEOUT).unwrap_or(0);
    base.skipped += opt_n::<u64>(item, ResultStatus::SkippedForbidden.as_str()).unwrap_or(0);
    base
}
