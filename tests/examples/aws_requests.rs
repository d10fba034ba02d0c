//! AWS requests per charger for one bulk run on the AWS adapters, counted by the SDK interceptor
//! (retries included), next to the batched minimum. Needs moto's server: `scripts/aws-requests.sh`.
//! Usage: aws_requests [CHARGERS]

use std::time::Duration;

use ocpp_bulk::sim::{self, Behaviour, SimCharger};
use ocpp_bulk::stack::Stack;
use ocpp_bulk_tests::harness::{charger_uuid, cp, fleet, ALICE};
use serde_json::json;

/// The run's answer timeout: short, so its timeout messages come (and are counted) soon.
const TIMEOUT_SECONDS: u32 = 10;

#[tokio::main]
async fn main() {
    let count: usize = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(1000);
    let clients = ocpp_bulk_tests::aws::clients().await;
    let resources = ocpp_bulk_tests::aws::provision(&clients, "requests", &fleet(count)).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let (management, endpoint) = ocpp_bulk::server::management_listener().await.expect("bind");
    let stack = Stack::aws(&clients, &resources, &endpoint, &Default::default());
    tokio::spawn(ocpp_bulk::server::serve_management(management, stack.clone()));
    tokio::spawn(ocpp_bulk::server::serve(listener, stack));
    let chargers = (0..count)
        .map(|i| SimCharger { identity: cp(i), password: None, behaviour: Behaviour::Accept, firmware: None })
        .collect();
    let sims = sim::start(&format!("ws://{address}/ocpp"), chargers, 100).await.expect("chargers connect");

    let api = ocpp_bulk::send::ApiClient::new(&format!("http://{address}"), ALICE);
    let ids: Vec<String> = (0..count).map(|i| charger_uuid(&cp(i)).to_string()).collect();
    clients.requests.reset();
    let started = std::time::Instant::now();
    let run =
        api.create(&json!({"command": "Reset", "data": {"type": "Soft"}, "charger_ids": ids, "timeout_seconds": TIMEOUT_SECONDS})).await.expect("POST");
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
    tokio::time::sleep(Duration::from_secs(u64::from(TIMEOUT_SECONDS) + 10)).await;
    let all = clients.requests.snapshot();
    let attempts = clients.requests.attempts();
    sims.stop();

    let per = |n: u64| n as f64 / count as f64;
    println!(
        "{count} chargers, Reset, completed in {:.1} s on moto: sent {} of {}; {polls} GET polls of the run; counted until the last timeout message",
        elapsed.as_secs_f64(),
        run["sent_count"],
        run["total_count"]
    );
    println!("{:<42} {:>8} {:>12} {:>12} {:>9}", "operation", "requests", "per charger", "at creation", "attempts");
    for (operation, n) in &all {
        let at_creation = created.get(operation).copied().unwrap_or(0);
        let tries = attempts.get(operation).copied().unwrap_or(0);
        println!("{operation:<42} {n:>8} {:>12.3} {at_creation:>12} {tries:>9}", per(*n));
    }
    let total: u64 = all.values().sum();
    let at_creation: u64 = created.values().sum();
    let tries: u64 = attempts.values().sum();
    println!("{:<42} {total:>8} {:>12.3} {at_creation:>12} {tries:>9}", "total", per(total));
    println!("(attempts beyond requests are SDK retries: moto applies one DynamoDB request at a time)");
    println!(
        "batched minimum at creation: 1/25 BatchWriteItem + 1/10 SendMessageBatch + 1/100 BatchGetItem = {:.3} per charger; measured {:.3}",
        1.0 / 25.0 + 1.0 / 10.0 + 1.0 / 100.0,
        per(at_creation)
    );
}
