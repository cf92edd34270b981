//! Rolling extremes (TA-Lib `MAX` of the high, `MIN` of the low) with monotonic queues:
//! amortized O(1) per update, exact values.

use std::collections::VecDeque;

use crate::{Candle, Indicator, Inputs, Output};

/// The extreme of the last `period` values: a queue of (index, value) kept monotonic.
#[derive(Debug, Clone)]
pub(crate) struct Extreme {
    period: usize,
    seen: usize,
    queue: VecDeque<(usize, f64)>,
    max: bool,
}

impl Extreme {
    pub(crate) fn new(period: usize, max: bool) -> Self {
        Self {
            period,
            seen: 0,
            queue: VecDeque::with_capacity(period + 1),
            max,
        }
    }

    #[inline]
    pub(crate) fn update(&mut self, v: f64) -> Option<f64> {
        let i = self.seen;
        self.seen += 1;
        while let Some(&(_, back)) = self.queue.back() {
            let dominated = if self.max { back <= v } else { back >= v };
            if !dominated {
                break;
            }
            self.queue.pop_back();
        }
        self.queue.push_back((i, v));
        while self
            .queue
            .front()
            .is_some_and(|(j, _)| *j + self.period <= i)
        {
            self.queue.pop_front();
        }
        (self.seen >= self.period).then(|| self.queue.front().map_or(v, |(_, x)| *x))
    }
}

/// Highest high over `period` bars.
#[derive(Debug, Clone)]
pub struct RollingHigh(Extreme);

impl RollingHigh {
    /// The highest high of the last `period` bars.
    #[must_use]
    pub fn new(period: usize) -> Self {
        Self(Extreme::new(period, true))
    }
}

impl Indicator for RollingHigh {
    #[inline]
    fn update(&mut self, c: &Candle) -> Option<Output> {
        self.0.update(c.high).map(Output::one)
    }

    fn inputs(&self) -> Inputs {
        Inputs::HIGH
    }

    fn warmup(&self) -> usize {
        self.0.period
    }

    fn output_names(&self) -> &'static [&'static str] {
        &["high"]
    }
}

/// Lowest low over `period` bars.
#[derive(Debug, Clone)]
pub struct RollingLow(Extreme);

impl RollingLow {
    /// The lowest low of the last `period` bars.
    #[must_use]
    pub fn new(period: usize) -> Self {
        Self(Extreme::new(period, false))
    }
}

impl Indicator for RollingLow {
    #[inline]
    fn update(&mut self, c: &Candle) -> Option<Output> {
        self.0.update(c.low).map(Output::one)
    }

    fn inputs(&self) -> Inputs {
        Inputs::LOW
    }

    fn warmup(&self) -> usize {
        self.0.period
    }

    fn output_names(&self) -> &'static [&'static str] {
        &["low"]
    }
}

/// Highest high and lowest low over `period` bars, as one indicator.
#[derive(Debug, Clone)]
pub struct RollingHighLow {
    high: RollingHigh,
    low: RollingLow,
}

impl RollingHighLow {
    /// The channel of the last `period` bars.
    #[must_use]
    pub fn new(period: usize) -> Self {
        Self {
            high: RollingHigh::new(period),
            low: RollingLow::new(period),
        }
    }
}

impl Indicator for RollingHighLow {
    #[inline]
    fn update(&mut self, c: &Candle) -> Option<Output> {
        // Both sides see every bar, warmed or not.
        let high = self.high.update(c);
        let low = self.low.update(c);
        Some(Output::two(high?.value(), low?.value()))
    }

    fn inputs(&self) -> Inputs {
        Inputs::HIGH | Inputs::LOW
    }

    fn warmup(&self) -> usize {
        self.high.warmup()
    }

    fn output_names(&self) -> &'static [&'static str] {
        &["high", "low"]
    }
}
