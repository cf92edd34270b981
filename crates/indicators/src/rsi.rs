//! Relative strength index with Wilder's smoothing (TA-Lib `RSI`): the first average gain and
//! loss are plain means of `period` changes, then `avg = (avg × (period − 1) + change) / period`.

use crate::{Candle, Indicator, Inputs, Output, is_zero};

/// Wilder's RSI of the close, 0 to 100.
#[derive(Debug, Clone)]
pub struct Rsi {
    period: usize,
    seen: usize,
    prev: f64,
    gain: f64,
    loss: f64,
}

impl Rsi {
    /// An RSI over `period` changes.
    #[must_use]
    pub fn new(period: usize) -> Self {
        Self {
            period,
            seen: 0,
            prev: 0.0,
            gain: 0.0,
            loss: 0.0,
        }
    }

    fn value(&self) -> f64 {
        let total = self.gain + self.loss;
        if is_zero(total) {
            0.0
        } else {
            100.0 * (self.gain / total)
        }
    }
}

impl Indicator for Rsi {
    #[allow(clippy::cast_precision_loss)]
    #[inline]
    fn update(&mut self, c: &Candle) -> Option<Output> {
        let x = c.close;
        self.seen += 1;
        if self.seen == 1 {
            self.prev = x;
            return None;
        }
        let change = x - self.prev;
        self.prev = x;
        let n = self.period as f64;
        if self.seen <= self.period {
            if change < 0.0 {
                self.loss -= change
            } else {
                self.gain += change
            }
            return None;
        }
        if self.seen == self.period + 1 {
            if change < 0.0 {
                self.loss -= change
            } else {
                self.gain += change
            }
            self.loss /= n;
            self.gain /= n;
            return Some(Output::one(self.value()));
        }
        self.loss *= n - 1.0;
        self.gain *= n - 1.0;
        if change < 0.0 {
            self.loss -= change
        } else {
            self.gain += change
        }
        self.loss /= n;
        self.gain /= n;
        Some(Output::one(self.value()))
    }

    fn inputs(&self) -> Inputs {
        Inputs::CLOSE
    }

    fn warmup(&self) -> usize {
        self.period + 1
    }

    fn output_names(&self) -> &'static [&'static str] {
        &["rsi"]
    }
}
