//! Cancelling a run of any size takes a constant number of store requests inside the request; the
//! worker then ends its undispatched results `error` / `cancelled` a page at a time, and the run
//! completes. Both backends.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use ocpp_bulk_tests::failing::FailingFinish;
use ocpp_bulk_tests::harness::{assert_consistent, charger_uuid, cp, fleet, Backend, RawCharger, TestStack, ALICE};
use serde_json::json;

async fn cancelling_a_big_run_is_constant_work_and_completes_it(backend: Backend) {
    let chargers = 1_200; // more than two of the worker's pages
    let counted = Arc::new(std::sync::Mutex::new(None));
    let handle = counted.clone();
    let stack = TestStack::start_customized(backend, &fleet(chargers), move |stack| {
        let store = Arc::new(FailingFinish::new(stack.api.runs.clone(), 0));
        *handle.lock().unwrap() = Some(store.calls.clone());
        stack.api.runs = store;
    })
    .await;
    let calls = counted.lock().unwrap().clone().expect("the API's store is counted");
    let targets: Vec<String> = (0..chargers).map(|i| charger_uuid(&cp(i)).to_string()).collect();
    // Paced at 1/s: nearly all stay undispatched (and no charger is connected).
    let run = stack.create("ClearCache", json!({}), &targets, json!({"max_per_second": 1})).await;
    let id = run["uuid"].as_str().unwrap();

    let before = calls.load(Ordering::Relaxed);
    let (status, body) =
        stack.request("POST", &format!("/v3/chargers/commands/bulk/{id}/cancel"), Some(ALICE), None).await;
    assert_eq!(status, 200, "{body}");
    let used = calls.load(Ordering::Relaxed) - before;
    assert!(used <= 5, "cancelling {chargers} results took {used} store calls");
    assert!(body["data"]["cancelled_at"].is_string(), "{body}");

    let done = stack.completed(id, Duration::from_secs(120)).await;
    let results = stack.all_results(id).await;
    assert_consistent(&done, &results);
    let cancelled = results.iter().filter(|r| r["message"] == "cancelled").count();
    assert!(cancelled >= chargers - 5, "{cancelled} of {chargers} cancelled: {done}");
    let (status, again) =
        stack.request("POST", &format!("/v3/chargers/commands/bulk/{id}/cancel"), Some(ALICE), None).await;
    assert_eq!(
        (status, &again["data"]["status"]),
        (200, &json!("completed")),
        "cancelling a completed run changes nothing"
    );
}

/// The worker itself refuses to CALL for a cancelled run, whether or not the sweep got there first:
/// here the run is marked cancelled in the store alone (no sweep is queued), and the message for the
/// third charger, due 2 s later, ends it without a CALL.
async fn no_call_goes_out_for_a_cancelled_run(backend: Backend) {
    let stack = TestStack::start(backend, &fleet(3)).await;
    let mut third = RawCharger::connect(&stack.ws, &cp(2)).await;
    let targets: Vec<String> = (0..3).map(|i| charger_uuid(&cp(i)).to_string()).collect();
    let run = stack.create("ClearCache", json!({}), &targets, json!({"max_per_second": 1})).await;
    let id = run["uuid"].as_str().unwrap();
    let run_id = uuid::Uuid::parse_str(id).unwrap();
    assert!(stack.stack.worker.runs.cancel(run_id, chrono::Utc::now(), None).await.unwrap());
    assert!(third.next(Duration::from_secs(4)).await.is_none(), "no CALL after the cancel");
    let third_result = stack.all_results(id).await.into_iter().find(|r| r["charger_uuid"] == targets[2]).unwrap();
    assert_eq!((third_result["status"].clone(), third_result["message"].clone()), (json!("error"), json!("cancelled")));
}

ocpp_bulk_tests::on_both_backends!(
    cancelling_a_big_run_is_constant_work_and_completes_it,
    no_call_goes_out_for_a_cancelled_run
);
