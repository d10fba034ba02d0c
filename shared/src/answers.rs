//! A charger's answer (CALLRESULT or CALLERROR) to one of our CALLs, recorded. The WebSocket
//! handler records it as the frame arrives; when a backing service keeps failing, it hands the
//! answer, with everything learned so far, to the dispatch queue, and the worker records it from
//! there. API Gateway does not retry a `$default` invocation, so this hand-off is what keeps an
//! answer from being lost to a conflict, a throttle or a 5xx. Every step is conditional, so
//! recording one answer twice (a duplicated queue message, a retry) changes nothing the second time.

use crate::domain::{Expect, FollowKind, FollowUp, Outcome, ResultStatus};
use crate::error::Result;
pub use crate::messages::{ChargerAnswer, Reply};
use crate::ocpp::{call_id, Command, OcppVersion};
use crate::plans::RunPlans;
use crate::ports::{ConnectionRegistry, DispatchQueue, InflightCalls, RunStore};
use crate::queue_message::release_slot;

/// What became of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// The result left `pending` with it.
    Counted,
    /// Late, unknown or a duplicate: nothing changed.
    Ignored,
    /// The connection is not in the registry: the answer cannot be attributed.
    UnknownConnection,
}

/// The ports recording an answer needs.
pub struct AnswerPorts<'a> {
    pub connections: &'a dyn ConnectionRegistry,
    pub queue: &'a dyn DispatchQueue,
    pub inflight: &'a dyn InflightCalls,
    pub runs: &'a dyn RunStore,
    pub plans: &'a RunPlans,
}

/// Records `answer`, filling in its `identity` and `call` as they are learned, so that on an
/// error `answer` holds what a later attempt needs.
pub async fn record(ports: &AnswerPorts<'_>, answer: &mut ChargerAnswer) -> Result<Recorded> {
    let identity = match &answer.identity {
        Some(identity) => identity.clone(),
        None => match ports.connections.identity_of(&answer.connection).await? {
            Some((identity, version)) => {
                answer.version = version;
                answer.identity.insert(identity).clone()
            }
            None => return Ok(Recorded::UnknownConnection),
        },
    };
    let counted = match answered_call(ports, answer, &identity).await? {
        Some(answered) => {
            let mut outcome = outcome(answer.version, &answered.action, answer.reply.clone());
            if let (Some(kind), ResultStatus::Sent) = (answered.follows, outcome.status) {
                let response = outcome.response.as_ref().unwrap_or(&serde_json::Value::Null);
                outcome.follow_up = Some(FollowUp::after_answer(kind, &answered.action, response, answer.received_at));
            }
            let status = outcome.status;
            let (counted, freed) =
                ports.runs.finish_answered(answered.run, answered.seq, &answered.expect, outcome, &identity).await?;
            if !freed {
                release_slot(ports.inflight, ports.queue, &identity, &answer.call_id).await?;
            }
            if counted {
                let seq = answered.seq;
                tracing::debug!(run = %answered.run, seq, identity, status = status.as_str(), "answer recorded");
            }
            counted
        }
        None => false,
    };
    if counted {
        return Ok(Recorded::Counted);
    }
    if crate::telemetry::connection_may_log(&answer.connection) {
        tracing::info!(identity, call = answer.call_id, "late, unknown or duplicate answer ignored");
    }
    Ok(Recorded::Ignored)
}

/// The result an answer is for, and what must hold to record it.
struct Answered {
    run: uuid::Uuid,
    seq: u64,
    action: String,
    expect: Expect,
    /// The job whose outcome follows the answer, for a run that follows outcomes.
    follows: Option<FollowKind>,
}

/// The CALL an answer answers, as its message id names it (`call_id`): no read but the run's plan,
/// once per run per process; the result's own condition checks the rest (`Expect::Answer`). An id
/// from before ids named results is matched against the charger's slot. `None`: no such CALL.
async fn answered_call(
    ports: &AnswerPorts<'_>,
    answer: &mut ChargerAnswer,
    identity: &str,
) -> Result<Option<Answered>> {
    if let Some((run, seq)) = call_id::decode(&answer.call_id) {
        // A position the run does not have is not worth a write (a forged or garbled id).
        let Some(plan) = ports.plans.get(ports.runs, run).await?.filter(|plan| seq < plan.total) else {
            return Ok(None);
        };
        let expect = Expect::Answer {
            call_id: answer.call_id.clone(),
            identity: identity.to_owned(),
            received_at: answer.received_at,
        };
        let action = plan.of(answer.version).action.clone();
        let follows = plan.outcome.as_ref().and_then(|_| FollowKind::of_command(&action));
        return Ok(Some(Answered { run, seq, action, expect, follows }));
    }
    let call = match &answer.call {
        Some(call) => call.clone(),
        None => match ports.inflight.current(identity).await? {
            Some(call) if call.call_id == answer.call_id && call.expires_at > answer.received_at => {
                answer.call.insert(call).clone()
            }
            _ => return Ok(None),
        },
    };
    let plan = ports.plans.get(ports.runs, call.run).await?;
    let follows = plan.and_then(|plan| plan.outcome.as_ref().and_then(|_| FollowKind::of_command(&call.action)));
    let expect = Expect::Call(call.call_id);
    Ok(Some(Answered { run: call.run, seq: call.seq, action: call.action, expect, follows }))
}

/// The result an answer to `action` gives: a CALLRESULT must match the action's official
/// response schema, in the version the charger speaks, to count as sent. What the charger sent is
/// kept bounded (`Outcome::bounded`).
fn outcome(version: OcppVersion, action: &str, reply: Reply) -> Outcome {
    let outcome = match reply {
        Reply::Result(payload) => match Command::find(version, action).map(|c| c.check_response(&payload)) {
            Some(Err(errors)) => {
                let first = errors.first_message().unwrap_or_default().to_owned();
                Outcome { response: Some(payload), ..Outcome::error(format!("invalid response: {first}")) }
            }
            _ => Outcome::sent(payload),
        },
        Reply::Error(message) => Outcome::error(message),
    };
    outcome.bounded()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    #[test]
    fn a_handed_off_answer_round_trips_as_json() {
        let answer = ChargerAnswer {
            connection: "c1".into(),
            identity: Some("CP1".into()),
            call_id: "m1".into(),
            reply: Reply::Result(serde_json::json!({"status": "Accepted"})),
            version: OcppVersion::V201,
            received_at: Utc::now(),
            call: None,
        };
        let text = serde_json::to_string(&answer).unwrap();
        assert_eq!(serde_json::from_str::<ChargerAnswer>(&text).unwrap(), answer);
    }

    #[test]
    fn an_answer_outside_the_schema_is_an_error_that_keeps_the_payload() {
        let bad = outcome(OcppVersion::V16, "Reset", Reply::Result(serde_json::json!({"status": "Maybe"})));
        assert_eq!(bad.status, crate::domain::ResultStatus::Error);
        assert_eq!(bad.response, Some(serde_json::json!({"status": "Maybe"})));
        let good = outcome(OcppVersion::V16, "Reset", Reply::Result(serde_json::json!({"status": "Accepted"})));
        assert_eq!(good.status, crate::domain::ResultStatus::Sent);
        // 2.0.1's Reset may be Scheduled; 1.6's may not.
        let scheduled = || Reply::Result(serde_json::json!({"status": "Scheduled"}));
        assert_eq!(outcome(OcppVersion::V201, "Reset", scheduled()).status, crate::domain::ResultStatus::Sent);
        assert_eq!(outcome(OcppVersion::V16, "Reset", scheduled()).status, crate::domain::ResultStatus::Error);
    }
}
