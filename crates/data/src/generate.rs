//! Deterministic synthetic bars on the XNYS calendar: openbell's own sample data.
//!
//! Each symbol is a random walk in whole cents driven by a seeded SplitMix64 generator, with a
//! U-shaped intraday volume curve (heavy at the open and the close). Everything is integer
//! arithmetic, so the same seed gives the same bars on every machine and every build.

use chrono::NaiveDate;
use openbell_calendar::Calendar;
use openbell_model::{Bar, Interval, Ohlcv, Price, Quantity, Symbol};
use serde::Serialize;

use crate::{BarStore, DataError, MergeStats};

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// How many symbols (named `SIM001`, `SIM002`, …).
    pub symbols: u32,
    /// How many trading days.
    pub days: u32,
    /// The first trading day on or after this date.
    pub start: NaiveDate,
    /// The random seed.
    pub seed: u64,
    /// Bar interval (intraday).
    pub interval: Interval,
}

/// What was generated.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GenerateReport {
    /// The symbols written.
    pub symbols: Vec<String>,
    /// Trading days covered.
    pub days: u64,
    /// Bars written.
    pub bars: u64,
    /// How they merged with the store.
    pub merge: MergeStats,
}

/// SplitMix64: tiny, fast, and fully specified, so sequences never change between versions.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// An approximately normal step in cents: the sum of four uniforms in -range..=range.
    fn step(&mut self, range: i64) -> i64 {
        let width = u64::try_from(2 * range + 1).unwrap_or(1);
        (0..4)
            .map(|_| i64::try_from(self.below(width)).unwrap_or(0) - range)
            .sum()
    }
}

/// Writes the synthetic bars into `store`.
///
/// # Errors
/// [`DataError::Invalid`] for zero symbols or days or a daily interval; calendar and IO errors.
pub fn generate(store: &BarStore, opts: &GenerateOptions) -> Result<GenerateReport, DataError> {
    if opts.symbols == 0 || opts.days == 0 {
        return Err(DataError::Invalid(
            "--symbols and --days must be at least 1".into(),
        ));
    }
    if opts.interval.is_daily() {
        return Err(DataError::Invalid(
            "generate writes intraday bars; resample them to 1d".into(),
        ));
    }
    let calendar = Calendar::builtin("XNYS")?;
    let mut days = Vec::with_capacity(opts.days as usize);
    let mut date = opts.start;
    if let Some(day) = calendar.trading_day(date)? {
        days.push(day);
    }
    while days.len() < opts.days as usize {
        let day = calendar.next_trading_day(date)?;
        date = day.date;
        days.push(day);
    }
    let mut report = GenerateReport {
        days: days.len() as u64,
        ..GenerateReport::default()
    };
    for n in 1..=opts.symbols {
        let symbol = Symbol::parse(&format!("SIM{n:03}"))?;
        // One independent stream per symbol.
        let mut rng = SplitMix64(opts.seed ^ u64::from(n).wrapping_mul(0xD1B5_4A32_D192_ED03));
        let mut cents: i64 = 2_000 + i64::try_from(rng.below(48_000)).unwrap_or(0);
        let base_volume = 200 + i64::try_from(rng.below(2_000)).unwrap_or(0);
        let mut bars = Vec::new();
        for day in &days {
            // Overnight gap.
            cents = (cents + rng.step(cents / 400 + 1)).max(100);
            let slots = day.bar_slots(opts.interval);
            let count = i64::try_from(slots.len()).unwrap_or(1).max(1);
            for (i, slot) in slots.iter().enumerate() {
                let open = cents;
                let mut high = open;
                let mut low = open;
                for _ in 0..4 {
                    cents = (cents + rng.step(cents / 4_000 + 1)).max(100);
                    high = high.max(cents);
                    low = low.min(cents);
                }
                let wick = i64::try_from(rng.below(3)).unwrap_or(0);
                // U shape: (2x - 1)^2 over the day, x in [0, 1], scaled to 1..=5 times the base.
                let x2 = 2 * i64::try_from(i).unwrap_or(0) - (count - 1);
                let u = x2 * x2 * 4 / ((count - 1).max(1) * (count - 1).max(1));
                let volume = base_volume * (1 + u)
                    + i64::try_from(rng.below(u64::try_from(base_volume).unwrap_or(1)))
                        .unwrap_or(0);
                let ohlcv = Ohlcv {
                    open: Price::from_raw(i128::from(open) * 10_000_000),
                    high: Price::from_raw(i128::from(high + wick) * 10_000_000),
                    low: Price::from_raw(i128::from((low - wick).max(1)) * 10_000_000),
                    close: Price::from_raw(i128::from(cents) * 10_000_000),
                    volume: Quantity::from_units(i128::from(volume))?,
                };
                bars.push(Bar::try_new(symbol, opts.interval, slot.open, ohlcv)?);
            }
        }
        report.bars += bars.len() as u64;
        report.merge.absorb(store.write(calendar.code(), &bars)?);
        report.symbols.push(symbol.to_string());
    }
    Ok(report)
}
