//! Stochastic oscillator (TA-Lib `STOCH` with SMA smoothing): fast %K
//! `= (close − lowest low) / ((highest high − lowest low) / 100)` over `k` bars (zero when the
//! range is zero), slow %K = SMA of fast %K over `smooth`, %D = SMA of slow %K over `d`.
//! Values start when %D does.

use crate::rolling::Extreme;
use crate::sma::SmaKernel;
use crate::{Candle, Indicator, Inputs, Output};

/// Slow %K and %D.
#[derive(Debug, Clone)]
pub struct Stochastic {
    k: usize,
    smooth: usize,
    d: usize,
    highest: Extreme,
    lowest: Extreme,
    slow_k: SmaKernel,
    slow_d: SmaKernel,
}

impl Stochastic {
    /// A stochastic with `k` bars of range, `smooth` bars of %K smoothing and `d` bars of %D.
    #[must_use]
    pub fn new(k: usize, smooth: usize, d: usize) -> Self {
        Self {
            k,
            smooth,
            d,
            highest: Extreme::new(k, true),
            lowest: Extreme::new(k, false),
            slow_k: SmaKernel::new(smooth),
            slow_d: SmaKernel::new(d),
        }
    }
}

impl Indicator for Stochastic {
    #[inline]
    fn update(&mut self, c: &Candle) -> Option<Output> {
        let highest = self.highest.update(c.high);
        let lowest = self.lowest.update(c.low);
        let (highest, lowest) = (highest?, lowest?);
        let range = (highest - lowest) / 100.0;
        let fast_k = if range == 0.0 {
            0.0
        } else {
            (c.close - lowest) / range
        };
        let slow_k = self.slow_k.update(fast_k)?;
        let slow_d = self.slow_d.update(slow_k)?;
        Some(Output::two(slow_k, slow_d))
    }

    fn inputs(&self) -> Inputs {
        Inputs::HIGH | Inputs::LOW | Inputs::CLOSE
    }

    fn warmup(&self) -> usize {
        self.k + self.smooth + self.d - 2
    }

    fn output_names(&self) -> &'static [&'static str] {
        &["k", "d"]
    }
}
