//! POST /v3/chargers/commands/bulk/{run}/retry: a new run of the same command and data for exactly
//! the chargers whose results ended with the given statuses (`offline` and `error` by default), or,
//! for a run that follows outcomes, whose outcomes ended `failed` or `stalled` (by default too),
//! linked both ways (`retry_of` on the new run, `retries` on the old one). Chargers are resolved
//! and checked for access again, as for any new run; an Idempotency-Key is honoured.

use serde_json::{json, Value};
use shared::domain::rollout::Rollout;
use shared::domain::{FollowState, Identity, ResultRecord, ResultStatus, Run};
use shared::ocpp::Command;
use shared::{Error, Result};

use crate::bulk_request::BulkRequest;
use crate::create;
use crate::ApiContext;

/// What a retry may target: the results that ended without the charger's answer in hand.
const RETRYABLE: [ResultStatus; 2] = [ResultStatus::Offline, ResultStatus::Error];
const PAGE: usize = 1_000;

/// What a retry takes: the results that ended with one of `statuses`, and the sent results whose
/// outcome after the answer ended in one of `outcomes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retried {
    pub statuses: Vec<ResultStatus>,
    pub outcomes: Vec<FollowState>,
}

/// The outcomes a retry may take, for a run that follows them.
const RETRYABLE_OUTCOMES: [FollowState; 2] = [FollowState::Failed, FollowState::Stalled];

impl Retried {
    fn names(&self) -> Vec<&'static str> {
        let mut names: Vec<&str> = self.statuses.iter().map(|s| s.as_str()).collect();
        names.extend(self.outcomes.iter().map(|o| o.as_str()));
        names
    }
}

/// What a retry body names (`{"statuses": [...]}`): by default offline and error, and for a run that
/// follows outcomes, failed and stalled too.
pub fn statuses(run: &Run, body: &Value) -> Result<Retried> {
    let follows = run.outcome.is_some();
    let allowed = if follows { "offline, error, failed and stalled" } else { "offline and error" };
    let invalid = || Error::invalid("statuses", format!("The statuses field must be a non-empty array of {allowed}."));
    if !(body.is_object() || body.is_null()) {
        return Err(Error::invalid("body", "The request body must be a JSON object."));
    }
    let Some(named) = body.get("statuses").filter(|v| !v.is_null()) else {
        let outcomes = if follows { RETRYABLE_OUTCOMES.to_vec() } else { Vec::new() };
        return Ok(Retried { statuses: RETRYABLE.to_vec(), outcomes });
    };
    let named = named.as_array().filter(|a| !a.is_empty()).ok_or_else(invalid)?;
    let mut retried = Retried { statuses: Vec::new(), outcomes: Vec::new() };
    for name in named {
        let name = name.as_str().ok_or_else(invalid)?;
        if let Some(status) = ResultStatus::parse(name).filter(|s| RETRYABLE.contains(s)) {
            if !retried.statuses.contains(&status) {
                retried.statuses.push(status);
            }
        } else if let Some(outcome) = FollowState::parse(name).filter(|o| follows && RETRYABLE_OUTCOMES.contains(o)) {
            if !retried.outcomes.contains(&outcome) {
                retried.outcomes.push(outcome);
            }
        } else {
            return Err(invalid());
        }
    }
    Ok(retried)
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
pub fn fingerprint(run: &Run, retried: &Retried, body: &Value) -> String {
    let mut names = retried.names();
    names.sort_unstable();
    let rollout = body.get("rollout").cloned().unwrap_or(Value::Null);
    crate::request::fingerprint(&json!({ "retry_of": run.id, "statuses": names, "rollout": rollout }))
}

/// Creates the retry of `run` for the chargers `retried` names.
pub async fn submit(
    ctx: &ApiContext,
    caller: &Identity,
    run: &Run,
    retried: &Retried,
    rollout: Option<Rollout>,
    idempotency: Option<(String, String)>,
) -> Result<(Run, Vec<ResultRecord>)> {
    if run.completed_at.is_none() {
        // Its results may still end offline or error (or be cancelled): retrying now would miss them.
        return Err(Error::invalid("run", "The run is still running: retry its failures once it has completed."));
    }
    let mut charger_ids = Vec::new();
    // Sent results are read only for their outcomes: those that ended as the retry names.
    let outcomes = (!retried.outcomes.is_empty()).then_some(ResultStatus::Sent);
    for status in retried.statuses.iter().copied().chain(outcomes) {
        let mut after = None;
        loop {
            let page = ctx.runs.results(run.id, Some(status), after, PAGE).await?;
            let taken = page.iter().filter(|r| {
                status != ResultStatus::Sent
                    || r.follow_up.as_ref().is_some_and(|f| retried.outcomes.contains(&f.state))
            });
            charger_ids.extend(taken.map(|r| r.charger_uuid.clone()));
            match page.last() {
                Some(last) if page.len() == PAGE => after = Some(last.seq),
                _ => break,
            }
        }
    }
    if charger_ids.is_empty() {
        let message = format!("The run has no {} results to retry.", retried.names().join(" or "));
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
        let mut run = Run::new(uuid::Uuid::nil(), "u".into(), "Reset".into(), json!({}), 1, chrono::Utc::now(), 30);
        assert_eq!(statuses(&run, &json!({})).unwrap(), Retried { statuses: RETRYABLE.to_vec(), outcomes: vec![] });
        let error = statuses(&run, &json!({"statuses": ["error", "error"]})).unwrap();
        assert_eq!(error.statuses, vec![ResultStatus::Error]);
        for bad in [
            json!({"statuses": []}),
            json!({"statuses": ["sent"]}),
            json!({"statuses": "error"}),
            json!([1]),
            json!({"statuses": ["failed"]}),
        ] {
            assert!(statuses(&run, &bad).is_err(), "{bad}");
        }
        // A run that follows outcomes retries its failed and stalled ones too, by default or by name.
        run.outcome = Some(shared::domain::OutcomePolicy { timeout_seconds: 60, firmware_version: None });
        assert_eq!(statuses(&run, &json!({})).unwrap().outcomes, RETRYABLE_OUTCOMES.to_vec());
        let failed = statuses(&run, &json!({"statuses": ["failed"]})).unwrap();
        assert_eq!((failed.statuses.len(), failed.outcomes), (0, vec![FollowState::Failed]));
    }
}
