//! The outcome after the answer, end to end: a firmware update followed from `Accepted` to the
//! boot with the new firmware, a failed install, a refusal, a charger whose last notification was
//! lost (asked once with TriggerMessage), and notifications repeated or delivered twice counted once.

use std::sync::atomic::Ordering;
use std::time::Duration;

use ocpp_bulk::sim::{self, AnswerSizes, Behaviour, JobOutcome, SimCharger};
use ocpp_bulk_tests::harness::{
    assert_consistent, charger_uuid, cp, fleet, ids, Backend, RawCharger, TestStack, ALICE,
};
use serde_json::{json, Value};
use shared::ocpp::OcppVersion;

fn charger(i: usize, behaviour: Behaviour, job: JobOutcome, version: OcppVersion) -> SimCharger {
    SimCharger {
        identity: cp(i),
        password: None,
        behaviour,
        firmware: Some("sim-1.0".into()),
        version,
        job,
        sizes: AnswerSizes::default(),
    }
}

fn by_identity<'a>(results: &'a [Value], identity: &str) -> &'a Value {
    results.iter().find(|r| r["charger"]["identity"] == identity).expect("a result for the charger")
}

async fn a_firmware_run_follows_each_charger_to_its_outcome(backend: Backend) {
    let stack = TestStack::start(backend, &fleet(8)).await;
    let (v16, v201) = (OcppVersion::V16, OcppVersion::V201);
    let chargers = vec![
        charger(0, Behaviour::Accept, JobOutcome::Succeed, v16),
        charger(1, Behaviour::Accept, JobOutcome::Succeed, v16),
        charger(2, Behaviour::Accept, JobOutcome::Succeed, v201),
        charger(3, Behaviour::Accept, JobOutcome::Fail, v16),
        charger(4, Behaviour::Accept, JobOutcome::Fail, v201),
        charger(5, Behaviour::Accept, JobOutcome::Lose, v16),
        charger(6, Behaviour::Reject, JobOutcome::Succeed, v201),
        charger(7, Behaviour::Silent, JobOutcome::Succeed, v16),
    ];
    let sims = sim::start(&stack.ws, chargers, 10).await.expect("simulated chargers connect");
    let targets: Vec<String> = (0..8).map(|i| charger_uuid(&cp(i)).to_string()).collect();
    // 1.6's UpdateFirmware, and 2.0.1's in the same run.
    let data = json!({"location": "https://fw.example/sim-2.0.bin", "retrieveDate": "2026-01-01T00:00:00Z"});
    let firmware201 = json!({"requestId": 42, "firmware": {"location": "https://fw.example/sim-2.0.bin",
        "retrieveDateTime": "2026-01-01T00:00:00Z"}});
    let extra = json!({
        "timeout_seconds": stack.short_timeout(),
        "versions": {"ocpp2.0.1": {"command": "UpdateFirmware", "data": firmware201}},
        "outcome": {"timeout_seconds": 10, "firmware_version": "sim-2.0"},
    });
    let run = stack.create("UpdateFirmware", data, &targets, extra).await;
    assert_eq!(run["outcome"]["timeout_seconds"], 10, "{run}");
    let id = run["uuid"].as_str().expect("uuid").to_owned();
    let run = stack.completed(&id, Duration::from_secs(40)).await;
    let outcome = &run["outcome"];
    assert_eq!((run["sent_count"].as_u64(), run["error_count"].as_u64()), (Some(7), Some(1)), "{run}");
    let counts = ["succeeded_count", "failed_count", "stalled_count", "open_count"].map(|k| outcome[k].as_u64());
    assert_eq!(counts, [Some(3), Some(3), Some(1), Some(0)], "{run}");
    let results = stack.all_results(&id).await;
    assert_consistent(&run, &results);

    let booted = &by_identity(&results, &cp(2))["outcome"];
    assert_eq!((booted["state"].as_str(), booted["status"].as_str()), (Some("succeeded"), Some("Booted sim-2.0")));
    let steps: Vec<&str> =
        booted["steps"].as_array().expect("steps").iter().filter_map(|s| s["status"].as_str()).collect();
    assert_eq!(steps, ["Accepted", "Downloading", "Downloaded", "Installing", "Installed", "Booted sim-2.0"]);
    let failed = &by_identity(&results, &cp(3))["outcome"];
    assert_eq!((failed["state"].as_str(), failed["status"].as_str()), (Some("failed"), Some("InstallationFailed")));
    let refused = &by_identity(&results, &cp(6))["outcome"];
    assert_eq!(
        (refused["state"].as_str(), refused["message"].as_str()),
        (Some("failed"), Some("the charger answered Rejected"))
    );
    // Its last notification lost, it is asked once; it repeats `Installed`, but only a boot into the
    // expected firmware ends a run that expects one: stalled.
    let lost = &by_identity(&results, &cp(5))["outcome"];
    assert_eq!(lost["state"], "stalled", "{lost}");
    assert!(lost["triggered_at"].is_string());
    assert!(lost["message"].as_str().is_some_and(|m| m.contains("no final status within 10 s")), "{lost}");
    let silent = by_identity(&results, &cp(7));
    assert!(silent["outcome"].is_null(), "a CALL never answered has no outcome: {silent}");
    assert!(run["completed_at"].as_str() >= lost["triggered_at"].as_str(), "complete once every outcome ended");
    assert_eq!(sims.stats.protocol_errors.load(Ordering::Relaxed), 0);
    // Its retry takes the failed and stalled outcomes beside the error: 3 + 1 + 1.
    let (status, retry) =
        stack.request("POST", &format!("/v3/chargers/commands/bulk/{id}/retry"), Some(ALICE), None).await;
    assert_eq!(status, 202, "{retry}");
    assert_eq!(retry["data"]["total_count"], 5, "{retry}");
    let (status, only) = stack
        .request(
            "POST",
            &format!("/v3/chargers/commands/bulk/{id}/retry"),
            Some(ALICE),
            Some(json!({"statuses": ["stalled"]})),
        )
        .await;
    assert_eq!((status, only["data"]["total_count"].as_u64()), (202, Some(1)), "{only}");
    sims.stop();
}

/// A GetDiagnostics whose `Uploaded` was lost: the trigger asks, the charger repeats it, the
/// outcome succeeds. A charger sending its notifications twice, on a queue that delivers every
/// message twice, moves its outcome once and is counted once.
async fn a_lost_notification_is_asked_for_and_repeats_count_once(backend: Backend) {
    let stack = TestStack::start_duplicating(backend, &fleet(3)).await;
    let lose = charger(0, Behaviour::Accept, JobOutcome::Lose, OcppVersion::V16);
    let sims = sim::start(&stack.ws, vec![lose], 10).await.expect("simulated charger connects");
    let mut raw = RawCharger::connect(&stack.ws, &cp(1)).await;
    let boot = json!([2, "b", "BootNotification", {"chargePointVendor": "v", "chargePointModel": "m"}]);
    assert_eq!(raw.ask(&boot.to_string()).await[2]["status"], "Accepted");
    let targets = ids(&[&cp(0), &cp(1)]);
    let extra = json!({"timeout_seconds": 20, "outcome": {"timeout_seconds": 10}});
    let run = stack.create("GetDiagnostics", json!({"location": "ftp://up.example/"}), &targets, extra).await;
    let id = run["uuid"].as_str().expect("uuid").to_owned();

    let call = raw.next(Duration::from_secs(20)).await.expect("the GetDiagnostics CALL");
    assert_eq!(call[2], "GetDiagnostics");
    raw.send(&json!([3, call[1], {"fileName": "d.log"}]).to_string()).await;
    for (n, status) in ["Uploading", "Uploading", "Uploaded", "Uploaded"].iter().enumerate() {
        let note = json!([2, format!("n{n}"), "DiagnosticsStatusNotification", {"status": status}]);
        assert_eq!(raw.ask(&note.to_string()).await, json!([3, format!("n{n}"), {}]));
    }
    let run = stack.completed(&id, Duration::from_secs(40)).await;
    let outcome = &run["outcome"];
    assert_eq!((outcome["succeeded_count"].as_u64(), outcome["failed_count"].as_u64()), (Some(2), Some(0)), "{run}");
    assert_eq!(outcome["stalled_count"], 0, "{run}");
    let results = stack.all_results(&id).await;
    let repeated = &by_identity(&results, &cp(1))["outcome"];
    let steps: Vec<&str> =
        repeated["steps"].as_array().expect("steps").iter().filter_map(|s| s["status"].as_str()).collect();
    assert_eq!(steps, ["Accepted", "Uploading", "Uploaded"], "a repeat is no step: {repeated}");
    let rescued = &by_identity(&results, &cp(0))["outcome"];
    assert_eq!((rescued["state"].as_str(), rescued["status"].as_str()), (Some("succeeded"), Some("Uploaded")));
    assert!(rescued["triggered_at"].is_string(), "found by the trigger: {rescued}");
    sims.stop();
}

ocpp_bulk_tests::on_both_backends!(
    a_firmware_run_follows_each_charger_to_its_outcome,
    a_lost_notification_is_asked_for_and_repeats_count_once
);
