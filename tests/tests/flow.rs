//! The whole flow on the embedded stack: API → queue → worker → charger → answer → counters.

use std::sync::atomic::Ordering;
use std::time::Duration;

use ocpp_bulk::sim::Behaviour;
use ocpp_bulk_tests::harness::{assert_consistent, charger_uuid, cp, fleet, ids, Backend, RawCharger, TestStack};
use serde_json::{json, Value};

async fn every_status_is_reached_and_counted(backend: Backend) {
    let stack = TestStack::start(backend, &fleet(20)).await;
    let behaviours = (0..16).map(|i| {
        let behaviour = match i {
            0..=9 => Behaviour::Accept,
            10..=11 => Behaviour::Reject,
            12..=13 => Behaviour::Error,
            _ => Behaviour::Silent,
        };
        (cp(i), behaviour)
    });
    let sims = stack.sims(behaviours).await;
    // CP00016..19 stay offline; FOREIGN1 is bob's team; two ids cannot resolve.
    let mut targets: Vec<String> = (0..20).map(|i| charger_uuid(&cp(i)).to_string()).collect();
    targets.extend(ids(&["FOREIGN1"]));
    targets.push("not-a-uuid".into());
    targets.push(uuid::Uuid::new_v4().to_string());
    targets.push(targets[0].to_uppercase());
    let run = stack
        .create("Reset", json!({"type": "Hard"}), &targets, json!({"timeout_seconds": stack.short_timeout()}))
        .await;
    assert_eq!(run["total_count"], 23, "duplicates collapse: {run}");
    assert_eq!(run["skipped_count"], 3);
    let run = stack.completed(run["uuid"].as_str().unwrap(), Duration::from_secs(10)).await;
    assert_eq!(
        (run["sent_count"].as_u64(), run["offline_count"].as_u64(), run["error_count"].as_u64()),
        (Some(12), Some(4), Some(4)),
        "{run}"
    );
    let results = stack.all_results(run["uuid"].as_str().unwrap()).await;
    assert_consistent(&run, &results);

    let by_id = |id: &str| results.iter().find(|r| r["charger_uuid"] == id).expect("result").clone();
    let accepted = by_id(&charger_uuid(&cp(0)).to_string());
    assert_eq!(accepted["message"], "Accepted");
    assert_eq!(accepted["response"], json!({"status": "Accepted"}));
    assert_eq!(accepted["charger"]["identity"], cp(0));
    assert_eq!(accepted["charger"]["reference"], "bay 0");
    assert!(accepted["executed_at"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert_eq!(by_id(&charger_uuid(&cp(10)).to_string())["message"], "Rejected");
    assert_eq!(by_id(&charger_uuid(&cp(12)).to_string())["message"], "InternalError: simulated failure");
    assert!(by_id(&charger_uuid(&cp(14)).to_string())["message"].as_str().unwrap().starts_with("timeout"));
    let offline = by_id(&charger_uuid(&cp(16)).to_string());
    assert_eq!(offline["status"], "offline");
    assert!(offline["executed_at"].is_string());
    let foreign = by_id(&charger_uuid("FOREIGN1").to_string());
    assert_eq!(foreign["status"], "skipped_forbidden");
    assert!(foreign.get("charger").is_none(), "a forbidden charger is never described: {foreign}");
    assert_eq!(by_id("not-a-uuid")["status"], "skipped_forbidden");
    assert_eq!(sims.stats.calls.load(Ordering::Relaxed), 16, "one CALL per connected charger");
    assert_eq!(sims.stats.protocol_errors.load(Ordering::Relaxed), 0);
    sims.stop();
}

async fn duplicated_deliveries_send_one_call_and_count_once(backend: Backend) {
    // moto's server is slower than memory: the AWS backend gets a smaller fleet.
    let total = if backend == Backend::Aws { 100 } else { 200 };
    let connected = total * 9 / 10;
    let stack = TestStack::start_duplicating(backend, &fleet(total)).await;
    let sims = stack
        .sims((0..connected).map(|i| (cp(i), if i % 10 == 9 { Behaviour::Silent } else { Behaviour::Accept })))
        .await;
    let targets: Vec<String> = (0..total).map(|i| charger_uuid(&cp(i)).to_string()).collect();
    let run = stack.create("ClearCache", json!({}), &targets, json!({"timeout_seconds": stack.short_timeout()})).await;
    let run = stack.completed(run["uuid"].as_str().unwrap(), Duration::from_secs(15)).await;
    let silent = connected / 10;
    let expected = (connected - silent, total - connected, silent);
    let counts = (run["sent_count"].as_u64(), run["offline_count"].as_u64(), run["error_count"].as_u64());
    assert_eq!(counts, (Some(expected.0 as u64), Some(expected.1 as u64), Some(expected.2 as u64)), "{run}");
    assert_consistent(&run, &stack.all_results(run["uuid"].as_str().unwrap()).await);
    let calls = sims.stats.calls.load(Ordering::Relaxed);
    assert_eq!(calls, connected as u64, "every message was delivered twice, yet one CALL each");
    sims.stop();
}

async fn duplicate_and_late_answers_change_nothing(backend: Backend) {
    let stack = TestStack::start(backend, &fleet(2)).await;
    let mut quick = RawCharger::connect(&stack.ws, &cp(0)).await;
    let mut slow = RawCharger::connect(&stack.ws, &cp(1)).await;
    let run = stack
        .create(
            "Reset",
            json!({"type": "Soft"}),
            &ids(&[&cp(0), &cp(1)]),
            json!({"timeout_seconds": stack.short_timeout()}),
        )
        .await;
    let id = run["uuid"].as_str().unwrap();

    let call = quick.next(Duration::from_secs(5)).await.expect("a CALL");
    assert_eq!(call[0], 2);
    assert_eq!(call[2], "Reset");
    assert_eq!(call[3], json!({"type": "Soft"}));
    let answer = json!([3, call[1], {"status": "Accepted"}]).to_string();
    quick.send(&answer).await;
    quick.send(&answer).await;
    quick.send(&json!([4, call[1], "InternalError", "changed my mind", {}]).to_string()).await;
    quick.send(&json!([3, "never-sent", {"status": "Rejected"}]).to_string()).await;

    let late_call = slow.next(Duration::from_secs(5)).await.expect("a CALL");
    let run = stack.completed(id, Duration::from_secs(10)).await;
    slow.send(&json!([3, late_call[1], {"status": "Accepted"}]).to_string()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let after = stack.run(id).await;
    assert_eq!(after, run, "nothing changed after completion");
    assert_eq!((after["sent_count"].as_u64(), after["error_count"].as_u64()), (Some(1), Some(1)));
    let results = stack.all_results(id).await;
    assert_eq!(results[0]["message"], "Accepted");
    assert_eq!(results[1]["message"], format!("timeout: no answer within {} s", stack.short_timeout()));
}

async fn invalid_answers_are_errors_with_the_reason(backend: Backend) {
    let stack = TestStack::start(backend, &fleet(1)).await;
    let mut charger = RawCharger::connect(&stack.ws, &cp(0)).await;
    let run = stack.create("Reset", json!({"type": "Soft"}), &ids(&[&cp(0)]), json!({})).await;
    let call = charger.next(Duration::from_secs(5)).await.expect("a CALL");
    charger.send(&json!([3, call[1], {"status": "Maybe"}]).to_string()).await;
    let run = stack.completed(run["uuid"].as_str().unwrap(), Duration::from_secs(5)).await;
    let results = stack.all_results(run["uuid"].as_str().unwrap()).await;
    assert_eq!(results[0]["status"], "error");
    assert!(
        results[0]["message"].as_str().unwrap().starts_with("invalid response: The response.status field is invalid"),
        "{}",
        results[0]
    );
    assert_eq!(results[0]["response"], json!({"status": "Maybe"}));
}

async fn two_runs_on_one_charger_never_overlap_their_calls(backend: Backend) {
    let stack = TestStack::start(backend, &fleet(1)).await;
    let mut charger = RawCharger::connect(&stack.ws, &cp(0)).await;
    let target = ids(&[&cp(0)]);
    let first = stack.create("Reset", json!({"type": "Soft"}), &target, json!({})).await;
    let second = stack.create("ClearCache", json!({}), &target, json!({})).await;
    let one = charger.next(Duration::from_secs(5)).await.expect("first CALL");
    assert!(charger.next(Duration::from_millis(700)).await.is_none(), "no second CALL while the first is unanswered");
    charger.send(&json!([3, one[1], {"status": "Accepted"}]).to_string()).await;
    let two = charger.next(Duration::from_secs(5)).await.expect("second CALL once the first is answered");
    assert_ne!(one[2], two[2]);
    charger.send(&json!([3, two[1], {"status": "Accepted"}]).to_string()).await;
    for run in [first, second] {
        let run = stack.completed(run["uuid"].as_str().unwrap(), Duration::from_secs(5)).await;
        assert_eq!(run["sent_count"], 1, "{run}");
    }
}

async fn rollout_rate_spreads_calls_and_cancel_stops_the_rest(backend: Backend) {
    let stack = TestStack::start(backend, &fleet(20)).await;
    let sims = stack.sims((0..20).map(|i| (cp(i), Behaviour::Accept))).await;
    let targets: Vec<String> = (0..20).map(|i| charger_uuid(&cp(i)).to_string()).collect();

    let paced = stack.create("ClearCache", json!({}), &targets[..10], json!({"max_per_second": 5})).await;
    let paced = stack.completed(paced["uuid"].as_str().unwrap(), Duration::from_secs(10)).await;
    let results = stack.all_results(paced["uuid"].as_str().unwrap()).await;
    // No CALL goes out before its slot (created + seq / 5 s); load can only make one later, so
    // this holds however busy the machine is. Unpaced, all ten would go out at once.
    let created: chrono::DateTime<chrono::Utc> = paced["created_at"].as_str().unwrap().parse().unwrap();
    for (seq, result) in results.iter().enumerate() {
        let executed: chrono::DateTime<chrono::Utc> = result["executed_at"].as_str().unwrap().parse().unwrap();
        let slot = created + chrono::Duration::milliseconds(200 * seq as i64);
        assert!(
            executed >= slot - chrono::Duration::milliseconds(50),
            "CALL {seq} at {executed}, before its slot {slot}"
        );
    }

    let slow = stack.create("ClearCache", json!({}), &targets[10..], json!({"max_per_second": 1})).await;
    let id = slow["uuid"].as_str().unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (status, body) = stack
        .request(
            "POST",
            &format!("/v3/chargers/commands/bulk/{id}/cancel"),
            Some(ocpp_bulk_tests::harness::ALICE),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let run = stack.completed(id, Duration::from_secs(5)).await;
    let results = stack.all_results(id).await;
    assert_consistent(&run, &results);
    let cancelled = results.iter().filter(|r| r["message"] == "cancelled").count() as u64;
    assert!(cancelled >= 7, "most of 10 at 1/s are cancelled after 1.5 s: {run}");
    assert_eq!(run["sent_count"].as_u64().unwrap() + cancelled, 10);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(sims.stats.calls.load(Ordering::Relaxed), 10 + 10 - cancelled, "cancelled results get no CALL");
    sims.stop();
}

/// From the first of `results`' answers to the last (`executed_at`).
fn answer_span(results: &[serde_json::Value]) -> chrono::Duration {
    let answered: Vec<chrono::DateTime<chrono::Utc>> =
        results.iter().map(|r| r["executed_at"].as_str().expect("answered").parse().expect("a time")).collect();
    let (first, last) = (answered.iter().min().expect("one"), answered.iter().max().expect("one"));
    *last - *first
}

/// `command` to `chargers` accepting chargers, on a stack whose worker sends at most `per_second`
/// CALLs a second (its budget the backend's own: DynamoDB's PACE# counter, or the embedded
/// store's), to the run's end: the run, its results, and the CALLs the chargers received.
async fn capped_run(backend: Backend, chargers: usize, per_second: u32, command: &str) -> (Value, Vec<Value>, u64) {
    let stack = TestStack::start_customized(backend, &fleet(chargers), |stack| {
        let budget: std::sync::Arc<dyn shared::ports::DispatchBudget> = match &stack.worker.pace {
            Some(cap) => cap.budget.clone(),
            None => std::sync::Arc::new(shared::embedded::MemoryStore::new()),
        };
        stack.worker.pace = Some(worker::pace::Cap::new(budget, per_second));
    })
    .await;
    let sims = stack.sims((0..chargers).map(|i| (cp(i), Behaviour::Accept))).await;
    let targets: Vec<String> = (0..chargers).map(|i| charger_uuid(&cp(i)).to_string()).collect();
    let run = stack.create(command, json!({}), &targets, json!({"timeout_seconds": 20})).await;
    let id = run["uuid"].as_str().expect("uuid").to_owned();
    let run = stack.completed(&id, Duration::from_secs(40)).await;
    let results = stack.all_results(&id).await;
    let calls = sims.stats.calls.load(Ordering::Relaxed);
    sims.stop();
    (run, results, calls)
}

/// The stack-wide budget of CALLs a second (`worker::pace`), here 5: twenty chargers' CALLs go out
/// in at least four seconds, each charger's once (a held-back batch is queued again, not failed),
/// and the run's counters are exact.
async fn calls_keep_within_the_stacks_budget_a_second(backend: Backend) {
    let (run, results, calls) = capped_run(backend, 20, 5, "ClearCache").await;
    assert_eq!(run["sent_count"], 20, "{run}");
    assert_consistent(&run, &results);
    assert_eq!(calls, 20, "one CALL each");
    // Four seconds' budgets at least: more than 2 s from the first answer to the last.
    let span = answer_span(&results);
    assert!(span > chrono::Duration::seconds(2), "20 CALLs at 5 a second span 4 seconds, not {span}");
}

/// An inventory CALL takes ten of the second's budget (`worker::pace::INVENTORY_WEIGHT`): four
/// GetConfiguration at a cap of 10 go out one a second.
async fn inventories_take_ten_calls_of_the_budget(backend: Backend) {
    let (run, results, _) = capped_run(backend, 4, 10, "GetConfiguration").await;
    assert_eq!(run["sent_count"], 4, "{run}");
    let span = answer_span(&results);
    assert!(span > chrono::Duration::seconds(2), "4 inventories at 1 a second span 3 seconds, not {span}");
}

ocpp_bulk_tests::on_both_backends!(
    calls_keep_within_the_stacks_budget_a_second,
    inventories_take_ten_calls_of_the_budget,
    every_status_is_reached_and_counted,
    duplicated_deliveries_send_one_call_and_count_once,
    duplicate_and_late_answers_change_nothing,
    invalid_answers_are_errors_with_the_reason,
    two_runs_on_one_charger_never_overlap_their_calls,
    rollout_rate_spreads_calls_and_cancel_stops_the_rest
);
