//! A run's rollout state on its META (`domain::rollout::RolloutState`): each change conditional
//! on the revision it replaces (`ro_rev`), so the run's watch and a pause or resume never undo
//! each other.

use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;
use uuid::Uuid;

use super::DynamoRunStore;
use crate::aws::errors::applied_or;
use crate::aws::item::{number, opt_s, string};
use crate::domain::rollout::RolloutState;
use crate::error::{Error, Result};

impl DynamoRunStore {
    /// `RunStore::advance_rollout`. A run stored before rollouts has no `ro_rev`: revision 0.
    pub(super) async fn write_rollout(&self, run: Uuid, next: &RolloutState) -> Result<bool> {
        let Some(before) = next.rev.checked_sub(1) else {
            return Ok(false);
        };
        let json = serde_json::to_string(next).map_err(|e| Error::internal("dynamodb", e))?;
        let condition = if before == 0 {
            "attribute_exists(pk) AND (attribute_not_exists(ro_rev) OR ro_rev = :before)"
        } else {
            "ro_rev = :before"
        };
        let result = self
            .update_meta(run)
            .update_expression("SET rollout_state = :state, ro_rev = :rev")
            .condition_expression(condition)
            .expression_attribute_values(":state", string(&json))
            .expression_attribute_values(":rev", number(next.rev))
            .expression_attribute_values(":before", number(before))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        // A retry of this very write, applied before its answer was lost (a 500 after the write), finds
        // its own state there: applied, not refused.
        applied_or(result, |item| opt_s(item, "rollout_state") == Some(json.as_str()))
    }
}
