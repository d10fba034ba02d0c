//! AWS requests per charger for one bulk run on the AWS adapters, counted by the SDK interceptor
//! (retries included), next to the batched minimum. Needs moto's server: `scripts/aws-requests.sh`.
//! Usage: aws_requests [CHARGERS] [report|firmware|rollout]: with `report`, the chargers speak OCPP
//! 2.0.1 and the run is a GetBaseReport, each charger answering with a report in two NotifyReport
//! parts; with `firmware`, an UpdateFirmware whose outcomes are followed (each charger reports four
//! statuses and boots into the new firmware); with `rollout`, the same in three waves (10 %, 30 %,
//! the rest).

use std::time::Duration;

use ocpp_bulk::sim::{self, AnswerSizes, Behaviour, JobOutcome, SimCharger};
use ocpp_bulk::stack::Stack;
use ocpp_bulk_tests::harness::{charger_uuid, cp, fleet, ALICE};
use serde_json::json;
use shared::ocpp::OcppVersion;

/// The run's answer timeout: short, so its timeout messages come (and are counted) soon.
const TIMEOUT_SECONDS: u32 = 10;
/// A firmware run's outcome timeout: short, so its outcome timers come (and are counted) soon.
const OUTCOME_SECONDS: u32 = 15;

#[tokio::main]
async fn main() {
    let count: usize = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(1000);
    let mode = std::env::args().nth(2).unwrap_or_default();
    let report = mode == "report";
    let firmware = json!({"location": "https://fw.example/sim-2.0.bin", "retrieveDate": "2026-01-01T00:00:00Z"});
    let (version, command, data) = match mode.as_str() {
        "report" => (OcppVersion::V201, "GetBaseReport", json!({"requestId": 1, "reportBase": "SummaryInventory"})),
        "firmware" | "rollout" => (OcppVersion::V16, "UpdateFirmware", firmware),
        _ => (OcppVersion::V16, "Reset", json!({"type": "Soft"})),
    };
    let mut extra = json!({"timeout_seconds": TIMEOUT_SECONDS});
    if command == "UpdateFirmware" {
        extra["outcome"] = json!({"timeout_seconds": OUTCOME_SECONDS, "firmware_version": "sim-2.0"});
    }
    if mode == "rollout" {
        extra["rollout"] = json!({"waves": ["10%", "30%", "rest"]});
    }
    let clients = ocpp_bulk_tests::aws::clients().await;
    let resources = ocpp_bulk_tests::aws::provision(&clients, "requests", &fleet(count)).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let (management, endpoint) = ocpp_bulk::server::management_listener().await.expect("bind");
    let stack = Stack::aws(&clients, &resources, &endpoint, &Default::default());
    tokio::spawn(ocpp_bulk::server::serve_management(management, stack.clone()));
    tokio::spawn(ocpp_bulk::server::serve(listener, stack));
    let chargers = (0..count)
        .map(|i| SimCharger {
            identity: cp(i),
            password: None,
            behaviour: Behaviour::Accept,
            firmware: None,
            version,
            job: JobOutcome::Succeed,
            sizes: AnswerSizes::default(),
        })
        .collect();
    let sims = sim::start(&format!("ws://{address}/ocpp"), chargers, 100).await.expect("chargers connect");

    let api = ocpp_bulk::send::ApiClient::new(&format!("http://{address}"), ALICE);
    let ids: Vec<String> = (0..count).map(|i| charger_uuid(&cp(i)).to_string()).collect();
    clients.requests.reset();
    ocpp_bulk::invocations::reset();
    let started = std::time::Instant::now();
    let mut body = json!({"command": command, "data": data, "charger_ids": ids});
    body.as_object_mut().expect("an object").extend(extra.as_object().cloned().unwrap_or_default());
    let run = api.create(&body).await.expect("POST");
    let created = clients.requests.snapshot();
    let id = run["uuid"].as_str().unwrap_or_default().to_owned();
    let mut polls = 0;
    let run = loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        polls += 1;
        let run = api.run(&id).await.expect("GET");
        if run["status"] == "completed" {
            break run;
        }
    };
    let elapsed = started.elapsed();
    // Every CALL's timeout message is part of its cost: count until they have all come (the run's
    // timeout and the answer grace after the last CALL, and a margin). The local pollers' empty
    // receives in that time are counted too (a deployment's pollers make them whatever it runs).
    let timers = if command == "UpdateFirmware" { TIMEOUT_SECONDS + OUTCOME_SECONDS } else { TIMEOUT_SECONDS };
    tokio::time::sleep(Duration::from_secs(u64::from(timers) + 10)).await;
    let all = clients.requests.snapshot();
    let attempts = clients.requests.attempts();
    sims.stop();

    let units = clients.requests.units();
    let empty_receives = clients.requests.empty_receives();
    let invocations = ocpp_bulk::invocations::snapshot();

    let per = |n: f64| n / count as f64;
    println!(
        "{count} chargers ({}), {command}, completed in {:.1} s on moto: sent {} of {}; {polls} GET polls of the \
         run; counted until the last timeout message",
        version.name(),
        elapsed.as_secs_f64(),
        run["sent_count"],
        run["total_count"]
    );
    // Every request sent counts, SDK retries included (attempts); the pollers' receives of an empty
    // queue are the deployment's, not the run's (`empty_receives`, taken off both counts).
    let without_idle =
        |operation: &str, n: u64| if operation == "SQS.ReceiveMessage" { n.saturating_sub(empty_receives) } else { n };
    let sent: std::collections::BTreeMap<String, u64> =
        attempts.iter().map(|(operation, n)| (operation.clone(), without_idle(operation, *n))).collect();
    println!(
        "{:<42} {:>8} {:>12} {:>8} {:>11} {:>12} {:>8} {:>8}",
        "operation", "sent", "per charger", "minimum", "operations", "at creation", "WRU", "RRU"
    );
    let mut total = 0.0;
    for (operation, n) in &sent {
        total += *n as f64;
        let asked = without_idle(operation, all.get(operation).copied().unwrap_or(0));
        let at_creation = created.get(operation).copied().unwrap_or(0);
        let u = units.get(operation).copied().unwrap_or_default();
        let least = minimum(operation);
        println!(
            "{operation:<42} {n:>8} {:>12.3} {least:>8.2} {asked:>11} {at_creation:>12} {:>8.0} {:>8.0}",
            per(*n as f64),
            u.write,
            u.read
        );
    }
    let least: f64 = MINIMUM.iter().map(|(_, n)| n).sum();
    println!("{:<42} {:>8} {:>12.3} {least:>8.2}", "total", total, per(total));
    println!(
        "(sent: every request that went out, SDK retries included; operations: what the code asked for, its own \
         retries of a cancelled transaction included; SQS.ReceiveMessage leaves out {empty_receives} receives of \
         an empty queue, the pollers' own; minimum: SQS batches of 10, one write as the CALL goes out and one as \
         its answer comes back)"
    );
    println!("single-item DynamoDB requests and queries by what they touch:");
    for (kind, n) in clients.requests.kinds() {
        println!("  {kind:<40} {n:>8} {:>12.3}", per(n as f64));
    }
    let at_creation: u64 = created.values().sum();
    println!(
        "batched minimum at creation: 1/25 BatchWriteItem + 1/10 SendMessageBatch + 1/100 BatchGetItem = {:.3} per \
         charger; measured {:.3}",
        1.0 / 25.0 + 1.0 / 10.0 + 1.0 / 100.0,
        per(at_creation as f64)
    );
    if report {
        println!(
            "(a report adds to the minimum, per charger: 1 PutItem, which result its report goes to; and per part \
             (2 here): 1 GetItem, which result, and 1 TransactWriteItems, the part and its count)"
        );
    }
    print_cost(count, elapsed, &sent, &units, &invocations);
}

/// The least each operation can cost a charger on the accept path, with SQS batches of 10: the
/// CALL posted; one transaction as it goes out (slot and result), one as its answer comes back;
/// the batch's results and connections read at once, and its timeouts' results; the dispatch and
/// the timeout messages sent, received and deleted ten at a time; the results written 25 at a time.
const MINIMUM: [(&str, f64); 7] = [
    ("ApiGatewayManagementApi.PostToConnection", 1.0),
    ("DynamoDB.TransactWriteItems", 2.0),
    ("DynamoDB.BatchGetItem", 0.3),
    ("DynamoDB.BatchWriteItem", 0.04),
    ("SQS.SendMessageBatch", 0.2),
    ("SQS.ReceiveMessage", 0.11),
    ("SQS.DeleteMessageBatch", 0.11),
];

fn minimum(operation: &str) -> f64 {
    MINIMUM.iter().find(|(name, _)| *name == operation).map_or(0.0, |(_, n)| *n)
}

/// List prices, us-east-1 (docs/data-model.md, "What a run costs", cites them).
const LAMBDA_ARM_GB_SECOND: f64 = 0.000_013_333_4;
const LAMBDA_REQUEST: f64 = 0.20 / 1e6;
const SQS_REQUEST: f64 = 0.40 / 1e6;
const DYNAMODB_WRU: f64 = 0.625 / 1e6;
const DYNAMODB_RRU: f64 = 0.125 / 1e6;
const WEBSOCKET_MESSAGE: f64 = 1.00 / 1e6;
const WEBSOCKET_CONNECTION_MINUTE: f64 = 0.25 / 1e6;
const HTTP_API_REQUEST: f64 = 1.00 / 1e6;

/// The functions' memory from template.yaml: Globals, or the function's own `MemorySize`.
fn memory_gb(template: &serde_yaml::Value, function: &str) -> f64 {
    let resource = match function {
        "api" => "ApiFunction",
        "worker" => "WorkerFunction",
        _ => "WebSocketFunction",
    };
    let own = template["Resources"][resource]["Properties"]["MemorySize"].as_f64();
    own.or_else(|| template["Globals"]["Function"]["MemorySize"].as_f64()).unwrap_or(128.0) / 1024.0
}

fn print_cost(
    count: usize,
    elapsed: Duration,
    all: &std::collections::BTreeMap<String, u64>,
    units: &std::collections::BTreeMap<String, shared::aws::Units>,
    invocations: &std::collections::BTreeMap<&'static str, (u64, Duration)>,
) {
    let scale = 1000.0 / count as f64;
    let get = |operation: &str| all.get(operation).copied().unwrap_or(0) as f64;
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
    let template: serde_yaml::Value =
        std::fs::read_to_string(path).ok().and_then(|text| serde_yaml::from_str(&text).ok()).unwrap_or_default();
    let mut lines: Vec<(String, f64)> = Vec::new();
    for (function, (n, total)) in invocations {
        let gb = memory_gb(&template, function);
        let gb_seconds = total.as_secs_f64() * gb;
        let dollars = *n as f64 * LAMBDA_REQUEST + gb_seconds * LAMBDA_ARM_GB_SECOND;
        lines.push((
            format!(
                "Lambda {function}: {:.0} invocations, {:.2} GB-s at {:.0} MB (mean {:.1} ms, on moto)",
                *n as f64 * scale,
                gb_seconds * scale,
                gb * 1024.0,
                total.as_secs_f64() * 1000.0 / (*n).max(1) as f64
            ),
            dollars * scale,
        ));
    }
    let sqs: f64 = all.iter().filter(|(op, _)| op.starts_with("SQS.")).map(|(_, n)| *n as f64).sum::<f64>();
    lines.push((format!("SQS: {:.0} requests", sqs * scale), sqs * SQS_REQUEST * scale));
    let (wru, rru) = units.values().fold((0.0, 0.0), |(w, r), u| (w + u.write, r + u.read));
    lines.push((
        format!("DynamoDB: {:.0} write units, {:.0} read units (on demand)", wru * scale, rru * scale),
        (wru * DYNAMODB_WRU + rru * DYNAMODB_RRU) * scale,
    ));
    let frames_in = invocations.get("websocket").map_or(0, |(n, _)| *n) as f64;
    let messages = get("ApiGatewayManagementApi.PostToConnection") + frames_in;
    let minutes = count as f64 * elapsed.as_secs_f64() / 60.0;
    lines.push((
        format!(
            "API Gateway WebSocket: {:.0} messages, {:.0} connection minutes (the run's share of being connected)",
            messages * scale,
            minutes * scale
        ),
        (messages * WEBSOCKET_MESSAGE + minutes * WEBSOCKET_CONNECTION_MINUTE) * scale,
    ));
    let http = invocations.get("api").map_or(0, |(n, _)| *n) as f64;
    lines.push((
        format!("API Gateway HTTP: {:.0} requests (the POST and the polls)", http * scale),
        http * HTTP_API_REQUEST * scale,
    ));
    println!("list-price cost per 1,000 chargers of one run (us-east-1, arm64):");
    for (what, dollars) in &lines {
        println!("  {what:<100} ${dollars:.6}");
    }
    let total: f64 = lines.iter().map(|(_, d)| d).sum();
    println!("  {:<100} ${total:.6}", "total");
}
