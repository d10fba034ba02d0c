//! What the worker needs of a run to dispatch it, read once per run per warm process: the action,
//! the payload encoded once as JSON text, and the answer timeout. These never change after creation.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use shared::ports::RunStore;
use shared::sync::locked;
use shared::{Error, Result};
use uuid::Uuid;

pub struct RunPlan {
    pub action: String,
    pub payload: Box<serde_json::value::RawValue>,
    pub timeout_seconds: u32,
}

/// Plans kept per process; the cache is dropped whole when it grows past `CAPACITY` runs.
#[derive(Default)]
pub struct RunPlans {
    plans: Mutex<HashMap<Uuid, Arc<RunPlan>>>,
}

const CAPACITY: usize = 1024;

impl RunPlans {
    pub async fn get(&self, runs: &dyn RunStore, id: Uuid) -> Result<Option<Arc<RunPlan>>> {
        if let Some(plan) = locked(&self.plans).get(&id) {
            return Ok(Some(plan.clone()));
        }
        let Some(run) = runs.run(id).await? else {
            return Ok(None);
        };
        let payload = serde_json::value::to_raw_value(&run.data).map_err(|e| Error::internal("worker", e))?;
        let plan = Arc::new(RunPlan { action: run.command, payload, timeout_seconds: run.timeout_seconds });
        let mut plans = locked(&self.plans);
        if plans.len() >= CAPACITY {
            plans.clear();
        }
        plans.insert(id, plan.clone());
        Ok(Some(plan))
    }
}
