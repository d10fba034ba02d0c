//! The tables and queues ocpp-bulk needs, defined once: `ocpp-bulk init` creates them from these
//! definitions, and a test checks template.yaml declares the same keys, indexes and TTLs.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;

use super::errors::sdk_error;
use crate::error::{Error, Result};
use crate::queue_message::MAX_RECEIVES;

pub struct IndexDef {
    pub name: &'static str,
    pub hash: &'static str,
    pub range: &'static str,
    /// The non-key attributes it holds: `None` for all of them.
    pub include: Option<&'static [&'static str]>,
}

pub struct TableDef {
    /// The template's logical id.
    pub logical_id: &'static str,
    /// The environment variable that names it.
    pub env: &'static str,
    pub hash: &'static str,
    pub range: Option<&'static str>,
    pub indexes: &'static [IndexDef],
    pub ttl: Option<&'static str>,
}

pub const RUNS: TableDef = TableDef {
    logical_id: "RunsTable",
    env: "RUNS_TABLE",
    hash: "pk",
    range: Some("sk"),
    indexes: &[IndexDef { name: super::runs::OWNER_INDEX, hash: "owner", range: "created", include: None }],
    ttl: Some("expires"),
};
/// The directory also holds the fleet view (`fleet_states.rs`), listed through its three sparse indexes.
pub const DIRECTORY: TableDef = TableDef {
    logical_id: "DirectoryTable",
    env: "DIRECTORY_TABLE",
    hash: "pk",
    range: None,
    indexes: &super::fleet_states::INDEXES,
    ttl: None,
};
pub const CONNECTIONS: TableDef = TableDef {
    logical_id: "ConnectionsTable",
    env: "CONNECTIONS_TABLE",
    hash: "pk",
    range: None,
    indexes: &[],
    ttl: Some("expires"),
};
pub const TABLES: [&TableDef; 3] = [&RUNS, &DIRECTORY, &CONNECTIONS];

fn string_attribute(name: &str) -> Result<AttributeDefinition> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(|e| Error::internal("dynamodb", e))
}

fn key(name: &str, kind: KeyType) -> Result<KeySchemaElement> {
    KeySchemaElement::builder().attribute_name(name).key_type(kind).build().map_err(|e| Error::internal("dynamodb", e))
}

/// Creates the table if it does not exist (on-demand billing), and turns its TTL on.
pub async fn create_table(client: &aws_sdk_dynamodb::Client, def: &TableDef, name: &str) -> Result<()> {
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(string_attribute(def.hash)?)
        .key_schema(key(def.hash, KeyType::Hash)?);
    if let Some(range) = def.range {
        request = request.attribute_definitions(string_attribute(range)?).key_schema(key(range, KeyType::Range)?);
    }
    let mut defined = vec![def.hash];
    defined.extend(def.range);
    for index in def.indexes {
        let projection = match index.include {
            None => Projection::builder().projection_type(ProjectionType::All).build(),
            Some(attributes) => Projection::builder()
                .projection_type(ProjectionType::Include)
                .set_non_key_attributes(Some(attributes.iter().map(|a| (*a).to_owned()).collect()))
                .build(),
        };
        let gsi = GlobalSecondaryIndex::builder()
            .index_name(index.name)
            .key_schema(key(index.hash, KeyType::Hash)?)
            .key_schema(key(index.range, KeyType::Range)?)
            .projection(projection)
            .build()
            .map_err(|e| Error::internal("dynamodb", e))?;
        for attribute in [index.hash, index.range] {
            if !defined.contains(&attribute) {
                defined.push(attribute);
                request = request.attribute_definitions(string_attribute(attribute)?);
            }
        }
        request = request.global_secondary_indexes(gsi);
    }
    match request.send().await {
        Ok(_) => {}
        Err(err) if err.as_service_error().is_some_and(|e| e.is_resource_in_use_exception()) => return Ok(()),
        Err(err) => return Err(sdk_error("dynamodb", err)),
    }
    if let Some(attribute) = def.ttl {
        let spec = TimeToLiveSpecification::builder()
            .attribute_name(attribute)
            .enabled(true)
            .build()
            .map_err(|e| Error::internal("dynamodb", e))?;
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(spec)
            .send()
            .await
            .map_err(|e| sdk_error("dynamodb", e))?;
    }
    Ok(())
}

/// The queues of one deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queues {
    pub dispatch_url: String,
    pub dead_letter_url: String,
    pub dead_letter_arn: String,
}

/// Creates the dispatch queue and its dead-letter queue (redrive after `MAX_RECEIVES`).
pub async fn create_queues(client: &aws_sdk_sqs::Client, name: &str, visibility_seconds: u32) -> Result<Queues> {
    let dlq = client.create_queue().queue_name(format!("{name}-dlq")).send().await.map_err(|e| sdk_error("sqs", e))?;
    let dlq_url = dlq.queue_url.unwrap_or_default();
    let arn = client
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| sdk_error("sqs", e))?
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .ok_or_else(|| Error::internal("sqs", "the dead-letter queue has no ARN"))?;
    let redrive = serde_json::json!({"deadLetterTargetArn": arn, "maxReceiveCount": MAX_RECEIVES}).to_string();
    let queue = client
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::RedrivePolicy, redrive)
        .attributes(QueueAttributeName::VisibilityTimeout, visibility_seconds.to_string())
        .send()
        .await
        .map_err(|e| sdk_error("sqs", e))?;
    let dispatch_url = queue.queue_url.ok_or_else(|| Error::internal("sqs", "the dispatch queue has no URL"))?;
    Ok(Queues { dispatch_url, dead_letter_url: dlq_url, dead_letter_arn: arn })
}

pub const DISPATCH_QUEUE_URL: &str = "DISPATCH_QUEUE_URL";
pub const DEAD_LETTER_QUEUE_URL: &str = "DEAD_LETTER_QUEUE_URL";
pub const DEAD_LETTER_QUEUE_ARN: &str = "DEAD_LETTER_QUEUE_ARN";

/// The names of one deployment's tables and its queue URL (from the template's outputs on AWS,
/// or created by `ocpp-bulk init` / the tests under a prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resources {
    pub runs: String,
    pub directory: String,
    pub connections: String,
    pub queue_url: String,
    /// The dead-letter queue's URL, when known (created here, or DEAD_LETTER_QUEUE_URL).
    pub dead_letter_url: Option<String>,
    /// Its ARN (DEAD_LETTER_QUEUE_ARN): the worker tells its records by it.
    pub dead_letter_arn: Option<String>,
}

impl Resources {
    /// Read once at a function's cold start (the template sets them for every function):
    /// RUNS_TABLE, DIRECTORY_TABLE, CONNECTIONS_TABLE, DISPATCH_QUEUE_URL, and optionally
    /// DEAD_LETTER_QUEUE_URL and DEAD_LETTER_QUEUE_ARN. A missing one fails with its name.
    pub fn from_env() -> std::result::Result<Resources, String> {
        Ok(Resources {
            runs: super::required_env(RUNS.env)?,
            directory: super::required_env(DIRECTORY.env)?,
            connections: super::required_env(CONNECTIONS.env)?,
            queue_url: super::required_env(DISPATCH_QUEUE_URL)?,
            dead_letter_url: super::required_env(DEAD_LETTER_QUEUE_URL).ok(),
            dead_letter_arn: super::required_env(DEAD_LETTER_QUEUE_ARN).ok(),
        })
    }

    /// Creates (idempotently) every table and the queues under `prefix`.
    pub async fn create(clients: &super::AwsClients, prefix: &str, visibility_seconds: u32) -> Result<Resources> {
        let name = |def: &TableDef| format!("{prefix}-{}", def.logical_id);
        for def in TABLES {
            create_table(&clients.dynamodb, def, &name(def)).await?;
        }
        let queues = create_queues(&clients.sqs, &format!("{prefix}-dispatch"), visibility_seconds).await?;
        Ok(Resources {
            runs: name(&RUNS),
            directory: name(&DIRECTORY),
            connections: name(&CONNECTIONS),
            queue_url: queues.dispatch_url,
            dead_letter_url: Some(queues.dead_letter_url),
            dead_letter_arn: Some(queues.dead_letter_arn),
        })
    }

    /// The variables a function or `ocpp-bulk import` reads, as `export` lines.
    pub fn exports(&self) -> String {
        let mut exports = format!(
            "export {}={}\nexport {}={}\nexport {}={}\nexport {DISPATCH_QUEUE_URL}={}\n",
            RUNS.env, self.runs, DIRECTORY.env, self.directory, CONNECTIONS.env, self.connections, self.queue_url
        );
        for (name, value) in
            [(DEAD_LETTER_QUEUE_URL, &self.dead_letter_url), (DEAD_LETTER_QUEUE_ARN, &self.dead_letter_arn)]
        {
            if let Some(value) = value {
                exports.push_str(&format!("export {name}={value}\n"));
            }
        }
        exports
    }
}
