//! `openbell serve`: the HTTP API over the session registry.

use std::io::Write;
use std::net::SocketAddr;

use anyhow::{Context, Result};
use clap::Args;
use openbell_server::{AppState, ServerConfig};

use openbell_server::run::registry::{db_url, open, runtime, shown};

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
    };
    runtime()?.block_on(async {
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
