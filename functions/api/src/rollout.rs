//! The POST's (and a retry's) `rollout` field, checked (`shared::domain::rollout`): waves, their
//! order, soak and success threshold, the abort threshold, a start time, a daily window. Whether
//! the waves add up is checked once the run's size is known (`Rollout::waves_refused`, at creation).

use chrono::{DateTime, Duration, NaiveTime, Utc};
use serde_json::{Map, Value};
use shared::domain::rollout::{AbortRule, FailureKind, Order, Rollout, WaveSize, Window};
use shared::error::ErrorCollector;

use crate::bulk_request::integer;

/// The most waves a rollout has.
pub const MAX_WAVES: usize = 100;
/// How far ahead a run may be scheduled, and the longest soak.
pub const MAX_AHEAD: Duration = Duration::days(7);

/// Whether a run of `total` positions can be rolled out as `rollout` says (its waves add up): the
/// 422 when not.
pub fn fits(rollout: Option<&Rollout>, total: u64) -> shared::Result<()> {
    match rollout.and_then(|rollout| rollout.waves_refused(total)) {
        Some(message) => Err(shared::Error::invalid("rollout.waves", message)),
        None => Ok(()),
    }
}

/// The watch messages of a rolled-out run (its rollout is driven by the run's watch,
/// `worker/src/rollouts.rs`): one queued before the run is stored, delayed past any request's end,
/// so a creation that dies after storing the run still starts it; one after, to start at once.
/// The watch claims each step: the second to come finds it done.
pub fn watches(run: uuid::Uuid) -> [shared::ports::Outgoing<shared::queue_message::DispatchMessage>; 2] {
    let watch = |delay_seconds| shared::ports::Outgoing {
        message: shared::queue_message::DispatchMessage::WebhookWatch { run, step: 1 },
        delay_seconds,
    };
    [watch(WATCH_BACKSTOP_SECONDS), watch(1)]
}

/// Past API Gateway's 30 s: the request that stored the run is over when it comes.
const WATCH_BACKSTOP_SECONDS: u32 = 35;

/// The rollout, if the field is given; every problem is added to `errors` under `rollout.…`.
pub fn parse(value: Option<Value>, follows: bool, now: DateTime<Utc>, errors: &mut ErrorCollector) -> Option<Rollout> {
    let value = value.filter(|v| !v.is_null())?;
    let Value::Object(mut fields) = value else {
        errors.add("rollout", "The rollout field must be an object.".into());
        return None;
    };
    let before = errors.len();
    let waves = waves(fields.remove("waves"), errors);
    let order = match (fields.remove("order"), fields.remove("seed")) {
        (None | Some(Value::Null), None) => Order::Request,
        (Some(Value::String(order)), None) if order == "request" => Order::Request,
        (Some(Value::String(order)), seed) if order == "shuffle" => match seed {
            None | Some(Value::Null) => Order::Shuffle { seed: uuid::Uuid::new_v4().as_u64_pair().0 },
            Some(seed) => match seed.as_u64() {
                Some(seed) => Order::Shuffle { seed },
                None => {
                    errors.add("rollout.seed", "The rollout.seed field must be a non-negative integer.".into());
                    Order::Request
                }
            },
        },
        (_, Some(_)) => {
            errors.add("rollout.seed", "The rollout.seed field needs rollout.order \"shuffle\".".into());
            Order::Request
        }
        _ => {
            errors.add("rollout.order", "The rollout.order field must be \"request\" or \"shuffle\".".into());
            Order::Request
        }
    };
    let max_soak = u32::try_from(MAX_AHEAD.num_seconds()).unwrap_or(u32::MAX);
    let soak_seconds = integer(&mut fields, "soak_seconds", "rollout.soak_seconds", (0, max_soak), errors).unwrap_or(0);
    let success_percent = share(&mut fields, "success_threshold", errors);
    let pause_after_wave = match fields.remove("pause_after_each_wave") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(pause)) => pause,
        Some(_) => {
            errors.add(
                "rollout.pause_after_each_wave",
                "The rollout.pause_after_each_wave field must be true or false.".into(),
            );
            false
        }
    };
    let abort = abort(fields.remove("abort"), follows, errors);
    let start_at = match fields.remove("start_at") {
        None | Some(Value::Null) => None,
        Some(Value::String(at)) => match DateTime::parse_from_rfc3339(&at) {
            Ok(at) if at.with_timezone(&Utc) <= now => {
                errors.add("rollout.start_at", "The rollout.start_at field must be a time in the future.".into());
                None
            }
            Ok(at) if at.with_timezone(&Utc) > now + MAX_AHEAD => {
                errors.add("rollout.start_at", "The rollout.start_at field may be at most 7 days ahead.".into());
                None
            }
            Ok(at) => Some(at.with_timezone(&Utc)),
            Err(_) => {
                errors.add("rollout.start_at", "The rollout.start_at field must be an RFC 3339 time.".into());
                None
            }
        },
        Some(_) => {
            errors.add("rollout.start_at", "The rollout.start_at field must be an RFC 3339 time.".into());
            None
        }
    };
    let window = window(fields.remove("window"), errors);
    for unknown in fields.keys() {
        errors.add(&format!("rollout.{unknown}"), format!("The rollout.{unknown} field is not known."));
    }
    (errors.len() == before).then_some(Rollout {
        waves,
        order,
        soak_seconds,
        success_percent,
        pause_after_wave,
        abort,
        start_at,
        window,
    })
}

fn waves(value: Option<Value>, errors: &mut ErrorCollector) -> Vec<WaveSize> {
    let entries = match value {
        None | Some(Value::Null) => return Vec::new(),
        Some(Value::Array(entries)) if !entries.is_empty() && entries.len() <= MAX_WAVES => entries,
        Some(_) => {
            errors.add("rollout.waves", format!("The rollout.waves field must be an array of 1 to {MAX_WAVES} sizes."));
            return Vec::new();
        }
    };
    let last = entries.len() - 1;
    let mut waves = Vec::with_capacity(entries.len());
    for (i, entry) in entries.into_iter().enumerate() {
        let field = format!("rollout.waves.{i}");
        let size = match &entry {
            Value::Number(n) => n.as_u64().filter(|n| *n > 0).map(WaveSize::Count),
            Value::String(rest) if rest == "rest" && i == last => Some(WaveSize::Rest),
            Value::String(percent) => percent
                .strip_suffix('%')
                .and_then(|p| p.trim().parse::<f64>().ok())
                .filter(|p| *p > 0.0 && *p <= 100.0)
                .map(WaveSize::Percent),
            _ => None,
        };
        match size {
            Some(size) => waves.push(size),
            None => errors.add(
                &field,
                format!(
                    "The {field} field must be a count of at least 1, a share such as \"10%\", or \"rest\" (the last wave only)."
                ),
            ),
        }
    }
    waves
}

fn abort(value: Option<Value>, follows: bool, errors: &mut ErrorCollector) -> Option<AbortRule> {
    let mut fields = match value {
        None | Some(Value::Null) => return None,
        Some(Value::Object(fields)) => fields,
        Some(_) => {
            errors.add("rollout.abort", "The rollout.abort field must be an object.".into());
            return None;
        }
    };
    let mut on = Vec::new();
    match fields.remove("on") {
        None | Some(Value::Null) => {
            on = vec![FailureKind::Error, FailureKind::Timeout, FailureKind::Failed, FailureKind::Stalled]
        }
        Some(Value::Array(kinds)) if !kinds.is_empty() => {
            for kind in kinds {
                match kind.as_str().and_then(FailureKind::parse) {
                    Some(kind @ (FailureKind::Failed | FailureKind::Stalled)) if !follows => errors.add(
                        "rollout.abort.on",
                        format!(
                            "{} outcomes come only of a run that follows them (UpdateFirmware, GetLog, …).",
                            kind.as_str()
                        ),
                    ),
                    Some(kind) if !on.contains(&kind) => on.push(kind),
                    Some(_) => {}
                    None => errors.add(
                        "rollout.abort.on",
                        format!(
                            "The rollout.abort.on field takes error, timeout, offline, failed and stalled, not {kind}."
                        ),
                    ),
                }
            }
        }
        Some(_) => errors.add("rollout.abort.on", "The rollout.abort.on field must be a non-empty array.".into()),
    }
    if !follows {
        on.retain(|kind| !matches!(kind, FailureKind::Failed | FailureKind::Stalled));
    }
    let Some(percent) = share(&mut fields, "abort.threshold_percent", errors) else {
        if !errors.has("rollout.abort.threshold_percent") {
            errors.add(
                "rollout.abort.threshold_percent",
                "The rollout.abort.threshold_percent field is required.".into(),
            );
        }
        return None;
    };
    let min_finished = integer(&mut fields, "min_finished", "rollout.abort.min_finished", (1, u32::MAX), errors);
    let min_finished = min_finished.map_or(1, u64::from);
    for unknown in fields.keys() {
        errors.add(&format!("rollout.abort.{unknown}"), format!("The rollout.abort.{unknown} field is not known."));
    }
    Some(AbortRule { on, percent, min_finished })
}

fn window(value: Option<Value>, errors: &mut ErrorCollector) -> Option<Window> {
    let fields = match value {
        None | Some(Value::Null) => return None,
        Some(Value::Object(fields)) => fields,
        Some(_) => {
            errors.add("rollout.window", "The rollout.window field must be an object.".into());
            return None;
        }
    };
    let time = |name: &str, errors: &mut ErrorCollector| {
        let text = fields.get(name).and_then(Value::as_str).unwrap_or_default();
        let parsed = NaiveTime::parse_from_str(text, "%H:%M").ok();
        if parsed.is_none() {
            errors.add(
                &format!("rollout.window.{name}"),
                format!("The rollout.window.{name} field must be a time such as \"22:00\"."),
            );
        }
        parsed
    };
    let (from, to) = (time("from", errors), time("to", errors));
    let zone = fields.get("time_zone").and_then(Value::as_str).unwrap_or_default();
    let known = Window::knows_zone(zone);
    if !known {
        errors.add(
            "rollout.window.time_zone",
            format!(
                "The rollout.window.time_zone field must be an IANA time zone such as \"Europe/Berlin\", not {zone:?}."
            ),
        );
    }
    if from.is_some() && from == to {
        errors.add("rollout.window.to", "The rollout.window.to field must differ from its from.".into());
        return None;
    }
    Some(Window { from: from?, to: to?, time_zone: zone.to_owned() }).filter(|_| known)
}

/// A share in percent, 0 to 100.
fn share(fields: &mut Map<String, Value>, name: &str, errors: &mut ErrorCollector) -> Option<f64> {
    let key = name.rsplit('.').next().unwrap_or(name);
    let value = fields.remove(key).filter(|v| !v.is_null())?;
    match value.as_f64() {
        Some(v) if (0.0..=100.0).contains(&v) => Some(v),
        _ => {
            errors.add(&format!("rollout.{name}"), format!("The rollout.{name} field must be a number from 0 to 100."));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parsed(value: Value, follows: bool) -> (Option<Rollout>, Value) {
        let mut errors = ErrorCollector::default();
        let rollout = parse(Some(value), follows, Utc::now(), &mut errors);
        (rollout, errors.into_error().map_or(Value::Null, |e| e.body()["errors"].clone()))
    }

    #[test]
    fn a_whole_rollout_is_read() {
        let at = (Utc::now() + Duration::hours(1)).to_rfc3339();
        let (rollout, errors) = parsed(
            json!({"waves": [50, "10%", "rest"], "order": "shuffle", "seed": 7, "soak_seconds": 600,
                   "success_threshold": 95, "pause_after_each_wave": true, "start_at": at,
                   "abort": {"on": ["error", "failed"], "threshold_percent": 5, "min_finished": 20},
                   "window": {"from": "22:00", "to": "05:00", "time_zone": "Europe/Berlin"}}),
            true,
        );
        assert!(errors.is_null(), "{errors}");
        let rollout = rollout.unwrap();
        assert_eq!(rollout.waves, vec![WaveSize::Count(50), WaveSize::Percent(10.0), WaveSize::Rest]);
        assert_eq!(rollout.order, Order::Shuffle { seed: 7 });
        let abort = rollout.abort.unwrap();
        assert_eq!(
            (abort.on, abort.percent, abort.min_finished),
            (vec![FailureKind::Error, FailureKind::Failed], 5.0, 20)
        );
        assert_eq!(rollout.window.unwrap().time_zone, "Europe/Berlin");
    }

    #[test]
    fn bad_rollouts_are_refused_by_field() {
        let past = (Utc::now() - Duration::minutes(1)).to_rfc3339();
        let far = (Utc::now() + Duration::days(8)).to_rfc3339();
        for (body, field) in [
            (json!({"waves": []}), "rollout.waves"),
            (json!({"waves": ["rest", 5]}), "rollout.waves.0"),
            (json!({"waves": ["150%"]}), "rollout.waves.0"),
            (json!({"waves": [0]}), "rollout.waves.0"),
            (json!({"start_at": past}), "rollout.start_at"),
            (json!({"start_at": far}), "rollout.start_at"),
            (
                json!({"window": {"from": "22:00", "to": "05:00", "time_zone": "Mars/Olympus"}}),
                "rollout.window.time_zone",
            ),
            (json!({"window": {"from": "25:00", "to": "05:00", "time_zone": "UTC"}}), "rollout.window.from"),
            (json!({"abort": {"threshold_percent": 101}}), "rollout.abort.threshold_percent"),
            (json!({"abort": {"on": ["failed"], "threshold_percent": 5}}), "rollout.abort.on"),
            (json!({"abort": {}}), "rollout.abort.threshold_percent"),
            (json!({"success_threshold": -1}), "rollout.success_threshold"),
            (json!({"seed": 3}), "rollout.seed"),
            (json!({"waves": [1], "surprise": true}), "rollout.surprise"),
        ] {
            let (rollout, errors) = parsed(body.clone(), false);
            assert!(rollout.is_none() && errors[field].is_array(), "{body} → {errors}");
        }
    }
}
