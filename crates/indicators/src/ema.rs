//! Exponential moving average (TA-Lib `EMA`): seeded with the SMA of the first `period`
//! values, then `ema += (x - ema) × 2 / (period + 1)`.

use crate::{Candle, Indicator, Inputs, Output};

/// The EMA kernel, shared with MACD.
#[derive(Debug, Clone)]
pub(crate) struct EmaKernel {
    period: usize,
    k: f64,
    seen: usize,
    sum: f64,
    ema: f64,
}

impl EmaKernel {
    #[allow(clippy::cast_precision_loss)]
    pub(crate) fn new(period: usize) -> Self {
        Self {
            period,
            k: 2.0 / (period + 1) as f64,
            seen: 0,
            sum: 0.0,
            ema: 0.0,
        }
    }

    /// Starts from a seed computed elsewhere (MACD seeds its fast EMA late, as TA-Lib does).
    pub(crate) fn seeded(period: usize, seed: f64) -> Self {
        Self {
            seen: period,
            ema: seed,
            ..Self::new(period)
        }
    }

    #[allow(clippy::cast_precision_loss)]
    #[inline]
    pub(crate) fn update(&mut self, x: f64) -> Option<f64> {
        if self.seen < self.period {
            self.seen += 1;
            self.sum += x;
            if self.seen < self.period {
                return None;
            }
            self.ema = self.sum / self.period as f64;
        } else {
            self.ema = ((x - self.ema) * self.k) + self.ema;
        }
        Some(self.ema)
    }
}

/// Exponential moving average of the close.
#[derive(Debug, Clone)]
pub struct Ema(EmaKernel);

impl Ema {
    /// An EMA over `period` bars.
    #[must_use]
    pub fn new(period: usize) -> Self {
        Self(EmaKernel::new(period))
    }
}

impl Indicator for Ema {
    #[inline]
    fn update(&mut self, c: &Candle) -> Option<Output> {
        self.0.update(c.close).map(Output::one)
    }

    fn inputs(&self) -> Inputs {
        Inputs::CLOSE
    }

    fn warmup(&self) -> usize {
        self.0.period
    }

    fn output_names(&self) -> &'static [&'static str] {
        &["ema"]
    }
}
