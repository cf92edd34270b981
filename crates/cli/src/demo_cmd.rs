//! `openbell demo`: sample data (generated once), then `examples/demo.toml` end to end, with
//! the summary and the report's location.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use chrono::NaiveDate;
use clap::Args;
use openbell_data::{BarStore, GenerateOptions, generate};
use openbell_model::Interval;

use crate::backtest_cmd::run_recorded;
use openbell_server::run::home::openbell_home;

/// The demo's config, built into the binary so the demo runs from anywhere.
pub(crate) const DEMO_CONFIG: &str = include_str!("../../../examples/demo.toml");

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Where the demo keeps its sample data and report (default: $OPENBELL_HOME/demo).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// The session registry (default: $OPENBELL_DB, else sqlite://$OPENBELL_HOME/openbell.db).
    #[arg(long, value_name = "URL")]
    db: Option<String>,
}

pub(crate) fn run(a: &DemoArgs, out: &mut dyn Write) -> Result<()> {
    let dir = a
        .dir
        .clone()
        .unwrap_or_else(|| openbell_home().join("demo"));
    let store = BarStore::open(dir.join("data"))?;
    if store.series()?.is_empty() {
        let opts = GenerateOptions {
            symbols: 8,
            days: 62,
            start: NaiveDate::from_ymd_opt(2024, 1, 2).unwrap_or_default(),
            seed: 7,
            interval: Interval::M1,
        };
        let r = generate(&store, &opts)?;
        writeln!(
            out,
            "sample data: {} symbols x {} trading days = {} bars in {}",
            r.symbols.len(),
            r.days,
            r.bars,
            store.root().display()
        )?;
    }
    let cfg = openbell_server::run::config::parse_config(DEMO_CONFIG, "examples/demo.toml")?;
    let report_dir = dir.join("out");
    let url = openbell_server::run::registry::db_url(a.db.as_deref())?;
    run_recorded(&store, &cfg, "demo", &url, Some(&report_dir), out)?;
    writeln!(
        out,
        "files     summary.json, fills.csv, orders.csv, trades.csv, equity.csv, quality.csv, scans.csv in {}",
        report_dir.display()
    )?;
    Ok(())
}
