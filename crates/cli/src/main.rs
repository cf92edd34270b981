//! The `openbell` binary: parses the command line, runs a subcommand, and reports failures as
//! one line on stderr with a non-zero exit code.

mod args;
mod backtest_cmd;
mod calendar_cmd;
mod data_cmd;
mod db_cmd;
mod demo_cmd;
mod export;
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod in_process_tests;
mod indicator_cmd;
mod login_cmd;
mod replay_cmd;
mod report;
mod serve_cmd;
mod sessions_cmd;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// jemalloc: with glibc's allocator a long session's large, short-lived buffers (a month of
/// bars, a batch of rows) fragment the heap, and the resident size grows with the session's
/// length although the live data does not. It also serves the C allocations (SQLite's, which
/// allocate per bound value and per page), which run faster on it than on glibc's.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// openbell: intraday bar strategies, backtested on a faithful trading day.
#[derive(Debug, Parser)]
#[command(name = "openbell", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The first run: sample data, then a real backtest end to end, with a report.
    Demo(demo_cmd::DemoArgs),
    /// A config's strategy over stored bars: summary, and files with --out.
    Backtest(backtest_cmd::BacktestArgs),
    /// Exchange calendars: trading days, opens, closes and early closes.
    #[command(subcommand)]
    Calendar(calendar_cmd::CalendarCommand),
    /// The bar store: import, list, quality ledger, resample, generate sample data.
    Data(data_cmd::DataArgs),
    /// An indicator over a stored series, printed as ts,value[,value2...].
    Indicator(indicator_cmd::IndicatorArgs),
    /// Stored bars through the engine's trading-day lifecycle, without a strategy.
    Replay(replay_cmd::ReplayArgs),
    /// The session registry: every session and what it produced.
    #[command(subcommand)]
    Sessions(sessions_cmd::SessionsCommand),
    /// The registry's database schema.
    #[command(subcommand)]
    Db(db_cmd::DbCommand),
    /// The HTTP API, the session runner and the web UI.
    Serve(serve_cmd::ServeArgs),
    /// Log in to an openbell server and keep the token for the command line.
    Login(login_cmd::LoginArgs),
    /// Revoke the kept token and forget it.
    Logout,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            use clap::error::ErrorKind;
            if matches!(
                err.kind(),
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
            ) || matches!(
                err.kind(),
                ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                let _ = err.print();
                return if err.exit_code() == 0 {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(2)
                };
            }
            // One line: what clap says before its usage block, which is one `--help` away.
            let text = err.render().to_string();
            let message = text
                .lines()
                .take_while(|l| !l.trim().is_empty() && !l.starts_with("Usage:"))
                .map(str::trim)
                .collect::<Vec<_>>()
                .join(" ");
            let _ = writeln!(std::io::stderr(), "{message} (see --help)");
            return ExitCode::from(2);
        }
    };
    let mut out = Stdout {
        inner: std::io::stdout().lock(),
        gone: false,
    };
    let result = match cli.command {
        Command::Demo(args) => demo_cmd::run(&args, &mut out),
        Command::Backtest(args) => backtest_cmd::run(&args, &mut out),
        Command::Calendar(cmd) => calendar_cmd::run(cmd, &mut out),
        Command::Data(args) => data_cmd::run(args, &mut out),
        Command::Indicator(args) => indicator_cmd::run(&args, &mut out),
        Command::Replay(args) => replay_cmd::run(&args, &mut out),
        Command::Sessions(cmd) => sessions_cmd::run(cmd, &mut out),
        Command::Db(cmd) => db_cmd::run(cmd, &mut out),
        Command::Serve(args) => serve_cmd::run(&args, &mut out),
        Command::Login(args) => login_cmd::login(&args, &mut out),
        Command::Logout => login_cmd::logout(&mut out),
    };
    match result.and_then(|()| out.flush().map_err(anyhow::Error::from)) {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that went away (`openbell calendar days ... | head`) is not a failure. A
        // broken pipe anywhere else (a database connection cut mid-write) is.
        Err(_) if out.gone => ExitCode::SUCCESS,
        Err(err) => {
            let _ = writeln!(std::io::stderr(), "error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Standard output that remembers whether its reader went away.
struct Stdout<W> {
    inner: W,
    /// Set by the first write or flush that met a broken pipe.
    gone: bool,
}

impl<W: Write> Stdout<W> {
    fn seen<T>(&mut self, result: std::io::Result<T>) -> std::io::Result<T> {
        if let Err(e) = &result
            && e.kind() == std::io::ErrorKind::BrokenPipe
        {
            self.gone = true;
        }
        result
    }
}

impl<W: Write> Write for Stdout<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let result = self.inner.write(buf);
        self.seen(result)
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        let result = self.inner.write_all(buf);
        self.seen(result)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let result = self.inner.flush();
        self.seen(result)
    }
}
