//! MACD (TA-Lib `MACD`): fast EMA − slow EMA, its signal EMA, and the histogram.
//!
//! As in TA-Lib, both EMAs start on the bar where the slow one can: the slow EMA is seeded with
//! the SMA of the first `slow` closes and the fast EMA with the SMA of the last `fast` of them.
//! The signal line is seeded with the SMA of the first `signal` MACD values.

use crate::ema::EmaKernel;
use crate::{Candle, Indicator, Inputs, Output};

/// MACD line, signal line and histogram.
#[derive(Debug, Clone)]
pub struct Macd {
    fast: usize,
    slow: usize,
    signal_period: usize,
    /// The first `slow` closes, until the EMAs are seeded.
    head: Vec<f64>,
    fast_ema: Option<EmaKernel>,
    slow_ema: Option<EmaKernel>,
    signal: EmaKernel,
}

impl Macd {
    /// A MACD with the given periods (`fast < slow`).
    #[must_use]
    pub fn new(fast: usize, slow: usize, signal: usize) -> Self {
        Self {
            fast,
            slow,
            signal_period: signal,
            head: Vec::with_capacity(slow),
            fast_ema: None,
            slow_ema: None,
            signal: EmaKernel::new(signal),
        }
    }
}

impl Indicator for Macd {
    #[allow(clippy::cast_precision_loss)]
    #[inline]
    fn update(&mut self, c: &Candle) -> Option<Output> {
        let x = c.close;
        let line = match (&mut self.fast_ema, &mut self.slow_ema) {
            (Some(f), Some(s)) => f.update(x)? - s.update(x)?,
            _ => {
                self.head.push(x);
                if self.head.len() < self.slow {
                    return None;
                }
                let seed = |values: &[f64]| {
                    values.iter().fold(0.0, |acc, v| acc + v) / values.len() as f64
                };
                let slow_seed = seed(&self.head);
                let fast_seed = seed(&self.head[self.slow - self.fast..]);
                self.fast_ema = Some(EmaKernel::seeded(self.fast, fast_seed));
                self.slow_ema = Some(EmaKernel::seeded(self.slow, slow_seed));
                self.head = Vec::new();
                fast_seed - slow_seed
            }
        };
        let signal = self.signal.update(line)?;
        Some(Output::three(line, signal, line - signal))
    }

    fn inputs(&self) -> Inputs {
        Inputs::CLOSE
    }

    fn warmup(&self) -> usize {
        self.slow + self.signal_period - 1
    }

    fn output_names(&self) -> &'static [&'static str] {
        &["macd", "signal", "hist"]
    }
}
