//! The `ocpp-bulk` command line: every subcommand and its options (clap), read by `main.rs`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use ocpp_bulk::sim::{JobOutcome, Mix};
use shared::aws::{AwsClients, DynamoDirectory};

#[derive(Parser)]
#[command(
    name = "ocpp-bulk",
    version,
    about = "Send one OCPP 1.6 or 2.0.1 command to many chargers and track every answer"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the embedded stack: HTTP API at http://LISTEN/v3/…, chargers at ws://LISTEN/ocpp/{identity}.
    Serve {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        #[arg(long, env = "OCPP_BULK_FLEET")]
        fleet: PathBuf,
        /// embedded: everything in this process. aws: DynamoDB and SQS through the SDK
        /// (AWS_ENDPOINT_URL for a local server), tables and queue created under --prefix.
        #[arg(long, value_enum, default_value = "embedded")]
        backend: Backend,
        /// Name prefix of the tables and queue (aws backend).
        #[arg(long, default_value = "ocpp-bulk-local")]
        prefix: String,
        /// Refuse chargers that have no password (as RequireChargerPasswords=true on AWS).
        #[arg(long)]
        require_passwords: bool,
        /// Let runs' webhooks reach loopback and private addresses, over plain http too (receivers
        /// on this machine or network). Never so on AWS: there a callback must be public https.
        #[arg(long)]
        allow_private_webhooks: bool,
        /// With --allow-private-webhooks: the first retry of a failed completion event after this
        /// many seconds (doubling each time) instead of 30.
        #[arg(long, default_value_t = 30, requires = "allow_private_webhooks")]
        webhook_first_retry_seconds: u32,
        /// Where the management API stand-in listens (aws backend; loopback only, never the public
        /// listener): the endpoint other local processes post frames to.
        #[arg(long, default_value = "127.0.0.1:0")]
        management_listen: String,
        /// Open connections at most (HTTP and chargers); one more is answered 503. Default: the
        /// open-file limit less 512.
        #[arg(long)]
        max_connections: Option<usize>,
    },
    /// Tokens in a directory table: list (without secrets), revoke, rotate.
    Tokens {
        #[command(subcommand)]
        command: TokensCommand,
    },
    /// Chargers in a directory table: list (without secrets), remove.
    Chargers {
        #[command(subcommand)]
        command: ChargersCommand,
    },
    /// Create the tables and queues under a prefix (same definitions as template.yaml) and print
    /// the environment variables that name them.
    Init {
        #[arg(long, default_value = "ocpp-bulk-local")]
        prefix: String,
    },
    /// Load a fleet's chargers and tokens (secrets hashed) into the directory table named by
    /// DIRECTORY_TABLE (a deployed stack's output), or the one under --prefix.
    Import {
        #[arg(long)]
        fleet: PathBuf,
        #[arg(long, conflicts_with = "table")]
        prefix: Option<String>,
        #[arg(long, env = "DIRECTORY_TABLE")]
        table: Option<String>,
    },
    /// Connect simulated chargers for every charger of a fleet file.
    Sim {
        #[arg(long, default_value = "ws://127.0.0.1:8080/ocpp")]
        url: String,
        #[arg(long)]
        fleet: PathBuf,
        /// How the chargers answer, as weights: accept=90,reject=4,error=3,silent=3.
        #[arg(long, default_value = "accept=1")]
        mix: Mix,
        /// How the jobs they accept end (firmware updates, uploads), as weights:
        /// succeed=90,fail=7,lose=3 (lose: the last notification is lost; a trigger finds it).
        #[arg(long, default_value = "succeed=1")]
        jobs: Mix<JobOutcome>,
        /// Skip the first N chargers of the fleet (to split a big fleet over processes).
        #[arg(long, default_value_t = 0)]
        skip: usize,
        /// Simulate only N chargers of the fleet (after --skip).
        #[arg(long)]
        limit: Option<usize>,
        /// Handshakes under way at once.
        #[arg(long, default_value_t = 200)]
        concurrency: usize,
        /// Percent of the chargers that speak OCPP 2.0.1 (the others 1.6): 0 to 100.
        #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=100))]
        ocpp201: u8,
        /// A 1.6 GetConfiguration of every key answers about this many bytes of keys (0: one key),
        /// as a charger with a long configuration does; at most 15,000 (a result keeps 16 KB).
        #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=15_000))]
        configuration_bytes: u64,
        /// The NotifyReport parts a 2.0.1 report is sent in (a FullInventory's are many), 2 to 100.
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(2..=100))]
        report_parts: u32,
    },
    /// Submit one bulk command and follow the run to its end.
    Send {
        #[command(flatten)]
        api: ApiArgs,
        #[arg(long, required_unless_present = "retry")]
        command: Option<String>,
        /// The OCPP payload, as JSON.
        #[arg(long, default_value = "{}")]
        data: String,
        /// What chargers of an OCPP version are sent instead, as JSON, e.g.
        /// '{"ocpp2.0.1":{"command":"Reset","data":{"type":"Immediate"}}}'.
        #[arg(long, conflicts_with = "retry")]
        versions: Option<String>,
        /// Charger UUIDs, comma-separated.
        #[arg(long, value_delimiter = ',', required_unless_present_any = ["fleet", "retry", "target"])]
        chargers: Vec<String>,
        /// Instead of ids: the chargers that match this filter, as JSON (team, connected, vendor,
        /// model, firmware, firmware_below), e.g. '{"model":"Terra AC","firmware_below":"1.8.2"}'.
        #[arg(long, conflicts_with_all = ["chargers", "fleet"])]
        target: Option<String>,
        /// Instead of a new command: retry this run's failures (same command and data, the chargers
        /// whose results ended offline or error; `--statuses` narrows that).
        #[arg(long, conflicts_with_all = ["command", "chargers", "fleet", "target", "data", "timeout_seconds", "max_per_second"])]
        retry: Option<String>,
        /// With --retry: which results to retry, comma-separated (offline, error; failed, stalled:
        /// outcomes, for a run that follows them).
        #[arg(long, value_delimiter = ',', requires = "retry")]
        statuses: Vec<String>,
        /// Target every charger of this fleet file instead.
        #[arg(long, conflicts_with = "chargers")]
        fleet: Option<PathBuf>,
        #[arg(long)]
        timeout_seconds: Option<u32>,
        #[arg(long)]
        max_per_second: Option<u32>,
        /// POST the run's summary here when it completes, signed (see `webhook-secret`).
        #[arg(long, conflicts_with = "retry")]
        callback_url: Option<String>,
        /// With --callback-url: also at each tenth of the run's progress.
        #[arg(long, requires = "callback_url")]
        callback_progress: bool,
        /// For UpdateFirmware, SignedUpdateFirmware, GetDiagnostics, GetLog: what each outcome after
        /// the answer must come to, as JSON, e.g. '{"timeout_seconds":3600,"firmware_version":"2.0"}'.
        #[arg(long, conflicts_with = "retry")]
        outcome: Option<String>,
        /// Roll it out, as JSON: waves, order, soak, threshold, abort, start time, window, e.g.
        /// '{"waves":[50,"10%","rest"],"abort":{"threshold_percent":5,"min_finished":20}}'.
        #[arg(long)]
        rollout: Option<String>,
    },
    /// List my runs, newest first.
    Runs {
        #[command(flatten)]
        api: ApiArgs,
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One run: its summary by status and message.
    Run {
        #[command(flatten)]
        api: ApiArgs,
        /// The run's UUID.
        run: String,
        /// Follow it live (progress bar) until it completes.
        #[arg(long)]
        watch: bool,
        /// List the results of this status instead (pending, sent, offline, error, skipped_forbidden).
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Cancel what of a run is not yet dispatched.
    Cancel {
        #[command(flatten)]
        api: ApiArgs,
        run: String,
        #[arg(long)]
        json: bool,
    },
    /// Pause a run: CALLs already out end as they do, nothing new starts until a resume.
    Pause {
        #[command(flatten)]
        api: ApiArgs,
        run: String,
    },
    /// Resume a paused run (or a rollout held after a wave: its next wave opens).
    Resume {
        #[command(flatten)]
        api: ApiArgs,
        run: String,
    },
    /// A new signing secret for my runs' webhooks, shown this once (the previous one stops signing).
    WebhookSecret {
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Fleet files.
    Fleet {
        #[command(subcommand)]
        command: FleetCommand,
    },
    /// Everything at once on a generated fleet of 100 chargers: start here.
    Demo {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: String,
        /// Stay up when the runs are done, the simulated chargers connected, so the console (printed
        /// at the start) can be looked at; Ctrl-C ends it.
        #[arg(long)]
        keep: bool,
    },
}

/// Which directory table: DIRECTORY_TABLE (a deployed stack's output), or the one under --prefix.
#[derive(clap::Args)]
pub struct TableArgs {
    #[arg(long, env = "DIRECTORY_TABLE", conflicts_with = "prefix")]
    pub table: Option<String>,
    #[arg(long)]
    pub prefix: Option<String>,
}

impl TableArgs {
    pub async fn directory(&self) -> Result<DynamoDirectory, String> {
        let table = match (&self.table, &self.prefix) {
            (Some(table), _) => table.clone(),
            (None, Some(prefix)) => format!("{prefix}-{}", shared::aws::tables::DIRECTORY.logical_id),
            (None, None) => return Err("give --table (or DIRECTORY_TABLE) or --prefix".into()),
        };
        Ok(DynamoDirectory::new(AwsClients::from_env().await.dynamodb, table))
    }
}

#[derive(Subcommand)]
pub enum TokensCommand {
    List {
        #[command(flatten)]
        table: TableArgs,
    },
    /// Revoke one token (--token) or every token of a user (--user).
    Revoke {
        #[command(flatten)]
        table: TableArgs,
        #[arg(long, env = "OCPP_BULK_REVOKE_TOKEN", hide_env_values = true)]
        token: Option<String>,
        #[arg(long)]
        user: Option<String>,
    },
    /// Replace every token of a user by a new one with the same teams (shown once).
    Rotate {
        #[command(flatten)]
        table: TableArgs,
        #[arg(long)]
        user: String,
    },
}

#[derive(Subcommand)]
pub enum ChargersCommand {
    List {
        #[command(flatten)]
        table: TableArgs,
    },
    Remove {
        #[command(flatten)]
        table: TableArgs,
        #[arg(long)]
        identity: String,
    },
}

#[derive(Subcommand)]
pub enum FleetCommand {
    /// Write a fleet of generated chargers and tokens to standard output (the tokens also to
    /// standard error, once): `ocpp-bulk fleet generate --chargers 10000 --teams 3 > fleet.json`.
    Generate {
        #[arg(long, default_value_t = 100)]
        chargers: usize,
        #[arg(long, default_value_t = 1)]
        teams: usize,
        /// Give every charger a random password (HTTP Basic at the handshake).
        #[arg(long)]
        passwords: bool,
    },
}

/// Where the API is and who calls it. HTTPS trusts the system's roots, or the PEM file named by
/// SSL_CERT_FILE.
#[derive(clap::Args)]
pub struct ApiArgs {
    #[arg(long, env = "OCPP_BULK_API", default_value = "http://127.0.0.1:8080")]
    pub api: String,
    #[arg(long, env = "OCPP_BULK_TOKEN", hide_env_values = true)]
    pub token: String,
}

impl ApiArgs {
    pub fn client(&self) -> ocpp_bulk::send::ApiClient {
        ocpp_bulk::send::ApiClient::new(&self.api, &self.token)
    }
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Backend {
    Embedded,
    Aws,
}
