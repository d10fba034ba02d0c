//! Rollouts end to end: waves opened only when the one before finished (outcomes included), an
//! abort threshold that stops a firmware rollout in its second wave, a hold after a wave, a pause
//! and a resume, a start time, and what the API refuses.

use std::sync::atomic::Ordering;
use std::time::Duration;

use ocpp_bulk::sim::{self, AnswerSizes, Behaviour, JobOutcome, SimCharger};
use ocpp_bulk_tests::harness::{charger_uuid, cp, fleet, Backend, TestStack, ALICE};
use serde_json::{json, Value};
use shared::ocpp::OcppVersion;

const BULK: &str = "/v3/chargers/commands/bulk";

fn chargers(outcomes: impl IntoIterator<Item = (usize, JobOutcome)>) -> Vec<SimCharger> {
    outcomes
        .into_iter()
        .map(|(i, job)| SimCharger {
            identity: cp(i),
            password: None,
            behaviour: Behaviour::Accept,
            firmware: None,
            version: OcppVersion::V16,
            job,
            sizes: AnswerSizes::default(),
        })
        .collect()
}

fn targets(count: usize) -> Vec<String> {
    (0..count).map(|i| charger_uuid(&cp(i)).to_string()).collect()
}

/// Polls the run until `done` says so (at most `within`, four times that on AWS).
async fn until(stack: &TestStack, id: &str, within: Duration, done: impl Fn(&Value) -> bool) -> Value {
    let within = if stack.backend == Backend::Aws { within * 4 } else { within };
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let run = stack.run(id).await;
        if done(&run) {
            return run;
        }
        assert!(tokio::time::Instant::now() < deadline, "not reached in {within:?}: {run}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn at(value: &Value) -> chrono::DateTime<chrono::Utc> {
    value.as_str().expect("a time").parse().expect("RFC 3339")
}

async fn a_firmware_rollout_aborts_itself_in_its_second_wave(backend: Backend) {
    let stack = TestStack::start(backend, &fleet(20)).await;
    let jobs = (0..20).map(|i| (i, if (4..8).contains(&i) { JobOutcome::Fail } else { JobOutcome::Succeed }));
    let sims = sim::start(&stack.ws, chargers(jobs), 20).await.expect("simulated chargers connect");
    let data = json!({"location": "https://fw.example/sim-2.0.bin", "retrieveDate": "2026-01-01T00:00:00Z"});
    let extra = json!({
        "timeout_seconds": 20,
        "outcome": {"timeout_seconds": 60},
        "rollout": {"waves": [4, 6, "rest"], "abort": {"on": ["failed"], "threshold_percent": 20, "min_finished": 5}},
    });
    let run = stack.create("UpdateFirmware", data, &targets(20), extra).await;
    let id = run["uuid"].as_str().expect("uuid").to_owned();
    assert_eq!(run["rollout"]["wave_sizes"], json!([4, 6, 10]), "{run}");
    let run = until(&stack, &id, Duration::from_secs(40), |run| run["completed_at"].is_string()).await;
    assert_eq!(run["status"], "aborted", "an aborted run stays aborted once complete: {run}");
    let reason = run["rollout"]["abort_reason"].as_str().expect("why it aborted");
    assert!(reason.starts_with("aborted: ") && reason.contains("% > 20 %"), "{reason}");
    assert_eq!(run["rollout"]["wave"], 2, "{run}");
    // Wave 3 never went out: its ten results say why.
    let calls = sims.stats.calls.load(Ordering::Relaxed);
    let results = stack.all_results(&id).await;
    assert!(calls <= 10, "only the first two waves were called: {calls}: {results:#?}");
    let wave3: Vec<&Value> =
        results.iter().filter(|r| r["charger"]["identity"].as_str() >= Some(cp(10).as_str())).collect();
    assert_eq!(wave3.len(), 10);
    for result in wave3 {
        assert_eq!(result["status"], "error", "{result}");
        assert_eq!(result["message"].as_str(), Some(format!("cancelled ({reason})").as_str()), "{result}");
    }
    // Wave 2 opened only once every outcome of wave 1 had ended.
    let wave1_ended = results[..4].iter().map(|r| {
        let steps = r["outcome"]["steps"].as_array().expect("steps");
        at(&steps.last().expect("a step")["at"])
    });
    let wave2_called = results[4..10].iter().filter(|r| r["status"] == "sent").map(|r| at(&r["executed_at"]));
    assert!(wave2_called.clone().count() > 0);
    assert!(wave1_ended.max() <= wave2_called.min(), "wave 2 came after wave 1's outcomes");
    let outcome = &run["outcome"];
    assert!(outcome["failed_count"].as_u64() >= Some(2), "{run}");
    assert_eq!(outcome["open_count"], 0, "{run}");
    sims.stop();
}

async fn a_rollout_held_after_its_wave_and_a_paused_run_wait_for_a_resume(backend: Backend) {
    let stack = TestStack::start(backend, &fleet(12)).await;
    let sims = sim::start(&stack.ws, chargers((0..12).map(|i| (i, JobOutcome::Succeed))), 20).await.expect("connect");
    // A rollout that waits after each wave.
    let extra = json!({"rollout": {"waves": [2, "rest"], "pause_after_each_wave": true}});
    let run = stack.create("Reset", json!({"type": "Soft"}), &targets(6), extra).await;
    let id = run["uuid"].as_str().expect("uuid").to_owned();
    let held = until(&stack, &id, Duration::from_secs(10), |run| run["status"] == "paused").await;
    assert!(held["rollout"]["held"].as_str().is_some_and(|h| h.contains("wave 1 finished")), "{held}");
    assert_eq!(held["sent_count"], 2);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(stack.run(&id).await["sent_count"], 2, "nothing more while held");
    let (status, resumed) = stack.request("POST", &format!("{BULK}/{id}/resume"), Some(ALICE), None).await;
    assert_eq!(status, 200, "{resumed}");
    assert_eq!(resumed["data"]["status"], "running");
    let (status, again) = stack.request("POST", &format!("{BULK}/{id}/resume"), Some(ALICE), None).await;
    assert_eq!(status, 409, "a run not paused: {again}");
    let done = stack.completed(&id, Duration::from_secs(20)).await;
    assert_eq!(done["sent_count"], 6, "{done}");
    let (status, refused) = stack.request("POST", &format!("{BULK}/{id}/pause"), Some(ALICE), None).await;
    assert_eq!(status, 422, "a finished run: {refused}");

    // A run without a rollout, paused as it goes: nothing new starts until the resume.
    let ids: Vec<String> = (6..12).map(|i| charger_uuid(&cp(i)).to_string()).collect();
    let run = stack.create("Reset", json!({"type": "Soft"}), &ids, json!({"max_per_second": 1})).await;
    let id = run["uuid"].as_str().expect("uuid").to_owned();
    let (status, paused) = stack.request("POST", &format!("{BULK}/{id}/pause"), Some(ALICE), None).await;
    assert_eq!((status, paused["data"]["status"].as_str()), (200, Some("paused")), "{paused}");
    let (status, _) = stack.request("POST", &format!("{BULK}/{id}/pause"), Some(ALICE), None).await;
    assert_eq!(status, 409, "paused already");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = stack.run(&id).await["sent_count"].as_u64().expect("a count");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let still = stack.run(&id).await;
    assert_eq!(still["sent_count"].as_u64(), Some(before), "nothing new while paused: {still}");
    assert!(before < 6, "the pause came before the run's end: {before}");
    let (status, _) = stack.request("POST", &format!("{BULK}/{id}/resume"), Some(ALICE), None).await;
    assert_eq!(status, 200);
    let done = stack.completed(&id, Duration::from_secs(30)).await;
    assert_eq!(done["sent_count"], 6, "{done}");
    assert_eq!(sims.stats.called_twice.load(Ordering::Relaxed), 0, "no charger called twice, resumes included");
    sims.stop();
}

async fn a_scheduled_run_waits_for_its_start(backend: Backend) {
    let stack = TestStack::start(backend, &fleet(3)).await;
    let sims = sim::start(&stack.ws, chargers((0..3).map(|i| (i, JobOutcome::Succeed))), 10).await.expect("connect");
    let start = chrono::Utc::now() + chrono::Duration::seconds(4);
    let extra = json!({"rollout": {"start_at": start.to_rfc3339(), "order": "shuffle", "seed": 1}});
    let run = stack.create("ClearCache", json!({}), &targets(3), extra).await;
    assert_eq!(run["status"], "scheduled", "{run}");
    let id = run["uuid"].as_str().expect("uuid").to_owned();
    let done = stack.completed(&id, Duration::from_secs(20)).await;
    assert_eq!(done["sent_count"], 3, "{done}");
    let results = stack.all_results(&id).await;
    assert!(results.iter().all(|r| at(&r["executed_at"]) >= start), "nothing before its start");
    sims.stop();
}

/// What a rollout may not be: a 422 naming the field.
#[tokio::test]
async fn bad_rollouts_are_refused() {
    let stack = TestStack::start(Backend::Embedded, &fleet(3)).await;
    let create = |extra: Value| {
        let mut body = json!({"command": "Reset", "data": {"type": "Soft"}, "charger_ids": targets(3)});
        body.as_object_mut().expect("object").extend(extra.as_object().expect("object").clone());
        body
    };
    for (extra, field) in [
        (json!({"rollout": {"waves": [1, 1]}}), "rollout.waves"),
        (json!({"rollout": {"waves": [5, "rest"]}}), "rollout.waves"),
        (
            json!({"rollout": {"window": {"from": "01:00", "to": "02:00", "time_zone": "Nowhere/Land"}}}),
            "rollout.window.time_zone",
        ),
        (json!({"rollout": {"start_at": "2020-01-01T00:00:00Z"}}), "rollout.start_at"),
        (json!({"rollout": {"abort": {"threshold_percent": 5, "on": ["stalled"]}}}), "rollout.abort.on"),
    ] {
        let (status, body) = stack.request("POST", BULK, Some(ALICE), Some(create(extra.clone()))).await;
        assert_eq!(status, 422, "{extra}: {body}");
        assert!(body["errors"][field].is_array(), "{extra}: {body}");
    }
}

ocpp_bulk_tests::on_both_backends!(
    a_firmware_rollout_aborts_itself_in_its_second_wave,
    a_rollout_held_after_its_wave_and_a_paused_run_wait_for_a_resume,
    a_scheduled_run_waits_for_its_start
);
