//! The fleet view through the API, on both backends: chargers listed per team as they reported
//! themselves, cursors that belong to one listing, runs by target and their retries.

use std::time::Duration;

use ocpp_bulk::sim::Behaviour;
use ocpp_bulk_tests::harness::{cp, fleet, Backend, TestStack, ALICE, BOB};
use serde_json::{json, Value};

fn identities(page: &Value) -> Vec<String> {
    page["data"].as_array().expect("data").iter().map(|c| c["identity"].as_str().unwrap_or("").to_owned()).collect()
}

async fn chargers_are_listed_per_team_and_targeted(backend: Backend) {
    let stack = TestStack::start(backend, &fleet(4)).await;
    let sims = stack.sims([(cp(0), Behaviour::Accept), (cp(1), Behaviour::Accept), (cp(2), Behaviour::Silent)]).await;

    // Alice sees her team's five chargers (LOCKED1 included), Bob his one; the sims booted as "sim".
    let (status, all) = stack.request("GET", "/v3/chargers?per_page=2", Some(ALICE), None).await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(all["data"].as_array().map(Vec::len), Some(2));
    let next = all["meta"]["next_cursor"].as_str().expect("a next page").to_owned();
    let (_, bob) = stack.request("GET", "/v3/chargers", Some(BOB), None).await;
    assert_eq!(identities(&bob), ["FOREIGN1"]);
    let (status, stolen) = stack.request("GET", &format!("/v3/chargers?cursor={next}"), Some(BOB), None).await;
    assert_eq!(status, 422, "a cursor belongs to its user and filter: {stolen}");
    let (status, other_filter) =
        stack.request("GET", &format!("/v3/chargers?per_page=2&model=sim&cursor={next}"), Some(ALICE), None).await;
    assert_eq!(status, 422, "{other_filter}");
    let mut seen = identities(&all);
    let mut cursor = Some(next);
    while let Some(c) = cursor {
        let (status, page) =
            stack.request("GET", &format!("/v3/chargers?per_page=2&cursor={c}"), Some(ALICE), None).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(identities(&page));
        cursor = page["meta"]["next_cursor"].as_str().map(str::to_owned);
    }
    seen.sort();
    assert_eq!(seen, ["CP00000", "CP00001", "CP00002", "CP00003", "LOCKED1"]);

    let (_, connected) = stack.request("GET", "/v3/chargers?connected=1&model=sim", Some(ALICE), None).await;
    let mut live = identities(&connected);
    live.sort();
    assert_eq!(live, [cp(0), cp(1), cp(2)]);
    assert!(connected["data"].as_array().expect("data").iter().all(|c| c["vendor"] == "ocpp-bulk"));

    // A run by target: the three connected sims (one silent), not Bob's, not the offline ones.
    let body = json!({"command": "Reset", "data": {"type": "Soft"}, "target": {"connected": true},
                      "timeout_seconds": stack.short_timeout()});
    let (status, created) = stack.request("POST", "/v3/chargers/commands/bulk", Some(ALICE), Some(body)).await;
    assert_eq!(status, 202, "{created}");
    assert_eq!(created["data"]["total_count"], 3);
    assert_eq!(created["data"]["target"], json!({"connected": true}));
    let id = created["data"]["uuid"].as_str().expect("uuid").to_owned();
    let run = stack.completed(&id, Duration::from_secs(60)).await;
    assert_eq!((run["sent_count"].as_u64(), run["error_count"].as_u64()), (Some(2), Some(1)), "{run}");

    // Its retry names the failed charger itself, and is no target run.
    let (status, retry) =
        stack.request("POST", &format!("/v3/chargers/commands/bulk/{id}/retry"), Some(ALICE), None).await;
    assert_eq!(status, 202, "{retry}");
    assert_eq!((retry["data"]["total_count"].as_u64(), &retry["data"]["target"]), (Some(1), &Value::Null));

    let (status, none) = stack
        .request(
            "POST",
            "/v3/chargers/commands/bulk",
            Some(BOB),
            Some(json!({"command": "Reset", "data": {"type": "Soft"},
            "target": {"team": "acme"}})),
        )
        .await;
    assert_eq!(status, 422, "another team's chargers cannot be targeted: {none}");
    sims.stop();
}

ocpp_bulk_tests::on_both_backends!(chargers_are_listed_per_team_and_targeted);
