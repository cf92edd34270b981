//! Scans: built-in scanners scored from the source, scanners written in Rust through a
//! cut-off view, and the event that records each scan.

use openbell_calendar::TradingDay;
use openbell_model::{Bar, Symbol, Timestamp};
use tracing::info;

use super::{Engine, bar_close};
use crate::event::{Event, FaultKind};
use crate::scanner::{ScanInput, ScanView, ScannerKind, ScannerSpec, rank};
use crate::source::{BarSlice, BarSource, SourceError};

impl Engine<'_> {
    /// Runs scanner `index` on data known at `cutoff`, emits its event, and returns its
    /// choice. Candidates whose data cannot be read are reported and left out.
    pub(super) fn scan(
        &mut self,
        index: usize,
        day: &TradingDay,
        cutoff: Timestamp,
        universe: &[Symbol],
    ) -> Vec<Symbol> {
        let spec = self.config.scanners[index].clone();
        let scored = if let ScannerKind::Custom(name) = &spec.kind {
            self.custom_scores(name, &spec.label, day, cutoff, universe)
        } else {
            self.builtin_scores(&spec, day, cutoff, universe)
        };
        let candidates = rank(scored);
        let chosen: Vec<Symbol> = candidates.iter().take(spec.top).map(|(s, _)| *s).collect();
        let ts = self.clock.now();
        info!(clock = %ts, scanner = %spec.label, chosen = chosen.len(), "scan");
        self.emit(&Event::ScanCompleted {
            scanner: spec.label,
            as_of: cutoff,
            candidates,
            chosen: chosen.clone(),
            ts,
        });
        chosen
    }

    /// A custom scanner's scores; symbols outside the universe are reported and left out,
    /// and a symbol returned twice keeps its first score.
    fn custom_scores(
        &mut self,
        name: &str,
        label: &str,
        day: &TradingDay,
        cutoff: Timestamp,
        universe: &[Symbol],
    ) -> Vec<(Symbol, f64)> {
        let Some(scanner) = self.scanners.get_mut(name) else {
            return Vec::new();
        };
        let mut view = ScanView {
            source: &mut *self.source,
            interval: self.config.base_interval,
            as_of: cutoff,
            day,
            universe,
        };
        let returned = scanner.scan(&mut view);
        let mut scored: Vec<(Symbol, f64)> = Vec::with_capacity(returned.len());
        for (symbol, score) in returned {
            if !universe.contains(&symbol) {
                let reason =
                    format!("scanner {label} returned {symbol}, which is not in the universe");
                self.fault(symbol, day.date, FaultKind::UnknownSymbol, reason);
            } else if !scored.iter().any(|(s, _)| *s == symbol) {
                scored.push((symbol, score));
            }
        }
        scored
    }

    /// A built-in scanner's scores. Candidates whose data cannot be read are reported and left
    /// out.
    fn builtin_scores(
        &mut self,
        spec: &ScannerSpec,
        day: &TradingDay,
        cutoff: Timestamp,
        universe: &[Symbol],
    ) -> Vec<(Symbol, f64)> {
        let base = self.config.base_interval;
        let previous = self.config.calendar.previous_trading_day(day.date).ok();
        let mut trailing: Vec<TradingDay> = Vec::new();
        if spec.kind == ScannerKind::RelativeVolume {
            let mut date = day.date;
            for _ in 0..spec.lookback_days {
                let Ok(prev) = self.config.calendar.previous_trading_day(date) else {
                    break;
                };
                date = prev.date;
                trailing.push(prev);
            }
        }
        let today_from = previous.as_ref().map_or(day.open, |p| p.close);
        let offset = cutoff.as_nanos() - day.open.as_nanos();
        let mut scored = Vec::new();
        for symbol in universe {
            let mut input = ScanInput::default();
            let known = |bars: BarSlice, until: Timestamp, d: &TradingDay| -> Vec<Bar> {
                bars.iter()
                    .filter(|b| bar_close(b, d) <= until)
                    .copied()
                    .collect()
            };
            let read = |source: &mut dyn BarSource, from: Timestamp, to: Timestamp| {
                source.bars(*symbol, base, from, to)
            };
            let result = (|| -> Result<(), SourceError> {
                if let Some(p) = &previous {
                    input.previous = read(&mut *self.source, p.open, p.close)?.to_vec();
                    let (expected, present, _) = p.coverage(base, &input.previous);
                    input.previous_quality =
                        (expected > 0).then(|| f64::from(present) * 100.0 / f64::from(expected));
                }
                if cutoff > today_from {
                    input.today = known(read(&mut *self.source, today_from, cutoff)?, cutoff, day);
                }
                for t in &trailing {
                    let until = Timestamp::from_nanos(t.open.as_nanos() + offset);
                    let bars = known(read(&mut *self.source, t.open, until)?, until, t);
                    input
                        .trailing_volumes
                        .push(bars.iter().map(|b| b.volume().to_f64()).sum());
                }
                Ok(())
            })();
            if let Err(e) = result {
                self.fault(*symbol, day.date, FaultKind::SourceFailed, e.0);
                continue;
            }
            input.session_open = input
                .today
                .iter()
                .find(|b| b.ts_event() >= day.open)
                .map(|b| b.open().to_f64());
            if let Some(score) = spec.score(&input) {
                scored.push((*symbol, score));
            }
        }
        scored
    }
}
