//! The AWS adapters against a DynamoDB/SQS-compatible server on loopback (moto's server, started
//! by scripts/test.sh, which exports AWS_ENDPOINT_URL and dummy credentials). Each suite gets its
//! own tables and queue, named after the suite with a unique suffix, so suites never share state.

use std::sync::Arc;

use shared::aws::tables::Resources;
use shared::aws::{
    AwsClients, DynamoConnectionTable, DynamoDirectory, DynamoIdempotency, DynamoRateLimiter, DynamoRunStore,
};
use shared::domain::fleet::Fleet;

use crate::contract::Ports;

pub async fn clients() -> AwsClients {
    assert!(
        std::env::var("AWS_ENDPOINT_URL").is_ok_and(|url| url.starts_with("http://127.")),
        "AWS_ENDPOINT_URL must point at moto's server on loopback: run scripts/test.sh, which starts it"
    );
    AwsClients::from_env().await
}

/// Creates the suite's own tables and queue, and imports `fleet` into its directory.
pub async fn provision(clients: &AwsClients, suite: &str, fleet: &Fleet) -> Resources {
    let prefix = format!("ocpp-bulk-{suite}-{}", uuid::Uuid::new_v4().simple());
    let resources = Resources::create(clients, &prefix, 30).await.expect("create tables and queues");
    let directory = DynamoDirectory::new(clients.dynamodb.clone(), &resources.directory);
    directory.import(&fleet.provision().expect("fleet")).await.expect("import fleet");
    resources
}

pub async fn ports(suite: &str, fleet: &Fleet) -> Ports {
    ports_on(suite, fleet).await.0
}

/// The ports, and the tables and queue they stand on.
pub async fn ports_on(suite: &str, fleet: &Fleet) -> (Ports, Resources) {
    let clients = clients().await;
    let resources = provision(&clients, suite, fleet).await;
    let directory = Arc::new(DynamoDirectory::new(clients.dynamodb.clone(), &resources.directory));
    let connections = Arc::new(DynamoConnectionTable::new(clients.dynamodb.clone(), &resources.connections));
    let runs =
        Arc::new(DynamoRunStore::new(clients.dynamodb.clone(), &resources.runs).with_slots(&resources.connections));
    let ports = Ports {
        tokens: directory.clone(),
        chargers: directory.clone(),
        fleet: directory,
        runs: runs.clone(),
        webhooks: runs.clone(),
        secrets: runs,
        inflight: connections.clone(),
        connections,
        idempotency: Arc::new(DynamoIdempotency::new(clients.dynamodb.clone(), &resources.runs)),
        limiter: Arc::new(DynamoRateLimiter::new(clients.dynamodb.clone(), &resources.runs)),
        budget: Arc::new(shared::aws::pace::DynamoDispatchBudget::new(clients.dynamodb.clone(), &resources.runs)),
    };
    (ports, resources)
}

/// Arms the strict stand-in (scripts/strict_aws/): the next `times` `operation` requests on
/// `table` answer 500 after moto applied them, as AWS may: the write is done, its answer lost.
pub async fn lose_answers(operation: &str, table: &str, times: u32) {
    arm(operation, table, "after", times).await;
}

/// Arms the strict stand-in: the next `times` `operation` requests on `table` answer 500 before
/// they are applied. The client cannot tell this from a lost answer (`lose_answers`).
pub async fn fail_before(operation: &str, table: &str, times: u32) {
    arm(operation, table, "before", times).await;
}

async fn arm(operation: &str, table: &str, when: &str, times: u32) {
    let url = format!("{}/strict-api/arm", std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL"));
    let fault = serde_json::json!({"operation": operation, "table": table, "when": when, "times": times});
    let response = reqwest::Client::new().post(url).json(&fault).send().await.expect("strict stand-in");
    assert_eq!(response.status().as_u16(), 200, "the strict stand-in (STRICT_AWS=1) arms faults");
}

/// Scales the strict stand-in's throughput down for `table` (and its indexes) alone: `partition_wcu`
/// write units a second per partition key, so a test of a few hundred chargers meets the limit
/// 150,000 would.
pub async fn scale_table(table: &str, partition_wcu: u32) {
    let url = format!("{}/strict-api/capacity", std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL"));
    let body = serde_json::json!({"table": table, "partition_wcu": partition_wcu});
    let response = reqwest::Client::new().post(url).json(&body).send().await.expect("strict stand-in");
    assert_eq!(response.status().as_u16(), 200, "the strict stand-in (STRICT_AWS=1) scales a table");
}

/// The strict stand-in's tallies of the partitions whose key contains `key`: (bucket, key, units,
/// requests throttled) each.
pub async fn partitions_matching(key: &str) -> Vec<(String, String, f64, u64)> {
    let url = format!("{}/strict-api/partitions?top=1000&match={key}", std::env::var("AWS_ENDPOINT_URL").expect("URL"));
    let body: serde_json::Value = reqwest::get(url).await.expect("strict stand-in").json().await.expect("json");
    let rows = body["partitions"].as_array().cloned().unwrap_or_default();
    rows.iter()
        .map(|row| {
            let text = |name: &str| row[name].as_str().map(str::to_owned).unwrap_or_else(|| row[name].to_string());
            (text("table"), text("key"), row["units"].as_f64().unwrap_or(0.0), row["throttled"].as_u64().unwrap_or(0))
        })
        .collect()
}
