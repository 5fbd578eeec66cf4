//! `dagctl webserver`: server-rendered pages over the same store as the CLI (one machine or a
//! whole PostgreSQL deployment), a JSON API under `/api/v1` returning what the CLI's `--json`
//! returns, `/metrics` for Prometheus, and the actions a user expects (trigger, clear, mark,
//! pause) through the CLI's own code paths. Everything the pages need is in the binary.
//!
//! Access: bound to 127.0.0.1 by default, where reading needs nothing. `DAGCTL_WEB_TOKEN`
//! enables actions (a bearer token, or the cookie `/login` sets) and is required to bind any
//! other address, where every request needs it.

mod actions;
mod api;
mod auth;
mod chart;
mod fault;
mod grid;
pub(crate) mod html;
mod pages;
mod registry_pages;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::routing::{get, post};
use dagctl::engine::Engine;
use dagctl::engine::store::SqlStore;

use crate::cli::Global;

/// `dagctl webserver` options.
#[derive(Debug, clap::Args)]
pub struct WebArgs {
    /// The address to listen on; port 0 picks a free one (the address is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    bind: SocketAddr,
    /// The token that actions (and, on a non-loopback address, every request) need: a bearer
    /// token, or entered once at /login.
    #[arg(long, env = "DAGCTL_WEB_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// How often the DAG folder is read again, in seconds.
    #[arg(long, default_value_t = 10)]
    reload_every: u64,
}

/// What every handler reads.
pub(crate) struct App {
    engine: Arc<Engine>,
    store: SqlStore,
    global: Global,
    token: Option<String>,
    /// Whether reading needs no token (a loopback address).
    open_reads: bool,
}

type Shared = Arc<App>;

/// Serves until SIGINT or SIGTERM.
pub async fn serve(g: &Global, args: WebArgs) -> anyhow::Result<std::process::ExitCode> {
    let loopback = args.bind.ip().is_loopback();
    let token = args.token.filter(|t| !t.is_empty());
    if !loopback && token.is_none() {
        anyhow::bail!(
            "--bind {}: not a loopback address, so every request needs a token; set \
             DAGCTL_WEB_TOKEN (or --token) to a long random value, or bind 127.0.0.1",
            args.bind
        );
    }
    if let Some(t) = token
        .as_deref()
        .filter(|t| !loopback && t.chars().count() < 16)
    {
        anyhow::bail!(
            "--bind {}: the token is {} characters; on an address other machines reach, use \
             at least 16 random ones (openssl rand -hex 24)",
            args.bind,
            t.chars().count()
        );
    }
    let engine = Arc::new(g.engine().await?);
    let app = Arc::new(App {
        store: g.store().await?,
        engine,
        global: g.clone(),
        token,
        open_reads: loopback,
    });
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("cannot listen on {}", args.bind))?;
    let addr = listener.local_addr()?;
    println!(
        "dagctl webserver on http://{addr}/ ({}; actions {})",
        if loopback {
            "loopback: pages open to this machine"
        } else {
            "every request needs the token"
        },
        if app.token.is_some() {
            "enabled with the token"
        } else {
            "disabled: set DAGCTL_WEB_TOKEN to enable them"
        }
    );
    let reloader = {
        let engine = Arc::clone(&app.engine);
        let every = Duration::from_secs(args.reload_every.max(1));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                if let Err(e) = engine.reload().await {
                    tracing::warn!("reading the DAG folder again failed: {e}");
                }
            }
        })
    };
    let served = axum::serve(listener, router(app))
        .with_graceful_shutdown(shutdown())
        .await;
    reloader.abort();
    served.context("the web server stopped")?;
    Ok(std::process::ExitCode::SUCCESS)
}

async fn shutdown() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
    }
}

fn router(app: Shared) -> Router {
    let reads = Router::new()
        .route("/", get(pages::dags))
        .route("/dags/{dag}", get(pages::dag))
        .route("/dags/{dag}/runs/{run}", get(pages::run))
        .route(
            "/dags/{dag}/runs/{run}/tasks/{task}/tries/{n}",
            get(pages::log),
        )
        .route(
            "/dags/{dag}/runs/{run}/reports/{task}",
            get(registry_pages::report),
        )
        .route("/variables", get(registry_pages::variables))
        .route("/pools", get(registry_pages::pools))
        .route("/connections", get(registry_pages::connections))
        .route("/models", get(registry_pages::models))
        .route("/models/{model}", get(registry_pages::model))
        .route("/experiments", get(registry_pages::experiments))
        .route("/metrics", get(api::metrics))
        .nest("/api/v1", api::routes())
        .route("/dags/{dag}/trigger", post(actions::trigger_form))
        .route("/dags/{dag}/pause", post(actions::pause_form))
        .route("/dags/{dag}/runs/{run}/clear", post(actions::clear_form))
        .route("/dags/{dag}/runs/{run}/mark", post(actions::mark_form))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&app),
            auth::reads,
        ));
    Router::new()
        .route("/login", get(auth::login_page).post(auth::login))
        .route("/healthz", get(|| async { "ok" }))
        .merge(reads)
        .with_state(app)
}
