//! The HTTP API's contract: auth, tenancy, validation, pagination, error shapes.

use std::time::Duration;

use ocpp_bulk_tests::harness::{charger_uuid, cp, fleet, ids, Backend, TestStack, ALICE, BOB};
use serde_json::json;

const BULK: &str = "/v3/chargers/commands/bulk";

async fn tokens_are_required_and_checked(backend: Backend) {
    let stack = TestStack::start(backend, &fleet(1)).await;
    let body = json!({"command": "ClearCache", "charger_ids": ids(&[&cp(0)])});
    for token in [None, Some("wrong-token-123")] {
        let (status, answer) = stack.request("POST", BULK, token, Some(body.clone())).await;
        assert_eq!((status, answer), (401, json!({"message": "Unauthenticated."})));
    }
    let (status, _) = stack.request("GET", &format!("{BULK}/{}", uuid::Uuid::new_v4()), None, None).await;
    assert_eq!(status, 401);
}

async fn another_users_run_does_not_exist_for_you(backend: Backend) {
    let stack = TestStack::start(backend, &fleet(1)).await;
    let run = stack.create("ClearCache", json!({}), &ids(&[&cp(0)]), json!({})).await;
    let id = run["uuid"].as_str().unwrap();
    let not_found = json!({"message": "Not found."});
    for path in [
        format!("{BULK}/{id}"),
        format!("{BULK}/{id}/results"),
        format!("{BULK}/not-a-uuid"),
        format!("{BULK}/{}", uuid::Uuid::new_v4()),
    ] {
        let (status, body) = stack.request("GET", &path, Some(BOB), None).await;
        assert_eq!((status, body), (404, not_found.clone()), "{path}");
    }
    let (status, _) = stack.request("POST", &format!("{BULK}/{id}/cancel"), Some(BOB), None).await;
    assert_eq!(status, 404);
    let (status, page) = stack.request("GET", BULK, Some(BOB), None).await;
    assert_eq!((status, page["data"].as_array().map(Vec::len)), (200, Some(0)));
    // Bob sending to alice's charger learns nothing about it.
    let (status, body) = stack
        .request("POST", BULK, Some(BOB), Some(json!({"command": "ClearCache", "charger_ids": ids(&[&cp(0)])})))
        .await;
    assert_eq!(status, 202);
    assert_eq!(body["data"]["results"][0]["status"], "skipped_forbidden");
    assert!(body["data"]["results"][0].get("charger").is_none());
    assert_eq!(body["data"]["status"], "completed", "a run of only skipped chargers is complete at once");
}

async fn validation_names_every_offending_field(backend: Backend) {
    let stack = TestStack::start(backend, &fleet(1)).await;
    let cases = [
        (json!({"command": "Reset", "data": {"type": "Warm"}, "charger_ids": ["x"]}), "data.type"),
        (json!({"command": "Reset", "data": {}, "charger_ids": ["x"]}), "data.type"),
        (json!({"command": "Reset", "data": {"type": "Soft", "force": true}, "charger_ids": ["x"]}), "data.force"),
        (json!({"command": "BootNotification", "charger_ids": ["x"]}), "command"),
        (json!({"command": "ClearCache", "charger_ids": []}), "charger_ids"),
        (json!({"command": "ClearCache"}), "charger_ids"),
        (json!({"command": "ClearCache", "charger_ids": ["x"], "timeout_seconds": 901}), "timeout_seconds"),
        (json!({"command": "ClearCache", "charger_ids": ["x"], "max_per_second": 0}), "max_per_second"),
        (
            json!({"command": "SetChargingProfile", "charger_ids": ["x"], "data": {"connectorId": 1, "csChargingProfiles": {
            "chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": "Absolute",
            "chargingSchedule": {"duration": "long", "chargingRateUnit": "W", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 1.0}]}}}}),
            "data.csChargingProfiles.chargingSchedule.duration",
        ),
    ];
    for (body, field) in cases {
        let (status, answer) = stack.request("POST", BULK, Some(ALICE), Some(body.clone())).await;
        assert_eq!(status, 422, "{body} → {answer}");
        assert!(answer["errors"][field].is_array(), "{field} missing in {answer}");
        assert!(answer["message"].is_string());
    }
    let (status, answer) = stack.request("GET", &format!("{BULK}?per_page=0"), Some(ALICE), None).await;
    assert_eq!((status, answer["errors"]["per_page"].is_array()), (422, true));
}

async fn huge_and_out_of_range_bodies_get_bounded_answers(backend: Backend) {
    let stack = TestStack::start(backend, &fleet(1)).await;
    // 200,000 integers where ids belong: the first 100 errors, and how many more.
    let ids: Vec<u32> = (0..200_000).collect();
    let body = json!({"command": "ClearCache", "charger_ids": ids});
    let (status, answer) = stack.request("POST", BULK, Some(ALICE), Some(body)).await;
    assert_eq!(status, 422);
    let errors = answer["errors"].as_object().expect("errors");
    assert_eq!(errors.values().map(|v| v.as_array().map_or(0, Vec::len)).sum::<usize>(), 100, "{}", errors.len());
    assert!(answer["message"].as_str().unwrap().ends_with("(and 199999 more errors)"), "{}", answer["message"]);
    assert!(answer.to_string().len() < 20_000, "a bounded answer: {} bytes", answer.to_string().len());

    // An OCPP integer is 32-bit: 1e19 and 10^29 are refused, naming the field.
    for connector in ["1e19", "100000000000000000000000000000", "2147483648"] {
        let text = format!(
            r#"{{"command": "UnlockConnector", "data": {{"connectorId": {connector}}}, "charger_ids": ["x"]}}"#
        );
        let body: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        let (status, answer) = stack.request("POST", BULK, Some(ALICE), Some(body)).await;
        assert_eq!(status, 422, "{connector}: {answer}");
        assert!(answer["errors"]["data.connectorId"].is_array(), "{answer}");
    }
}

async fn malformed_bodies_and_routes_answer_json(backend: Backend) {
    let stack = TestStack::start(backend, &fleet(1)).await;
    let client = reqwest::Client::new();
    let response =
        client.post(format!("{}{BULK}", stack.base)).bearer_auth(ALICE).body("{not json").send().await.unwrap();
    assert_eq!(response.status().as_u16(), 422);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["errors"]["body"].is_array());
    let huge = vec![b' '; api::request::MAX_BODY_BYTES + 10];
    let response = client.post(format!("{}{BULK}", stack.base)).bearer_auth(ALICE).body(huge).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 413);
    // 5 MB fits as JSON text; without a JSON content type API Gateway would base64 it to 6.7 MB.
    let padded = format!(r#"{{"command": "Reset", "charger_ids": []{}}}"#, " ".repeat(5_000_000));
    let post = || client.post(format!("{}{BULK}", stack.base)).bearer_auth(ALICE).body(padded.clone());
    assert_eq!(post().header("content-type", "application/json").send().await.unwrap().status().as_u16(), 422);
    assert_eq!(post().send().await.unwrap().status().as_u16(), 413);
    let (status, _) = stack.request("GET", "/v3/elsewhere", Some(ALICE), None).await;
    assert_eq!(status, 404);
    let response = client.delete(format!("{}{BULK}", stack.base)).bearer_auth(ALICE).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 405);
    assert_eq!(response.headers()["allow"], "GET,HEAD,POST", "a 405 names the methods the route takes");
    // A stage prefix or a trailing slash still reaches the route; an unreadable run id is a JSON 404.
    let (status, _) = stack.request("GET", &format!("/prod{BULK}/"), Some(ALICE), None).await;
    assert_eq!(status, 200);
    let (status, body) = stack.request("GET", &format!("{BULK}/%FF"), Some(ALICE), None).await;
    assert_eq!((status, body), (404, json!({"message": "Not found."})));
    assert_eq!(response.headers()["content-type"], "application/json");
}

async fn results_and_runs_page_with_opaque_cursors(backend: Backend) {
    let stack = TestStack::start(backend, &fleet(3)).await;
    let mut targets: Vec<String> = (0..3).map(|i| charger_uuid(&cp(i)).to_string()).collect();
    targets.extend((0..250).map(|i| format!("missing-{i}")));
    let run = stack.create("ClearCache", json!({}), &targets, json!({})).await;
    assert_eq!(run["results"].as_array().unwrap().len(), 100, "a run embeds its first 100 results");
    let id = run["uuid"].as_str().unwrap().to_owned();
    stack.completed(&id, Duration::from_secs(5)).await;

    let mut seen = Vec::new();
    let mut path = format!("{BULK}/{id}/results?per_page=100");
    loop {
        let (status, page) = stack.request("GET", &path, Some(ALICE), None).await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["meta"]["per_page"], 100);
        assert_eq!(page["links"]["first"], serde_json::Value::Null);
        seen.extend(page["data"].as_array().unwrap().iter().map(|r| r["charger_uuid"].as_str().unwrap().to_owned()));
        match page["links"]["next"].as_str() {
            Some(next) => path = next.trim_start_matches(&stack.base).to_owned(),
            None => break,
        }
    }
    assert_eq!(seen, targets, "every result once, in request order");
    // A cursor built by hand, with the right scope but no valid signature, is refused.
    use base64::Engine;
    let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(json!({"s": format!("results:{id}:all"), "a": "5"}).to_string());
    for cursor in [forged.clone(), format!("{forged}.AAAA")] {
        let path = format!("{BULK}/{id}/results?cursor={cursor}");
        let (status, answer) = stack.request("GET", &path, Some(ALICE), None).await;
        assert_eq!(status, 422, "a forged cursor: {answer}");
    }

    let (_, offline) =
        stack.request("GET", &format!("{BULK}/{id}/results?status=offline&per_page=2"), Some(ALICE), None).await;
    assert_eq!(offline["data"].as_array().unwrap().len(), 2);
    let cursor = offline["meta"]["next_cursor"].as_str().expect("a third offline result").to_owned();
    let (status, _) =
        stack.request("GET", &format!("{BULK}/{id}/results?status=sent&cursor={cursor}"), Some(ALICE), None).await;
    assert_eq!(status, 422, "a cursor of another listing is refused");
    let (status, _) = stack.request("GET", &format!("{BULK}/{id}/results?cursor=forged"), Some(ALICE), None).await;
    assert_eq!(status, 422);
    let (status, _) = stack.request("GET", &format!("{BULK}/{id}/results?status=done"), Some(ALICE), None).await;
    assert_eq!(status, 422);

    let second = stack.create("ClearCache", json!({}), &targets[..1], json!({})).await;
    let (_, list) = stack.request("GET", &format!("{BULK}?per_page=1"), Some(ALICE), None).await;
    assert_eq!(list["data"][0]["uuid"], second["uuid"], "newest first");
    assert!(list["data"][0].get("results").is_none(), "listings carry no results");
    let next = list["links"]["next"].as_str().unwrap().trim_start_matches(&stack.base).to_owned();
    let (_, rest) = stack.request("GET", &next, Some(ALICE), None).await;
    assert_eq!(rest["data"][0]["uuid"], id);
    assert_eq!(rest["meta"]["next_cursor"], serde_json::Value::Null);
    let (status, _) = stack.request("GET", &next, Some(BOB), None).await;
    assert_eq!(status, 422, "alice's cursor is not bob's");
}

async fn idempotency_keys_replay_the_first_run(backend: Backend) {
    let stack = TestStack::start(backend, &fleet(2)).await;
    let client = reqwest::Client::new();
    let post = |token: &'static str, key: &'static str, body: serde_json::Value| {
        client
            .post(format!("{}{BULK}", stack.base))
            .bearer_auth(token)
            .header("idempotency-key", key)
            .json(&body)
            .send()
    };
    let body = json!({"command": "ClearCache", "charger_ids": ids(&[&cp(0)])});
    let first = post(ALICE, "order-42", body.clone()).await.unwrap();
    assert_eq!(first.status().as_u16(), 202);
    let first: serde_json::Value = first.json().await.unwrap();
    let again = post(ALICE, "order-42", body.clone()).await.unwrap();
    assert_eq!(again.status().as_u16(), 202);
    let again: serde_json::Value = again.json().await.unwrap();
    assert_eq!(again["data"]["uuid"], first["data"]["uuid"], "the same key and body return the original run");
    let other = post(ALICE, "order-42", json!({"command": "ClearCache", "charger_ids": ids(&[&cp(1)])})).await.unwrap();
    assert_eq!(other.status().as_u16(), 422, "the same key with another body");
    let body422: serde_json::Value = other.json().await.unwrap();
    assert!(body422["errors"]["idempotency_key"].is_array());
    let bobs = post(BOB, "order-42", body.clone()).await.unwrap();
    assert_eq!(bobs.status().as_u16(), 202);
    let bobs: serde_json::Value = bobs.json().await.unwrap();
    assert_ne!(bobs["data"]["uuid"], first["data"]["uuid"], "keys are per user");
    let (status, list) = stack.request("GET", BULK, Some(ALICE), None).await;
    assert_eq!((status, list["data"].as_array().map(Vec::len)), (200, Some(1)), "one run for alice");
}

async fn rate_limits_answer_429_with_headers(backend: Backend) {
    let stack = TestStack::start_rate_limited(backend, &fleet(1), 3).await;
    let client = reqwest::Client::new();
    // Stay inside one minute window.
    let second = chrono::Timelike::second(&chrono::Utc::now());
    if second >= 55 {
        tokio::time::sleep(Duration::from_secs(u64::from(61 - second))).await;
    }
    let get = |token: &'static str| client.get(format!("{}{BULK}", stack.base)).bearer_auth(token).send();
    for remaining in ["2", "1", "0"] {
        let response = get(ALICE).await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(response.headers()["x-ratelimit-limit"], "3");
        assert_eq!(response.headers()["x-ratelimit-remaining"], remaining);
    }
    let refused = get(ALICE).await.unwrap();
    assert_eq!(refused.status().as_u16(), 429);
    let retry: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    assert_eq!(refused.headers()["x-ratelimit-remaining"], "0");
    assert_eq!(refused.json::<serde_json::Value>().await.unwrap(), json!({"message": "Too Many Attempts."}));
    assert_eq!(get(BOB).await.unwrap().status().as_u16(), 200, "limits are per user");
}

/// What the console's send form and live run page use: the catalogue, a body checked with nothing
/// created, and a run read without its results.
async fn the_console_reads_commands_checks_bodies_and_polls_figures(backend: Backend) {
    let stack = TestStack::start(backend, &fleet(2)).await;
    let (status, _) = stack.request("GET", "/v3/commands", None, None).await;
    assert_eq!(status, 401);
    let (status, list) = stack.request("GET", "/v3/commands", Some(ALICE), None).await;
    assert_eq!(status, 200);
    assert!(list["data"].as_array().is_some_and(|commands| commands.iter().any(|c| c["command"] == "SetVariables")));
    let (status, shown) = stack.request("GET", "/v3/commands/Reset", Some(ALICE), None).await;
    assert_eq!((status, shown["data"]["schemas"]["ocpp1.6"]["required"].clone()), (200, json!(["type"])));
    let (status, _) = stack.request("GET", "/v3/commands/BootNotification", Some(ALICE), None).await;
    assert_eq!(status, 404, "a charger's own message is no command of a run");

    let check = "/v3/chargers/commands/check";
    let body = json!({"command": "Reset", "data": {"type": "Soft"}, "charger_ids": ids(&[&cp(0), &cp(1)])});
    let (status, checked) = stack.request("POST", check, Some(ALICE), Some(body)).await;
    assert_eq!(status, 200, "{checked}");
    assert_eq!(checked["data"]["versions"]["ocpp1.6"], json!({"command": "Reset", "sent": true, "reason": null}));
    let (status, refused) =
        stack.request("POST", check, Some(ALICE), Some(json!({"command": "Reset", "data": {"type": "Warm"}}))).await;
    assert_eq!(status, 422);
    assert!(refused["errors"]["data.type"].is_array() && refused["errors"]["charger_ids"].is_array(), "{refused}");
    let (_, runs) = stack.request("GET", BULK, Some(ALICE), None).await;
    assert_eq!(runs["data"], json!([]), "a check creates nothing");

    let run = stack.create("ClearCache", json!({}), &ids(&[&cp(0), &cp(1)]), json!({})).await;
    let path = format!("{BULK}/{}", run["uuid"].as_str().expect("uuid"));
    let (status, figures) = stack.request("GET", &format!("{path}?results=0"), Some(ALICE), None).await;
    assert_eq!(
        (status, figures["data"]["results"].clone(), figures["data"]["total_count"].clone()),
        (200, json!([]), json!(2))
    );
    let (status, one) = stack.request("GET", &format!("{path}?results=1"), Some(ALICE), None).await;
    assert_eq!((status, one["data"]["results"].as_array().map(Vec::len)), (200, Some(1)));
    let (status, refused) = stack.request("POST", &format!("{path}/cancel?results=101"), Some(ALICE), None).await;
    assert_eq!(status, 422, "{refused}");
    let (_, unchanged) = stack.request("GET", &path, Some(ALICE), None).await;
    assert!(unchanged["data"]["cancelled_at"].is_null(), "a refused cancel cancels nothing");
}

ocpp_bulk_tests::on_both_backends!(
    the_console_reads_commands_checks_bodies_and_polls_figures,
    tokens_are_required_and_checked,
    another_users_run_does_not_exist_for_you,
    validation_names_every_offending_field,
    huge_and_out_of_range_bodies_get_bounded_answers,
    malformed_bodies_and_routes_answer_json,
    results_and_runs_page_with_opaque_cursors,
    idempotency_keys_replay_the_first_run,
    rate_limits_answer_429_with_headers
);

/// A report of 3.9 MB of JSON text takes twice that once Lambda escapes it into the function's response,
/// past the 6 MB a response carries (`serve` refuses such a response as Lambda does: a 500): the
/// report route pages it, each page within the limit, and the pages together hold it whole.
#[tokio::test]
async fn a_report_over_a_lambda_response_once_escaped_is_read_in_pages() {
    use shared::domain::report::ReportPart;
    let stack = TestStack::start(Backend::Embedded, &fleet(1)).await;
    let data = json!({"requestId": 1, "reportBase": "FullInventory"});
    let run = stack.create("GetBaseReport", data, &ids(&[&cp(0)]), json!({})).await;
    let run_id = uuid::Uuid::parse_str(run["uuid"].as_str().expect("uuid")).expect("a uuid");
    // Each entry ~2 KB as JSON text (a quote is written `\\"`), each part ~280 KB (under the 300 KiB a
    // part keeps its data within), the report 3.9 MB (under its 4 MiB).
    let (parts, entries) = (14u32, 140usize);
    let quotes = "\"".repeat(980);
    for seq_no in 0..parts {
        let data = (0..entries).map(|i| json!({"component": {"name": format!("{seq_no}.{i}{quotes}")}})).collect();
        let part = ReportPart { request_id: 1, seq_no, tbc: seq_no + 1 < parts, data };
        assert!(stack.stack.api.runs.add_report_part(run_id, 0, &part).await.expect("kept"), "part {seq_no} kept");
    }
    let mut path = format!("/v3/chargers/commands/bulk/{run_id}/reports/0");
    let (mut pages, mut read, mut second) = (0, 0, None);
    loop {
        let (status, page) = stack.request("GET", &path, Some(ALICE), None).await;
        assert_eq!(status, 200, "{page}");
        let body = serde_json::to_vec(&page).expect("json");
        assert!(api::request::fits_lambda_response(&body), "page {pages} fits a Lambda response");
        assert_eq!(page["data"]["complete"], true);
        assert!(page["data"]["dropped_parts"].is_null(), "every part kept with its data");
        read += page["data"]["data"].as_array().expect("entries").len();
        pages += 1;
        let Some(next) = page["links"]["next"].as_str() else { break };
        path = next[next.find("/v3/").expect("the route in the link")..].to_owned();
        second.get_or_insert_with(|| path.clone());
    }
    assert_eq!(read, parts as usize * entries, "every entry, once");
    assert!(pages >= 2, "{pages} pages");
    // A part that comes later may sort before where a cursor points: the cursor is refused, not
    // followed past entries it would skip or repeat.
    let late = ReportPart { request_id: 1, seq_no: parts, tbc: false, data: vec![json!({"late": true})] };
    assert!(stack.stack.api.runs.add_report_part(run_id, 0, &late).await.expect("kept"));
    let (status, refused) = stack.request("GET", &second.expect("a second page"), Some(ALICE), None).await;
    assert_eq!(status, 422, "{refused}");
}
