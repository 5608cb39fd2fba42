//! `carnet-server serve --db carnet.sqlite3 --listen 127.0.0.1:8787`.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use carnet_server::auth::{PeerId, Role, TokenId, TokenSecret};
use carnet_server::db::Db;
use carnet_server::db::tokens::{AdminTokenOutcome, NewToken, ensure_admin_token};
use carnet_server::{AppState, ServerConfig};
use clap::{Parser, Subcommand};
use rand::RngExt;
use tracing_subscriber::EnvFilter;

/// A token given by the operator must be at least this long (≈128 bits if random).
const MIN_ADMIN_TOKEN_CHARS: usize = 24;

#[derive(Parser)]
#[command(name = "carnet-server", version, about = "Carnet sync server")]
struct Cli {
    /// Log as JSON lines instead of text.
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP and sync server.
    Serve(ServeArgs),
    /// Public-procurement data (DECP → OCDS).
    #[command(subcommand)]
    Procurement(ProcurementCommand),
}

#[derive(Subcommand)]
enum ProcurementCommand {
    /// Import a DECP file (2019 or 2022/2024 format, JSON or XML) into the server database.
    Import(carnet_server::procurement::cli::ImportArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// SQLite database file (shared with the document store); created if missing.
    #[arg(long, default_value = "carnet.sqlite3")]
    db: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8787")]
    listen: SocketAddr,
    /// Admin token, taken on first start and stored hashed; later starts reuse the stored
    /// one. Prefer the environment variable: arguments are visible to other local users.
    #[arg(long, env = "CARNET_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// OCDS ocid prefix of the published procurement data.
    #[arg(long, env = "CARNET_OCID_PREFIX", default_value = "ocds-carnet")]
    ocid_prefix: String,
    /// Public base URL of this server (OCDS package URIs, links); defaults to http://LISTEN.
    #[arg(long, env = "CARNET_PUBLIC_URL")]
    public_url: Option<String>,
    /// Largest WebSocket message accepted on /sync, in bytes.
    #[arg(long, default_value_t = ServerConfig::default().max_message_bytes)]
    max_message_bytes: usize,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_tracing(cli.log_json);
    match cli.command {
        Command::Serve(args) => serve(args),
        Command::Procurement(ProcurementCommand::Import(args)) => {
            // RFC 3339 always formats a UTC time; an empty string would read as no sign of
            // life, never as a wrong one.
            let clock = || {
                time::OffsetDateTime::now_utc()
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default()
            };
            let report = carnet_server::procurement::cli::run_import(&args, &clock)?;
            // `imported + rejected = read` is printed by run_import; a stopped import is an error.
            tracing::debug!(read = report.read, "procurement import finished");
            Ok(())
        }
    }
}

fn init_tracing(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Logs on stderr: stdout only ever carries the admin token shown once at first start.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    if let Some(token) = &args.admin_token
        && token.chars().count() < MIN_ADMIN_TOKEN_CHARS
    {
        anyhow::bail!("the admin token must have at least {MIN_ADMIN_TOKEN_CHARS} characters");
    }
    let db = Db::open(&args.db)
        .with_context(|| format!("opening the database {}", args.db.display()))?;
    setup_admin_token(&db, args.admin_token.as_deref())?;

    let config = ServerConfig {
        max_message_bytes: args.max_message_bytes,
        ocid_prefix: args.ocid_prefix,
        public_base_url: args
            .public_url
            .unwrap_or_else(|| format!("http://{}", args.listen)),
        ..ServerConfig::default()
    };
    let state = AppState::new(db, config).context("starting the sync engine")?;
    let runtime = tokio::runtime::Runtime::new().context("starting the tokio runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("binding {}", args.listen))?;
        let addr = listener.local_addr()?;
        tracing::info!(%addr, "listening");
        carnet_server::serve(listener, state, shutdown_signal())
            .await
            .context("serving")?;
        tracing::info!("stopped");
        Ok(())
    })
}

fn setup_admin_token(db: &Db, given: Option<&str>) -> anyhow::Result<()> {
    let seed = NewToken {
        id: TokenId(uuid::Builder::from_random_bytes(rand::rng().random()).into_uuid()),
        secret_hash: [0; 32],
        role: Role::Admin,
        peer_id: PeerId::for_role(Role::Admin, rand::rng().random()),
        night_id: None,
        team_id: None,
        label: Some("admin".to_owned()),
        created_at: now_ms(),
        expires_at: None,
    };
    let outcome = db
        .call_blocking(|c| ensure_admin_token(c, given, TokenSecret::generate(), seed))
        .context("storing the admin token")?;
    match outcome {
        AdminTokenOutcome::Stored => tracing::info!("admin token stored (hashed)"),
        AdminTokenOutcome::Reused => tracing::info!("admin token already stored"),
        AdminTokenOutcome::IgnoredDifferent => tracing::warn!(
            "an admin token is already stored; the one given now is ignored (revoke the old one to replace it)"
        ),
        AdminTokenOutcome::RefusedRevoked => {
            anyhow::bail!("the admin token given was revoked; give a new one")
        }
        AdminTokenOutcome::Generated(secret) => {
            // Shown once, on stdout rather than in the log.
            println!(
                "No admin token was given: generated one. It is shown only now:\n{}",
                secret.expose()
            );
        }
    }
    Ok(())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
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
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested");
}
