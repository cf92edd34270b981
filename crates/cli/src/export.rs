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

use crate::backtest_cmd::{BacktestResult, QualityRow, ScanRow};

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
fn order(row: &openbell_store::OrderRow) -> Result<OrderRecord> {
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

/// A session's orders from the registry, by id, read a page at a time.
pub(crate) struct RegistryOrders<'a> {
    rt: &'a tokio::runtime::Runtime,
    store: &'a Store,
    session: SessionId,
    after: i64,
    page: std::collections::VecDeque<openbell_store::OrderRow>,
    done: bool,
}

impl<'a> RegistryOrders<'a> {
    /// The session's orders from id `from` on.
    pub(crate) fn new(
        rt: &'a tokio::runtime::Runtime,
        store: &'a Store,
        session: SessionId,
        from: u64,
    ) -> Self {
        Self {
            rt,
            store,
            session,
            after: i64::try_from(from).unwrap_or(i64::MAX).saturating_sub(1),
            page: std::collections::VecDeque::new(),
            done: false,
        }
    }
}

impl Iterator for RegistryOrders<'_> {
    type Item = Result<OrderRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        const PAGE: i64 = 5_000;
        if self.page.is_empty() && !self.done {
            match self
                .rt
                .block_on(self.store.orders_page(self.session, self.after, PAGE))
            {
                Ok(rows) => {
                    self.done = i64::try_from(rows.len()).unwrap_or(0) < PAGE;
                    self.page.extend(rows);
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e.into()));
                }
            }
        }
        let row = self.page.pop_front()?;
        self.after = row.order_id;
        Some(order(&row))
    }
}

/// Reads a finished session back into what the output files are written from, with its
/// config.
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
    let cfg =
        crate::session_config::parse_config(&row.config, &format!("session {session} config"))?;
    let days = cfg
        .engine
        .calendar
        .trading_days(cfg.engine.start, cfg.engine.end)?;
    let range = match (days.first(), days.last()) {
        (Some(a), Some(z)) => (a.open, z.close),
        _ => (Timestamp::from_nanos(0), Timestamp::from_nanos(0)),
    };

    let fills = store
        .fills(session)
        .await?
        .iter()
        .map(|f| {
            Ok(Fill::try_new(
                OrderId(id(f.order_id)),
                Symbol::parse(&f.symbol)?,
                parse("side", &f.side)?,
                parse("quantity", &f.quantity)?,
                parse("price", &f.price)?,
                parse("commission", &f.commission)?,
                ts(&f.ts),
            )?)
        })
        .collect::<Result<Vec<_>>>()?;
    let orders = store
        .orders(session)
        .await?
        .iter()
        .map(order)
        .collect::<Result<Vec<_>>>()?;
    let trades = store
        .trades(session)
        .await?
        .iter()
        .map(|t| {
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
        })
        .collect::<Result<Vec<_>>>()?;

    // Whether a position was open at each equity record, from the position changes.
    let positions = store.positions(session).await?;
    let mut held: std::collections::BTreeMap<String, bool> = std::collections::BTreeMap::new();
    let mut next = 0;
    let mut equity = Vec::new();
    for e in store.equity(session).await? {
        while let Some(p) = positions.get(next).filter(|p| p.ts <= e.ts) {
            let q: Quantity = parse("quantity", &p.quantity)?;
            held.insert(p.symbol.clone(), !q.is_zero());
            next += 1;
        }
        equity.push((
            ts(&e.ts),
            parse::<Money>("equity", &e.equity)?,
            held.values().any(|o| *o),
        ));
    }

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
        order_count: orders.len(),
        fill_count: fills.len(),
        orders,
        fills,
        signals: count("signals"),
        trades,
        equity,
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
