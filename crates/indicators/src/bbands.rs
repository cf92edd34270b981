//! Bollinger Bands (TA-Lib `BBANDS` with an SMA middle band): middle ± k × the population
//! standard deviation, computed from the SMA as TA-Lib does (running sum of squares minus the
//! squared mean; zero when that is below 1e-8).

use crate::sma::SmaKernel;
use crate::window::Window;
use crate::{Candle, Indicator, Inputs, Output, is_zero_or_neg};

/// Upper, middle and lower band.
#[derive(Debug, Clone)]
pub struct BollingerBands {
    period: usize,
    k: f64,
    sma: SmaKernel,
    window: Window,
    squares: f64,
}

impl BollingerBands {
    /// Bands over `period` bars, `k` deviations wide.
    #[must_use]
    pub fn new(period: usize, k: f64) -> Self {
        Self {
            period,
            k,
            sma: SmaKernel::new(period),
            window: Window::new(period),
            squares: 0.0,
        }
    }
}

impl Indicator for BollingerBands {
    #[allow(clippy::cast_precision_loss)]
    #[inline]
    fn update(&mut self, c: &Candle) -> Option<Output> {
        let x = c.close;
        self.window.push(x);
        let middle = self.sma.update(x);
        self.squares += x * x;
        let middle = middle?;
        let mut variance = self.squares / self.period as f64;
        let trailing = self.window.oldest();
        self.squares -= trailing * trailing;
        variance -= middle * middle;
        let deviation = if is_zero_or_neg(variance) {
            0.0
        } else {
            variance.sqrt()
        };
        let width = if self.k == 1.0 {
            deviation
        } else {
            deviation * self.k
        };
        Some(Output::three(middle + width, middle, middle - width))
    }

    fn inputs(&self) -> Inputs {
        Inputs::CLOSE
    }

    fn warmup(&self) -> usize {
        self.period
    }

    fn output_names(&self) -> &'static [&'static str] {
        &["upper", "middle", "lower"]
    }
}
