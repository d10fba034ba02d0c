//! `ocpp-bulk`: the embedded local stack, simulated chargers, a run follower, and the demo.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use ocpp_bulk::sim::Mix;
use shared::aws::tables::Resources;
use shared::aws::{AwsClients, DynamoDirectory};
use shared::domain::fleet::Fleet;

#[derive(Parser)]
#[command(name = "ocpp-bulk", version, about = "Send one OCPP 1.6 command to many chargers and track every answer")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
        /// Skip the first N chargers of the fleet (to split a big fleet over processes).
        #[arg(long, default_value_t = 0)]
        skip: usize,
        /// Simulate only N chargers of the fleet (after --skip).
        #[arg(long)]
        limit: Option<usize>,
        /// Handshakes under way at once.
        #[arg(long, default_value_t = 200)]
        concurrency: usize,
    },
    /// Submit one bulk command and follow the run to its end.
    Send {
        #[command(flatten)]
        api: ApiArgs,
        #[arg(long)]
        command: String,
        /// The OCPP payload, as JSON.
        #[arg(long, default_value = "{}")]
        data: String,
        /// Charger UUIDs, comma-separated.
        #[arg(long, value_delimiter = ',', required_unless_present = "fleet")]
        chargers: Vec<String>,
        /// Target every charger of this fleet file instead.
        #[arg(long, conflicts_with = "chargers")]
        fleet: Option<PathBuf>,
        #[arg(long)]
        timeout_seconds: Option<u32>,
        #[arg(long)]
        max_per_second: Option<u32>,
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
    /// Fleet files.
    Fleet {
        #[command(subcommand)]
        command: FleetCommand,
    },
    /// Everything at once on a generated fleet of 100 chargers: start here.
    Demo {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: String,
    },
}

/// Which directory table: DIRECTORY_TABLE (a deployed stack's output), or the one under --prefix.
#[derive(clap::Args)]
struct TableArgs {
    #[arg(long, env = "DIRECTORY_TABLE", conflicts_with = "prefix")]
    table: Option<String>,
    #[arg(long)]
    prefix: Option<String>,
}

impl TableArgs {
    async fn directory(&self) -> Result<DynamoDirectory, String> {
        let table = match (&self.table, &self.prefix) {
            (Some(table), _) => table.clone(),
            (None, Some(prefix)) => format!("{prefix}-{}", shared::aws::tables::DIRECTORY.logical_id),
            (None, None) => return Err("give --table (or DIRECTORY_TABLE) or --prefix".into()),
        };
        Ok(DynamoDirectory::new(AwsClients::from_env().await.dynamodb, table))
    }
}

#[derive(Subcommand)]
enum TokensCommand {
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
enum ChargersCommand {
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
enum FleetCommand {
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
struct ApiArgs {
    #[arg(long, env = "OCPP_BULK_API", default_value = "http://127.0.0.1:8080")]
    api: String,
    #[arg(long, env = "OCPP_BULK_TOKEN", hide_env_values = true)]
    token: String,
}

impl ApiArgs {
    fn client(&self) -> ocpp_bulk::send::ApiClient {
        ocpp_bulk::send::ApiClient::new(&self.api, &self.token)
    }
}

fn output(json: bool) -> ocpp_bulk::runs::Output {
    if json {
        ocpp_bulk::runs::Output::Json
    } else {
        ocpp_bulk::runs::Output::Table
    }
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Backend {
    Embedded,
    Aws,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    ocpp_bulk::init_tls();
    let verbose = matches!(cli.command, Command::Serve { .. });
    shared::telemetry::init(false, if verbose { "info" } else { "warn" });
    match run(cli.command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("ocpp-bulk: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Every connection is a file: take the most the OS allows (the hard limit) before opening many.
fn raise_open_file_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::debug!(limit, "open-file limit"),
        Err(err) => tracing::warn!(error = %err, "could not raise the open-file limit"),
    }
}

fn load(path: &std::path::Path) -> Result<Fleet, String> {
    Fleet::load(path).map_err(|e| e.to_string())
}

async fn run(command: Command) -> Result<(), String> {
    match command {
        Command::Serve { listen, fleet, backend, prefix, require_passwords, management_listen, max_connections } => {
            raise_open_file_limit();
            let provisioned = load(&fleet)?.provision().map_err(|e| e.to_string())?;
            let listener =
                tokio::net::TcpListener::bind(&listen).await.map_err(|e| format!("cannot listen on {listen}: {e}"))?;
            let address = listener.local_addr().map_err(|e| e.to_string())?;
            let mut stack = match backend {
                Backend::Embedded => ocpp_bulk::stack::Stack::embedded(&provisioned, Default::default()),
                Backend::Aws => {
                    let clients = AwsClients::from_env().await;
                    let resources = Resources::create(&clients, &prefix, 30).await.map_err(|e| e.to_string())?;
                    DynamoDirectory::new(clients.dynamodb.clone(), &resources.directory)
                        .import(&provisioned)
                        .await
                        .map_err(|e| e.to_string())?;
                    eprint!("ocpp-bulk serve: AWS backend\n{}", resources.exports());
                    tokio::spawn(ocpp_bulk::server::report_absorbed_faults());
                    let (management, endpoint) = ocpp_bulk::server::management_listener_on(&management_listen)
                        .await
                        .map_err(|e| format!("management API on {management_listen}: {e}"))?;
                    eprintln!("ocpp-bulk serve: management API stand-in at {endpoint} (loopback only)");
                    let stack = ocpp_bulk::stack::Stack::aws(
                        &clients,
                        &resources,
                        &endpoint,
                        &ocpp_bulk::stack::AwsOptions::from_env(),
                    );
                    tokio::spawn(ocpp_bulk::server::serve_management(management, stack.clone()));
                    stack
                }
            };
            eprintln!(
                "ocpp-bulk serve: API http://{address}/v3/chargers/commands/bulk · chargers ws://{address}/ocpp/{{identity}} · {} chargers, {} tokens",
                provisioned.chargers.len(),
                provisioned.tokens.len()
            );
            stack.websocket.require_passwords = require_passwords;
            if let Some(max) = max_connections {
                stack.limits.max_connections = max.max(1);
            }
            ocpp_bulk::server::serve(listener, stack).await.map_err(|e| e.to_string())
        }
        Command::Init { prefix } => {
            let clients = AwsClients::from_env().await;
            let resources = Resources::create(&clients, &prefix, 30).await.map_err(|e| e.to_string())?;
            print!("{}", resources.exports());
            Ok(())
        }
        Command::Import { fleet, prefix, table } => {
            let provisioned = load(&fleet)?.provision().map_err(|e| e.to_string())?;
            let table = match (table, prefix) {
                (Some(table), _) => table,
                (None, Some(prefix)) => format!("{prefix}-{}", shared::aws::tables::DIRECTORY.logical_id),
                (None, None) => return Err("give --table (or DIRECTORY_TABLE) or --prefix".into()),
            };
            let clients = AwsClients::from_env().await;
            DynamoDirectory::new(clients.dynamodb.clone(), &table)
                .import(&provisioned)
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "imported {} chargers and {} tokens into {table}",
                provisioned.chargers.len(),
                provisioned.tokens.len()
            );
            Ok(())
        }
        Command::Sim { url, fleet, mix, skip, limit, concurrency } => {
            raise_open_file_limit();
            let fleet = load(&fleet)?;
            let chargers: Vec<_> = fleet
                .chargers
                .iter()
                .enumerate()
                .skip(skip)
                .take(limit.unwrap_or(usize::MAX))
                .map(|(i, c)| ocpp_bulk::sim::SimCharger {
                    identity: c.identity.clone(),
                    password: c.password.clone(),
                    behaviour: mix.behaviour(i),
                })
                .collect();
            let sims = ocpp_bulk::sim::start(&url, chargers, concurrency).await?;
            let stats = sims.stats.clone();
            let load = |n: &std::sync::atomic::AtomicU64| n.load(std::sync::atomic::Ordering::Relaxed);
            println!("connected {}", load(&stats.connected));
            let _ = tokio::signal::ctrl_c().await;
            println!(
                "calls {} · reconnects {} · chargers called twice {} · protocol errors {}",
                load(&stats.calls),
                load(&stats.reconnects),
                load(&stats.called_twice),
                load(&stats.protocol_errors)
            );
            sims.stop();
            Ok(())
        }
        Command::Send {
            api: ApiArgs { api, token },
            command,
            data,
            chargers,
            fleet,
            timeout_seconds,
            max_per_second,
        } => {
            let data = serde_json::from_str(&data).map_err(|e| format!("--data is not JSON: {e}"))?;
            let chargers = match fleet {
                Some(path) => load(&path)?.chargers.iter().map(|c| c.uuid.to_string()).collect(),
                None => chargers,
            };
            let summary = ocpp_bulk::send::send(&ocpp_bulk::send::SendOptions {
                api,
                token,
                command,
                data,
                chargers,
                timeout_seconds,
                max_per_second,
                poll_every: Duration::from_millis(250),
                progress: true,
            })
            .await?;
            print!("{}", summary.table());
            Ok(())
        }
        Command::Tokens { command } => {
            let out = match command {
                TokensCommand::List { table } => ocpp_bulk::directory::list_tokens(&table.directory().await?).await?,
                TokensCommand::Revoke { table, token, user } => {
                    ocpp_bulk::directory::revoke(&table.directory().await?, token.as_deref(), user.as_deref()).await?
                }
                TokensCommand::Rotate { table, user } => {
                    ocpp_bulk::directory::rotate(&table.directory().await?, &user).await?
                }
            };
            print!("{out}");
            Ok(())
        }
        Command::Chargers { command } => {
            let out = match command {
                ChargersCommand::List { table } => {
                    ocpp_bulk::directory::list_chargers(&table.directory().await?).await?
                }
                ChargersCommand::Remove { table, identity } => {
                    ocpp_bulk::directory::remove_charger(&table.directory().await?, &identity).await?
                }
            };
            print!("{out}");
            Ok(())
        }
        Command::Runs { api, limit, json } => {
            print!("{}", ocpp_bulk::runs::list(&api.client(), limit, output(json)).await?);
            Ok(())
        }
        Command::Run { api, run, watch, status, json } => {
            print!("{}", ocpp_bulk::runs::show(&api.client(), &run, watch, status.as_deref(), output(json)).await?);
            Ok(())
        }
        Command::Cancel { api, run, json } => {
            print!("{}", ocpp_bulk::runs::cancel(&api.client(), &run, output(json)).await?);
            Ok(())
        }
        Command::Fleet { command: FleetCommand::Generate { chargers, teams, passwords } } => {
            let fleet = ocpp_bulk::fleet_gen::generate(chargers, teams, passwords);
            let text = serde_json::to_string_pretty(&fleet).map_err(|e| e.to_string())?;
            println!("{text}");
            eprint!("{}", ocpp_bulk::fleet_gen::notice(&fleet));
            Ok(())
        }
        Command::Demo { listen } => {
            let summary = ocpp_bulk::demo::run(&listen).await?;
            print!("{}", summary.table());
            Ok(())
        }
    }
}
