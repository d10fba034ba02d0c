//! POST /v3/chargers/commands/bulk/{run}/retry: a new run of the same command and data for exactly
//! the chargers whose results ended with the given statuses (`offline` and `error` by default),
//! linked both ways (`retry_of` on the new run, `retries` on the old one). Chargers are resolved
//! and checked for access again, as for any new run; an Idempotency-Key is honoured.

use serde_json::{json, Value};
use shared::domain::rollout::Rollout;
use shared::domain::{Identity, ResultRecord, ResultStatus, Run};
use shared::ocpp::Command;
use shared::{Error, Result};

use crate::bulk_request::BulkRequest;
use crate::create;
use crate::ApiContext;

/// What a retry may target: the results that ended without the charger's answer in hand.
const RETRYABLE: [ResultStatus; 2] = [ResultStatus::Offline, ResultStatus::Error];
const PAGE: usize = 1_000;

/// The statuses a retry body names (`{"statuses": [...]}`), by default offline and error.
pub fn statuses(body: &Value) -> Result<Vec<ResultStatus>> {
    let invalid = || Error::invalid("statuses", "The statuses field must be a non-empty array of offline and error.");
    if !(body.is_object() || body.is_null()) {
        return Err(Error::invalid("body", "The request body must be a JSON object."));
    }
    let Some(named) = body.get("statuses").filter(|v| !v.is_null()) else {
        return Ok(RETRYABLE.to_vec());
    };
    let named = named.as_array().filter(|a| !a.is_empty()).ok_or_else(invalid)?;
    let mut statuses = Vec::new();
    for name in named {
        let status =
            name.as_str().and_then(ResultStatus::parse).filter(|s| RETRYABLE.contains(s)).ok_or_else(invalid)?;
        if !statuses.contains(&status) {
            statuses.push(status);
        }
    }
    Ok(statuses)
}

/// The rollout a retry body names (`{"rollout": {...}}`, as a POST's), if any.
pub fn rollout(run: &Run, body: &Value) -> Result<Option<Rollout>> {
    let mut errors = shared::error::ErrorCollector::default();
    let rollout =
        crate::rollout::parse(body.get("rollout").cloned(), run.outcome.is_some(), chrono::Utc::now(), &mut errors);
    match errors.into_error() {
        Some(err) => Err(err),
        None => Ok(rollout),
    }
}

/// The body's fingerprint for an Idempotency-Key: the run retried, the statuses, the rollout.
pub fn fingerprint(run: &Run, statuses: &[ResultStatus], body: &Value) -> String {
    let mut names: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
    names.sort_unstable();
    let rollout = body.get("rollout").cloned().unwrap_or(Value::Null);
    crate::request::fingerprint(&json!({ "retry_of": run.id, "statuses": names, "rollout": rollout }))
}

/// Creates the retry of `run` for the chargers whose results ended with `statuses`.
pub async fn submit(
    ctx: &ApiContext,
    caller: &Identity,
    run: &Run,
    statuses: &[ResultStatus],
    rollout: Option<Rollout>,
    idempotency: Option<(String, String)>,
) -> Result<(Run, Vec<ResultRecord>)> {
    if run.completed_at.is_none() {
        // Its results may still end offline or error (or be cancelled): retrying now would miss them.
        return Err(Error::invalid("run", "The run is still running: retry its failures once it has completed."));
    }
    let mut charger_ids = Vec::new();
    for status in statuses {
        let mut after = None;
        loop {
            let page = ctx.runs.results(run.id, Some(*status), after, PAGE).await?;
            charger_ids.extend(page.iter().map(|r| r.charger_uuid.clone()));
            match page.last() {
                Some(last) if page.len() == PAGE => after = Some(last.seq),
                _ => break,
            }
        }
    }
    if charger_ids.is_empty() {
        let names: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
        let message = format!("The run has no {} results to retry.", names.join(" or "));
        return Err(Error::invalid("statuses", message));
    }
    let command = Command::action_named(&run.command)
        .ok_or_else(|| Error::internal("api", format!("run {} has an unknown command", run.id)))?;
    let request = BulkRequest {
        command,
        data: run.data.clone(),
        versions: run.versions.clone(),
        charger_ids,
        target: None,
        // The retry reports where its run reports.
        callback: run.webhook.as_ref().map(|hook| (hook.url.clone(), hook.progress)),
        timeout_seconds: Some(run.timeout_seconds),
        max_per_second: run.max_per_second,
        outcome: run.outcome.clone(),
        rollout,
        retry_of: Some(run.id),
    };
    let (retry, results) = create::submit(ctx, caller, request, idempotency, chrono::Utc::now()).await?;
    // The retry exists and is dispatching whatever happens here: a failed link is logged, not an
    // error the client would answer by sending the retry again.
    if let Err(err) = ctx.runs.add_retry(run.id, retry.id).await {
        tracing::error!(run = %run.id, retry = %retry.id, error = %err, "could not list the retry on its run");
    }
    Ok((retry, results))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_default_to_offline_and_error_and_refuse_the_rest() {
        assert_eq!(statuses(&json!({})).unwrap(), RETRYABLE.to_vec());
        assert_eq!(statuses(&json!({"statuses": ["error", "error"]})).unwrap(), vec![ResultStatus::Error]);
        for bad in [json!({"statuses": []}), json!({"statuses": ["sent"]}), json!({"statuses": "error"}), json!([1])] {
            assert!(statuses(&bad).is_err(), "{bad}");
        }
    }
}
