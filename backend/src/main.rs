//! `riskdeck`: the server, the demo broker, and operator commands.

use anyhow::Context;
use backend::config::Config;
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
}

#[derive(clap::Args)]
struct ServeArgs {
    /// TOML configuration file (see README); flags override it.
    #[arg(long, short, env = "RISKDECK_CONFIG")]
    config: Option<PathBuf>,
    /// Track the built-in demo broker's simulated accounts.
    #[arg(long)]
    demo: bool,
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
}

fn main() -> anyhow::Result<()> {
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
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(cli))
}

/// Prints the report on stdout; a malformed input exits 2 with a message naming the line.
fn replay(
    preset: &str,
    initial_balance: rust_decimal::Decimal,
    events: &std::path::Path,
    rules: Option<&std::path::Path>,
) -> i32 {
    let report = backend::replay::configure(preset, initial_balance, rules)
        .and_then(|config| backend::replay::run(config, events));
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

async fn run(cli: Cli) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn,tower_http=warn".into()),
        )
        .init();
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::DemoBroker {
            listen,
            seed,
            token,
        } => demo_broker(listen, seed, token).await,
        Command::Replay { .. } => Ok(()),
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = match &args.config {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    };
    config.demo |= args.demo;
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
    let shutdown = CancellationToken::new();
    let listener = TcpListener::bind(config.listen).await.with_context(|| {
        format!(
            "cannot listen on {} (is another server running?)",
            config.listen
        )
    })?;
    let started = backend::start(&config, shutdown.clone()).await?;
    let addr = listener.local_addr()?;
    if let Some(demo) = started.demo_broker {
        tracing::info!("demo broker (MetaApi REST shape) on http://{demo}");
    }
    tracing::info!(
        accounts = started.accounts.len(),
        database = %config.database_url,
        "tracking"
    );
    println!("\n  Riskdeck is running at http://{addr}/  (Ctrl-C to stop)\n");
    let app = backend::app(started.state.clone(), &config.assets);
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    backend::serve(listener, app, shutdown).await?;
    started.join().await;
    tracing::info!("stopped cleanly");
    Ok(())
}

async fn demo_broker(listen: SocketAddr, seed: u64, token: String) -> anyhow::Result<()> {
    use backend::broker::demo::{DemoBroker, DemoConfig, serve};
    let demo = DemoBroker::new(
        DemoConfig {
            seed,
            token,
            ..DemoConfig::default()
        },
        backend::broker::demo::history_start(),
    );
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    println!("demo broker on http://{}", listener.local_addr()?);
    for account in demo.accounts() {
        println!("  account {:<24} {}", account.id, account.name);
    }
    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    serve(listener, demo, async move { shutdown.cancelled().await }).await?;
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
