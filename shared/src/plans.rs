//! What the worker needs of a run to dispatch it, and the WebSocket handler to check an answer
//! against its command, read once per run per warm process: the action, the payload encoded once
//! as JSON text, whether it fits each OCPP version, and the answer timeout, which never change
//! after creation; and whether it was cancelled, read again (one small read) at most every
//! `CANCEL_CHECK_EVERY`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::domain::{FollowKind, OutcomePolicy};
use crate::ocpp::catalogue::unfit;
use crate::ocpp::{Command, OcppVersion};
use crate::ports::{Gate, RunStore};
use crate::sync::locked;
use crate::{Error, Result};
use uuid::Uuid;

pub struct RunPlan {
    /// What a charger of each version is sent, or why it is not.
    v16: VersionPlan,
    v201: VersionPlan,
    pub timeout_seconds: u32,
    /// Who created it, when, and at what pace (a big run's chunks resolve and pace by them).
    pub owner: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub max_per_second: Option<u32>,
    /// How many results it has: a position at or past it names no result.
    pub total: u64,
    /// What its outcomes after the answer must come to, for a run that follows them.
    pub outcome: Option<OutcomePolicy>,
    /// It is rolled out: its results are dispatched by its watch, a wave at a time, not as created.
    pub rolled_out: bool,
    /// Its META said it was cancelled (then) when the plan was read: a run cancelled before
    /// cancels had a mark of their own (`RunStore::gate` reads the mark) is so known for good.
    pub cancelled: Option<chrono::DateTime<chrono::Utc>>,
    /// Why, when its rollout's abort threshold did it.
    pub cancel_reason: Option<String>,
}

/// What a run sends to the chargers of one version (`Run::command_for`).
pub struct VersionPlan {
    pub action: String,
    /// The payload, encoded once as JSON text.
    pub payload: Box<serde_json::value::RawValue>,
    /// Why the CALL does not go to a charger of this version (`catalogue::unfit`), if it does not.
    pub refusal: Option<String>,
    /// The `requestId` of a report request (`Command::reports`), whose parts are gathered.
    pub report: Option<i64>,
    /// The job the CALL starts whose outcome the charger reports later, and the `requestId` its
    /// notifications name (where the command has one).
    pub follow: Option<(FollowKind, Option<i64>)>,
}

impl VersionPlan {
    fn new(version: OcppVersion, action: &str, data: &serde_json::Value) -> Result<VersionPlan> {
        let reports = Command::find(version, action).is_some_and(Command::reports);
        Ok(VersionPlan {
            action: action.to_owned(),
            payload: serde_json::value::to_raw_value(data).map_err(|e| Error::internal("plans", e))?,
            refusal: unfit(version, action, data),
            report: reports.then(|| request_id(data)).flatten(),
            follow: FollowKind::of_command(action).map(|kind| (kind, request_id(data))),
        })
    }
}

fn request_id(data: &serde_json::Value) -> Option<i64> {
    data.get("requestId").and_then(serde_json::Value::as_i64)
}

impl RunPlan {
    /// What a charger speaking `version` is sent.
    pub fn of(&self, version: OcppVersion) -> &VersionPlan {
        match version {
            OcppVersion::V16 => &self.v16,
            OcppVersion::V201 => &self.v201,
        }
    }
}

/// How stale a worker's knowledge that a run is not cancelled may be: a CALL may still go out this
/// long after the cancel (and ends normally, as every CALL already in flight does).
pub const CANCEL_CHECK_EVERY: Duration = Duration::from_secs(1);

/// How long after a run stops being held every process knows it (`CANCEL_CHECK_EVERY`, and a
/// second for the read): what a resume dispatches again is queued this much later, so no dispatch
/// of it meets a process that still takes the run for held and drops it.
pub const HELD_KNOWN_AFTER_SECONDS: u32 = 2;

/// Plans kept per process; the cache is dropped whole when it grows past `CAPACITY` runs.
#[derive(Default)]
pub struct RunPlans {
    plans: Mutex<HashMap<Uuid, Arc<RunPlan>>>,
    /// Per run being read: the lock its readers queue on.
    loading: Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>>,
    /// Per run: cancelled (for good), or not cancelled as of the instant; held as of the instant.
    cancelled: Mutex<HashMap<Uuid, GateKnown>>,
}

const CAPACITY: usize = 1024;

/// A run's gate as last read, and when.
type GateKnown = (Gate, Instant);

impl RunPlans {
    pub async fn get(&self, runs: &dyn RunStore, id: Uuid) -> Result<Option<Arc<RunPlan>>> {
        if let Some(plan) = locked(&self.plans).get(&id) {
            return Ok(Some(plan.clone()));
        }
        // One read per run however many ask at once (a run's first answers come together): the
        // others wait for it.
        let loading = locked(&self.loading).entry(id).or_default().clone();
        let _one_at_a_time = loading.lock().await;
        if let Some(plan) = locked(&self.plans).get(&id) {
            return Ok(Some(plan.clone()));
        }
        let plan = self.load(runs, id).await;
        let mut loading_now = locked(&self.loading);
        // Only this read's entry: a reader that came after a failed read may have put its own.
        if loading_now.get(&id).is_some_and(|l| Arc::ptr_eq(l, &loading)) {
            loading_now.remove(&id);
        }
        plan
    }

    async fn load(&self, runs: &dyn RunStore, id: Uuid) -> Result<Option<Arc<RunPlan>>> {
        let Some(run) = runs.definition(id).await? else {
            return Ok(None);
        };
        let plan_of = |version| {
            let (action, data) = run.command_for(version);
            VersionPlan::new(version, action, data)
        };
        // The same (consistent) read tells whether it is cancelled: a run's first dispatches, which
        // come together, ask that next, and would otherwise each read it (0.2 GetItem per charger).
        // Cancelled, the plan itself says so (`RunPlan::cancelled`); not, it is known as of now
        // unless a cancel was seen since (from its mark), which META never undoes.
        let held = Gate { held: run.rollout_state.holds_calls(), ..Gate::default() };
        self.cancel_knowledge().entry(id).or_insert((held, Instant::now()));
        let plan = Arc::new(RunPlan {
            v16: plan_of(OcppVersion::V16)?,
            v201: plan_of(OcppVersion::V201)?,
            timeout_seconds: run.timeout_seconds,
            owner: run.owner,
            created_at: run.created_at,
            max_per_second: run.max_per_second,
            total: run.total_count,
            outcome: run.outcome.clone(),
            rolled_out: run.rollout.is_some(),
            cancelled: run.cancelled_at,
            cancel_reason: run.rollout_state.abort_reason.clone(),
        });
        let mut plans = locked(&self.plans);
        if plans.len() >= CAPACITY {
            plans.clear();
        }
        plans.insert(id, plan.clone());
        Ok(Some(plan))
    }

    /// Whether `id` was cancelled, and whether its new CALLs wait (`RunStore::gate`), known at most
    /// `CANCEL_CHECK_EVERY` (and one read) ago. A cancel is known for good once seen.
    pub async fn gate(&self, runs: &dyn RunStore, id: Uuid) -> Result<Gate> {
        if let Some(plan) = locked(&self.plans).get(&id).filter(|plan| plan.cancelled.is_some()) {
            return Ok(Gate { cancelled_at: plan.cancelled, reason: plan.cancel_reason.clone(), held: false });
        }
        {
            let mut known = locked(&self.cancelled);
            if let Some((gate, at)) = known.get_mut(&id) {
                if gate.cancelled_at.is_some() || at.elapsed() < CANCEL_CHECK_EVERY {
                    return Ok(gate.clone());
                }
                // This caller reads it again; those that ask meanwhile take the last answer (one
                // read per run per interval, however many dispatches ask at once).
                *at = Instant::now();
            }
        }
        self.gate_now(runs, id).await
    }

    /// `gate`, read now whatever is known, and known so from now on.
    pub async fn gate_now(&self, runs: &dyn RunStore, id: Uuid) -> Result<Gate> {
        let gate = runs.gate(id).await?;
        self.cancel_knowledge().insert(id, (gate.clone(), Instant::now()));
        Ok(gate)
    }

    /// What is known of runs' cancels, to add to: dropped whole once it holds `CAPACITY` runs, as
    /// the plans are (a process that loads plans and never asks, the websocket function's, adds too).
    fn cancel_knowledge(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, GateKnown>> {
        let mut known = locked(&self.cancelled);
        if known.len() >= CAPACITY {
            known.clear();
        }
        known
    }
}
