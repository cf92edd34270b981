//! `openbell sessions export`: a recorded session read back from the registry into the same
//! files `openbell backtest --out` writes.

use std::str::FromStr;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, NaiveDate, Utc};
use openbell_config::SessionConfig;
use openbell_engine::{OrderRecord, Performance, Trade};
use openbell_model::{
    Fill, Money, Order, OrderId, OrderStatus, OrderType, Price, Quantity, SessionId, Side, Symbol,
    TimeInForce, Timestamp,
};
use openbell_store::Store;
use serde_json::Value;

use openbell_server::run::backtest::{BacktestResult, QualityRow, ScanRow};

fn ts(t: &DateTime<Utc>) -> Timestamp {
    Timestamp::from_nanos(t.timestamp_nanos_opt().unwrap_or(i64::MAX))
}

fn parse<T: FromStr>(what: &str, text: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    text.parse::<T>()
        .map_err(|e| anyhow::anyhow!("stored {what} {text:?} is not valid: {e}"))
}

fn id(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// An order rebuilt from its stored final state.
pub(crate) fn order(row: &openbell_store::OrderRow) -> Result<OrderRecord> {
    let price = |p: &Option<String>| -> Result<Option<Price>> {
        p.as_deref().map(|t| parse::<Price>("price", t)).transpose()
    };
    let (limit, stop) = (price(&row.limit_price)?, price(&row.stop_price)?);
    let order_type = match (row.order_type.as_str(), limit, stop) {
        ("market", _, _) => OrderType::Market,
        ("limit", Some(limit), _) => OrderType::Limit { limit },
        ("stop", _, Some(stop)) => OrderType::Stop { stop },
        ("stop_limit", Some(limit), Some(stop)) => OrderType::StopLimit { stop, limit },
        (other, _, _) => bail!(
            "stored order {} has type {other:?} without its prices",
            row.order_id
        ),
    };
    let side: Side = parse("side", &row.side)?;
    let symbol = Symbol::parse(&row.symbol)?;
    let status: OrderStatus = parse("order status", &row.status)?;
    let mut order = Order::try_new(
        OrderId(id(row.order_id)),
        symbol,
        side,
        order_type,
        parse::<TimeInForce>("time in force", &row.time_in_force)?,
        parse::<Quantity>("quantity", &row.quantity)?,
        ts(&row.ts),
    )?;
    if let Some(signal) = row.signal_id {
        order = order.with_signal(openbell_model::SignalId(id(signal)));
    }
    if status == OrderStatus::Rejected {
        order.transition(OrderStatus::Rejected)?;
    } else {
        order.transition(OrderStatus::Accepted)?;
        let filled: Quantity = parse("filled quantity", &row.filled)?;
        if status == OrderStatus::Triggered {
            order.transition(OrderStatus::Triggered)?;
        }
        if filled.is_positive() {
            let fill = Fill::try_new(
                order.id(),
                symbol,
                side,
                filled,
                limit.or(stop).unwrap_or(Price::from_raw(1)),
                Money::ZERO,
                ts(&row.ts),
            )?;
            order.apply_fill(&fill)?;
        }
        if matches!(status, OrderStatus::Cancelled | OrderStatus::Expired) {
            order.transition(status)?;
        }
    }
    Ok(OrderRecord {
        order,
        reason: row.reason.clone(),
    })
}

fn num(summary: &Value, key: &str) -> f64 {
    match summary.get(key) {
        Some(Value::String(s)) => s.parse().unwrap_or(0.0),
        Some(v) => v.as_f64().unwrap_or(0.0),
        None => 0.0,
    }
}

fn opt(summary: &Value, key: &str) -> Option<f64> {
    summary.get(key).and_then(Value::as_f64)
}

fn text<'s>(summary: &'s Value, key: &str) -> &'s str {
    summary.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// Reads a finished session's summary back (everything but the records that grow with its
/// length, which [`write_files`] reads a page at a time), with its config.
pub(crate) async fn load(
    store: &Store,
    session: SessionId,
) -> Result<(BacktestResult, SessionConfig)> {
    let row = store
        .session(session)
        .await?
        .with_context(|| format!("session {session} not found"))?;
    let Some(summary) = row.summary.as_deref() else {
        bail!(
            "session {session} is {} and has no results to export yet",
            row.status
        );
    };
    let summary: Value = serde_json::from_str(summary).context("stored summary")?;
    let cfg = openbell_server::run::config::parse_config(
        &row.config,
        &format!("session {session} config"),
    )?;
    let days = cfg
        .engine
        .calendar
        .trading_days(cfg.engine.start, cfg.engine.end)?;
    let range = match (days.first(), days.last()) {
        (Some(a), Some(z)) => (a.open, z.close),
        _ => (Timestamp::from_nanos(0), Timestamp::from_nanos(0)),
    };

    let quality = store
        .quality(session)
        .await?
        .iter()
        .map(|q| {
            let missing = q
                .missing
                .split(';')
                .filter(|r| !r.is_empty())
                .map(|r| {
                    let (a, z) = r.split_once('/').unwrap_or((r, r));
                    Ok((Timestamp::parse(a)?, Timestamp::parse(z)?))
                })
                .collect::<Result<Vec<_>>>()?;
            Ok(QualityRow {
                date: parse::<NaiveDate>("date", &q.date)?,
                symbol: Symbol::parse(&q.symbol)?,
                expected: u32::try_from(q.expected).unwrap_or(0),
                present: u32::try_from(q.present).unwrap_or(0),
                missing,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let scans = store
        .scans(session)
        .await?
        .iter()
        .map(|s| {
            let candidates: Vec<Value> = serde_json::from_str(&s.candidates)?;
            let chosen: Vec<String> = serde_json::from_str(&s.chosen)?;
            Ok(ScanRow {
                ts: ts(&s.ts),
                scanner: s.scanner.clone(),
                as_of: ts(&s.as_of),
                candidates: candidates
                    .iter()
                    .map(|c| {
                        Ok((
                            Symbol::parse(
                                c.get("symbol").and_then(Value::as_str).unwrap_or_default(),
                            )?,
                            c.get("score").and_then(Value::as_f64).unwrap_or(f64::NAN),
                        ))
                    })
                    .collect::<Result<Vec<_>>>()?,
                chosen: chosen
                    .iter()
                    .map(|c| Ok(Symbol::parse(c)?))
                    .collect::<Result<Vec<_>>>()?,
            })
        })
        .collect::<Result<Vec<_>>>()?;

    let count = |key: &str| {
        usize::try_from(summary.get(key).and_then(Value::as_u64).unwrap_or(0)).unwrap_or(0)
    };
    let metrics = Performance {
        initial_equity: num(&summary, "initial_equity"),
        final_equity: num(&summary, "final_equity"),
        total_return: num(&summary, "total_return"),
        cagr: num(&summary, "cagr"),
        volatility: num(&summary, "volatility"),
        sharpe: opt(&summary, "sharpe"),
        sortino: opt(&summary, "sortino"),
        calmar: opt(&summary, "calmar"),
        max_drawdown: num(&summary, "max_drawdown"),
        max_drawdown_days: u32::try_from(count("max_drawdown_days")).unwrap_or(0),
        win_rate: opt(&summary, "win_rate"),
        profit_factor: opt(&summary, "profit_factor"),
        avg_win: opt(&summary, "avg_win"),
        avg_loss: opt(&summary, "avg_loss"),
        exposure: num(&summary, "exposure"),
        turnover: num(&summary, "turnover"),
        trades: count("trades"),
        commissions: num(&summary, "commissions"),
    };
    let result = BacktestResult {
        session_id: session,
        name: summary
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_owned),
        strategy: text(&summary, "strategy").to_owned(),
        start: parse("date", text(&summary, "start"))?,
        end: parse("date", text(&summary, "end"))?,
        trading_days: u32::try_from(count("trading_days")).unwrap_or(0),
        days_planned: days.len(),
        stopped: summary
            .get("stopped")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        symbols: summary
            .get("symbols")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(Symbol::parse)
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?
            .unwrap_or_default(),
        bars: summary
            .get("bars_processed")
            .and_then(Value::as_u64)
            .unwrap_or(0),
        order_count: count("orders"),
        fill_count: count("fills"),
        orders: Vec::new(),
        signals: count("signals"),
        quality,
        scans,
        faults: vec![String::new(); count("faults")],
        metrics,
        initial: parse("money", text(&summary, "initial_equity"))?,
        final_equity: parse("money", text(&summary, "final_equity"))?,
        realized: parse("money", text(&summary, "realized_pnl"))?,
        fingerprint: text(&summary, "data_fingerprint").to_owned(),
        elapsed_ms: u128::from(
            summary
                .get("elapsed_ms")
                .and_then(Value::as_u64)
                .unwrap_or(0),
        ),
        config_text: row.config.clone(),
        interval: cfg.engine.base_interval,
        range,
    };
    Ok((result, cfg))
}

fn fill(f: &openbell_store::FillRow) -> Result<Fill> {
    Ok(Fill::try_new(
        OrderId(id(f.order_id)),
        Symbol::parse(&f.symbol)?,
        parse("side", &f.side)?,
        parse("quantity", &f.quantity)?,
        parse("price", &f.price)?,
        parse("commission", &f.commission)?,
        ts(&f.ts),
    )?)
}

fn trade(t: &openbell_store::TradeRow) -> Result<Trade> {
    Ok(Trade {
        symbol: Symbol::parse(&t.symbol)?,
        side: if t.side == "long" {
            Side::Buy
        } else {
            Side::Sell
        },
        quantity: parse("quantity", &t.quantity)?,
        entry_ts: ts(&t.entry_ts),
        exit_ts: ts(&t.exit_ts),
        entry_price: parse("price", &t.entry_price)?,
        exit_price: parse("price", &t.exit_price)?,
        gross_pnl: parse("money", &t.gross_pnl)?,
        commission: parse("money", &t.commission)?,
    })
}

/// Rows read per query when a session's records are read back.
const PAGE: i64 = 5_000;

/// A session's rows read a page at a time, each page starting after the `key` of the last row
/// of the one before (the first after the given start), until a page comes back short.
struct Pages<R, K, F> {
    after: K,
    page: F,
    key: fn(&R) -> K,
    read: std::collections::VecDeque<R>,
    done: bool,
}

impl<R, K: Copy, F> Pages<R, K, F>
where
    F: AsyncFnMut(K, i64) -> Result<Vec<R>, openbell_store::StoreError>,
{
    fn new(after: K, page: F, key: fn(&R) -> K) -> Self {
        Self {
            after,
            page,
            key,
            read: std::collections::VecDeque::new(),
            done: false,
        }
    }

    /// The next row, without taking it.
    async fn peek(&mut self) -> Result<Option<&R>> {
        if self.read.is_empty() && !self.done {
            let rows = (self.page)(self.after, PAGE).await?;
            self.done = i64::try_from(rows.len()).unwrap_or(0) < PAGE;
            if let Some(last) = rows.last() {
                self.after = (self.key)(last);
            }
            self.read.extend(rows);
        }
        Ok(self.read.front())
    }

    /// Takes the next row.
    async fn next(&mut self) -> Result<Option<R>> {
        self.peek().await?;
        Ok(self.read.pop_front())
    }
}

/// Hands every row of [`Pages`] from `after` on to `each`.
pub(crate) async fn for_each_row<R, K: Copy>(
    after: K,
    page: impl AsyncFnMut(K, i64) -> Result<Vec<R>, openbell_store::StoreError>,
    key: fn(&R) -> K,
    mut each: impl AsyncFnMut(&R) -> Result<()>,
) -> Result<()> {
    let mut rows = Pages::new(after, page, key);
    while let Some(row) = rows.next().await? {
        each(&row).await?;
    }
    Ok(())
}

/// Writes a finished session's output files from the registry, reading its records a page
/// at a time: the same files `backtest --out` wrote, in memory that does not grow with the
/// session.
pub(crate) async fn write_files(
    store: &Store,
    r: &BacktestResult,
    dir: &std::path::Path,
    bars: &openbell_data::BarStore,
) -> Result<()> {
    let session = r.session_id;
    let mut out = crate::report::Outputs::create(dir, r.range, r.initial)?;
    for_each_row(
        0,
        async |after, n| store.fills_page(session, after, n).await,
        |f| f.seq,
        async |f| out.fill(&fill(f)?),
    )
    .await?;
    for_each_row(
        0,
        async |after, n| store.trades_page(session, after, n).await,
        |t| t.seq,
        async |t| out.trade(&trade(t)?),
    )
    .await?;
    // Whether a position was open at each equity record, from the position changes up to it.
    let mut held: std::collections::BTreeMap<String, bool> = std::collections::BTreeMap::new();
    let mut positions = Pages::new(
        0,
        async |after, n| store.positions_page(session, after, n).await,
        |p| p.seq,
    );
    for_each_row(
        None,
        async |after, n| store.equity_page(session, after, n).await,
        |e| Some(e.ts),
        async |e| {
            while let Some(p) = positions.peek().await?
                && p.ts <= e.ts
            {
                let q: Quantity = parse("quantity", &p.quantity)?;
                held.insert(p.symbol.clone(), !q.is_zero());
                positions.next().await?;
            }
            out.equity(
                ts(&e.ts),
                parse::<Money>("equity", &e.equity)?,
                held.values().any(|o| *o),
            )
        },
    )
    .await?;
    for_each_row(
        0,
        async |after, n| store.orders_page(session, after, n).await,
        |o| o.order_id,
        async |o| out.order(order(o)?),
    )
    .await?;
    out.finish(r, bars)
}
