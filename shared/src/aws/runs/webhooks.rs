//! A run's webhook on its META item (`wh_*` attributes), and each user's webhook secret version
//! (`pk = WEBHOOK#{user}, sk = WEBHOOK`). Every change is one conditional UpdateItem.

use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::layout::meta_key;
use super::DynamoRunStore;
use crate::aws::errors::{applied, applied_or, sdk_error};
use crate::aws::item::{get_item, number, opt_n, opt_s, parse_time, string, Item};
use crate::clock::rfc3339;
use crate::error::Result;
use crate::ports::{Claim, RunWebhooks, WebhookSecrets};
use crate::webhook::{AttemptOutcome, Webhook, WebhookState};

/// The META attributes of a new run's webhook.
pub fn webhook_attributes(webhook: &Webhook, meta: &mut Item) {
    meta.insert("wh_url".into(), string(&webhook.url));
    meta.insert("wh_progress".into(), AttributeValue::Bool(webhook.progress));
    meta.insert("wh_state".into(), string(webhook.state.as_str()));
    meta.insert("wh_attempts".into(), number(webhook.attempts));
    meta.insert("wh_progress_sent".into(), number(webhook.progress_sent));
    meta.insert("wh_lease".into(), number(0));
    meta.insert("wh_recorded_attempt".into(), number(0));
    watch_attributes(meta);
}

/// The META attributes of a new run's watch (a webhook's, a rollout's), whose steps are claimed.
pub fn watch_attributes(meta: &mut Item) {
    meta.insert("wh_watch".into(), number(0));
    meta.insert("wh_watch_lease".into(), number(0));
    meta.insert("wh_watch_done".into(), number(0));
}

/// The run's webhook, if it has one.
pub fn parse_webhook(item: &Item) -> Result<Option<Webhook>> {
    let Some(url) = opt_s(item, "wh_url") else {
        return Ok(None);
    };
    Ok(Some(Webhook {
        url: url.to_owned(),
        progress: item.get("wh_progress").and_then(|v| v.as_bool().ok()) == Some(&true),
        state: opt_s(item, "wh_state").and_then(WebhookState::parse).unwrap_or(WebhookState::Pending),
        attempts: opt_n(item, "wh_attempts").unwrap_or(0),
        last_status: opt_n(item, "wh_last_status"),
        last_error: opt_s(item, "wh_last_error").map(str::to_owned),
        last_attempt_at: parse_time(item, "wh_last_attempt_at")?,
        delivered_at: parse_time(item, "wh_delivered_at")?,
        progress_sent: opt_n(item, "wh_progress_sent").unwrap_or(0),
    }))
}

/// A claim's outcome: applied; or, from the item as it stood when its condition failed, ours
/// already (an earlier try of this very request applied it and its answer was lost: the lease is
/// the one we asked for), held by another worker's live lease, or done. `unfinished` says whether
/// the item stands at the step claimed, not yet done.
fn claim_outcome(
    result: std::result::Result<UpdateItemOutput, SdkError<UpdateItemError, HttpResponse>>,
    lease_until: DateTime<Utc>,
    lease: &str,
    now: i64,
    unfinished: impl Fn(&Item) -> bool,
) -> Result<Claim> {
    match result {
        Ok(_) => Ok(Claim::Claimed),
        Err(err) => match err.as_service_error() {
            Some(UpdateItemError::ConditionalCheckFailedException(failed)) => {
                let Some(item) = failed.item().filter(|item| unfinished(item)) else {
                    return Ok(Claim::Done);
                };
                let held_until = opt_n::<i64>(item, lease).unwrap_or(0);
                Ok(if held_until == lease_until.timestamp_micros() {
                    Claim::Claimed
                } else if held_until >= now {
                    Claim::Held
                } else {
                    Claim::Done
                })
            }
            _ => Err(sdk_error("dynamodb", err)),
        },
    }
}

impl DynamoRunStore {
    /// An UpdateItem of `run`'s META, where a run's webhook lives.
    /// An UpdateItem of the run's META, to finish and send.
    pub(super) fn update_meta(&self, run: Uuid) -> UpdateItemFluentBuilder {
        self.update(meta_key(run))
    }

    /// An UpdateItem of the item at `key` of the runs table, to finish and send.
    pub(super) fn update(&self, key: crate::aws::item::Item) -> UpdateItemFluentBuilder {
        self.client.update_item().table_name(&self.table).set_key(Some(key))
    }
}

fn secret_key(user: &str) -> Item {
    Item::from([("pk".to_owned(), string(format!("WEBHOOK#{user}"))), ("sk".to_owned(), string("WEBHOOK"))])
}

#[async_trait]
impl RunWebhooks for DynamoRunStore {
    async fn claim_watch(&self, run: Uuid, step: u32, lease_until: DateTime<Utc>) -> Result<Claim> {
        let now = Utc::now().timestamp_micros();
        let result = self
            .update_meta(run)
            .update_expression("SET wh_watch = :step, wh_watch_lease = :lease")
            .condition_expression(
                "wh_watch < :step OR (wh_watch = :step AND wh_watch_lease < :now AND wh_watch_done < :step)",
            )
            .expression_attribute_values(":step", number(step))
            .expression_attribute_values(":lease", number(lease_until.timestamp_micros()))
            .expression_attribute_values(":now", number(now))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        claim_outcome(result, lease_until, "wh_watch_lease", now, |item| {
            let watch = opt_n::<u32>(item, "wh_watch").unwrap_or(0);
            watch == step && opt_n::<u32>(item, "wh_watch_done").unwrap_or(0) < step
        })
    }

    async fn watch_done(&self, run: Uuid, step: u32) -> Result<()> {
        let result = self
            .update_meta(run)
            .update_expression("SET wh_watch_done = :step")
            .condition_expression("wh_watch = :step")
            .expression_attribute_values(":step", number(step))
            .send()
            .await;
        applied(result).map(drop)
    }

    async fn progress_sent(&self, run: Uuid, tenth: u8) -> Result<bool> {
        // Its own token: the SDK's retry of a mark applied but answered 500 finds the tenth taken,
        // and must still post the event it took it for.
        let token = Uuid::new_v4().to_string();
        let result = self
            .update_meta(run)
            .update_expression("SET wh_progress_sent = :tenth, wh_progress_token = :token")
            .condition_expression("wh_progress_sent < :tenth")
            .expression_attribute_values(":tenth", number(tenth))
            .expression_attribute_values(":token", string(&token))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        applied_or(result, |item| opt_s(item, "wh_progress_token") == Some(token.as_str()))
    }

    async fn claim_attempt(&self, run: Uuid, attempt: u32, lease_until: DateTime<Utc>) -> Result<Claim> {
        let now = Utc::now().timestamp_micros();
        let result = self
            .update_meta(run)
            .update_expression("SET wh_attempts = :attempt, wh_lease = :lease")
            // The next attempt, or this one again when its worker died holding it (lease out, no outcome).
            .condition_expression(
                "wh_state = :pending AND (wh_attempts = :previous \
                 OR (wh_attempts = :attempt AND wh_lease < :now AND wh_recorded_attempt < :attempt))",
            )
            .expression_attribute_values(":attempt", number(attempt))
            .expression_attribute_values(":previous", number(attempt.saturating_sub(1)))
            .expression_attribute_values(":lease", number(lease_until.timestamp_micros()))
            .expression_attribute_values(":now", number(now))
            .expression_attribute_values(":pending", string(WebhookState::Pending.as_str()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        claim_outcome(result, lease_until, "wh_lease", now, |item| {
            let pending = opt_s(item, "wh_state") == Some(WebhookState::Pending.as_str());
            let current = opt_n::<u32>(item, "wh_attempts") == Some(attempt);
            pending && current && opt_n::<u32>(item, "wh_recorded_attempt").unwrap_or(0) < attempt
        })
    }

    async fn record_attempt(&self, run: Uuid, attempt: u32, outcome: &AttemptOutcome) -> Result<()> {
        let mut sets =
            vec!["wh_state = :state", "wh_last_attempt_at = :at", "wh_recorded_attempt = :attempt", "wh_lease = :zero"];
        let mut removes = Vec::new();
        let mut request = self
            .update_meta(run)
            .condition_expression("wh_attempts = :attempt AND wh_state = :pending")
            .expression_attribute_values(":state", string(outcome.state.as_str()))
            .expression_attribute_values(":at", string(rfc3339(outcome.at)))
            .expression_attribute_values(":attempt", number(attempt))
            .expression_attribute_values(":zero", number(0))
            .expression_attribute_values(":pending", string(WebhookState::Pending.as_str()));
        match outcome.status {
            Some(status) => {
                sets.push("wh_last_status = :status");
                request = request.expression_attribute_values(":status", number(status));
            }
            None => removes.push("wh_last_status"),
        }
        match &outcome.error {
            Some(error) => {
                sets.push("wh_last_error = :error");
                request = request.expression_attribute_values(":error", string(error));
            }
            None => removes.push("wh_last_error"),
        }
        if outcome.state == WebhookState::Delivered {
            sets.push("wh_delivered_at = :at");
        }
        let mut expression = format!("SET {}", sets.join(", "));
        if !removes.is_empty() {
            expression.push_str(&format!(" REMOVE {}", removes.join(", ")));
        }
        applied(request.update_expression(expression).send().await).map(drop)
    }
}

#[async_trait]
impl WebhookSecrets for DynamoRunStore {
    async fn secret_version(&self, user: &str) -> Result<Option<u32>> {
        let item = get_item(&self.client, &self.table, secret_key(user), true).await?;
        Ok(item.as_ref().and_then(|item| opt_n(item, "version")))
    }

    async fn rotate_secret(&self, user: &str) -> Result<u32> {
        let output = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(secret_key(user)))
            .update_expression("ADD version :one SET rotated_at = :now")
            .expression_attribute_values(":one", number(1))
            .expression_attribute_values(":now", string(rfc3339(Utc::now())))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| sdk_error("dynamodb", e))?;
        Ok(output.attributes.as_ref().and_then(|a| opt_n(a, "version")).unwrap_or(1))
    }
}
