//! `ocpp-bulk runs`, `run` and `cancel`: look at the runs of a deployed (or local) stack, as tables
//! for people or JSON for scripts (`--json`).

use std::time::Duration;

use serde_json::{json, Value};

use crate::send::{follow, summarise, ApiClient, Summary};

/// How a command prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Table,
    Json,
}

fn count(value: &Value) -> String {
    value.as_u64().map_or_else(|| "-".to_owned(), |n| n.to_string())
}

/// Up to `limit` of the caller's runs, newest first.
pub async fn list(client: &ApiClient, limit: usize, output: Output) -> Result<String, String> {
    let mut runs = Vec::new();
    let mut cursor = None;
    while runs.len() < limit {
        let (page, next) = client.runs((limit - runs.len()).min(100), cursor.as_deref()).await?;
        runs.extend(page);
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    runs.truncate(limit);
    if output == Output::Json {
        return Ok(format!("{}\n", Value::Array(runs)));
    }
    let mut out = format!(
        "{:<36}  {:<22} {:<9} {:>7} {:>7} {:>7} {:>7} {:>7}  {}\n",
        "RUN", "COMMAND", "STATUS", "TOTAL", "SENT", "OFFLINE", "ERROR", "SKIPPED", "CREATED"
    );
    for run in &runs {
        out.push_str(&format!(
            "{:<36}  {:<22} {:<9} {:>7} {:>7} {:>7} {:>7} {:>7}  {}\n",
            run["uuid"].as_str().unwrap_or("?"),
            run["command"].as_str().unwrap_or("?"),
            run["status"].as_str().unwrap_or("?"),
            count(&run["total_count"]),
            count(&run["sent_count"]),
            count(&run["offline_count"]),
            count(&run["error_count"]),
            count(&run["skipped_count"]),
            run["created_at"].as_str().unwrap_or("?"),
        ));
    }
    if runs.is_empty() {
        out.push_str("(no runs)\n");
    }
    Ok(out)
}

/// One run: its summary by status and message (`watch`: followed live to its end first), or,
/// with `status`, every result of that status.
pub async fn show(
    client: &ApiClient,
    id: &str,
    watch: bool,
    status: Option<&str>,
    output: Output,
) -> Result<String, String> {
    if let Some(status) = status {
        return results(client, id, status, output).await;
    }
    let mut run = client.run(id).await?;
    if watch {
        run = follow(client, run, output == Output::Table, Duration::from_millis(500)).await?;
    }
    let summary = summarise(client, run).await?;
    Ok(match output {
        Output::Table => summary.table(),
        Output::Json => format!("{}\n", summary_json(&summary)),
    })
}

fn summary_json(summary: &Summary) -> Value {
    json!({"run": summary.run, "results_by_status": summary.by_status})
}

async fn results(client: &ApiClient, id: &str, status: &str, output: Output) -> Result<String, String> {
    let results = client.results_with(id, Some(status)).await?;
    if output == Output::Json {
        return Ok(format!("{}\n", Value::Array(results)));
    }
    let mut out = format!("{:<36}  {:<20} {:<10} {:<24}  {}\n", "CHARGER", "IDENTITY", "STATUS", "EXECUTED", "MESSAGE");
    for result in &results {
        out.push_str(&format!(
            "{:<36}  {:<20} {:<10} {:<24}  {}\n",
            result["charger_uuid"].as_str().unwrap_or("?"),
            result["charger"]["identity"].as_str().unwrap_or("-"),
            result["status"].as_str().unwrap_or("?"),
            result["executed_at"].as_str().unwrap_or("-"),
            result["message"].as_str().unwrap_or(""),
        ));
    }
    out.push_str(&format!("{} {status} result(s)\n", results.len()));
    Ok(out)
}

/// Cancels what of a run is not yet dispatched.
/// Rotates the caller's webhook secret and shows it, with how to check a signature.
pub async fn rotate_webhook_secret(client: &ApiClient) -> Result<String, String> {
    let made = client.rotate_webhook_secret().await?;
    Ok(format!(
        "{}\n(version {}; shown this once. Events carry {}: {})\n",
        made["secret"].as_str().unwrap_or_default(),
        made["version"],
        made["header"].as_str().unwrap_or_default(),
        made["scheme"].as_str().unwrap_or_default(),
    ))
}

pub async fn cancel(client: &ApiClient, id: &str, output: Output) -> Result<String, String> {
    let run = client.cancel(id).await?;
    Ok(match output {
        Output::Json => format!("{run}\n"),
        Output::Table => format!(
            "run {} cancelled: not yet dispatched results end `error` / `cancelled`; CALLs in flight end normally \
             (status {}, {} of {} done)\n",
            run["uuid"].as_str().unwrap_or(id),
            run["status"].as_str().unwrap_or("?"),
            ["sent_count", "offline_count", "error_count", "skipped_count"]
                .iter()
                .map(|k| run[k].as_u64().unwrap_or(0))
                .sum::<u64>(),
            count(&run["total_count"]),
        ),
    })
}
