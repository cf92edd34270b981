//! `openbell db`: the registry's schema.

use std::io::Write;

use anyhow::{Context, Result};
use clap::Subcommand;
use openbell_store::{PoolConfig, Store};

use openbell_server::run::registry::{db_url, runtime, shown};

#[derive(Debug, Subcommand)]
pub(crate) enum DbCommand {
    /// Apply pending migrations.
    Migrate {
        /// The database URL (default: $OPENBELL_DB, else sqlite://$OPENBELL_HOME/openbell.db).
        #[arg(long, value_name = "URL")]
        db: Option<String>,
    },
    /// Show the applied schema version.
    Status {
        /// The database URL (default: $OPENBELL_DB, else sqlite://$OPENBELL_HOME/openbell.db).
        #[arg(long, value_name = "URL")]
        db: Option<String>,
    },
}

pub(crate) fn run(cmd: DbCommand, out: &mut dyn Write) -> Result<()> {
    let rt = runtime()?;
    match cmd {
        DbCommand::Migrate { db } => {
            let url = db_url(db.as_deref())?;
            rt.block_on(async {
                let (store, applied) = Store::open(&url, &PoolConfig::default())
                    .await
                    .with_context(|| format!("opening {}", shown(&url)))?;
                let status = store.status().await?;
                if applied.is_empty() {
                    writeln!(
                        out,
                        "{}: schema at version {}, up to date",
                        shown(&url),
                        status.current
                    )?;
                } else {
                    let list: Vec<String> = applied.iter().map(ToString::to_string).collect();
                    writeln!(
                        out,
                        "{}: applied {}; schema at version {}",
                        shown(&url),
                        list.join(", "),
                        status.current
                    )?;
                }
                store.close().await;
                Ok(())
            })
        }
        DbCommand::Status { db } => {
            let url = db_url(db.as_deref())?;
            rt.block_on(async {
                let store = Store::connect(&url, &PoolConfig::default())
                    .await
                    .with_context(|| format!("opening {}", shown(&url)))?;
                let status = store.status().await?;
                writeln!(out, "database  {}", shown(&url))?;
                writeln!(
                    out,
                    "schema    version {} of {}{}",
                    status.current,
                    status.head,
                    if status.current == status.head {
                        " (up to date)"
                    } else {
                        " (run `openbell db migrate`)"
                    }
                )?;
                for (version, name, at) in &status.applied {
                    writeln!(out, "  {version}  {name}  applied {}", at.to_rfc3339())?;
                }
                if store.backend() == openbell_store::Backend::Postgres {
                    let checks = if store.checks_session_per_batch() {
                        "once per batch (the role may set session_replication_role)"
                    } else {
                        "row by row (grant SET ON PARAMETER session_replication_role to check once per batch)"
                    };
                    writeln!(out, "writes    session checked {checks}")?;
                }
                store.close().await;
                Ok(())
            })
        }
    }
}
