//! The session's records as CSV lines: fills, orders and round trips written field by field,
//! the drawdown column's six decimals, and the quality and scan tables.

use std::fmt::Write as _;
use std::io::Write;

use openbell_engine::{OrderRecord, Trade};
use openbell_model::{Fill, Money, Price, Quantity, Timestamp};
use openbell_server::run::backtest::BacktestResult;

/// Appends `x` with six decimals exactly as `format!("{x:.6}")` writes it (the exact binary
/// value rounded half to even), in integer arithmetic instead of the float formatter: the
/// drawdown column of `equity.csv` takes one per delivery time.
pub(super) fn push_fixed6(out: &mut String, x: f64) {
    const MILLION: u128 = 1_000_000;
    let bits = x.to_bits();
    let biased = (bits >> 52) & 0x7ff;
    let mantissa = bits & ((1 << 52) - 1);
    // x = m × 2^-shift; whole numbers from 2^53 up, infinities and NaN go to the formatter.
    let (m, shift) = match biased {
        0x7ff => (0, 0),
        0 => (mantissa, 1074),
        b => (mantissa | (1 << 52), 1075 - i64::try_from(b).unwrap_or(0)),
    };
    if biased == 0x7ff || shift <= 0 {
        let _ = write!(out, "{x:.6}");
        return;
    }
    // x × 10^6 = m × 10^6 / 2^shift with m × 10^6 below 2^73: the quotient rounded half to
    // even. From a shift of 74 on, m × 10^6 is below half of 2^shift: the quotient is 0.
    let n = u128::from(m) * MILLION;
    let q = match u32::try_from(shift) {
        Ok(s) if s < 74 => {
            let (q, rem, half) = (n >> s, n & ((1 << s) - 1), 1u128 << (s - 1));
            if rem > half || (rem == half && q % 2 == 1) {
                q + 1
            } else {
                q
            }
        }
        _ => 0,
    };
    if bits >> 63 == 1 {
        out.push('-');
    }
    let Ok(mut v) = u64::try_from(q) else {
        let (whole, frac) = (q / MILLION, q % MILLION);
        let _ = write!(out, "{whole}.{frac:06}");
        return;
    };
    // Digits from the last: six decimals, the point, then the whole part.
    let mut text = [b'0'; 28];
    let mut pos = text.len();
    let mut put = |byte: u8| {
        pos -= 1;
        if let Some(slot) = text.get_mut(pos) {
            *slot = byte;
        }
    };
    for _ in 0..6 {
        put(b'0' + u8::try_from(v % 10).unwrap_or(0));
        v /= 10;
    }
    put(b'.');
    loop {
        put(b'0' + u8::try_from(v % 10).unwrap_or(0));
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if let Some(digits) = text.get(pos..).and_then(|t| std::str::from_utf8(t).ok()) {
        out.push_str(digits);
    }
}

/// A value as one CSV field: the text its `Display` gives, written without the formatting
/// machinery; `None` is an empty field.
trait Field {
    fn push_to(self, out: &mut String);
}

impl Field for &str {
    fn push_to(self, out: &mut String) {
        out.push_str(self);
    }
}

impl Field for Timestamp {
    fn push_to(self, out: &mut String) {
        self.push_rfc3339(out);
    }
}

impl Field for u64 {
    fn push_to(self, out: &mut String) {
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        let mut n = self;
        loop {
            at -= 1;
            if let Some(d) = digits.get_mut(at) {
                *d = b'0' + u8::try_from(n % 10).unwrap_or(0);
            }
            n /= 10;
            if n == 0 {
                break;
            }
        }
        for d in digits.get(at..).unwrap_or_default() {
            out.push(char::from(*d));
        }
    }
}

/// The fixed-point types, through their own text writer.
macro_rules! fixed_point_fields {
    ($($t:ty),*) => {$(
        impl Field for $t {
            fn push_to(self, out: &mut String) {
                self.push_text(out);
            }
        }
    )*};
}

fixed_point_fields!(Price, Quantity, Money);

impl<T: Field> Field for Option<T> {
    fn push_to(self, out: &mut String) {
        if let Some(v) = self {
            v.push_to(out);
        }
    }
}

/// One CSV line of the session's records, built field by field (a session writes one per
/// fill, order and round trip).
struct Csv<'a>(&'a mut String);

impl Csv<'_> {
    fn field(&mut self, v: impl Field) -> &mut Self {
        v.push_to(self.0);
        self.0.push(',');
        self
    }

    /// Ends the line in place of the last field's comma.
    fn end(&mut self) {
        self.0.pop();
        self.0.push('\n');
    }
}

/// A `fills.csv` line.
pub(super) fn fill_line(f: &Fill, line: &mut String) {
    Csv(line)
        .field(f.ts_event())
        .field(f.symbol().as_str())
        .field(f.side().as_str())
        .field(f.quantity())
        .field(f.price())
        .field(f.commission())
        .field(f.order_id().0)
        .end();
}

/// A `trades.csv` line; `side` is `long` or `short`.
pub(super) fn trade_line(t: &Trade, side: &str, line: &mut String) {
    Csv(line)
        .field(t.symbol.as_str())
        .field(side)
        .field(t.quantity)
        .field(t.entry_ts)
        .field(t.exit_ts)
        .field(t.entry_price)
        .field(t.exit_price)
        .field(t.gross_pnl)
        .field(t.commission)
        .field(t.net_pnl())
        .end();
}

/// An `orders.csv` line.
pub(super) fn order_line(rec: &OrderRecord, line: &mut String) {
    let o = &rec.order;
    let (limit, stop) = o.order_type().limit_and_stop();
    Csv(line)
        .field(o.id().0)
        .field(o.ts_init())
        .field(o.symbol().as_str())
        .field(o.side().as_str())
        .field(o.order_type().as_str())
        .field(limit)
        .field(stop)
        .field(o.time_in_force().as_str())
        .field(o.quantity())
        .field(o.filled())
        .field(o.status().as_str())
        .field(o.signal_id().map(|s| s.0))
        .field(&*csv_text(rec.reason.as_deref().unwrap_or("")))
        .end();
}

pub(super) fn order_cells(o: &OrderRecord) -> Vec<String> {
    vec![
        o.order.id().0.to_string(),
        o.order.ts_init().to_string(),
        o.order.symbol().to_string(),
        o.order.side().to_string(),
        o.order.order_type().as_str().to_owned(),
        o.order.quantity().to_string(),
        o.order.filled().to_string(),
        o.order.status().to_string(),
        o.reason.clone().unwrap_or_default(),
    ]
}

/// Quotes a CSV field when it needs it.
pub(super) fn csv_text(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\"")).into()
    } else {
        text.into()
    }
}

pub(super) fn quality_csv(r: &BacktestResult, out: &mut dyn Write) -> std::io::Result<()> {
    out.write_all("date,symbol,expected,present,missing\n".as_bytes())?;
    for q in &r.quality {
        let missing: Vec<String> = q.missing.iter().map(|(a, b)| format!("{a}/{b}")).collect();
        writeln!(
            out,
            "{},{},{},{},{}",
            q.date,
            q.symbol,
            q.expected,
            q.present,
            missing.join(";")
        )?;
    }
    Ok(())
}

pub(super) fn scans_csv(r: &BacktestResult, out: &mut dyn Write) -> std::io::Result<()> {
    out.write_all("ts,scanner,as_of,rank,symbol,score,chosen\n".as_bytes())?;
    for s in &r.scans {
        for (rank, (symbol, score)) in s.candidates.iter().enumerate() {
            writeln!(
                out,
                "{},{},{},{},{symbol},{score},{}",
                s.ts,
                csv_text(&s.scanner),
                s.as_of,
                rank + 1,
                s.chosen.contains(symbol)
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use openbell_model::{
        Order, OrderId, OrderStatus, OrderType, Side, SignalId, Symbol, TimeInForce,
    };
    use proptest::prelude::*;

    use super::*;

    fn fixed6(x: f64) -> String {
        let mut out = String::new();
        push_fixed6(&mut out, x);
        out
    }

    #[test]
    fn six_decimals_match_the_float_formatter_at_ties_and_edges() {
        let cases = [
            0.0,
            -0.0,
            1.0,
            0.5,
            // Exact ties at the sixth decimal: half to even, as the formatter rounds them.
            0.007_812_5,
            0.023_437_5,
            -0.007_812_5,
            0.000_000_5,
            0.000_001_5,
            0.999_999_5,
            0.999_999_499_999_999_9,
            1e-300,
            -1e-9,
            f64::MIN_POSITIVE,
            5e-324,
            123_456.789_012_345,
            9_007_199_254_740_991.0,
            9_007_199_254_740_992.0,
            1e25,
            f64::MAX,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
        ];
        for x in cases {
            assert_eq!(fixed6(x), format!("{x:.6}"), "{x:e}");
        }
    }

    proptest! {
        /// The CSV lines built field by field are the lines `Display` formatting gives.
        #[test]
        fn csv_lines_are_the_display_formatted_lines(
            ts in 0i64..4_000_000_000_000_000_000,
            qty in 1i128..10_000_000_000_000,
            price in 1i128..10_000_000_000_000_000,
            commission in 0i128..1_000_000_000_000,
            pnl in -1_000_000_000_000_000i128..1_000_000_000_000_000,
            id in 1u64..u64::MAX,
            signal in proptest::option::of(1u64..u64::MAX),
            kind in 0u8..4,
            reason in proptest::option::of("[a-z ,\"]{0,12}"),
        ) {
            let symbol = Symbol::parse("BRK.B").unwrap();
            let at = Timestamp::from_nanos(ts);
            let (qty, price) = (Quantity::from_raw(qty), Price::from_raw(price));
            let commission = Money::from_raw(commission);
            let fill = Fill::try_new(OrderId(id), symbol, Side::Sell, qty, price, commission, at)
                .unwrap();
            let mut line = String::new();
            fill_line(&fill, &mut line);
            prop_assert_eq!(
                &line,
                &format!("{at},{symbol},sell,{qty},{price},{commission},{id}\n")
            );
            let trade = Trade {
                symbol,
                side: Side::Sell,
                quantity: qty,
                entry_ts: at,
                exit_ts: Timestamp::from_nanos(ts / 2),
                entry_price: price,
                exit_price: Price::from_raw(price.raw() / 3),
                gross_pnl: Money::from_raw(pnl),
                commission,
            };
            line.clear();
            trade_line(&trade, "short", &mut line);
            prop_assert_eq!(
                &line,
                &format!(
                    "{symbol},short,{qty},{at},{},{price},{},{},{commission},{}\n",
                    trade.exit_ts,
                    trade.exit_price,
                    trade.gross_pnl,
                    trade.net_pnl()
                )
            );
            let stop = Price::from_raw(price.raw() + 7);
            let order_type = [
                OrderType::Market,
                OrderType::Limit { limit: price },
                OrderType::Stop { stop },
                OrderType::StopLimit { stop, limit: price },
            ][usize::from(kind)];
            let mut order =
                Order::try_new(OrderId(id), symbol, Side::Buy, order_type, TimeInForce::Gtc, qty, at)
                    .unwrap();
            if let Some(s) = signal {
                order = order.with_signal(SignalId(s));
            }
            order.transition(OrderStatus::Accepted).unwrap();
            let rec = OrderRecord { order, reason };
            line.clear();
            order_line(&rec, &mut line);
            let (limit, stop) = order_type.limit_and_stop();
            let text = |p: Option<Price>| p.map_or_else(String::new, |p| p.to_string());
            prop_assert_eq!(
                &line,
                &format!(
                    "{id},{at},{symbol},buy,{},{},{},gtc,{qty},0,accepted,{},{}\n",
                    order_type.as_str(),
                    text(limit),
                    text(stop),
                    signal.map_or_else(String::new, |s| s.to_string()),
                    csv_text(rec.reason.as_deref().unwrap_or(""))
                )
            );
        }

        #[test]
        fn six_decimals_match_the_float_formatter(bits in any::<u64>()) {
            let x = f64::from_bits(bits);
            prop_assert_eq!(fixed6(x), format!("{x:.6}"));
        }

        #[test]
        fn six_decimals_match_for_drawdowns(x in 0.0f64..1.0, k in 0u32..2_000_000) {
            prop_assert_eq!(fixed6(x), format!("{x:.6}"));
            // Values on and next to the sixth-decimal grid and its midpoints.
            let grid = f64::from(k) / 2_000_000.0;
            for y in [grid, grid.next_up(), grid.next_down()] {
                prop_assert_eq!(fixed6(y), format!("{y:.6}"));
            }
        }
    }
}
