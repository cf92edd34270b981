//! `openbell serve`: the HTTP API over the session registry, with its session runner.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use openbell_server::run::home::{data_dir, openbell_home};
use openbell_server::run::registry::{db_url, open, shown};
use openbell_server::runner::RunnerConfig;
use openbell_server::{AppState, ServerConfig};

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// The address to listen on (port 0 picks a free port and prints it).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8000")]
    bind: SocketAddr,
    /// The database URL (default: $OPENBELL_DB, else sqlite://$OPENBELL_HOME/openbell.db).
    #[arg(long, value_name = "URL")]
    db: Option<String>,
    /// Refuse registrations once the first user (the admin) exists.
    #[arg(long)]
    closed_registration: bool,
    /// How long a login token lives, in hours.
    #[arg(long, value_name = "HOURS", default_value_t = 720, value_parser = clap::value_parser!(u32).range(1..))]
    token_hours: u32,
    /// The bar store sessions read (default: $OPENBELL_DATA, else $OPENBELL_HOME/data).
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// The bar store collect sessions write (default: $OPENBELL_HOME/collected).
    #[arg(long, value_name = "DIR")]
    collect_dir: Option<PathBuf>,
    /// Sessions running at once; the rest wait `queued`.
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=256))]
    max_running: u32,
    /// Sessions waiting at most; creates beyond that answer 429.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    max_queued: u32,
}

pub(crate) fn run(args: &ServeArgs, out: &mut dyn Write) -> Result<()> {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
    let url = db_url(args.db.as_deref())?;
    let config = ServerConfig {
        open_registration: !args.closed_registration,
        token_ttl: chrono::Duration::hours(i64::from(args.token_hours)),
        runner: RunnerConfig {
            max_running: args.max_running as usize,
            max_queued: args.max_queued as usize,
            data_dir: data_dir(args.data.as_deref()),
            collect_dir: args
                .collect_dir
                .clone()
                .unwrap_or_else(|| openbell_home().join("collected")),
        },
    };
    let workers = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async {
        let store = open(&url).await?;
        let state = AppState::new(store.clone(), config);
        let served = openbell_server::serve(state, args.bind, |addr| {
            let _ = writeln!(
                out,
                "openbell serving http://{addr}/api/v1 (registry {}); Ctrl-C stops",
                shown(&url)
            );
            let _ = out.flush();
        })
        .await
        .with_context(|| format!("serving on {}", args.bind));
        store.close().await;
        served
    })
}
