//! The fleet view: `GET /v3/chargers` lists the caller's chargers with what they said of
//! themselves, filtered; a run's `target` names its chargers by the same filter.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use shared::clock::rfc3339;
use shared::domain::charger_state::{ChargerState, FleetFilter, FleetKey, MAX_FILTER_BYTES};
use shared::domain::{Cursor, Identity};
use shared::{Error, Result};
use uuid::Uuid;

use crate::read::per_page;
use crate::views::Page;
use crate::ApiContext;

/// Chargers read per page while a run's target is resolved.
const RESOLVE_PAGE: usize = 1000;

/// The filter of a listing's query: empty parameters count as absent (as Laravel reads them).
pub fn filter_from_query(query: &HashMap<String, String>) -> Result<FleetFilter> {
    let text = |name: &str| query.get(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let connected = match text("connected").as_deref() {
        None => None,
        Some("true" | "1") => Some(true),
        Some("false" | "0") => Some(false),
        Some(_) => return Err(Error::invalid("connected", "The connected field must be true or false.")),
    };
    let filter = FleetFilter {
        team: text("team"),
        connected,
        vendor: text("vendor"),
        model: text("model"),
        firmware: text("firmware"),
        firmware_below: text("firmware_below"),
    };
    match filter.too_long() {
        Some(field) => {
            Err(Error::invalid(field, format!("The {field} field may be at most {MAX_FILTER_BYTES} characters.")))
        }
        None => Ok(filter),
    }
}

/// A run's `target`: an object with the listing's filter fields, nothing else.
pub fn filter_from_target(target: Value) -> std::result::Result<FleetFilter, String> {
    if !target.is_object() {
        return Err("The target field must be an object.".to_owned());
    }
    let filter: FleetFilter = serde_json::from_value(target).map_err(|err| {
        format!(
            "The target field must hold only team, connected (a boolean), vendor, model, firmware and \
             firmware_below (strings): {err}."
        )
    })?;
    match filter.too_long() {
        Some(field) => Err(format!("The target's {field} may be at most {MAX_FILTER_BYTES} characters.")),
        None => Ok(filter),
    }
}

/// One page of the caller's chargers that match `filter`, and where the next page starts.
pub async fn page(
    ctx: &ApiContext,
    caller: &Identity,
    filter: &FleetFilter,
    after: Option<&FleetKey>,
    limit: usize,
) -> Result<(Vec<ChargerState>, Option<FleetKey>)> {
    let teams = filter.teams(&caller.teams);
    let now = Utc::now();
    let (states, next) = ctx.fleet.page(&teams, filter.index(), after, limit, shared::ports::MAX_SCAN, filter).await?;
    // The caller's teams only, whatever an index that is catching up with a move still holds.
    let mine = |state: &ChargerState| teams.contains(&state.team);
    Ok((states.into_iter().filter(|state| mine(state) && filter.matches(state, now)).collect(), next))
}

/// Every charger of the caller's that `filter` matches, in listing order: a run's targets.
pub async fn resolve(ctx: &ApiContext, caller: &Identity, filter: &FleetFilter) -> Result<Vec<Uuid>> {
    let mut chargers = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut after = None;
    loop {
        let (states, next) = page(ctx, caller, filter, after.as_ref(), RESOLVE_PAGE).await?;
        // Once each, even if a renamed identity left a second state behind.
        chargers.extend(states.iter().map(|state| state.uuid).filter(|uuid| seen.insert(*uuid)));
        match next {
            Some(next) => after = Some(next),
            None => return Ok(chargers),
        }
    }
}

pub async fn list(ctx: &ApiContext, caller: &Identity, query: &HashMap<String, String>, path: String) -> Result<Value> {
    let per_page = per_page(query)?;
    let filter = filter_from_query(query)?;
    let scope = format!("chargers:{}:{}", caller.user, serde_json::to_string(&filter).unwrap_or_default());
    let after = match query.get("cursor") {
        None => None,
        Some(text) => Some(fleet_key(&Cursor::decode(text, &scope, &ctx.cursor_key)?.after)?),
    };
    let (states, next) = page(ctx, caller, &filter, after.as_ref(), per_page).await?;
    let next_cursor = next.map(|key| {
        let after = json!([key.team, key.charger, key.identity]).to_string();
        Cursor { scope, after }.encode(&ctx.cursor_key)
    });
    let now = Utc::now();
    Ok(Page {
        data: states.iter().map(|state| view(state, now)).collect(),
        path,
        per_page,
        next_cursor,
        prev_cursor: None,
        query: filter.query_pairs(),
    }
    .to_json())
}

fn fleet_key(text: &str) -> Result<FleetKey> {
    let invalid = || Error::invalid("cursor", "The cursor is invalid.");
    let (team, charger, identity): (String, Uuid, String) = serde_json::from_str(text).map_err(|_| invalid())?;
    Ok(FleetKey { team, charger, identity })
}

/// A charger as `docs/openapi.yaml` shows it (`ChargerState`).
pub fn view(state: &ChargerState, now: DateTime<Utc>) -> Value {
    let connected = state.is_connected(now);
    let boot = state.boot.as_ref();
    let connectors: Vec<Value> = state
        .connectors
        .iter()
        .map(|(key, c)| {
            let mut view = json!({"connector_id": key.connector, "status": c.status, "error_code": c.error_code,
                "at": rfc3339(c.at)});
            // OCPP 2.0.1 names the EVSE too: its connectors are numbered within it.
            if let Some(evse) = key.evse {
                view["evse_id"] = evse.into();
            }
            view
        })
        .collect();
    json!({
        "uuid": state.uuid,
        "identity": state.identity,
        "reference": state.reference,
        "team": state.team,
        "connected": connected,
        "connected_since": state.connected_since.filter(|_| connected).map(rfc3339),
        "ocpp_version": state.ocpp_version,
        "last_seen": state.last_seen.map(rfc3339),
        "vendor": boot.map(|b| &b.vendor),
        "model": boot.map(|b| &b.model),
        "firmware": boot.and_then(|b| b.firmware.as_ref()),
        "serial": boot.and_then(|b| b.serial.as_ref()),
        "booted_at": boot.map(|b| rfc3339(b.at)),
        "connectors": connectors,
    })
}
