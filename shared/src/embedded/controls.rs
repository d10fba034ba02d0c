//! What changes a run of the in-process store after its results are written, beside their endings:
//! its gate (cancel, held), its rollout state and its results' outcomes after the answer, each
//! change only over the revision it replaces (`RunStore::advance_rollout`, `advance_follow_up`).

use uuid::Uuid;

use super::store::MemoryStore;
use crate::domain::rollout::RolloutState;
use crate::domain::FollowUp;
use crate::ports::Gate;
use crate::sync::locked;

impl MemoryStore {
    pub(super) fn gate_of(&self, run: Uuid) -> Gate {
        self.entry(run).map_or_else(Gate::default, |entry| {
            let entry = locked(&entry);
            Gate { cancelled_at: entry.run.cancelled_at, reason: entry.cancel_reason.clone(), held: entry.held.0 }
        })
    }

    pub(super) fn hold(&self, run: Uuid, held: bool, rev: u32) -> bool {
        let Some(entry) = self.entry(run) else {
            return false;
        };
        let mut entry = locked(&entry);
        let newer = entry.held.1 <= rev;
        if newer {
            entry.held = (held, rev);
        }
        newer
    }

    pub(super) fn rollout_to(&self, run: Uuid, next: &RolloutState) -> bool {
        let Some(entry) = self.entry(run) else {
            return false;
        };
        let mut entry = locked(&entry);
        if entry.run.rollout_state.rev.checked_add(1) != Some(next.rev) {
            return false;
        }
        entry.run.rollout_state = next.clone();
        true
    }

    /// The follow-up at `seq` moved to `next`, the ending counted in the run (which may complete).
    pub(super) fn follow_up_to(&self, run: Uuid, seq: u64, next: &FollowUp) -> bool {
        let Some(entry) = self.entry(run) else {
            return false;
        };
        let mut entry = locked(&entry);
        let Some(result) = entry.result_mut(seq) else {
            return false;
        };
        let before = result.follow_up.as_ref().map(|follow| (follow.rev, follow.state));
        let Some((_, state)) = before.filter(|(rev, _)| rev.checked_add(1) == Some(next.rev)) else {
            return false;
        };
        result.follow_up = Some(next.clone());
        if !state.is_final() {
            entry.run.counters.add_outcome(next.state, 1);
        }
        entry.complete_if_done();
        true
    }
}
