//! `openbell sessions`: the registry's history.

use std::io::Write;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use openbell_model::{SessionId, SessionKind, SessionStatus};
use openbell_store::SessionFilter;

use crate::args::parse;
use openbell_server::run::registry::{db_url, open, runtime};

#[derive(Debug, Subcommand)]
pub(crate) enum SessionsCommand {
    /// List sessions, newest first.
    Ls {
        /// Only this kind: backtest, paper, collect.
        #[arg(long)]
        kind: Option<String>,
        /// Only this status: queued, running, completed, failed, …
        #[arg(long)]
        status: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// The database URL (default: $OPENBELL_DB, else sqlite://$OPENBELL_HOME/openbell.db).
        #[arg(long, value_name = "URL")]
        db: Option<String>,
    },
    /// One session: its row, days and how many rows of each kind it produced.
    Show {
        /// The session id.
        id: String,
        /// The database URL.
        #[arg(long, value_name = "URL")]
        db: Option<String>,
    },
    /// Ask a running session to stop.
    Stop {
        /// The session id.
        id: String,
        /// The database URL.
        #[arg(long, value_name = "URL")]
        db: Option<String>,
    },
    /// Write a finished session's files (the same as `backtest --out`) from the registry.
    Export {
        /// The session id.
        id: String,
        /// Where to write summary.json, the CSVs and report.html.
        #[arg(long, value_name = "DIR")]
        out: std::path::PathBuf,
        /// The bar store for the report's price charts (default: $OPENBELL_DATA, else the
        /// session config's data.dir, else $OPENBELL_HOME/data).
        #[arg(long, value_name = "DIR")]
        data: Option<std::path::PathBuf>,
        /// The database URL.
        #[arg(long, value_name = "URL")]
        db: Option<String>,
    },
    /// Delete a session and everything it produced.
    Rm {
        /// The session id.
        id: String,
        /// The database URL.
        #[arg(long, value_name = "URL")]
        db: Option<String>,
    },
}

fn session_id(text: &str) -> Result<SessionId> {
    SessionId::parse(text).with_context(|| format!("{text:?} is not a session id"))
}

pub(crate) fn run(cmd: SessionsCommand, out: &mut dyn Write) -> Result<()> {
    let rt = runtime()?;
    rt.block_on(async {
        match cmd {
            SessionsCommand::Ls {
                kind,
                status,
                limit,
                db,
            } => {
                let filter = SessionFilter {
                    kind: kind
                        .as_deref()
                        .map(|k| parse::<SessionKind>(k, "--kind"))
                        .transpose()?,
                    status: status
                        .as_deref()
                        .map(|s| parse::<SessionStatus>(s, "--status"))
                        .transpose()?,
                    limit: limit.clamp(1, 10_000),
                    ..SessionFilter::default()
                };
                let store = open(&db_url(db.as_deref())?).await?;
                let rows = store.sessions(&filter).await?;
                writeln!(
                    out,
                    "{:<36}  {:<8}  {:<9}  {:<20}  name",
                    "id", "kind", "status", "created"
                )?;
                for r in &rows {
                    writeln!(
                        out,
                        "{:<36}  {:<8}  {:<9}  {:<20}  {}",
                        r.id,
                        r.kind,
                        r.status,
                        r.created_at.format("%Y-%m-%dT%H:%M:%SZ"),
                        r.name
                    )?;
                }
                writeln!(out, "{} sessions", rows.len())?;
                store.close().await;
            }
            SessionsCommand::Show { id, db } => {
                let id = session_id(&id)?;
                let store = open(&db_url(db.as_deref())?).await?;
                let Some(r) = store.session(id).await? else {
                    bail!("session {id} not found");
                };
                writeln!(out, "id        {}", r.id)?;
                writeln!(out, "name      {}", r.name)?;
                writeln!(out, "kind      {}", r.kind)?;
                writeln!(out, "status    {}", r.status)?;
                writeln!(out, "created   {}", r.created_at.to_rfc3339())?;
                if let Some(t) = r.started_at {
                    writeln!(out, "started   {}", t.to_rfc3339())?;
                }
                if let Some(t) = r.ended_at {
                    writeln!(out, "ended     {}", t.to_rfc3339())?;
                }
                if let Some(e) = &r.error {
                    writeln!(out, "reason    {e}")?;
                }
                writeln!(out, "version   {}", r.version)?;
                if let Some(f) = &r.data_fingerprint {
                    writeln!(out, "data      {f}")?;
                }
                let days = store.session_days(id).await?;
                if let (Some(first), Some(last)) = (days.first(), days.last()) {
                    let bars: i64 = days.iter().map(|d| d.1).sum();
                    writeln!(
                        out,
                        "days      {} ({} to {}), {bars} base bars",
                        days.len(),
                        first.0,
                        last.0
                    )?;
                }
                let counts = store.child_counts(id).await?;
                let shown: Vec<String> = counts.iter().map(|(t, n)| format!("{t} {n}")).collect();
                writeln!(out, "rows      {}", shown.join(", "))?;
                if let Some(summary) = r
                    .summary
                    .as_deref()
                    .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
                {
                    let keys = [
                        "strategy",
                        "final_equity",
                        "total_return",
                        "sharpe",
                        "max_drawdown",
                        "round_trips",
                        "fills",
                    ];
                    let parts: Vec<String> = keys
                        .iter()
                        .filter_map(|k| summary.get(*k).map(|v| format!("{k} {v}")))
                        .collect();
                    writeln!(out, "summary   {}", parts.join(", "))?;
                }
                store.close().await;
            }
            SessionsCommand::Stop { id, db } => {
                let id = session_id(&id)?;
                let store = open(&db_url(db.as_deref())?).await?;
                let row = store.request_stop(id).await?;
                writeln!(out, "session {id} is {}", row.status)?;
                store.close().await;
            }
            SessionsCommand::Export {
                id,
                out: dir,
                data,
                db,
            } => {
                let id = session_id(&id)?;
                let store = open(&db_url(db.as_deref())?).await?;
                let (result, cfg) = crate::export::load(&store, id).await?;
                let bars = openbell_data::BarStore::open(openbell_server::run::home::data_dir_or(
                    data.as_deref(),
                    cfg.data_dir.as_deref(),
                ))?;
                crate::export::write_files(&store, &result, &dir, &bars).await?;
                writeln!(out, "exported session {id} to {}", dir.display())?;
                store.close().await;
            }
            SessionsCommand::Rm { id, db } => {
                let id = session_id(&id)?;
                let store = open(&db_url(db.as_deref())?).await?;
                if !store.delete_session(id).await? {
                    bail!("session {id} not found");
                }
                writeln!(out, "deleted session {id} and everything it produced")?;
                store.close().await;
            }
        }
        Ok(())
    })
}
