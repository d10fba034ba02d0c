//! Keeps the fleet view (`shared::domain::charger_state`) from what chargers send. The view is
//! for operators: a write that fails is logged and never keeps a charger from its connection or
//! its answer.

use chrono::{DateTime, Utc};
use serde_json::Value;
use shared::domain::charger_state::{last_seen_is_stale, Boot, ConnectorStatus};
use shared::domain::{Charger, OcppVersion};
use shared::telemetry::connection_may_log;

use crate::WebsocketContext;

fn logged(identity: &str, what: &str, result: shared::Result<()>) {
    if let Err(err) = result {
        if connection_may_log(identity) {
            tracing::warn!(identity, error = %err, "fleet view: recording {what} failed");
        }
    }
}

pub async fn connected(ctx: &WebsocketContext, charger: &Charger, connection: &str, version: OcppVersion) {
    let result = ctx.fleet.connected(charger, connection, version, Utc::now()).await;
    logged(&charger.identity, "the connection", result);
}

pub async fn disconnected(ctx: &WebsocketContext, identity: &str, connection: &str) {
    logged(identity, "the disconnection", ctx.fleet.disconnected(identity, connection, Utc::now()).await);
}

/// A charger's CALL, answered with a CALLRESULT (so its payload passed its schema): a boot or a
/// status is recorded; anything else is a sign of life, written once per `LAST_SEEN_RESOLUTION`.
pub async fn observe(
    ctx: &WebsocketContext,
    identity: &str,
    version: OcppVersion,
    action: &str,
    payload: &Value,
    now: DateTime<Utc>,
) {
    let result = match action {
        "BootNotification" => match Boot::from_payload(version, payload, now) {
            Some(boot) => ctx.fleet.booted(identity, &boot).await,
            None => Ok(()),
        },
        "StatusNotification" => match ConnectorStatus::from_payload(version, payload, now) {
            Some((key, status)) => ctx.fleet.connector_status(identity, key, &status).await,
            None => Ok(()),
        },
        _ => match ctx.fleet.last_seen(identity).await {
            Ok(stored) if last_seen_is_stale(stored, now) => ctx.fleet.seen(identity, now).await,
            Ok(_) => Ok(()),
            Err(err) => Err(err),
        },
    };
    logged(identity, action, result);
}
