//! `ocpp-bulk`: the embedded local stack, simulated chargers, a run follower, and the demo.

mod args;

use std::process::ExitCode;
use std::time::Duration;

use args::{ApiArgs, Backend, ChargersCommand, Cli, Command, FleetCommand, TokensCommand};
use clap::Parser;
use shared::aws::tables::Resources;
use shared::aws::{AwsClients, DynamoDirectory};
use shared::domain::fleet::Fleet;

fn output(json: bool) -> ocpp_bulk::runs::Output {
    if json {
        ocpp_bulk::runs::Output::Json
    } else {
        ocpp_bulk::runs::Output::Table
    }
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
        Command::Serve {
            listen,
            fleet,
            backend,
            prefix,
            require_passwords,
            allow_private_webhooks,
            webhook_first_retry_seconds,
            management_listen,
            max_connections,
        } => {
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
                        &ocpp_bulk::stack::AwsOptions::from_env()?,
                    );
                    tokio::spawn(ocpp_bulk::server::serve_management(management, stack.clone()));
                    stack
                }
            };
            eprintln!(
                "ocpp-bulk serve: API http://{address}/v3/chargers/commands/bulk · console http://{address}/console · chargers ws://{address}/ocpp/{{identity}} · {} chargers, {} tokens",
                provisioned.chargers.len(),
                provisioned.tokens.len()
            );
            stack.websocket.require_passwords = require_passwords;
            if allow_private_webhooks {
                stack.allow_private_webhooks(webhook_first_retry_seconds);
            }
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
        Command::Sim {
            url,
            fleet,
            mix,
            jobs,
            skip,
            limit,
            concurrency,
            ocpp201,
            configuration_bytes,
            report_parts,
        } => {
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
                    job: jobs.pick(i).unwrap_or(ocpp_bulk::sim::JobOutcome::Succeed),
                    sizes: ocpp_bulk::sim::AnswerSizes { configuration_bytes, report_parts },
                    // Half the fleet a version behind, so targeting by firmware has something to find.
                    firmware: Some(if i % 2 == 0 { "1.8.1" } else { "1.9.0" }.to_owned()),
                    version: if (i % 100) < usize::from(ocpp201) {
                        shared::ocpp::OcppVersion::V201
                    } else {
                        shared::ocpp::OcppVersion::V16
                    },
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
            versions,
            chargers,
            target,
            fleet,
            timeout_seconds,
            max_per_second,
            retry,
            statuses,
            callback_url,
            callback_progress,
            outcome,
            rollout,
        } => {
            let data = serde_json::from_str(&data).map_err(|e| format!("--data is not JSON: {e}"))?;
            let json = |text: Option<String>, name: &str| {
                text.map(|t| serde_json::from_str(&t).map_err(|e| format!("--{name} is not JSON: {e}"))).transpose()
            };
            let (outcome, rollout) = (json(outcome, "outcome")?, json(rollout, "rollout")?);
            let versions = versions
                .map(|v| serde_json::from_str(&v).map_err(|e| format!("--versions is not JSON: {e}")))
                .transpose()?;
            let target = target
                .map(|t| serde_json::from_str(&t).map_err(|e| format!("--target is not JSON: {e}")))
                .transpose()?;
            let chargers = match fleet {
                Some(path) => load(&path)?.chargers.iter().map(|c| c.uuid.to_string()).collect(),
                None => chargers,
            };
            let what = match (retry, command) {
                (Some(run), _) => ocpp_bulk::send::What::RetryOf(run, statuses),
                (None, Some(command)) => ocpp_bulk::send::What::Command(command),
                (None, None) => return Err("give --command, or --retry RUN".into()),
            };
            let summary = ocpp_bulk::send::send(&ocpp_bulk::send::SendOptions {
                api,
                token,
                what,
                data,
                versions,
                chargers,
                target,
                callback: callback_url.map(|url| (url, callback_progress)),
                timeout_seconds,
                max_per_second,
                outcome,
                rollout,
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
        Command::WebhookSecret { api } => {
            print!("{}", ocpp_bulk::runs::rotate_webhook_secret(&api.client()).await?);
            Ok(())
        }
        Command::Cancel { api, run, json } => {
            print!("{}", ocpp_bulk::runs::cancel(&api.client(), &run, output(json)).await?);
            Ok(())
        }
        Command::Pause { api, run } => {
            let run = api.client().act(&run, "pause").await?;
            println!("run {} {} (paused at {})", run["uuid"].as_str().unwrap_or("?"), run["status"], run["paused_at"]);
            Ok(())
        }
        Command::Resume { api, run } => {
            let run = api.client().act(&run, "resume").await?;
            println!("run {} {}", run["uuid"].as_str().unwrap_or("?"), run["status"]);
            Ok(())
        }
        Command::Fleet { command: FleetCommand::Generate { chargers, teams, passwords } } => {
            let fleet = ocpp_bulk::fleet_gen::generate(chargers, teams, passwords);
            let text = serde_json::to_string_pretty(&fleet).map_err(|e| e.to_string())?;
            println!("{text}");
            eprint!("{}", ocpp_bulk::fleet_gen::notice(&fleet));
            Ok(())
        }
        Command::Demo { listen, keep } => {
            ocpp_bulk::demo::run(&listen, keep).await?;
            Ok(())
        }
    }
}
