//! The `riskdeck` command line: the server, the demo broker, and operator commands. The binary
//! (`src/main.rs`) and the integration tests' copy of it (`tests/src/bin/riskdeck-bin.rs`) call [`main`].

use crate::config::Config;
use anyhow::Context;
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(
    name = "riskdeck",
    version,
    about = "Real-time risk monitoring for prop-trading firms"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the web app and track the configured accounts.
    Serve(ServeArgs),
    /// Run only the demo broker (MetaApi's REST shape, simulated accounts).
    DemoBroker {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8081")]
        listen: SocketAddr,
        /// Simulation seed.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Token clients must send in the `auth-token` header.
        #[arg(long, env = "RISKDECK_DEMO_TOKEN", default_value = "demo-token")]
        token: String,
        /// Also serve the cTrader Open API simulator over the same world, JSON over WebSocket
        /// (Spotware's port 5036), on this address. Its client id is `riskdeck-demo`; the
        /// client secret and the access token are the token above.
        #[arg(long)]
        ctrader_json: Option<SocketAddr>,
        /// Also serve the cTrader simulator as protobuf over TLS (Spotware's port 5035, what its
        /// SDKs speak) on this address, with a test certificate for `localhost` made at start.
        #[arg(long, requires = "ctrader_ca")]
        ctrader_protobuf: Option<SocketAddr>,
        /// Where to write the PEM of the authority that signed the test certificate, for
        /// protobuf clients to trust.
        #[arg(long, requires = "ctrader_protobuf")]
        ctrader_ca: Option<PathBuf>,
    },
    /// Replay a JSON Lines file of broker records through the risk engine and print the report.
    Replay {
        /// Preset name, e.g. ftmo-2step (see docs/ENGINE.md).
        #[arg(long)]
        preset: String,
        /// Starting capital, e.g. 100000.
        #[arg(long)]
        initial_balance: rust_decimal::Decimal,
        /// JSON Lines file, one record a line.
        #[arg(long)]
        events: PathBuf,
        /// A rule-set JSON file replacing the preset's rules.
        #[arg(long)]
        rules: Option<PathBuf>,
    },
    /// Export everything stored about one account's challenge as JSON: peaks, engine state,
    /// events, rule sets and equity history (see docs/OPERATIONS.md).
    Export {
        /// The account's id.
        #[arg(long)]
        account: String,
        /// Database URL; by default the config file's, else sqlite://riskdeck.db.
        #[arg(long, env = "RISKDECK_DATABASE_URL")]
        database_url: Option<String>,
        /// TOML configuration file to take the database URL from.
        #[arg(long, short, env = "RISKDECK_CONFIG")]
        config: Option<PathBuf>,
        /// Write the JSON to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// A challenge's statement for disputes (see docs/OPERATIONS.md).
    Statement {
        #[command(subcommand)]
        command: StatementCommand,
    },
}

#[derive(Subcommand)]
enum StatementCommand {
    /// Print a statement file's SHA-256; with --sha256, say whether it matches; with
    /// --database-url, whether and when the firm issued a statement with that hash. Exit code
    /// 1 when the hash does not match or the firm issued no such statement, 2 when it cannot
    /// check (the file unreadable or not a statement, the database unavailable).
    Verify {
        /// The statement's JSON file, as downloaded.
        file: PathBuf,
        /// The SHA-256 the file should have (from its PDF, its page or the
        /// X-Statement-Sha256 header).
        #[arg(long)]
        sha256: Option<String>,
        /// The firm's database, which keeps the hash of every statement it issued.
        #[arg(long)]
        database_url: Option<String>,
    },
}

#[derive(clap::Args)]
struct ServeArgs {
    /// TOML configuration file (see docs/CONFIGURATION.md); flags override it.
    #[arg(long, short, env = "RISKDECK_CONFIG")]
    config: Option<PathBuf>,
    /// Track the built-in demo broker's simulated accounts.
    #[arg(long)]
    demo: bool,
    /// Track the demo accounts through `metaapi` (REST) or `ctrader` (the Open API simulator).
    #[arg(long, env = "RISKDECK_DEMO_PLATFORM")]
    demo_platform: Option<crate::config::DemoPlatform>,
    /// Address to listen on.
    #[arg(long, env = "RISKDECK_LISTEN")]
    listen: Option<SocketAddr>,
    /// Database URL, e.g. sqlite://riskdeck.db.
    #[arg(long, env = "RISKDECK_DATABASE_URL")]
    database_url: Option<String>,
    /// Directory for the per-account journals of broker records.
    #[arg(long, env = "RISKDECK_JOURNAL_DIR")]
    journal_dir: Option<PathBuf>,
    /// Directory of the built browser app.
    #[arg(long, env = "RISKDECK_ASSETS")]
    assets: Option<PathBuf>,
    /// Key broker tokens are sealed under at rest: 32 bytes as 64 hex digits or base64. Prefer
    /// the environment variable to the flag, which other users can see in the process list.
    #[arg(long, env = "RISKDECK_SECRET_KEY", hide_env_values = true)]
    secret_key: Option<String>,
}

pub fn main() {
    let cli = Cli::parse();
    if let Command::Replay {
        preset,
        initial_balance,
        events,
        rules,
    } = &cli.command
    {
        // Replay is pure computation: no runtime, no logging noise on stdout.
        std::process::exit(replay(preset, *initial_balance, events, rules.as_deref()));
    }
    if let Command::Export {
        account,
        database_url,
        config,
        out,
    } = &cli.command
    {
        std::process::exit(export(
            account,
            database_url.as_deref(),
            config.as_deref(),
            out.as_deref(),
        ));
    }
    if let Command::Statement {
        command:
            StatementCommand::Verify {
                file,
                sha256,
                database_url,
            },
    } = &cli.command
    {
        std::process::exit(crate::statement::verify(
            file,
            sha256.as_deref(),
            database_url.as_deref(),
        ));
    }
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| runtime.block_on(run(cli)));
    if let Err(error) = result {
        // One line that says what went wrong and what to do, and a failing exit code.
        let message = format!("{error:#}");
        eprintln!(
            "riskdeck: {}",
            message.split_whitespace().collect::<Vec<_>>().join(" ")
        );
        std::process::exit(1);
    }
}

/// Prints the report on stdout; a malformed input exits 2 with a message naming the line.
fn replay(
    preset: &str,
    initial_balance: rust_decimal::Decimal,
    events: &std::path::Path,
    rules: Option<&std::path::Path>,
) -> i32 {
    let report = broker::replay::configure(preset, initial_balance, rules)
        .and_then(|config| broker::replay::run(config, events));
    match report {
        Ok(report) => match serde_json::to_string_pretty(&report) {
            Ok(json) => {
                println!("{json}");
                0
            }
            Err(error) => {
                eprintln!("riskdeck replay: cannot write the report: {error}");
                1
            }
        },
        Err(error) => {
            eprintln!("riskdeck replay: {error}");
            2
        }
    }
}

/// Writes the export; exits 2 when the account or the config is unknown, 1 when the database
/// or the output fails.
fn export(
    account: &str,
    database_url: Option<&str>,
    config: Option<&std::path::Path>,
    out: Option<&std::path::Path>,
) -> i32 {
    use crate::export::ExportError;
    let url = match (database_url, config) {
        (Some(url), _) => url.to_owned(),
        (None, Some(path)) => match Config::from_file(path) {
            Ok(config) => config.database_url,
            Err(error) => {
                eprintln!("riskdeck export: {error}");
                return 2;
            }
        },
        (None, None) => Config::default().database_url,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("riskdeck export: cannot start: {error}");
            return 1;
        }
    };
    let account = shared::domain::AccountId(account.to_owned());
    let exported = runtime.block_on(async {
        let store = store::open_existing(&url).await?;
        crate::export::export(&*store, &account, chrono::Utc::now()).await
    });
    let exported = match exported {
        Ok(exported) => exported,
        Err(error @ ExportError::UnknownAccount(_)) => {
            eprintln!("riskdeck export: {error}");
            return 2;
        }
        Err(error) => {
            eprintln!("riskdeck export: {error}");
            return 1;
        }
    };
    let written = match out {
        Some(path) => write_file(path, &exported),
        None => {
            let stdout = std::io::stdout().lock();
            serde_json::to_writer_pretty(std::io::BufWriter::new(stdout), &exported)
                .map_err(std::io::Error::from)
        }
    };
    match written {
        Ok(()) => 0,
        Err(error) => {
            eprintln!("riskdeck export: cannot write the export: {error}");
            1
        }
    }
}

/// Writes `value` as JSON next to `path`, then renames it into place, so a reader never sees
/// half a file.
fn write_file(path: &std::path::Path, value: &impl serde::Serialize) -> std::io::Result<()> {
    use std::io::Write;
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let mut file = std::io::BufWriter::new(std::fs::File::create(&partial)?);
    serde_json::to_writer_pretty(&mut file, value)?;
    file.write_all(b"\n")?;
    file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    std::fs::rename(&partial, path)
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let format = crate::logs::LogFormat::from_env().map_err(anyhow::Error::msg)?;
    // `try_init` also routes the `log` records of dependencies into the subscriber.
    tracing_subscriber::util::SubscriberInitExt::try_init(crate::logs::subscriber(
        format,
        crate::logs::filter_from_env(),
        std::io::stdout,
    ))?;
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::DemoBroker {
            listen,
            seed,
            token,
            ctrader_json,
            ctrader_protobuf,
            ctrader_ca,
        } => {
            let ctrader = CtraderListen {
                json: ctrader_json,
                protobuf: ctrader_protobuf.zip(ctrader_ca),
            };
            demo_broker(listen, seed, token, ctrader).await
        }
        Command::Replay { .. } | Command::Export { .. } | Command::Statement { .. } => Ok(()),
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = match &args.config {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    };
    config.demo |= args.demo;
    if let Some(platform) = args.demo_platform {
        config.demo_platform = platform;
    }
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(url) = args.database_url {
        config.database_url = url;
    }
    if let Some(dir) = args.journal_dir {
        config.journal_dir = Some(dir);
    }
    if let Some(assets) = args.assets {
        config.assets = assets;
    }
    if let Some(key) = args.secret_key {
        config.secret_key = Some(
            store::secrets::SecretKey::parse(&key)
                .map_err(|error| anyhow::anyhow!("RISKDECK_SECRET_KEY: {error}"))?,
        );
    }
    let shutdown = CancellationToken::new();
    let listener = TcpListener::bind(config.listen).await.with_context(|| {
        format!(
            "cannot listen on {} (is another server running?)",
            config.listen
        )
    })?;
    let started = crate::start(&config, shutdown.clone()).await?;
    let addr = listener.local_addr()?;
    if let Some(demo) = started.demo_broker {
        tracing::info!("demo broker (MetaApi REST shape) on http://{demo}");
    }
    if let Some(simulator) = started.ctrader_simulator {
        tracing::info!(
            "cTrader Open API simulator on ws://{simulator}/ (demo accounts tracked through it)"
        );
    }
    tracing::info!(
        accounts = started.accounts.len(),
        database = %config.database_url,
        "tracking"
    );
    println!(
        "\n  Riskdeck is running at http://{addr}/  (instance {}; Ctrl-C to stop)",
        started.instance
    );
    if let (Some(demo), Some(token)) = (started.demo_broker, &started.demo_broker_token) {
        println!(
            "  Demo broker (MetaApi's REST and streaming API): http://{demo}  auth-token {token}"
        );
    }
    println!();
    print_logins(&started.logins);
    let app = crate::app(started.state.clone(), &config.assets);
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    crate::serve(listener, app, shutdown, config.serve_limits()).await?;
    started.join().await;
    tracing::info!("stopped cleanly");
    Ok(())
}

/// Shows the passwords made at this start, once, on the terminal (never in the log).
fn print_logins(logins: &[crate::auth::Login]) {
    if logins.is_empty() {
        return;
    }
    println!("  Sign in with (these passwords were generated now and are shown only here):\n");
    let width = logins.iter().map(|l| l.username.len()).max().unwrap_or(0);
    for login in logins {
        let owns = if login.accounts.is_empty() {
            String::new()
        } else {
            let ids: Vec<&str> = login.accounts.iter().map(|a| a.as_str()).collect();
            format!("  owns {}", ids.join(", "))
        };
        println!(
            "    {:<width$}  {:<6}  password {}{owns}",
            login.username,
            login.role.as_str(),
            login.password,
        );
    }
    println!();
}

/// Where `demo-broker` serves the cTrader simulator, if at all.
struct CtraderListen {
    json: Option<SocketAddr>,
    /// The protobuf transport's address and where to write its authority's PEM.
    protobuf: Option<(SocketAddr, PathBuf)>,
}

async fn demo_broker(
    listen: SocketAddr,
    seed: u64,
    token: String,
    ctrader: CtraderListen,
) -> anyhow::Result<()> {
    use demo::{DemoBroker, DemoConfig, serve};
    let demo = DemoBroker::new(
        DemoConfig {
            seed,
            token: token.clone(),
            ..DemoConfig::default()
        },
        demo::history_start(),
    );
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    println!("demo broker on http://{addr}");
    let shutdown = CancellationToken::new();
    let mut tasks = tokio::task::JoinSet::new();
    if ctrader.json.is_some() || ctrader.protobuf.is_some() {
        let simulator = demo::ctrader::CtraderSimulator::new(
            demo.clone(),
            demo::ctrader::SimulatorConfig {
                client_id: "riskdeck-demo".into(),
                client_secret: token.clone(),
                refresh_token: format!("{token}-refresh"),
                access_token: token,
                token_lifetime: demo::ctrader::TOKEN_LIFETIME,
                money_digits: 2,
                json: demo::ctrader::JsonForm::Numbers,
            },
        );
        if let Some(json) = ctrader.json {
            let listener = TcpListener::bind(json)
                .await
                .with_context(|| format!("cannot listen on {json}"))?;
            println!(
                "cTrader simulator (JSON) on ws://{}/",
                listener.local_addr()?
            );
            let (simulator, stop) = (simulator.clone(), shutdown.clone());
            tasks.spawn(async move {
                demo::ctrader::serve(listener, simulator, async move { stop.cancelled().await })
                    .await
            });
        }
        if let Some((address, ca)) = ctrader.protobuf {
            let authority = demo::ctrader::protobuf::TestAuthority::new()?;
            std::fs::write(&ca, authority.ca_pem())
                .with_context(|| format!("cannot write {}", ca.display()))?;
            let listener = TcpListener::bind(address)
                .await
                .with_context(|| format!("cannot listen on {address}"))?;
            println!(
                "cTrader simulator (protobuf over TLS) on {}, its authority in {}",
                listener.local_addr()?,
                ca.display()
            );
            let stop = shutdown.clone();
            tasks.spawn(demo::ctrader::protobuf::serve(
                listener,
                simulator.clone(),
                std::sync::Arc::new(authority),
                async move { stop.cancelled().await },
            ));
        }
        for account in demo.accounts() {
            if let Some(id) = simulator.account_id(&account.id) {
                println!("  cTrader account {id} is {}", account.id);
            }
        }
    }
    for account in demo.accounts() {
        println!("  account {:<24} {}", account.id, account.name);
    }
    println!(
        "scripts run in minutes from now (see docs/DEMO.md)\n\
         fault knobs: PUT http://{addr}/demo/faults/{{account|*}} with JSON (see docs/DEMO.md)"
    );
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    let stop = shutdown.clone();
    serve(listener, demo, async move { stop.cancelled().await }).await?;
    shutdown.cancel();
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}

/// Cancels `shutdown` on Ctrl-C or SIGTERM.
async fn cancel_on_signal(shutdown: CancellationToken) {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
    shutdown.cancel();
}
