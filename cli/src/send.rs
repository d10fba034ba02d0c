//! `ocpp-bulk send`: submit one bulk command, follow the run with a live progress bar, then
//! summarise every result by status and message. `ApiClient` is the API as the CLI speaks it (over
//! HTTPS too: rustls, trusting the system's roots or `SSL_CERT_FILE`).

use std::collections::BTreeMap;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};

pub struct SendOptions {
    pub api: String,
    pub token: String,
    /// What to send: a command, or a retry of a run's failures.
    pub what: What,
    pub data: Value,
    /// What chargers of an OCPP version are sent instead (`POST … "versions"`).
    pub versions: Option<Value>,
    pub chargers: Vec<String>,
    /// Instead of `chargers`: a filter of the fleet view (`POST … "target"`).
    pub target: Option<Value>,
    /// The run's webhook: its URL, and whether progress events too.
    pub callback: Option<(String, bool)>,
    pub timeout_seconds: Option<u32>,
    pub max_per_second: Option<u32>,
    /// What the results' outcomes after the answer must come to (`POST … "outcome"`).
    pub outcome: Option<Value>,
    /// Waves, abort threshold, start time, window (`POST … "rollout"`; a retry's too).
    pub rollout: Option<Value>,
    pub poll_every: Duration,
    pub progress: bool,
}

impl SendOptions {
    /// These options for another command (or a retry).
    pub fn with(&self, what: What) -> SendOptions {
        SendOptions {
            api: self.api.clone(),
            token: self.token.clone(),
            what,
            data: self.data.clone(),
            versions: self.versions.clone(),
            chargers: self.chargers.clone(),
            target: self.target.clone(),
            callback: self.callback.clone(),
            timeout_seconds: self.timeout_seconds,
            max_per_second: self.max_per_second,
            outcome: self.outcome.clone(),
            rollout: self.rollout.clone(),
            poll_every: self.poll_every,
            progress: self.progress,
        }
    }
}

pub enum What {
    Command(String),
    /// A run's id, and the statuses of its results to retry (empty: offline and error).
    RetryOf(String, Vec<String>),
}

/// The finished run and its results counted by status, then by message.
pub struct Summary {
    pub run: Value,
    pub by_status: BTreeMap<String, BTreeMap<String, u64>>,
}

pub struct ApiClient {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl ApiClient {
    pub fn new(base: &str, token: &str) -> ApiClient {
        ApiClient { http: reqwest::Client::new(), base: base.trim_end_matches('/').to_owned(), token: token.to_owned() }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> Result<(u16, Value), String> {
        let mut request = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| format!("cannot reach the API at {}: {e}", self.base))?;
        let status = response.status().as_u16();
        let body =
            response.json::<Value>().await.map_err(|e| format!("the API answered {status} without JSON: {e}"))?;
        Ok((status, body))
    }

    async fn expect_status(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        want: u16,
    ) -> Result<Value, String> {
        let (status, body) = self.call(method, path, body).await?;
        if status != want {
            let message = body["message"].as_str().unwrap_or("no message");
            let errors = body.get("errors").map(|e| format!(" {e}")).unwrap_or_default();
            return Err(format!("the API answered {status}: {message}{errors}"));
        }
        Ok(body)
    }

    pub async fn create(&self, body: &Value) -> Result<Value, String> {
        Ok(self.expect_status(reqwest::Method::POST, "/v3/chargers/commands/bulk", Some(body), 202).await?["data"]
            .take())
    }

    /// A new run retrying `id`'s results with `statuses` (empty: offline and error).
    pub async fn retry(&self, id: &str, statuses: &[String], rollout: Option<&Value>) -> Result<Value, String> {
        let mut body = if statuses.is_empty() { json!({}) } else { json!({ "statuses": statuses }) };
        if let Some(rollout) = rollout {
            body["rollout"] = rollout.clone();
        }
        let path = format!("/v3/chargers/commands/bulk/{id}/retry");
        Ok(self.expect_status(reqwest::Method::POST, &path, Some(&body), 202).await?["data"].take())
    }

    /// A new webhook signing secret for the caller.
    pub async fn rotate_webhook_secret(&self) -> Result<Value, String> {
        Ok(self.expect_status(reqwest::Method::POST, "/v3/webhooks/secret", None, 201).await?["data"].take())
    }

    pub async fn run(&self, id: &str) -> Result<Value, String> {
        Ok(self.expect_status(reqwest::Method::GET, &format!("/v3/chargers/commands/bulk/{id}"), None, 200).await?
            ["data"]
            .take())
    }

    /// The caller's runs, newest first: one page, and the cursor of the next.
    pub async fn runs(&self, per_page: usize, cursor: Option<&str>) -> Result<(Vec<Value>, Option<String>), String> {
        let mut path = format!("/v3/chargers/commands/bulk?per_page={per_page}");
        if let Some(cursor) = cursor {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let mut page = self.expect_status(reqwest::Method::GET, &path, None, 200).await?;
        let runs = match page["data"].take() {
            Value::Array(runs) => runs,
            _ => Vec::new(),
        };
        Ok((runs, page["meta"]["next_cursor"].as_str().map(str::to_owned)))
    }

    /// Cancels what of a run is not yet dispatched; returns the run.
    pub async fn cancel(&self, id: &str) -> Result<Value, String> {
        self.act(id, "cancel").await
    }

    /// `POST …/{run}/{action}` (cancel, pause, resume): the run after it.
    pub async fn act(&self, id: &str, action: &str) -> Result<Value, String> {
        let path = format!("/v3/chargers/commands/bulk/{id}/{action}");
        Ok(self.expect_status(reqwest::Method::POST, &path, None, 200).await?["data"].take())
    }

    /// Every result of a run, following the cursor.
    pub async fn all_results(&self, id: &str) -> Result<Vec<Value>, String> {
        self.results_with(id, None).await
    }

    /// Every result of a run, or only those of `status`, following the cursor.
    pub async fn results_with(&self, id: &str, status: Option<&str>) -> Result<Vec<Value>, String> {
        let mut results = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/v3/chargers/commands/bulk/{id}/results?per_page=1000");
            if let Some(status) = status {
                path.push_str(&format!("&status={status}"));
            }
            if let Some(cursor) = &cursor {
                path.push_str(&format!("&cursor={cursor}"));
            }
            let mut page = self.expect_status(reqwest::Method::GET, &path, None, 200).await?;
            if let Value::Array(data) = page["data"].take() {
                results.extend(data);
            }
            match page["meta"]["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return Ok(results),
            }
        }
    }
}

fn terminal(run: &Value) -> u64 {
    ["sent_count", "offline_count", "error_count", "skipped_count"].iter().map(|k| run[k].as_u64().unwrap_or(0)).sum()
}

pub async fn send(options: &SendOptions) -> Result<Summary, String> {
    let client = ApiClient::new(&options.api, &options.token);
    let run = match &options.what {
        What::Command(command) => {
            let mut body = match &options.target {
                Some(target) => json!({"command": command, "data": options.data, "target": target}),
                None => json!({"command": command, "data": options.data, "charger_ids": options.chargers}),
            };
            if let Some(versions) = &options.versions {
                body["versions"] = versions.clone();
            }
            if let Some(t) = options.timeout_seconds {
                body["timeout_seconds"] = json!(t);
            }
            if let Some(r) = options.max_per_second {
                body["max_per_second"] = json!(r);
            }
            if let Some((url, progress)) = &options.callback {
                body["callback_url"] = json!(url);
                body["callback_progress"] = json!(progress);
            }
            if let Some(outcome) = &options.outcome {
                body["outcome"] = outcome.clone();
            }
            if let Some(rollout) = &options.rollout {
                body["rollout"] = rollout.clone();
            }
            client.create(&body).await?
        }
        What::RetryOf(run, statuses) => client.retry(run, statuses, options.rollout.as_ref()).await?,
    };
    let run = follow(&client, run, options.progress, options.poll_every).await?;
    summarise(&client, run).await
}

/// Polls a run until it completes, with a live progress bar when `progress`.
pub async fn follow(client: &ApiClient, mut run: Value, progress: bool, poll_every: Duration) -> Result<Value, String> {
    let id = run["uuid"].as_str().unwrap_or_default().to_owned();
    let bar = if progress { ProgressBar::new(run["total_count"].as_u64().unwrap_or(0)) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:40.cyan/blue} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.println(format!("run {id}: {} to {} chargers", run["command"].as_str().unwrap_or("?"), run["total_count"]));
    let mut said = String::new();
    // Complete, however it ended (an aborted run stays `aborted` once complete).
    while run["completed_at"].is_null() {
        bar.set_position(terminal(&run));
        bar.set_message(progress_line(&run));
        let state = state_line(&run);
        if !state.is_empty() && state != said {
            bar.println(&state);
            said = state;
        }
        tokio::time::sleep(poll_every).await;
        run = client.run(&id).await?;
    }
    if let Some(reason) =
        run["rollout"]["abort_reason"].as_str().filter(|_| said.is_empty() || !said.contains("aborted"))
    {
        bar.println(reason);
    }
    bar.set_position(terminal(&run));
    bar.finish_and_clear();
    Ok(run)
}

/// The bar's message: the counts, the outcomes and the wave.
fn progress_line(run: &Value) -> String {
    let mut line = format!(
        "sent {} · offline {} · error {} · skipped {}",
        run["sent_count"], run["offline_count"], run["error_count"], run["skipped_count"]
    );
    let outcome = &run["outcome"];
    if outcome.is_object() {
        line.push_str(&format!(
            " · outcomes: {} succeeded, {} failed, {} stalled, {} open",
            outcome["succeeded_count"], outcome["failed_count"], outcome["stalled_count"], outcome["open_count"]
        ));
    }
    let rollout = &run["rollout"];
    if let Some(sizes) = rollout["wave_sizes"].as_array().filter(|sizes| sizes.len() > 1) {
        line.push_str(&format!(" · wave {}/{}", rollout["wave"], sizes.len()));
    }
    line
}

/// A line worth printing when the run's state changes: scheduled, paused (and why), a wave
/// opened, outside its window, aborted.
fn state_line(run: &Value) -> String {
    let rollout = &run["rollout"];
    match run["status"].as_str() {
        Some("scheduled") => format!("scheduled: starts at {}", rollout["start_at"].as_str().unwrap_or("?")),
        Some("paused") => match rollout["held"].as_str() {
            Some(held) => format!("paused: {held}"),
            None => "paused: `ocpp-bulk resume` to go on".to_owned(),
        },
        Some("aborted") => rollout["abort_reason"].as_str().unwrap_or("aborted").to_owned(),
        _ if rollout["outside_window"] == true => "outside its window: new CALLs wait for it to open".to_owned(),
        _ => match rollout["wave_sizes"].as_array().filter(|sizes| sizes.len() > 1) {
            Some(sizes) => {
                let wave = rollout["wave"].as_u64().unwrap_or(0);
                let size = sizes.get((wave as usize).saturating_sub(1)).cloned().unwrap_or_default();
                format!("wave {wave} of {} opened ({size} chargers)", sizes.len())
            }
            None => String::new(),
        },
    }
}

/// A run with its results counted by status, then by message.
pub async fn summarise(client: &ApiClient, run: Value) -> Result<Summary, String> {
    let id = run["uuid"].as_str().unwrap_or_default().to_owned();
    let mut by_status: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for result in client.all_results(&id).await? {
        let status = result["status"].as_str().unwrap_or("?").to_owned();
        let message = result["message"].as_str().unwrap_or("").to_owned();
        *by_status.entry(status).or_default().entry(message).or_default() += 1;
        if let Some(state) = result["outcome"]["state"].as_str() {
            // Outcomes beside statuses: by state, then by the latest status or why.
            let why = result["outcome"]["message"].as_str().or(result["outcome"]["status"].as_str()).unwrap_or("");
            *by_status.entry(format!("outcome {state}")).or_default().entry(why.to_owned()).or_default() += 1;
        }
    }
    Ok(Summary { run, by_status })
}

impl Summary {
    pub fn table(&self) -> String {
        let run = &self.run;
        let mut out = format!(
            "run {} {} · {} chargers · created {} · completed {}\n",
            run["uuid"].as_str().unwrap_or("?"),
            run["command"].as_str().unwrap_or("?"),
            run["total_count"],
            run["created_at"].as_str().unwrap_or("?"),
            run["completed_at"].as_str().unwrap_or("-"),
        );
        if let Some(retried) = run["retry_of"].as_str() {
            out.push_str(&format!("retries the failures of run {retried}\n"));
        }
        if let Some(versions) = run["versions"].as_object().filter(|v| !v.is_empty()) {
            for (version, instead) in versions {
                let (command, data) = (instead["command"].as_str().unwrap_or("?"), &instead["data"]);
                out.push_str(&format!("{version} chargers are sent {command} {data} instead\n"));
            }
        }
        if run["target"].is_object() {
            out.push_str(&format!("chargers chosen by target {}\n", run["target"]));
        }
        if let Some(sizes) = run["rollout"]["wave_sizes"].as_array() {
            let sizes: Vec<String> = sizes.iter().map(Value::to_string).collect();
            out.push_str(&format!(
                "rolled out in waves of {} (reached wave {})\n",
                sizes.join(", "),
                run["rollout"]["wave"]
            ));
        }
        if let Some(reason) = run["rollout"]["abort_reason"].as_str() {
            out.push_str(&format!("{reason}\n"));
        }
        out.push_str(&format!("{:<18} {:>7}  {}\n", "STATUS", "COUNT", "MESSAGES"));
        for (status, messages) in &self.by_status {
            let count: u64 = messages.values().sum();
            let detail: Vec<String> = messages
                .iter()
                .map(|(m, n)| if m.is_empty() { format!("{n} without message") } else { format!("{n} {m}") })
                .collect();
            out.push_str(&format!("{status:<18} {count:>7}  {}\n", detail.join(", ")));
        }
        out
    }

    pub fn count(&self, status: &str) -> u64 {
        self.by_status.get(status).map_or(0, |m| m.values().sum())
    }
}
