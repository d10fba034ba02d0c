//! What a batch of records needs read, read at once: the results its dispatches and timeouts are
//! about (one BatchGetItem per 100) and the live connections of the chargers it dispatches to (one
//! more). Each record then looks here first and reads for itself only what was not asked. A batch
//! read that fails is only logged: the records read one at a time, as they would without it.

use std::collections::HashMap;

use shared::domain::ResultRecord;
use shared::ports::LiveConnection;
use shared::queue_message::DispatchMessage;
use shared::Result;
use uuid::Uuid;

use crate::WorkerContext;

#[derive(Default)]
pub struct Known {
    /// Every key asked for: `None` where no result is stored.
    results: HashMap<(Uuid, u64), Option<ResultRecord>>,
    /// Every identity asked for: `None` where the charger has no live connection.
    connections: HashMap<String, Option<LiveConnection>>,
}

impl Known {
    pub async fn read<'a>(ctx: &WorkerContext, messages: impl Iterator<Item = &'a DispatchMessage>) -> Known {
        let mut keys = Vec::new();
        let mut identities = Vec::new();
        for message in messages {
            match message {
                DispatchMessage::Dispatch { run, seq, identity, .. } => {
                    keys.push((*run, *seq));
                    identities.push(identity.clone());
                }
                DispatchMessage::Timeouts { run, calls, .. } => keys.extend(calls.iter().map(|c| (*run, c.seq))),
                _ => {}
            }
        }
        let mut known = Known::default();
        if !keys.is_empty() {
            match ctx.runs.results_at(&keys).await {
                Ok(found) => {
                    known.results = keys.iter().map(|key| (*key, None)).collect();
                    for (run, result) in found {
                        known.results.insert((run, result.seq), Some(result));
                    }
                }
                Err(err) => tracing::warn!(error = %err, "reading the batch's results failed; each reads its own"),
            }
        }
        if !identities.is_empty() {
            match ctx.connections.connections_of(&identities).await {
                Ok(found) => {
                    known.connections = identities.into_iter().map(|identity| (identity, None)).collect();
                    known.connections.extend(found.into_iter().map(|(identity, c)| (identity, Some(c))));
                }
                Err(err) => tracing::warn!(error = %err, "reading the batch's connections failed; each reads its own"),
            }
        }
        known
    }

    /// The result at `(run, seq)`, as the batch read it, or read now.
    pub async fn result(&self, ctx: &WorkerContext, run: Uuid, seq: u64) -> Result<Option<ResultRecord>> {
        match self.results.get(&(run, seq)) {
            Some(result) => Ok(result.clone()),
            None => ctx.runs.result(run, seq).await,
        }
    }

    /// The charger's live connection, as the batch read it, or read now.
    pub async fn connection(&self, ctx: &WorkerContext, identity: &str) -> Result<Option<LiveConnection>> {
        match self.connections.get(identity) {
            Some(connection) => Ok(connection.clone()),
            None => ctx.connections.connection_of(identity).await,
        }
    }
}
