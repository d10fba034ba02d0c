//! Retrying a run's failures (`POST …/{run}/retry`), on both backends: exactly the chargers whose
//! results ended offline or error, the same command and data, linked both ways, an Idempotency-Key
//! honoured, nobody else's run.

use std::time::Duration;

use ocpp_bulk::sim::Behaviour;
use ocpp_bulk_tests::harness::{charger_uuid, cp, fleet, ids, Backend, TestStack, ALICE, BOB};
use serde_json::{json, Value};

const BULK: &str = "/v3/chargers/commands/bulk";

async fn retry(stack: &TestStack, token: &str, run: &str, key: Option<&str>, body: Value) -> (u16, Value) {
    let mut request = reqwest::Client::new().post(format!("{}{BULK}/{run}/retry", stack.base)).bearer_auth(token);
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    let response = request.json(&body).send().await.expect("sent");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn chargers_of(run: &Value) -> Vec<String> {
    let mut uuids: Vec<String> =
        run["results"].as_array().unwrap().iter().map(|r| r["charger_uuid"].as_str().unwrap().to_owned()).collect();
    uuids.sort();
    uuids
}

async fn a_retry_targets_exactly_the_failures_and_links_both_ways(backend: Backend) {
    let stack = TestStack::start(backend, &fleet(4)).await;
    // cp0 accepts, cp1 answers CALLERROR, cp2 never answers, cp3 is offline.
    let _sims = stack.sims([(cp(0), Behaviour::Accept), (cp(1), Behaviour::Error), (cp(2), Behaviour::Silent)]).await;
    let targets = ids(&[&cp(0), &cp(1), &cp(2), &cp(3)]);
    let extra = json!({"timeout_seconds": stack.short_timeout(), "max_per_second": 100});
    let run =
        stack.create("ChangeConfiguration", json!({"key": "HeartbeatInterval", "value": "60"}), &targets, extra).await;
    let id = run["uuid"].as_str().unwrap().to_owned();
    let done = stack.completed(&id, Duration::from_secs(30)).await;
    assert_eq!(
        (done["sent_count"].as_u64(), done["error_count"].as_u64(), done["offline_count"].as_u64()),
        (Some(1), Some(2), Some(1))
    );

    let (status, first) = retry(&stack, ALICE, &id, Some("retry-1"), json!({})).await;
    assert_eq!(status, 202, "{first}");
    let first = &first["data"];
    assert_eq!(first["retry_of"], id.as_str());
    assert_eq!((first["command"].clone(), first["data"].clone()), (done["command"].clone(), done["data"].clone()));
    assert_eq!(
        (first["timeout_seconds"].clone(), first["max_per_second"].clone()),
        (json!(stack.short_timeout()), json!(100))
    );
    let mut failed: Vec<String> = [1, 2, 3].iter().map(|i| charger_uuid(&cp(*i)).to_string()).collect();
    failed.sort();
    assert_eq!(chargers_of(first), failed, "exactly the offline and error chargers");

    let (status, again) = retry(&stack, ALICE, &id, Some("retry-1"), json!({})).await;
    assert_eq!((status, &again["data"]["uuid"]), (202, &first["uuid"]), "the same key returns the same retry");
    let (status, offline_only) = retry(&stack, ALICE, &id, None, json!({"statuses": ["offline"]})).await;
    assert_eq!(status, 202);
    assert_eq!(chargers_of(&offline_only["data"]), vec![charger_uuid(&cp(3)).to_string()]);

    let old = stack.run(&id).await;
    let mut linked = vec![first["uuid"].clone(), offline_only["data"]["uuid"].clone()];
    linked.sort_by_key(|v| v.as_str().unwrap_or_default().to_owned());
    assert_eq!(old["retries"], json!(linked), "the old run lists its retries");

    let (status, _) = retry(&stack, BOB, &id, None, json!({})).await;
    assert_eq!(status, 404, "another user's run does not exist for them");
    let (status, body) = retry(&stack, ALICE, &id, None, json!({"statuses": ["sent"]})).await;
    assert_eq!((status, body["errors"]["statuses"].is_array()), (422, true));
    let clean = stack.create("ClearCache", json!({}), &ids(&[&cp(0)]), json!({})).await;
    let clean_id = clean["uuid"].as_str().unwrap();
    stack.completed(clean_id, Duration::from_secs(30)).await;
    let (status, body) = retry(&stack, ALICE, clean_id, None, json!({})).await;
    assert_eq!((status, body["errors"]["statuses"].is_array()), (422, true), "nothing to retry: {body}");
    let running = stack.create("ClearCache", json!({}), &targets, json!({"max_per_second": 1})).await;
    let (status, body) = retry(&stack, ALICE, running["uuid"].as_str().unwrap(), None, json!({})).await;
    assert_eq!((status, body["errors"]["run"].is_array()), (422, true), "a running run is not retried yet: {body}");
}

ocpp_bulk_tests::on_both_backends!(a_retry_targets_exactly_the_failures_and_links_both_ways);
