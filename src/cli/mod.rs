//! Verbs of the `dagctl` binary, one file per verb group.

pub(crate) mod connections;
mod dags;
mod db;
pub(crate) mod experiments;
mod info;
pub(crate) mod model_files;
mod models;
mod operators;
mod output;
mod pools;
mod runs;
mod schedule;
mod secrets;
mod tasks;
mod transfer;
pub(crate) mod trigger;
mod validate;
mod variables;
mod xcom;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use dagctl::engine::{Engine, SqlStore, Store};

/// Something the user named does not exist (a Variable, pool, connection, model,
/// experiment run): the caller's to fix. The web layer answers it with 404.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NotFound(pub String);

/// dagctl — an Airflow-style DAG engine: YAML DAGs, a scheduler, and an ML loop that maintains
/// itself.
#[derive(Debug, Parser)]
#[command(name = "dagctl", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Options every verb takes.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Where dagctl keeps its state (database, data, logs).
    #[arg(long, global = true, env = "DAGCTL_HOME", default_value = "./.dagctl")]
    pub home: PathBuf,
    /// The folder of DAG files.
    #[arg(
        long,
        global = true,
        env = "DAGCTL_DAGS_FOLDER",
        default_value = "./dags"
    )]
    pub dags_folder: PathBuf,
    /// The state store (default: sqlite://<home>/dagctl.db).
    #[arg(long, global = true, env = "DAGCTL_STORE_URL", hide_env_values = true)]
    pub store_url: Option<String>,
}

/// The file of a `sqlite://` store URL (without its `?` options).
fn sqlite_path(url: &str) -> Option<PathBuf> {
    let path = url.strip_prefix("sqlite://")?;
    Some(PathBuf::from(path.split('?').next().unwrap_or(path)))
}

impl Global {
    fn store_url(&self) -> String {
        self.store_url
            .clone()
            .unwrap_or_else(|| SqlStore::default_url(&self.home))
    }

    /// The SQLite database file, when the store is one.
    pub(crate) fn sqlite_path(&self) -> Option<PathBuf> {
        sqlite_path(&self.store_url())
    }

    /// The state store alone (for verbs that need no DAG).
    pub(crate) async fn store(&self) -> anyhow::Result<SqlStore> {
        Ok(SqlStore::connect(&self.store_url()).await?)
    }

    /// An engine over the DAG folder and the store, with every shipped operator.
    /// Where data operators read and write without `DAGCTL_DATA_CONN`: `DAGCTL_DATA_URL`, or `<home>/data`.
    fn data_url(&self) -> String {
        dagctl::operators::storage::default_data_url(&self.home)
    }

    /// The data location, opened: `DAGCTL_DATA_CONN`'s connection, else the data URL.
    pub(crate) async fn data_location(
        &self,
    ) -> anyhow::Result<dagctl::operators::storage::Location> {
        if let Some(name) = dagctl::operators::storage::default_conn() {
            let store = self.store().await?;
            let Some(c) = connections::named(&store, &name).await? else {
                anyhow::bail!(
                    "DAGCTL_DATA_CONN names connection `{name}`, which does not exist (`dagctl connections add {name} --url …`)"
                );
            };
            return Ok(dagctl::operators::storage::open(&c.url, &c.extra)?);
        }
        Ok(dagctl::operators::storage::open(
            &self.data_url(),
            &Default::default(),
        )?)
    }

    /// How a try runs alone: this binary's `tasks run-isolated`, told this process's home,
    /// DAG folder and store through its environment (a store URL may hold a password).
    fn isolation(&self) -> anyhow::Result<dagctl::engine::executor::Isolation> {
        let program = std::env::current_exe()
            .map_err(|e| anyhow::anyhow!("cannot find the dagctl binary's own path: {e}"))?;
        let abs = |p: &std::path::Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        let mut env = vec![
            ("DAGCTL_HOME".into(), abs(&self.home).into_os_string()),
            (
                "DAGCTL_DAGS_FOLDER".into(),
                abs(&self.dags_folder).into_os_string(),
            ),
        ];
        if let Some(url) = &self.store_url {
            env.push(("DAGCTL_STORE_URL".into(), url.into()));
        }
        Ok(dagctl::engine::executor::Isolation {
            program,
            args: vec!["tasks".into(), "run-isolated".into()],
            env,
        })
    }

    pub(crate) async fn engine(&self) -> anyhow::Result<Engine> {
        let data = self.data_url();
        Ok(Engine::builder()
            .dags_folder(&self.dags_folder)
            .home(&self.home)
            .store_url(self.store_url())
            .registry(dagctl::shipped_operators())
            .resource(dagctl::operators::storage::DataRoot(data.clone()))
            .resource(dagctl::engine::SpillTo(std::sync::Arc::new(
                dagctl::operators::xcom_store::DataLocationSpill::new(data),
            )))
            .isolation(self.isolation()?)
            .build()
            .await?)
    }

    /// Pools set in the store, if a store exists already (validation never creates one).
    async fn stored_pools(&self) -> Option<Vec<(String, u32, Option<String>)>> {
        let url = self.store_url();
        if let Some(path) = url.strip_prefix("sqlite://")
            && !std::path::Path::new(path).exists()
        {
            return None;
        }
        SqlStore::connect(&url).await.ok()?.pools().await.ok()
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check DAG files and print every problem with its file, line and column.
    Validate(validate::ValidateArgs),
    /// List and show DAGs.
    #[command(subcommand)]
    Dags(dags::DagsCommand),
    /// Run a DAG now, in the foreground.
    Trigger(trigger::TriggerArgs),
    /// Create and execute scheduled runs until stopped (SIGINT/SIGTERM); `--no-execute`
    /// leaves the execution to workers.
    Scheduler(schedule::SchedulerArgs),
    /// Drive the runs schedulers and triggers create and run task instances, on as many
    /// machines as wanted (`--pools` to serve some pools only), until stopped (SIGTERM drains).
    Worker(schedule::WorkerArgs),
    /// Create and run the runs of every data interval in a date range.
    Backfill(schedule::BackfillArgs),
    /// Inspect and resume DAG runs.
    #[command(subcommand)]
    Runs(runs::RunsCommand),
    /// Task logs, and running one task alone.
    #[command(subcommand)]
    Tasks(tasks::TasksCommand),
    /// Global key → value settings that tasks read (`{{ var.value.NAME }}`).
    #[command(subcommand)]
    Variables(variables::VariablesCommand),
    /// Limits on how many tasks run at once.
    #[command(subcommand)]
    Pools(pools::PoolsCommand),
    /// Named connections: storage (S3, MinIO, SeaweedFS, local folders) and webhooks; secrets are masked.
    #[command(subcommand)]
    Connections(connections::ConnectionsCommand),
    /// List the operators tasks can use.
    #[command(subcommand)]
    Operators(operators::OperatorsCommand),
    /// The model registry: versions, stages, promotion, rollback, comparison, scoring.
    #[command(subcommand)]
    Models(models::ModelsCommand),
    /// Training runs recorded by `train_models` (parameters, metrics, data, artifacts).
    #[command(subcommand)]
    Experiments(experiments::ExperimentsCommand),
    /// Seal Variables and connections again with the first Fernet key (key rotation).
    RotateFernetKey(secrets::RotateArgs),
    /// The values tasks passed each other in a run (XCom), secrets masked.
    #[command(subcommand)]
    Xcom(xcom::XcomCommand),
    /// The state store's upkeep: `db clean` removes old finished runs.
    #[command(subcommand)]
    Db(db::DbCommand),
    /// What this dagctl uses: version, home, DAG folder, state store, data location, key
    /// source (no secret).
    Info(info::InfoArgs),
    /// Serve the web view: DAGs, grid and graph, runs, live logs, Variables, pools,
    /// connections, models, experiments, reports; a JSON API under /api/v1 and /metrics.
    Webserver(crate::web::WebArgs),
    /// Print the Prometheus metrics once (what the web view serves at /metrics).
    Metrics,
}

/// Runs the verb; the exit code says whether it succeeded.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let g = &cli.global;
    match cli.command {
        Command::Validate(a) => validate::run(g, a).await,
        Command::Dags(c) => dags::run(g, c).await,
        Command::Trigger(a) => trigger::run(g, a).await,
        Command::Scheduler(a) => schedule::scheduler(g, a).await,
        Command::Worker(a) => schedule::worker(g, a).await,
        Command::Backfill(a) => schedule::backfill(g, a).await,
        Command::Runs(c) => runs::run(g, c).await,
        Command::Tasks(c) => tasks::run(g, c).await,
        Command::Variables(c) => variables::run(g, c).await,
        Command::Pools(c) => pools::run(g, c).await,
        Command::Connections(c) => connections::run(g, c).await,
        Command::Operators(c) => operators::run(&dagctl::shipped_operators(), c),
        Command::Models(c) => models::run(g, c).await,
        Command::Info(a) => info::run(g, a).await,
        Command::Db(c) => db::run(g, c).await,
        Command::Xcom(c) => xcom::run(g, c).await,
        Command::Experiments(c) => experiments::run(g, c).await,
        Command::RotateFernetKey(a) => secrets::rotate(g, a).await,
        Command::Webserver(a) => crate::web::serve(g, a).await,
        Command::Metrics => {
            let engine = g.engine().await?;
            print!(
                "{}",
                crate::metrics::scrape(&engine, &g.store().await?).await?
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Prints JSON to stdout, pretty.
fn print_json(value: &serde_json::Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
